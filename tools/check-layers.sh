#!/bin/sh
# The folder is the architecture (README "Architecture"): each folder may
# include only from itself and the layers below it. Run by `make unit`;
# prints every include that runs the wrong way and fails.
#   include/            public API: nothing
#   proto/              wire protocol shared by host and guest: nothing
#   vmm/core/           KVM VM, vCPU, memory, buses, eventfds: nothing
#   boot/ vmm/hw/ virtio/  boot protocol and device models: vmm/core
#   oci/                images: registry, store, rootfs: nothing of vmm/
#   vmm/lib/            libmsbvm: everything above, and include/
#   vmm/cli/            the msbvm command: include/ only (the public API)
#   agentd/             the guest agent: proto/ only
#   examples/           include/ only
set -eu
cd "$(dirname "$0")/.."
allowed() {
	case $1 in
	include) echo "include" ;;
	proto) echo "proto" ;;
	vmm/core) echo "vmm/core" ;;
	boot|vmm/hw|virtio) echo "$1 vmm/core" ;;
	oci) echo "oci" ;;
	vmm/lib) echo "vmm/lib include proto vmm/core vmm/hw virtio boot oci" ;;
	vmm/cli) echo "vmm/cli include" ;;
	agentd) echo "agentd proto" ;;
	examples) echo "include" ;;
	*) echo "*" ;;
	esac
}
bad=0
for f in $(find include proto oci vmm boot virtio agentd examples -name '*.[ch]' 2>/dev/null); do
	dir=$(dirname "$f")
	ok=$(allowed "$dir")
	[ "$ok" = "*" ] && continue
	for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
		case $inc in
		*/*) idir=$(dirname "$inc") ;;
		*) idir=$dir ;; # same folder
		esac
		case " $ok " in
		*" $idir "*) ;;
		*) echo "layers: $f includes $inc ($dir may use: $ok)" >&2; bad=1 ;;
		esac
	done
done
[ $bad = 0 ] && echo "layers: every include runs downwards"
exit $bad
