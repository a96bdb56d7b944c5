#!/bin/sh
# Guest side of tools/fs-bench.sh: the same script under msbvm (run by
# agentd: `/init MODE STEPS MB CACHE`) and under QEMU (PID 1, the same
# words from the kernel command line: fsbench=MODE,STEPS,MB,CACHE).
# MODE: fs (virtio-fs volume, agentd mounted it on /vol), blk (ext4 on
# /dev/vdb), 9p (virtio-9p tag "share"). STEPS=0 mounts and unmounts only
# (the baseline for VM exits). Steps on the shared tree (data/, big, meta/):
# tar of data/ to a pipe, dd read of big, dd write of MB MiB + sync, ls -lR
# of meta/ (stats every entry). Prints "BENCH MODE STEP AMOUNT SECONDS"
# timed on the guest's clock (/proc/uptime, 10 ms).
bb=/bin/busybox
if [ $$ = 1 ]; then
	$bb mount -t proc proc /proc
	$bb mount -t sysfs sys /sys
	args=$($bb sed -n 's/.*fsbench=\([^ ]*\).*/\1/p' /proc/cmdline)
	IFS=, read -r mode steps mb cache <<EOF
$args
EOF
else
	mode=$1 steps=$2 mb=$3 cache=${4:-loose}
fi
up() { read -r t _ </proc/uptime; echo "$t"; }
el() { $bb awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
d=/mnt
case $mode in
fs) d=/vol ;;
blk) $bb mount -t ext4 /dev/vdb /mnt ;;
9p) $bb mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache="$cache" share /mnt ;;
esac || echo "BENCH-ERROR mount $mode"
if [ "$steps" = 1 ]; then
	t0=$(up)
	n=$($bb tar cf - -C "$d" data | $bb wc -c)
	t1=$(up)
	echo "BENCH $mode tar $n $(el "$t0" "$t1")"
	n=$($bb stat -c %s "$d/big")
	t0=$(up)
	$bb dd if="$d/big" of=/dev/null bs=1M 2>/dev/null
	t1=$(up)
	echo "BENCH $mode read $n $(el "$t0" "$t1")"
	t0=$(up)
	$bb dd if=/dev/zero of="$d/out" bs=1M count="$mb" 2>/dev/null
	$bb sync
	t1=$(up)
	echo "BENCH $mode write $((mb * 1048576)) $(el "$t0" "$t1")"
	t0=$(up)
	n=$($bb ls -lR "$d/meta" | $bb grep -c '^-')
	t1=$(up)
	echo "BENCH $mode meta $n $(el "$t0" "$t1")"
	$bb rm -f "$d/out"
fi
$bb sync
[ "$mode" = fs ] || $bb umount /mnt
echo "FSBENCH-END"
[ $$ = 1 ] && $bb poweroff -f
exit 0
