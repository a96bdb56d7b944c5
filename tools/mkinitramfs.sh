#!/bin/sh
# Build an uncompressed busybox initramfs (newc cpio) without root.
# usage: tools/mkinitramfs.sh OUT.cpio [INIT_SCRIPT]
# INIT_SCRIPT becomes /init (default: tests/integration/init-smoke.sh).
# /dev/console comes from the kernel's built-in initramfs, unpacked first.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: mkinitramfs.sh OUT.cpio [INIT_SCRIPT]}
init=${2:-$top/tests/integration/init-smoke.sh}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
"$top/tools/stage-busybox.sh" "$stage" "$init"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
