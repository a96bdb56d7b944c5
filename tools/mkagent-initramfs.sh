#!/bin/sh
# The initramfs msbvm hands the kernel in agent mode: /init = agentd, and
# nothing else (the kernel's built-in initramfs supplies /dev/console;
# agentd creates its mount points). No root needed.
# usage: tools/mkagent-initramfs.sh OUT.cpio AGENTD_BINARY
set -eu
out=${1:?usage: mkagent-initramfs.sh OUT.cpio AGENTD}
bin=${2:?usage: mkagent-initramfs.sh OUT.cpio AGENTD}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/init"
chmod 755 "$stage/init"
(cd "$stage" && echo init | cpio --quiet -o -H newc -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
