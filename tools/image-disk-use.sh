#!/bin/bash
# Host disk used by N VMs of one image (a benchmark, not a test): one
# read-only base image shared by all, plus one sparse scratch upper disk
# per VM (the default of `msbvm run IMAGE`). Boots N VMs at once (-d),
# has each write FILE_KIB of zeros (ext4 allocates them; /dev/urandom
# takes minutes in an emulated guest kernel), then reads du of the base and the
# uppers, and stops them.
#   usage: tools/image-disk-use.sh [-n N] [-w FILE_KIB] [--rootfs BASE.ext4]
# Without --rootfs the base is a busybox image from tools/mkrootfs.sh
# (the same mechanism as an image VM: --overlay scratch on a shared base).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
n=10 wkib=1024 base=
while [ $# -gt 0 ]; do
	case $1 in
	-n) n=$2; shift 2 ;;
	-w) wkib=$2; shift 2 ;;
	--rootfs) base=$2; shift 2 ;;
	*) echo "usage: tools/image-disk-use.sh [-n N] [-w FILE_KIB] [--rootfs BASE.ext4]" >&2; exit 2 ;;
	esac
done
msbvm=$top/build/msbvm
export MSBVM_KERNEL=${MSBVM_KERNEL:-$top/build/vmlinux}
work=$(mktemp -d)
state=$work/state
trap 'for i in $(seq "$n"); do "$msbvm" stop --state-dir "$state" du$i >/dev/null 2>&1; done; rm -rf "$work"' EXIT
if [ -z "$base" ]; then
	base=$work/base.ext4
	"$top/tools/mkrootfs.sh" "$base" "$top/tests/integration/init-smoke.sh" 64 >/dev/null ||
		{ echo "image-disk-use: cannot build the base image" >&2; exit 1; }
fi
t0=$(date +%s)
for i in $(seq "$n"); do
	"$msbvm" run -d --state-dir "$state" --name du$i --rootfs "$base" --overlay scratch \
		>/dev/null 2>"$work/du$i.err" &
done
wait
up=0
for i in $(seq "$n"); do
	[ -S "$state/du$i/vsock.sock" ] && up=$((up + 1))
	"$msbvm" exec --state-dir "$state" du$i -- \
		sh -c "dd if=/dev/zero of=/root/data bs=1024 count=$wkib 2>/dev/null; sync" \
		>/dev/null 2>&1
done
t1=$(date +%s)
kib() { du -k "$1" | cut -f1; }
uppers=0 apparent=0
for i in $(seq "$n"); do
	f=$state/du$i/upper.ext4
	[ -f "$f" ] || continue
	uppers=$((uppers + $(kib "$f")))
	apparent=$((apparent + $(du -k --apparent-size "$f" | cut -f1)))
done
b=$(kib "$base")
echo "image-disk-use: $up of $n VMs up at once ($((t1 - t0)) s incl. writes), each wrote $wkib KiB"
echo "  base image (shared, read-only): $((b / 1024)) MiB on disk"
echo "  $n scratch uppers: $((uppers / 1024)) MiB on disk in all ($((uppers / n)) KiB each; apparent size $((apparent / 1024 / n)) MiB each)"
echo "  total: $(((b + uppers) / 1024)) MiB for $n VMs; $n full copies of the base would take $((n * b / 1024)) MiB"
