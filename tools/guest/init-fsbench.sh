#!/bin/sh
# Guest side of tools/fs-bench.sh: the same script under msbvm (run by
# agentd: `/init MODE STEPS MB CACHE`) and under QEMU (PID 1, the same
# words from the kernel command line: fsbench=MODE,STEPS,MB,CACHE).
# MODE: fs (virtio-fs volume, agentd mounted it on /vol), blk (ext4 on
# /dev/vdb), 9p (virtio-9p tag "share"). STEPS=0 mounts and unmounts only
# (the baseline for VM exits). Steps on the shared tree (data/, big, meta/):
# tar of data/ to /dev/null (busybox tar has no /dev/null shortcut: it
# opens and sendfile()s every file, the data is read), dd read of big, dd
# write of MB MiB + sync, ls -lR of meta/ into a file (stats every entry). Prints "BENCH MODE STEP AMOUNT SECONDS"
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
# No pipelines: on the nested hosts freshly exec'd busybox processes
# sometimes die with SIGSEGV while another one runs (docs/nested-kvm.md);
# a failed step is retried (BENCH-RETRY; the time is the last try's).
s_tar() { $bb tar cf /dev/null -C "$d" data; }
s_read() { $bb dd if="$d/big" of=/dev/null bs=1M 2>/dev/null; }
s_write() { $bb dd if=/dev/zero of="$d/out" bs=1M count="$mb" 2>/dev/null && $bb sync; }
s_meta() { $bb ls -lR "$d/meta" >/tmp/fsbench-ls; }
step() { # step NAME AMOUNT
	try=1
	while :; do
		t0=$(up)
		s_$1 && break
		echo "BENCH-RETRY $mode $1 $try"
		try=$((try + 1))
		[ $try -le 3 ] || { echo "BENCH-ERROR $mode $1"; return; }
	done
	t1=$(up)
	[ "$1" = meta ] && set -- meta "$($bb grep -c '^-' /tmp/fsbench-ls)"
	echo "BENCH $mode $1 $2 $(el "$t0" "$t1")"
}
if [ "$steps" = 1 ]; then
	step tar - # the host knows the bytes; a du here would warm the cache
	step read "$($bb stat -c %s "$d/big")"
	step write $((mb * 1048576))
	step meta
	$bb rm -f "$d/out" /tmp/fsbench-ls
fi
$bb sync
[ "$mode" = fs ] || $bb umount /mnt
echo "FSBENCH-END"
[ $$ = 1 ] && $bb poweroff -f
exit 0
