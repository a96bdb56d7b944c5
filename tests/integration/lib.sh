# Shared by the integration scripts (sourced): paths, a scratch directory
# with a state root, and TAP-style ok / not ok checks counted in $fails.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
msbvm=$top/build/msbvm
export MSBVM_KERNEL=${MSBVM_KERNEL:-$top/build/vmlinux}
work=$(mktemp -d)
state=$work/state
fails=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
