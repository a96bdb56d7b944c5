#!/bin/sh
# virtio-blk benchmark (prints numbers; never pass/fail). Boots a busybox
# root on /dev/vda with a 64 MiB scratch disk /dev/vdb twice: once only to
# boot (baseline VM exits) and once running O_DIRECT dd (1 MiB and 64 KiB
# blocks) and a 4 KiB sequential/random test inside the guest. Reports the
# guest-measured throughput and the VM exits the benchmark itself caused,
# per MiB moved. fio is not in the guest image; see the README.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
msbvm=${MSBVM:-$top/build/msbvm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
mkdir -p "$stage"
"$top/tools/stage-busybox.sh" "$stage" "$top/tools/guest/init-blkbench.sh"
cc -static -O2 -o "$stage/blkbench" "$top/tools/guest/blkbench.c"
"$top/tools/dir2ext4.sh" "$stage" "$work/root.ext4" >/dev/null
truncate -s 64M "$work/scratch.img"

exits() { sed -n 's/.*exits: io=\([0-9]*\) mmio=\([0-9]*\).*/\1 \2/p' "$1"; }
for b in 0 1; do
	"$msbvm" run --verbose --rootfs "$work/root.ext4" --disk "$work/scratch.img" \
		--append "bench=$b" </dev/null >"$work/out$b" 2>"$work/err$b"
done
grep -a BENCH "$work/out1" | sed 's/^BENCH /  /'
set -- $(exits "$work/err0") $(exits "$work/err1")
# bytes moved: dd 2 x (32 + 32) MiB, blkbench 8 + 8 + 2 + 2 MiB
mib=148
echo "  VM exits caused by the benchmark: io $(( $3 - $1 )), mmio $(( $4 - $2 ))" \
	"($(( ($4 - $2) * 100 / mib / 100 )).$(( ($4 - $2) * 100 / mib % 100 )) MMIO exits per MiB over $mib MiB)"
echo "  boot alone: io $1, mmio $2"
