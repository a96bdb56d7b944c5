# Shared by the integration scripts (sourced): paths, a scratch directory
# with a state root, and TAP-style ok / not ok checks counted in $fails.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
msbvm=$top/build/msbvm
export MSBVM_KERNEL=${MSBVM_KERNEL:-$top/build/vmlinux}
work=$(mktemp -d)
state=$work/state
fails=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
command -v e2fsck >/dev/null || PATH=$PATH:/sbin:/usr/sbin

# fsck_clean IMAGE WHAT: once the VM that could write the ext4 IMAGE has
# exited, `e2fsck -fn` must find nothing (exit 0), else the check fails and
# e2fsck's report is shown. An image still marked mounted (needs_recovery:
# a killed VMM, or a guest that powered off without unmounting) is not
# corrupt for that: its journal is first replayed on a sparse copy (`e2fsck
# -E journal_only`, what the next mount would do; IMAGE is not touched)
# and the replayed copy is checked; the ok line says so.
fsck_clean() {
	local img=$1 what=$2 chk=$1 note="" rc
	if dumpe2fs -h "$img" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery'; then
		chk=$work/fsck-replayed.img
		cp --sparse=always "$img" "$chk"
		e2fsck -y -E journal_only "$chk" >"$work/fsck.out" 2>&1; rc=$?
		if [ $rc -ge 4 ]; then
			fail "e2fsck: journal replay of $what failed (exit $rc)"
			sed 's/^/#   /' "$work/fsck.out" | head -40
			rm -f "$chk"
			return
		fi
		note=" (needed journal recovery: replayed on a copy first)"
	fi
	e2fsck -fn "$chk" >"$work/fsck.out" 2>&1; rc=$?
	[ "$chk" = "$img" ] || rm -f "$chk"
	if [ $rc = 0 ]; then
		pass "e2fsck -fn clean: $what$note"
	else
		fail "e2fsck -fn $what: exit $rc$note"
		sed 's/^/#   /' "$work/fsck.out" | head -60
	fi
}
