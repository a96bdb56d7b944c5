#!/bin/sh
# /sbin/init of the block-benchmark root (tools/blk-bench.sh): 32 MiB of
# O_DIRECT dd at 1 MiB and 64 KiB blocks, then 4 KiB sequential/random with
# /blkbench, all on /dev/vdb. With bench=0 it only boots and reboots: the
# baseline for counting the benchmark's own VM exits.
bb=/bin/busybox
$bb mount -t proc proc /proc
up() { $bb cut -d' ' -f1 /proc/uptime; }
rate() { $bb awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f s = %.2f MiB/s", b - a, 32 / (b - a) }'; }
case " $($bb cat /proc/cmdline) " in
*" bench=1 "*)
	for spec in "1M 32" "64k 512"; do
		set -- $spec
		t0=$(up)
		$bb dd if=/dev/zero of=/dev/vdb bs=$1 count=$2 oflag=direct 2>/dev/null
		t1=$(up)
		$bb dd if=/dev/vdb of=/dev/null bs=$1 count=$2 iflag=direct 2>/dev/null
		t2=$(up)
		echo "BENCH dd-write bs=$1: 32 MiB in $(rate $t0 $t1)"
		echo "BENCH dd-read  bs=$1: 32 MiB in $(rate $t1 $t2)"
	done
	/blkbench /dev/vdb 8 ;;
esac
$bb reboot -f
