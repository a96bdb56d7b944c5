#!/bin/sh
# Populate DIR with a minimal busybox system whose /init is INIT_SCRIPT
# (also /sbin/init). Shared by mkinitramfs.sh and mkrootfs.sh.
# usage: tools/stage-busybox.sh DIR INIT_SCRIPT
set -eu
stage=${1:?usage: stage-busybox.sh DIR INIT_SCRIPT}
init=${2:?usage: stage-busybox.sh DIR INIT_SCRIPT}
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "stage-busybox: $bb missing (apt install busybox-static)" >&2; exit 1; }
file -L "$bb" 2>/dev/null | grep -q 'statically linked' ||
	{ echo "stage-busybox: $bb is not static (install busybox-static)" >&2; exit 1; }
[ -r "$init" ] || { echo "stage-busybox: init script $init missing" >&2; exit 1; }
mkdir -p "$stage/bin" "$stage/sbin" "$stage/proc" "$stage/sys" "$stage/dev" \
	"$stage/tmp" "$stage/run" "$stage/etc" "$stage/mnt"
cp "$bb" "$stage/bin/busybox"
ln -sf busybox "$stage/bin/sh"
cp "$init" "$stage/init"
chmod 0755 "$stage/init"
ln -sf ../init "$stage/sbin/init"
echo "msbvm-test" > "$stage/etc/hostname"
# as in container images: agentd bind-mounts its network files over these
printf '127.0.0.1\tlocalhost\n' > "$stage/etc/hosts"
: > "$stage/etc/resolv.conf"
# every applet as /bin/NAME (agent exec runs `ls`, `cat`, ... by name)
for a in $("$bb" --list); do
	[ -e "$stage/bin/$a" ] || [ -e "$stage/sbin/$a" ] || ln -s busybox "$stage/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' \
	> "$stage/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' > "$stage/etc/group"
mkdir -p "$stage/root" "$stage/home/app"
