#!/bin/bash
# Boot-time benchmark: boots the kernel N times with a minimal busybox
# initramfs and prints, per run and as min/median/max:
#   userspace_s  host wall time from starting msbvm to the first line that
#                user space prints (/init after one exec)
#   guest_up_s   the guest kernel's own uptime at that moment
#   exit_s       host wall time until msbvm exited after the guest rebooted
# usage: tools/boot-bench.sh [N] [extra msbvm run args...]
# Env: MSBVM (binary), MSBVM_KERNEL, BENCH_INITRD (prebuilt initramfs).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-5}
shift || true
msbvm=${MSBVM:-$top/build/msbvm}
kernel=${MSBVM_KERNEL:-$top/build/vmlinux}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
initrd=${BENCH_INITRD:-}
if [ -z "$initrd" ]; then
	initrd=$work/bench.cpio
	"$top/tools/mkinitramfs.sh" "$initrd" "$top/tools/bench-init.sh" >/dev/null
fi
now() { date +%s.%N; }
printf '%-4s %12s %12s %10s\n' run userspace_s guest_up_s exit_s
for i in $(seq "$n"); do
	t0=$(now)
	tus=
	up=
	while IFS= read -r line; do
		case "$line" in
		*MSBVM-USERSPACE*)
			tus=$(awk -v a="$(now)" -v b="$t0" 'BEGIN {print a - b}')
			up=${line##*uptime=}
			up=${up%$'\r'} ;;
		esac
	done < <("$msbvm" run --kernel "$kernel" --initrd "$initrd" "$@" </dev/null 2>"$work/err")
	tex=$(awk -v a="$(now)" -v b="$t0" 'BEGIN {print a - b}')
	[ -n "$tus" ] || { echo "run $i: no user-space marker; stderr:"; cat "$work/err"; exit 1; }
	printf '%-4s %12.3f %12s %10.3f\n' "$i" "$tus" "$up" "$tex"
	echo "$tus $up $tex" >> "$work/all"
done
stats() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f/%.3f/%.3f", a[1], m, a[NR]}'; }
echo "min/median/max over $n runs:"
echo "  host start -> user space : $(cut -d' ' -f1 "$work/all" | stats) s"
echo "  guest uptime at user space: $(cut -d' ' -f2 "$work/all" | stats) s"
echo "  host start -> msbvm exit  : $(cut -d' ' -f3 "$work/all" | stats) s"
