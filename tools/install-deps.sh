#!/bin/sh
# Install everything msbvm needs to build and test on a fresh Debian 12
# machine (Debian's archive only). Idempotent; run as root (or via sudo).
# musl-tools: agentd is a static musl binary (83 KiB; glibc static ~800 KiB
# and NSS warnings). socat: tests drive the vsock socket with it.
# debootstrap: tools/mkrootfs-init.sh systemd (the --init test image).
# clang: `make tsan` (gcc 12's TSan rejects atomic_thread_fence) and `make
# fuzz`. pkg-config: the embedding test builds against the installed .pc.
# libfdt-dev: agentd's boot configuration (a device tree in a cpio
# archive, docs/boot-config.md); agentd links libfdt.a.
# libcurl4-openssl-dev: oci/ talks to registries (HTTP/1.1+2, TLS, multi).
# libarchive-dev: oci/ reads image layers (tar, gzip, zstd).
# libslirp-dev: virtio-net's user-mode networking (NAT, DHCP, DNS, -p port
# forwards) without a TCP/IP stack of our own, the one QEMU uses.
# libjansson-dev: oci/ parses manifests, configs and the store index.
# libext2fs-dev: oci/ writes image layers straight into the ext4 base image.
# docker-registry skopeo umoci: tests/integration/oci.sh builds, pushes
# and serves test images on loopback; curl, zstd, openssl, python3: the
# same tests (readiness probes, zstd layers, a throw-away CA, the fake
# registry and free-port helper), and net.sh's host-side servers.
# libseccomp-dev: the VMM's per-thread seccomp filters (vmm/lib/seccomp*.c).
set -eu
PKGS="build-essential make gcc libc6-dev linux-libc-dev file
 bc bison flex libelf-dev libssl-dev cpio xz-utils kmod
 linux-source-6.1 busybox-static e2fsprogs socat musl-tools debootstrap
 clang pkg-config libfdt-dev libarchive-dev libcurl4-openssl-dev libjansson-dev
 libext2fs-dev libslirp-dev libseccomp-dev docker-registry skopeo umoci
 curl zstd openssl python3"
# `tools/install-deps.sh bench` adds what tools/bench compares against
[ "${1:-}" = bench ] && PKGS="$PKGS qemu-system-x86"
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing" >&2
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
		--no-install-recommends $missing
fi
[ -e /dev/kvm ] || echo "install-deps: warning: /dev/kvm is missing; guests cannot boot here" >&2
echo "install-deps: all packages present" >&2
