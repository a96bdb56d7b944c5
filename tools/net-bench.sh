#!/bin/bash
# Network A/B (issue 13): msbvm (virtio-net + libslirp) against QEMU
# microvm with -netdev user (libslirp too) on the same kernel, the same
# busybox root and the same /init (tools/guest/init-netbench.sh), no
# agent on either side: the guest fetches MB megabytes from a python3
# http.server on the host's 127.0.0.1 through the gateway 10.0.2.2 with
# busybox wget and reports the time on its own clock (guest -> host TCP,
# checksum checked). KVM exits: QMP query-stats for QEMU at the start
# and end markers; msbvm's --report total, minus a run fetching 1 byte
# (boot and power-off), over the megabytes.
# usage: tools/net-bench.sh [MB]   (default 5; ~100x slower than hardware
# on the nested development hosts: compare the ratio, not the numbers)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mb=${1:-5}
msbvm=$top/build/msbvm
kernel=$(readlink -f "${MSBVM_KERNEL:-$top/build/vmlinux}")
work=$(mktemp -d)
srv=
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; rm -rf "$work"' EXIT
"$top/tools/mkrootfs.sh" "$work/root.ext4" "$top/tools/guest/init-netbench.sh" 64 >/dev/null
mkdir "$work/www"
head -c $((mb * 1000000)) /dev/urandom >"$work/www/f"
head -c 1 /dev/urandom >"$work/www/one"
sum=$(md5sum <"$work/www/f" | cut -d' ' -f1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work/www" && exec python3 -m http.server --bind 127.0.0.1 "$port") >/dev/null 2>&1 &
srv=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

qmp() { # the vCPU's KVM exit counter
	printf '%s\n' '{"execute":"qmp_capabilities"}' \
		'{"execute":"query-stats","arguments":{"target":"vcpu"}}' |
		socat -t 2 - "UNIX-CONNECT:$work/qmp.sock" 2>/dev/null |
		tr '{' '\n' | sed -n 's/.*"name": *"exits", *"value": *\([0-9]*\).*/\1/p' | head -1
}

# run LABEL FILE CMD...: prints "guest_seconds exits" (exits: QEMU between
# the markers, msbvm for the whole run)
run() {
	local label=$1 file=$2 line e0=0 e1=0 t=
	shift 2
	rm -f "$work/fifo" "$work/qmp.sock" "$work/rep.json"; mkfifo "$work/fifo"
	"$@" </dev/null >"$work/fifo" 2>"$work/$label.err" &
	local pid=$!
	exec 4<"$work/fifo"
	while IFS= read -r -t 900 line <&4; do
		line=${line%$'\r'}
		case "$line" in
		NETBENCH-START*) [ "$label" = qemu ] && e0=$(qmp) ;;
		NETBENCH-END*)
			[ "$label" = qemu ] && e1=$(qmp)
			set -- $line
			[ "$file" = one ] || [ "$4" = "$sum" ] ||
				{ echo "net-bench: $label: checksum mismatch" >&2; exit 1; }
			t=$(echo "$3 - $2" | bc)
			[ "$label" = qemu ] && kill -9 "$pid" 2>/dev/null
			break ;;
		esac
	done
	cat <&4 >/dev/null || true
	exec 4<&-
	wait "$pid" 2>/dev/null || true
	[ -n "$t" ] || { echo "net-bench: $label: no result" >&2; tail "$work/$label.err" >&2; exit 1; }
	if [ "$label" = msbvm ]; then
		e1=$(sed -n 's/.*"kvm_exits": {"to_ready": [-0-9]*, "total": \([-0-9]*\)}.*/\1/p' "$work/rep.json")
	fi
	echo "$t $((e1 - e0))"
}

# the command line msbvm gives this kernel (printed before the boot)
timeout 10 "$msbvm" run --verbose --no-agent --net none --rootfs "$work/root.ext4" --append netbench.port=1 \
	</dev/null >/dev/null 2>"$work/cmdline.err" || true
base=$(sed -n 's/^msbvm: kernel .* cmdline: //p' "$work/cmdline.err" |
	tr ' ' '\n' | grep -v '^virtio_mmio.device=\|^netbench' | tr '\n' ' ')
msbvm_run() {
	run msbvm "$1" "$msbvm" run --no-agent --nested-workarounds off --cmdline "$base" \
		--append "netbench.port=$port netbench.file=$1" --rootfs "$work/root.ext4" \
		--report "$work/rep.json"
}
qemu_run() {
	run qemu "$1" qemu-system-x86_64 -M microvm,acpi=off -enable-kvm \
		-cpu host,-arch-capabilities -m 128 -nodefaults -no-user-config \
		-nographic -serial stdio -no-reboot -kernel "$kernel" \
		-qmp "unix:$work/qmp.sock,server=on,wait=off" \
		-drive "file=$work/root.ext4,if=none,id=d0,format=raw" \
		-device virtio-blk-device,drive=d0 \
		-netdev user,id=n0 -device virtio-net-device,netdev=n0 \
		-append "$base netbench.port=$port netbench.file=$1"
}
read -r ms ms_ex < <(msbvm_run f)
read -r _ ms_ex0 < <(msbvm_run one)
read -r qs qs_ex < <(qemu_run f)
echo "guest -> host TCP, $mb MB (busybox wget from python3 http.server via 10.0.2.2):"
printf '  msbvm: %6.2f s  %6.3f MB/s  %8d KVM exits/MB (whole run minus a 1-byte run)\n' \
	"$ms" "$(echo "scale=4; $mb / $ms" | bc)" $(((ms_ex - ms_ex0) / mb))
printf '  qemu:  %6.2f s  %6.3f MB/s  %8d KVM exits/MB (between the markers)\n' \
	"$qs" "$(echo "scale=4; $mb / $qs" | bc)" $((qs_ex / mb))
echo "  throughput msbvm/qemu: $(echo "scale=2; $qs / $ms" | bc)"
