#!/bin/sh
# Build the msbvm guest kernel (uncompressed ELF vmlinux) from Debian's
# linux-source-6.1, cached by content hash.
#
# The cache key is the SHA-256 of: the linux-source package version, the
# config fragment, every patch, and this script. A second run with the same
# inputs prints the cached path at once. Output: the path of vmlinux on stdout;
# build/vmlinux in the repository is made a symlink to it.
#
# Environment: MSBVM_CACHE (default ~/.cache/msbvm), JOBS (default nproc).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${MSBVM_CACHE:-${HOME:-/root}/.cache/msbvm}
tarball=/usr/src/linux-source-6.1.tar.xz
frag=$top/kernel-config/msbvm.config
jobs=${JOBS:-$(nproc)}

die() { echo "build-kernel: $*" >&2; exit 1; }

[ -r "$tarball" ] || die "$tarball missing: run tools/install-deps.sh first"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) ||
	die "cannot read the linux-source-6.1 package version"

key=$( {
	echo "linux-source-6.1 $srcver"
	cat "$frag"
	for p in "$top"/kernel-config/patches/*.patch; do cat "$p"; done
	cat "$0"
} | sha256sum | cut -c1-16)

out=$cache/kernel/$key
mkdir -p "$top/build"
if [ -f "$out/vmlinux" ]; then
	ln -sfn "$out/vmlinux" "$top/build/vmlinux"
	echo "$out/vmlinux"
	exit 0
fi

work=$cache/kernel/work-$key
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
echo "build-kernel: building kernel $key (linux-source $srcver) in $work" >&2
tar -C "$work" -xf "$tarball"
src=$work/linux-source-6.1
for p in "$top"/kernel-config/patches/*.patch; do
	echo "build-kernel: applying $(basename "$p")" >&2
	patch -s -p1 -d "$src" < "$p" || die "patch $(basename "$p") does not apply"
done

make -s -C "$src" tinyconfig >&2
"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$frag" >/dev/null
make -s -C "$src" olddefconfig >&2

# Every symbol the fragment asks for must survive dependency resolution.
bad=0
while IFS= read -r line; do
	case "$line" in CONFIG_*=*) ;; *) continue ;; esac
	sym=${line%%=*}; val=${line#*=}
	if [ "$val" = n ]; then
		if grep -q "^$sym=" "$src/.config"; then
			echo "build-kernel: $sym should be off but is $(grep "^$sym=" "$src/.config")" >&2
			bad=1
		fi
	elif ! grep -qx "$line" "$src/.config"; then
		echo "build-kernel: $line was dropped (unmet dependency?)" >&2
		bad=1
	fi
done < "$frag"
[ $bad = 0 ] || die "config fragment not honoured"

make -s -C "$src" -j"$jobs" vmlinux >&2
mkdir -p "$out"
cp "$src/vmlinux" "$out/vmlinux.tmp"
cp "$src/.config" "$out/config"
cp "$src/System.map" "$out/System.map"
mv "$out/vmlinux.tmp" "$out/vmlinux"
ln -sfn "$out/vmlinux" "$top/build/vmlinux"
echo "$out/vmlinux"
