#!/bin/bash
# --init handoff end to end (images from tools/mkrootfs-init.sh, cached):
#  1. busybox image, --init /sbin/init with --init-arg/--init-env: PID 1 is
#     init, its environment holds the --init-env values, the agent is its
#     child in a session of its own; shutdown goes through init.
#  2. an image without any init: --init auto fails the boot, msbvm exits
#     non-zero naming all three paths; --init /no/such names path + reason.
#  3. (MSBVM_TEST_SYSTEMD=1, or always where the image builds) Debian 12
#     with systemd: PID 1 is systemd, is-system-running, nginx via
#     systemctl enable --now, curl localhost; shutdown through systemd.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
msbvm=$top/build/msbvm
export MSBVM_KERNEL=${MSBVM_KERNEL:-$top/build/vmlinux}
work=$(mktemp -d)
state=$work/state
trap 'rm -rf "$work"' EXIT
fails=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
secs() { echo "$(date +%s.%N) $1" | awk '{ printf "%.1f", $1 - $2 }'; }
shutdown_ms() { sed -n 's/.*guest stopped \([0-9]*\) ms after the SHUTDOWN.*/\1/p' "$1"; }

bb=$(tools/mkrootfs-init.sh busybox) && noinit=$(tools/mkrootfs-init.sh noinit) ||
	{ echo "Bail out! images"; exit 1; }
cp --sparse=always "$bb" "$work/bb.ext4"

echo "# 1: busybox /sbin/init as PID 1"
"$msbvm" run -v --state-dir "$state" --rootfs "$work/bb.ext4" \
	--init /sbin/init --init-arg single --init-env container=msbvm --init-env HOME=/x -- \
	sh -c 'cat /proc/1/comm; tr "\0" "\n" < /proc/1/environ > /tmp/env;
	       grep -x container=msbvm /tmp/env; grep -x HOME=/x /tmp/env;
	       set -- $(cat /proc/$PPID/stat); echo "agent $2 ppid=$4 sid=$6 pid=$1";
	       ps | grep -c "{agentd}"' >"$work/1.out" 2>"$work/1.err"
rc=$?
check "exit status of the command (rc=$rc)" [ $rc = 0 ]
check "/proc/1/comm is init" [ "$(sed -n 1p "$work/1.out")" = init ]
check "/proc/1/environ has --init-env container=msbvm" grep -qx container=msbvm "$work/1.out"
check "--init-env overrides an inherited variable (HOME=/x)" grep -qx HOME=/x "$work/1.out"
a=$(grep '^agent ' "$work/1.out")
pid=${a##*pid=}
check "the agent is a child of PID 1 ($a)" bash -c "[[ '$a' == 'agent (agentd) ppid=1 '* ]]"
check "the agent has its own session (sid = its pid)" [ "$a" = "agent (agentd) ppid=1 sid=$pid pid=$pid" ]
check "ps shows the agent" [ "$(tail -1 "$work/1.out")" = 1 ]
ms=$(shutdown_ms "$work/1.err")
echo "# busybox init shutdown: ${ms:-?} ms from SHUTDOWN to VM stop"
check "shutdown through busybox init stops the VM (rc=$rc, ${ms:-?} ms)" [ -n "$ms" ]

echo "# 2: no init in the image"
"$msbvm" run --state-dir "$state" --rootfs "$noinit" --init auto -- true \
	>"$work/2.out" 2>"$work/2.err"
rc=$?
check "--init auto without an init: non-zero exit (rc=$rc)" [ $rc != 0 ]
for p in /sbin/init /lib/systemd/systemd /usr/lib/systemd/systemd; do
	check "... the message names $p" grep -q "guest agent: --init auto found no init; tried:.*$p: No such file" "$work/2.err"
done
check "... and so does kernel.log (shown)" grep -q "agentd: fatal: --init auto found no init" "$work/2.err"
"$msbvm" run --state-dir "$state" --rootfs "$noinit" --init /no/such -- true \
	>"$work/3.out" 2>"$work/3.err"
rc=$?
check "--init /no/such: non-zero exit naming the path and reason (rc=$rc)" \
	bash -c "[ $rc != 0 ] && grep -q 'init /no/such: No such file or directory' '$work/3.err'"
"$msbvm" run --state-dir "$state" --rootfs "$noinit" --init /etc/passwd -- true \
	>"$work/4.out" 2>"$work/4.err"
check "--init on a non-executable file names the reason" grep -q "init /etc/passwd: not executable" "$work/4.err"
"$msbvm" run --state-dir "$state" --rootfs "$noinit" --init relative -- true 2>"$work/5.err"
check "--init relative: refused by the CLI (exit 2)" grep -q "use auto or an absolute path" "$work/5.err"

if [ "${MSBVM_TEST_SYSTEMD:-1}" = 1 ]; then
	echo "# 3: Debian 12 + systemd (slow where the guest kernel is emulated)"
	sd=$(tools/mkrootfs-init.sh systemd) || { echo "Bail out! systemd image"; exit 1; }
	cp --sparse=always "$sd" "$work/sd.ext4"
	t0=$(date +%s.%N)
	"$msbvm" run -v --state-dir "$state" --name sd --memory 256 --rootfs "$work/sd.ext4" \
		--init auto --init-arg --unit=multi-user.target --init-env container=msbvm -- \
		sh -c 'cat /proc/1/comm; tr "\0" " " < /proc/1/cmdline; echo;
		       while [ ! -S /run/systemd/private ]; do sleep 1; done
		       echo "state: $(systemctl is-system-running --wait)"
		       systemctl --failed --no-legend --plain | sed "s/^/failed: /"
		       for u in $(systemctl --failed --no-legend --plain | cut -d" " -f1); do
		           systemctl status --no-pager -n 3 "$u" | sed "s/^/  /"; done
		       systemctl enable --now nginx 2>&1 | tail -1
		       curl -s localhost | head -4 | grep -o "<title>.*</title>"
		       echo "booted in: $(systemd-analyze 2>/dev/null | head -1)"' \
		>"$work/sd.out" 2>"$work/sd.err"
	rc=$?
	echo "# systemd run took $(secs "$t0") s in all"
	sed 's/^/# guest: /' "$work/sd.out"
	check "systemd run exits 0 (rc=$rc)" [ $rc = 0 ]
	check "/proc/1/comm is systemd" [ "$(sed -n 1p "$work/sd.out")" = systemd ]
	check "/proc/1/cmdline has --init-arg" grep -q "^/sbin/init --unit=multi-user.target" "$work/sd.out"
	check "is-system-running: running or degraded" grep -Eq "^state: (running|degraded)$" "$work/sd.out"
	check "nginx answers on localhost after systemctl enable --now" \
		grep -q "<title>Welcome to nginx!</title>" "$work/sd.out"
	ms=$(shutdown_ms "$work/sd.err")
	echo "# systemd shutdown: ${ms:-?} ms from SHUTDOWN to VM stop"
	check "shutdown through systemd stops the VM (${ms:-?} ms)" [ -n "$ms" ]
fi

if [ $fails = 0 ]; then
	echo "init integration: all passed"
	exit 0
fi
echo "init integration: $fails failed"
for f in 1.out 1.err 2.err sd.out sd.err; do
	[ -f "$work/$f" ] && { echo "--- $f"; tail -20 "$work/$f"; }
done
exit 1
