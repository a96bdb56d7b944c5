#!/bin/bash
# --overlay end to end: one busybox base image shared read-only by two
# VMs at once, one writing to a tmpfs upper layer, one to an ext4 upper
# disk of its own; the base image never changes; the disk upper keeps its
# writes for the next boot; both images fsck clean afterwards.
. "$(dirname "$0")/lib.sh"
trap '"$msbvm" stop --state-dir "$state" ovt >/dev/null 2>&1;
      "$msbvm" stop --state-dir "$state" ovd >/dev/null 2>&1; rm -rf "$work"' EXIT

base=$work/base.ext4 upper=$work/upper.ext4
tools/mkrootfs.sh "$base" tests/integration/init-smoke.sh 64 >/dev/null ||
	{ echo "Bail out! base image"; exit 1; }
truncate -s 64M "$upper" && mkfs.ext4 -q -F "$upper" ||
	{ echo "Bail out! upper image"; exit 1; }
sum0=$(md5sum < "$base")

"$msbvm" run --state-dir "$state" --no-agent --rootfs "$base" --overlay tmpfs \
	2>"$work/e1"; rc=$?
check "--overlay without the agent: refused before booting (exit $rc)" \
	bash -c "[ $rc = 2 ] && grep -q 'overlay.* need.* the agent' '$work/e1'"

echo "# two VMs on one base image at once"
"$msbvm" run -d --state-dir "$state" --name ovt --rootfs "$base" --overlay tmpfs \
	>/dev/null 2>"$work/ovt.err" &
"$msbvm" run -d --state-dir "$state" --name ovd --rootfs "$base" --overlay "$upper" \
	>/dev/null 2>"$work/ovd.err"
rc2=$?
wait $!; rc1=$?
check "VM with a tmpfs upper is ready (rc=$rc1)" [ $rc1 = 0 ]
check "VM with a disk upper is ready at the same time (rc=$rc2)" [ $rc2 = 0 ]
t() { "$msbvm" exec --state-dir "$state" ovt -- "$@"; }
d() { "$msbvm" exec --state-dir "$state" ovd -- "$@"; }
check "/ is an overlay" bash -c "'$msbvm' exec --state-dir '$state' ovt -- cat /proc/mounts | grep -q '^overlay / overlay rw'"
t sh -c 'echo from-tmpfs > /etc/written && rm /etc/hostname'
d sh -c 'echo from-disk > /etc/written && rm -r /home && sync'
check "a VM sees its own write" [ "$(t cat /etc/written)" = from-tmpfs ]
check "... and not the other VM's" [ "$(d cat /etc/written)" = from-disk ]
check "a deleted file is gone in that VM only" \
	bash -c "! '$msbvm' exec --state-dir '$state' ovt -- test -e /etc/hostname &&
		 '$msbvm' exec --state-dir '$state' ovd -- test -e /etc/hostname"
"$msbvm" run --state-dir "$state" --rootfs "$base" -- true 2>"$work/rw.err"; rc=$?
check "a read-write boot of the shared base is refused while they run (rc=$rc)" \
	bash -c "[ $rc != 0 ] && grep -q 'in use' '$work/rw.err'"
"$msbvm" stop --state-dir "$state" ovt; r1=$?
"$msbvm" stop --state-dir "$state" ovd; r2=$?
check "both stop (rc=$r1/$r2)" [ $r1 = 0 -a $r2 = 0 ]
check "the base image is byte for byte unchanged" [ "$(md5sum < "$base")" = "$sum0" ]
fsck_clean "$base" "shared base image"
fsck_clean "$upper" "upper disk after stop"

echo "# the disk upper keeps its writes for the next boot"
out=$("$msbvm" run --state-dir "$state" --rootfs "$base" --overlay "$upper" -- \
	sh -c 'cat /etc/written; test -d /home && echo home-back || echo home-gone' 2>"$work/3.err")
check "written file and deletion persist in the upper disk ($(echo $out))" \
	[ "$(echo $out)" = "from-disk home-gone" ]
check "the base image is still unchanged" [ "$(md5sum < "$base")" = "$sum0" ]
fsck_clean "$upper" "upper disk after the second boot"

if [ $fails = 0 ]; then
	echo "overlay integration: all passed"
	exit 0
fi
echo "overlay integration: $fails failed"
for f in ovt.err ovd.err 3.err; do
	[ -f "$work/$f" ] && { echo "--- $f"; tail -20 "$work/$f"; }
done
exit 1
