#!/bin/bash
# Data-integrity A/B (issue: ext4 corruption): the same guest file-system
# stress (tools/guest/fsstress.c, two writers and a reader, fsync, rename,
# delete, mkdir, then remount and verify) on a fresh ext4 scratch disk,
# N times under msbvm and N times under QEMU microvm (alternating, same
# kernel, same root, same command line), and `e2fsck -fn` of the scratch
# image after each run. Prints corrupted runs / total per VMM; exit 0.
#   usage: tools/integrity-ab.sh [-n N] [-s SECONDS] [--no-qemu] [--mkfs "OPTS"]
# The scratch image is made with mkfs.ext4 defaults (lazy_itable_init: the
# guest's ext4lazyinit zeroes inode tables with WRITE_ZEROES while the
# stress runs) unless --mkfs says otherwise, e.g.
# --mkfs "-E lazy_itable_init=0,lazy_journal_init=0".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=3 secs=30 qemu=1 mkfs_opts=""
while [ $# -gt 0 ]; do
	case $1 in
	-n) n=$2; shift 2 ;;
	-s) secs=$2; shift 2 ;;
	--no-qemu) qemu=0; shift ;;
	--mkfs) mkfs_opts=$2; shift 2 ;;
	*) echo "usage: tools/integrity-ab.sh [-n N] [-s SECS] [--no-qemu] [--mkfs OPTS]" >&2; exit 2 ;;
	esac
done
msbvm=${MSBVM:-$top/build/msbvm}
kernel=$(readlink -f "${MSBVM_KERNEL:-$top/build/vmlinux}")
fsstress=$top/build/guest/fsstress
[ -x "$fsstress" ] || make -C "$top" --no-print-directory -s build/guest/fsstress
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
mkdir -p "$stage"
"$top/tools/stage-busybox.sh" "$stage" "$top/tools/guest/init-fsstress.sh" >/dev/null
cp "$fsstress" "$stage/fsstress"
"$top/tools/dir2ext4.sh" "$stage" "$work/root.ext4" >/dev/null
truncate -s 256M "$work/pristine.img"
mkfs.ext4 -q -F $mkfs_opts "$work/pristine.img"
cmd="console=ttyS0 reboot=k panic=-1 8250.nr_uarts=1 random.trust_bootloader=on quiet ro rootfstype=ext4 stress=$secs"
nested=$("$msbvm" run --verbose --no-agent --rootfs /dev/null 2>&1 | sed -n "s/.*adding '\(.*\)'/\1/p")
[ -n "$nested" ] && cmd="$cmd $nested"

# one run: VMM name; prints "OK|CORRUPT|FAILED detail"
one() {
	local vmm=$1 img=$work/scratch-$1.img log=$work/log-$1 root=$work/root-$1.ext4
	cp --sparse=always "$work/pristine.img" "$img"
	# a fresh root each run: msbvm mounts --rootfs read-write and the
	# guest's `reboot -f` leaves its journal to replay
	cp --sparse=always "$work/root.ext4" "$root"
	if [ "$vmm" = msbvm ]; then
		timeout 900 "$msbvm" run --no-agent --kernel "$kernel" --rootfs "$root" \
			--disk "$img" --cmdline "$cmd root=/dev/vda scratch=/dev/vdb" --nested-workarounds off --memory 256 </dev/null >"$log" 2>&1
	else
		# microvm has no i8042: a guest reboot does not end QEMU, so
		# stop it at the marker (the scratch disk is unmounted by then)
		( timeout 900 qemu-system-x86_64 -M microvm,acpi=off -enable-kvm \
			-cpu host,-arch-capabilities -m 256 -nodefaults -no-user-config \
			-nographic -serial stdio -no-reboot -kernel "$kernel" \
			-drive "file=$root,if=none,id=d0,format=raw" \
			-device virtio-blk-device,drive=d0 \
			-drive "file=$img,if=none,id=d1,format=raw,discard=unmap" \
			-device virtio-blk-device,drive=d1 \
			-append "$cmd root=/dev/vda scratch=/dev/vdb" </dev/null >"$log" 2>&1 ) &
		local pid=$!
		for _ in $(seq 1800); do
			grep -aq INTEGRITY-DONE "$log" && break
			kill -0 $pid 2>/dev/null || break
			sleep 0.5
		done
		sleep 1
		pkill -f "file=$img" ; wait $pid 2>/dev/null
	fi
	local done_line fsck
	done_line=$(grep -a INTEGRITY-DONE "$log" | tail -1)
	fsck=$(e2fsck -fn "$img" 2>&1); local frc=$?
	if [ -z "$done_line" ]; then
		cp "$log" "$top/build/integrity-$vmm-failed-$(date +%s).log" 2>/dev/null
		echo "FAILED no marker: $(tail -c 300 "$log" | tr '\n' ' ')"
	elif [ $frc != 0 ] || ! echo "$done_line" | grep -q 'stress=0 verify=0'; then
		echo "CORRUPT $done_line; e2fsck rc=$frc: $(echo "$fsck" | grep -v '^Pass\|^e2fsck\|clean' | head -5 | tr '\n' ' ')"
		cp "$log" "$top/build/integrity-$vmm-$(date +%s).log" 2>/dev/null
	else
		echo "OK $(grep -a 'fsstress:' "$log" | tail -2 | tr '\n' ' ')"
	fi
}

declare -A bad total
for v in msbvm qemu; do bad[$v]=0; total[$v]=0; done
for i in $(seq "$n"); do
	for v in msbvm qemu; do
		[ $v = qemu ] && [ $qemu = 0 ] && continue
		r=$(one $v)
		echo "run $i $v: $r"
		total[$v]=$((total[$v] + 1))
		case $r in CORRUPT*) bad[$v]=$((bad[$v] + 1)) ;; esac
	done
done
echo "corrupted runs (stress ${secs}s each, mkfs '${mkfs_opts:-defaults}'):"
for v in msbvm qemu; do
	[ ${total[$v]} = 0 ] || echo "  $v: ${bad[$v]} / ${total[$v]}"
done
