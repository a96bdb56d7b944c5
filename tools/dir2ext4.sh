#!/bin/sh
# Turn a directory into an ext4 image without root privileges
# (mkfs.ext4 -d copies the tree; files become owned by root in the image).
# usage: tools/dir2ext4.sh DIR IMAGE [SIZE_MIB]
# SIZE_MIB defaults to twice the tree's size plus 16 MiB.
set -eu
dir=${1:?usage: dir2ext4.sh DIR IMAGE [SIZE_MIB]}
img=${2:?usage: dir2ext4.sh DIR IMAGE [SIZE_MIB]}
[ -d "$dir" ] || { echo "dir2ext4: $dir is not a directory" >&2; exit 1; }
command -v mkfs.ext4 >/dev/null || PATH=$PATH:/sbin:/usr/sbin
size=${3:-$(( $(du -sm "$dir" | cut -f1) * 2 + 16 ))}
rm -f "$img.tmp"
truncate -s "${size}M" "$img.tmp"
# No journal-less tricks: the image must survive a killed VMM like a disk.
mkfs.ext4 -q -F -L msbvm-root -E root_owner=0:0 -d "$dir" "$img.tmp" ||
	{ rm -f "$img.tmp"; echo "dir2ext4: mkfs.ext4 failed" >&2; exit 1; }
mv "$img.tmp" "$img"
echo "$img"
