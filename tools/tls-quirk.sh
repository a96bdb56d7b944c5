#!/bin/bash
# The nested-KVM quirk of docs/nested-kvm.md ("freshly exec'd programs
# sometimes segfault": memory just written reads back as zero), measured:
# one agent VM per variant boots the busybox demo root (glibc-static
# busybox) with loglevel=7, runs ROUNDS times
#   sh -c 'sleep 0.1 & sleep 0.1 & sleep 0.1 & exit 0'
# and counts the kernel's "segfault at" lines: crashed background sleeps
# out of 3*ROUNDS. Variants are kernel command-line words; the boots of
# one run alternate so that this host's noise hits them alike.
#   usage: tools/tls-quirk.sh [-r ROUNDS] [-k KERNEL] 'WORDS' ['WORDS' ...]
#   e.g.   tools/tls-quirk.sh -r 30 '' msbvm.nozeropage msbvm.tlbflushall
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=30 kernel=${MSBVM_KERNEL:-$top/build/vmlinux}
while getopts r:k: o; do
	case $o in r) rounds=$OPTARG ;; k) kernel=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- ''
msbvm=${MSBVM:-$top/build/msbvm}
root=$top/build/demo-root.ext4
[ -f "$root" ] || make -C "$top" --no-print-directory -s build/demo-root.ext4 || exit 1
work=$(mktemp -d)
loop="i=0; while [ \$i -lt $rounds ]; do sh -c 'sleep 0.1 & sleep 0.1 & sleep 0.1 & exit 0'; sleep 0.5; i=\$((i+1)); done; sleep 1"
trap '"$msbvm" stop --state-dir "$work/s" --timeout 5 q >/dev/null 2>&1; rm -rf "$work"' EXIT
for words in "$@"; do
	if ! "$msbvm" run -d --state-dir "$work/s" --name q --kernel "$kernel" \
		--rootfs "$root" --overlay tmpfs --net none \
		--append "loglevel=7 $words" >/dev/null 2>"$work/err"; then
		echo "variant '${words:-baseline}': boot failed: $(head -2 "$work/err")"
		continue
	fi
	"$msbvm" exec --state-dir "$work/s" q -- /bin/sh -c "$loop" >/dev/null 2>&1
	segv=$(grep -c 'segfault at' "$work/s/q/kernel.log")
	"$msbvm" stop --state-dir "$work/s" --timeout 10 q >/dev/null 2>&1
	echo "variant '${words:-baseline}': $segv of $((3 * rounds)) background sleeps segfaulted"
done
