#!/bin/sh
# Build a busybox root file system image (ext4) for tests and demos.
# usage: tools/mkrootfs.sh IMAGE [INIT_SCRIPT] [SIZE_MIB]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
img=${1:?usage: mkrootfs.sh IMAGE [INIT_SCRIPT] [SIZE_MIB]}
init=${2:-$top/tests/integration/init-smoke.sh}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
"$top/tools/stage-busybox.sh" "$stage" "$init"
"$top/tools/dir2ext4.sh" "$stage" "$img" ${3:-}
