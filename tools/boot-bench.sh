#!/bin/bash
# Boot-time benchmark: boots the kernel N times with a minimal busybox
# initramfs and prints, per run and as min/median/max:
#   userspace_s  host wall time from starting the VMM to the first line that
#                user space prints (/init after one exec)
#   guest_up_s   the guest kernel's own uptime at that moment
#   exit_s       host wall time until msbvm exited after the guest rebooted
# With QEMU=1 each msbvm boot is paired with a QEMU `-M microvm` boot of the
# same kernel, initramfs and command line (A/B alternating), compared on the
# user-space marker (QEMU's microvm has no i8042, so a guest reboot does not
# end it; it is killed after the marker) and the ratio is printed per pair.
# usage: [QEMU=1] tools/boot-bench.sh [N] [extra msbvm run args...]
# Env: MSBVM (binary), MSBVM_KERNEL, BENCH_INITRD (prebuilt initramfs).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-5}
shift || true
msbvm=${MSBVM:-$top/build/msbvm}
kernel=${MSBVM_KERNEL:-$top/build/vmlinux}
qemu=${QEMU:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
initrd=${BENCH_INITRD:-}
if [ -z "$initrd" ]; then
	initrd=$work/bench.cpio
	"$top/tools/mkinitramfs.sh" "$initrd" "$top/tools/bench-init.sh" >/dev/null
fi
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# measure LABEL CMD...: sets tus, up, tex; kills the VMM 1 s after the
# marker if it has not exited (QEMU).
measure() {
	local label=$1 t0 line pid
	shift
	tus=; up=
	t0=$(now)
	rm -f "$work/fifo"
	mkfifo "$work/fifo"
	"$@" </dev/null >"$work/fifo" 2>"$work/err.$label" &
	pid=$!
	exec 4<"$work/fifo"
	while IFS= read -r -t 600 line <&4; do
		case "$line" in
		*MSBVM-USERSPACE*)
			tus=$(sub "$(now)" "$t0")
			up=${line##*uptime=}; up=${up%$'\r'}
			[ "$label" = qemu ] && { sleep 1; kill "$pid" 2>/dev/null || true; } ;;
		esac
	done
	exec 4<&-
	wait "$pid" 2>/dev/null || true
	tex=$(sub "$(now)" "$t0")
	[ -n "$tus" ] || { echo "$label: no user-space marker; stderr:"; cat "$work/err.$label"; exit 1; }
}

cmdline=
if [ "$qemu" = 1 ]; then
	command -v qemu-system-x86_64 >/dev/null ||
		{ echo "boot-bench: QEMU=1 needs qemu-system-x86 (apt)" >&2; exit 1; }
	printf '%-4s %12s %12s %10s %12s %12s %8s\n' run msbvm_us_s msbvm_up_s msbvm_exit qemu_us_s qemu_up_s ratio
else
	printf '%-4s %12s %12s %10s\n' run userspace_s guest_up_s exit_s
fi
for i in $(seq "$n"); do
	measure msbvm "$msbvm" run --verbose --kernel "$kernel" --initrd "$initrd" "$@"
	a_us=$tus a_up=$up a_ex=$tex
	# the exact command line msbvm booted with (nested additions included)
	[ -n "$cmdline" ] || cmdline=$(sed -n 's/^msbvm: kernel .* cmdline: //p' "$work/err.msbvm")
	if [ "$qemu" = 1 ]; then
		measure qemu qemu-system-x86_64 -M microvm,acpi=off -enable-kvm \
			-cpu host,-arch-capabilities -m "${MEM:-128}" -nodefaults \
			-no-user-config -nographic -serial stdio -no-reboot \
			-kernel "$kernel" -initrd "$initrd" -append "$cmdline"
		ratio=$(awk -v a="$a_us" -v b="$tus" 'BEGIN { printf "%.3f", a / b }')
		printf '%-4s %12s %12s %10s %12s %12s %8s\n' "$i" "$a_us" "$a_up" "$a_ex" "$tus" "$up" "$ratio"
		echo "$a_us $a_up $a_ex $tus $up $ratio" >> "$work/all"
	else
		printf '%-4s %12s %12s %10s\n' "$i" "$a_us" "$a_up" "$a_ex"
		echo "$a_us $a_up $a_ex" >> "$work/all"
	fi
done
stats() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f/%.3f/%.3f", a[1], m, a[NR]}'; }
col() { cut -d' ' -f"$1" "$work/all" | stats; }
echo "min/median/max over $n runs:"
echo "  msbvm start -> user space  : $(col 1) s"
echo "  guest uptime at user space : $(col 2) s"
echo "  msbvm start -> msbvm exit  : $(col 3) s"
if [ "$qemu" = 1 ]; then
	echo "  qemu start -> user space   : $(col 4) s"
	echo "  qemu guest uptime at u.s.  : $(col 5) s"
	echo "  msbvm/qemu ratio (per pair): $(col 6)"
fi
