#!/bin/sh
# Build an uncompressed busybox initramfs (newc cpio) without root.
# usage: tools/mkinitramfs.sh OUT.cpio [INIT_SCRIPT]
# INIT_SCRIPT becomes /init (default: tests/integration/init-smoke.sh).
# /dev/console comes from the kernel's built-in initramfs, unpacked first.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: mkinitramfs.sh OUT.cpio [INIT_SCRIPT]}
init=${2:-$top/tests/integration/init-smoke.sh}
bb=${BUSYBOX:-/bin/busybox}

[ -x "$bb" ] || { echo "mkinitramfs: $bb missing (apt install busybox-static)" >&2; exit 1; }
file -L "$bb" 2>/dev/null | grep -q 'statically linked' ||
	{ echo "mkinitramfs: $bb is not static (install busybox-static)" >&2; exit 1; }
[ -r "$init" ] || { echo "mkinitramfs: init script $init missing" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/sbin" "$stage/proc" "$stage/sys" "$stage/dev" \
	"$stage/tmp" "$stage/run" "$stage/etc"
cp "$bb" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$init" "$stage/init"
chmod 0755 "$stage/init"
echo "msbvm-test" > "$stage/etc/hostname"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
