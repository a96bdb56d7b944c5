#!/bin/sh
# Root file systems with a real init, for --init tests (cached).
#
#   tools/mkrootfs-init.sh busybox   -> ext4 image with busybox as /sbin/init
#   tools/mkrootfs-init.sh systemd   -> Debian 12 (debootstrap minbase) with
#                                       systemd, dbus, nginx, curl, procps
#   tools/mkrootfs-init.sh noinit    -> busybox shell tools but no init at all
#
# Prints the image path. Images live in ${MSBVM_CACHE:-~/.cache/msbvm}/rootfs/
# keyed by the SHA-256 of this script (and the busybox / debootstrap package
# versions), so a rerun is instant; a changed script builds anew. The Debian
# image comes from the Debian archive configured for apt on this machine
# (MIRROR overrides it); building it needs root (debootstrap) and ~2 min.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:?usage: mkrootfs-init.sh busybox|systemd|noinit}
cache=${MSBVM_CACHE:-${HOME:-/root}/.cache/msbvm}/rootfs
die() { echo "mkrootfs-init: $*" >&2; exit 1; }

ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
key=$( { cat "$0" "$top/tools/stage-busybox.sh" "$top/tools/dir2ext4.sh"
	echo "$kind $(ver busybox-static) $(ver debootstrap)"; } | sha256sum | cut -c1-16)
out=$cache/$kind-$key.ext4
if [ -f "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache"
stage=$(mktemp -d "$cache/stage-XXXXXX")
trap 'rm -rf "$stage"' EXIT

case $kind in
busybox|noinit)
	# stage-busybox wants an init script; for these images /sbin/init is
	# busybox's own init (or absent), so the staged /init is removed.
	printf '#!/bin/sh\n' > "$stage.init"
	"$top/tools/stage-busybox.sh" "$stage" "$stage.init"
	rm -f "$stage.init" "$stage/init" "$stage/sbin/init"
	if [ "$kind" = busybox ]; then
		ln -s ../bin/busybox "$stage/sbin/init"
		# no respawning gettys (no VTs in the guest); sync on the way down
		printf '%s\n' '::sysinit:/bin/mount -o remount,rw /' \
			'::shutdown:/bin/sync' > "$stage/etc/inittab"
	fi
	size=64
	;;
systemd)
	[ "$(id -u)" = 0 ] || die "debootstrap needs root"
	command -v debootstrap >/dev/null || die "debootstrap missing (tools/install-deps.sh)"
	mirror=${MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' \
		/etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
	mirror=${mirror:-http://deb.debian.org/debian}
	debootstrap --variant=minbase \
		--include=systemd,systemd-sysv,dbus,nginx,curl,procps,iproute2 \
		bookworm "$stage" "$mirror" >&2 || die "debootstrap failed"
	# The guest kernel has no IPv6 (CONFIG_IPV6=n: 2 s of boot here), so
	# nginx's default "listen [::]:80" would stop it from starting.
	sed -i '/listen \[::\]:80/d' "$stage/etc/nginx/sites-available/default"
	# no VT or serial getty to respawn on the console; the agent is the
	# way in. Machine id empty: systemd makes one per boot.
	rm -f "$stage/etc/systemd/system/getty.target.wants/"*
	: > "$stage/etc/machine-id"
	echo msbvm-debian > "$stage/etc/hostname"
	rm -rf "$stage/var/cache/apt/archives/"*.deb
	size=1024
	;;
*) die "unknown kind '$kind' (busybox, systemd, noinit)" ;;
esac
"$top/tools/dir2ext4.sh" "$stage" "$out.tmp" "$size" >/dev/null
mv "$out.tmp" "$out"
echo "$out"
