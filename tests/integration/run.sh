#!/bin/bash
# Integration tests: bad input (no guest needed), then four real boots of
# the built kernel: busybox initramfs; ext4 root + disks; the same root
# again (power-off); a panic. Boots are slow on the nested
# development hosts (docs/nested-kvm.md), so each boot checks many things.
. "$(dirname "$0")/lib.sh"
kernel=$MSBVM_KERNEL
trap 'rm -rf "$work"; [ -n "${vmpid:-}" ] && kill $vmpid 2>/dev/null' EXIT

# expect_error NAME EXPECTED_SUBSTRING -- msbvm args...: exit 2 + message
expect_error() {
	local name=$1 want=$2; shift 3
	"$msbvm" "$@" >"$work/out" 2>"$work/err" </dev/null
	local rc=$?
	if [ $rc = 2 ] && grep -qF -- "$want" "$work/err" && [ "$(wc -l <"$work/err")" -le 2 ]; then
		pass "bad input: $name (exit 2: $(head -c 120 "$work/err"))"
	else
		fail "bad input: $name: exit $rc, stderr: $(cat "$work/err")"
	fi
}

# wait_for MARKER FILE: until the running guest ($vmpid) printed MARKER,
# exited, or 5 minutes passed.
wait_for() {
	for _ in $(seq 600); do
		grep -q "$1" "$2" 2>/dev/null && return
		kill -0 "$vmpid" 2>/dev/null || return
		sleep 0.5
	done
}

echo "# bad input"
tools/mkinitramfs.sh "$work/initrd.cpio" >/dev/null || { echo "Bail out! initramfs"; exit 1; }
expect_error "missing kernel" "No such file or directory" -- run --initrd "$work/initrd.cpio" --kernel "$work/nope"
expect_error "kernel is a directory" "not a regular file" -- run --initrd "$work/initrd.cpio" --kernel "$work"
printf '#!/bin/sh\necho hi\n' > "$work/script"
expect_error "non-ELF kernel" "not an ELF vmlinux or bzImage" -- run --initrd "$work/initrd.cpio" --kernel "$work/script"
: > "$work/empty"
expect_error "empty kernel" "file is empty" -- run --initrd "$work/initrd.cpio" --kernel "$work/empty"
# /bin/true with e_machine patched to AArch64 (183 = 0xb7)
cp /bin/true "$work/arm"
printf '\267\000' | dd of="$work/arm" bs=1 seek=18 conv=notrunc status=none
expect_error "ELF for another architecture" "another architecture" -- run --initrd "$work/initrd.cpio" --kernel "$work/arm"
cp /bin/true "$work/elf32"
printf '\001' | dd of="$work/elf32" bs=1 seek=4 conv=notrunc status=none
expect_error "32-bit ELF" "not a 64-bit ELF" -- run --initrd "$work/initrd.cpio" --kernel "$work/elf32"
head -c 100 "$kernel" > "$work/trunc"
expect_error "truncated kernel" "truncated" -- run --initrd "$work/initrd.cpio" --kernel "$work/trunc"
truncate -s 40M "$work/huge"
expect_error "kernel larger than RAM" "larger than guest RAM" -- run --initrd "$work/initrd.cpio" --kernel "$work/huge" --memory 32
expect_error "initrd larger than RAM" "initrd $work/huge (40 MiB) is larger than guest RAM" -- \
	run --kernel "$kernel" --initrd "$work/huge" --memory 32
expect_error "missing initrd" "initrd $work/nope" -- run --kernel "$kernel" --initrd "$work/nope"
expect_error "memory 0" "--memory '0'" -- run --memory 0
expect_error "memory not a number" "--memory 'lots'" -- run --memory lots
expect_error "memory absurd" "--memory '99999999999'" -- run --memory 99999999999
expect_error "memory negative" "--memory '-5'" -- run --memory -5
expect_error "missing disk" "disk $work/nope: No such file or directory" -- \
	run --no-agent --kernel "$kernel" --disk "$work/nope"
expect_error "disk with a bad option" "--disk '$work/empty,rx': unknown option 'rx'" -- \
	run --no-agent --kernel "$kernel" --disk "$work/empty,rx"
printf 'abc' > "$work/odd.img"
expect_error "rootfs not a multiple of 512 bytes" "is not a non-zero multiple of 512 bytes" -- \
	run --kernel "$kernel" --rootfs "$work/odd.img"
expect_error "unknown option" "unknown option '--frobnicate'" -- run --frobnicate
expect_error "unknown command" "unknown command 'fly'" -- fly
check "msbvm --help exits 0" "$msbvm" --help >/dev/null
check "msbvm run --help lists --kernel" bash -c "'$msbvm' run --help | grep -q -- --kernel"

if [ ! -r /dev/kvm ] || [ ! -f "$kernel" ]; then
	echo "Bail out! no /dev/kvm or no kernel at $kernel"
	exit 1
fi

echo "# boot 1: busybox user space, console input, fake panic/power-off lines, reboot -> exit 0"
mkfifo "$work/in"
exec 3<>"$work/in"
start=$(date +%s.%N)
"$msbvm" run --verbose --kernel "$kernel" --initrd "$work/initrd.cpio" --console \
	--append "test=read" <"$work/in" >"$work/boot1" 2>"$work/boot1.err" &
vmpid=$!
wait_for MSBVM-READ-READY "$work/boot1"
echo "typed-into-the-console" >&3
wait $vmpid
rc=$?
vmpid=
end=$(date +%s.%N)
exec 3>&-
out=$(sed -n '/MSBVM-BEGIN/,/MSBVM-END/p' "$work/boot1" | tr -d '\r')
field() { printf '%s\n' "$out" | sed -n "s/^$1: //p"; }
check "guest reboot makes msbvm exit 0 (rc=$rc)" [ "$rc" = 0 ]
check "user space ran /init as PID 1" [ "$(field pid)" = 1 ]
check "uname inside the guest is Linux x86_64" [ "$(field uname)" = "Linux x86_64" ]
check "hostname set by a guest command" [ "$(field hostname)" = msbvm-test ]
check "shell arithmetic" [ "$(field sum)" = 42 ]
check "tmpfs-backed file round trip" [ "$(field tmpfile)" = hello ]
mem=$(field mem_kb)
check "guest sees ~128 MiB (MemTotal ${mem:-?} kB)" \
	bash -c "[ ${mem:-0} -gt 100000 ] && [ ${mem:-0} -le 131072 ]"
check "guest RTC year matches host" [ "$(field rtc_year)" = "$(date -u +%Y)" ]
check "CRNG ready without waiting (8 bytes from /dev/random)" [ "$(field entropy_ready)" = 8 ]
check "our --append reached the kernel" bash -c "printf '%s' \"\$1\" | grep -q 'test=read'" _ "$(field cmdline)"
if grep -q kvm_pvm /proc/modules 2>/dev/null || [ -d /sys/module/kvm_pvm ]; then
	check "nested host detected: work-arounds on the command line" \
		bash -c "printf '%s' \"\$1\" | grep -q clearcpuid=" _ "$(field cmdline)"
fi
check "console input reached the guest (interrupt-driven UART RX)" \
	grep -q "MSBVM-GOT: typed-into-the-console" "$work/boot1"
check "quiet console: no kernel log lines by default" bash -c "! grep -q 'Freeing unused kernel' '$work/boot1'"
check "--verbose reports the reboot" grep -q "guest rebooted" "$work/boot1.err"
check "/init printed a fake panic and power-off line on /dev/console" \
	bash -c "grep -q 'Kernel panic - not syncing: fake' '$work/boot1' && grep -q 'reboot: Power down (fake' '$work/boot1'"
check "a fake panic line from a program is not a panic (no panic message)" \
	bash -c "! grep -q 'guest kernel panic' '$work/boot1.err'"
echo "# boot 1 took $(echo "$end - $start" | bc) s (process start to exit)"

echo "# boot 2: ext4 root on virtio-blk, read-only and scratch disks; writes, sync, then the VMM is SIGKILLed"
tools/mkrootfs.sh "$work/root.ext4" tests/integration/init-disk.sh >/dev/null
mkdir -p "$work/rodir" && echo "from-the-host" > "$work/rodir/hello.txt"
tools/dir2ext4.sh "$work/rodir" "$work/ro.ext4" 8 >/dev/null
ro_sum=$(md5sum < "$work/ro.ext4")
truncate -s 16M "$work/scratch.img"
token=tok$$-$RANDOM
"$msbvm" run --no-agent --kernel "$kernel" --rootfs "$work/root.ext4" --disk "$work/ro.ext4,ro" \
	--disk "$work/scratch.img" --append "test=write token=$token" \
	>"$work/boot2" 2>"$work/boot2.err" </dev/null &
vmpid=$!
wait_for MSBVM-SYNCED "$work/boot2"
kill -9 $vmpid 2>/dev/null
wait $vmpid 2>/dev/null
vmpid=
out=$(sed -n '/MSBVM-BEGIN/,/MSBVM-END/p' "$work/boot2" | tr -d '\r')
check "root file system is ext4 on the virtio disk" [ "$(field rootdev)" = "/dev/root ext4" ]
check "GET_ID: /sys/block/vda/serial is msbvm-disk0" [ "$(field serial)" = msbvm-disk0 ]
check "read-only disk: kernel sees ro=1" [ "$(field vdb_ro_flag)" = 1 ]
check "read-only disk: a write inside the guest is refused" [ "$(field vdb_write)" = refused ]
check "read-only disk: its file system mounts and reads" [ "$(field vdb_file)" = from-the-host ]
check "read-only disk image unchanged on the host" [ "$(md5sum < "$work/ro.ext4")" = "$ro_sum" ]
check "1 MiB through the scratch disk reads back intact in the guest" \
	[ -n "$(field vdc_guest_sum)" -a "$(field vdc_guest_sum)" = "$(field vdc_readback_sum)" ]
host_sum=$(dd if="$work/scratch.img" bs=64k skip=16 count=16 2>/dev/null | md5sum | cut -d' ' -f1)
check "the scratch image on the host holds the guest's bytes at 1 MiB" [ "$host_sum" = "$(field vdc_guest_sum)" ]
# the read-only disk was mounted (ro) in the guest; the scratch disk is raw
# (no file system to check); root.ext4 is checked after boot 3, not here:
# the SIGKILL above leaves it mounted, for boot 3 to replay its journal
fsck_clean "$work/ro.ext4" "read-only disk after boot 2"

echo "# boot 3: same root after the kill: the synced file survived; guest powers off -> exit 0"
"$msbvm" run --no-agent --verbose --kernel "$kernel" --rootfs "$work/root.ext4" --append "test=read" \
	>"$work/boot3" 2>"$work/boot3.err" </dev/null
rc=$?
out=$(sed -n '/MSBVM-BEGIN/,/MSBVM-END/p' "$work/boot3" | tr -d '\r')
check "file written and synced before SIGKILL is read back after reboot" [ "$(field persist)" = "$token" ]
check "guest power-off makes msbvm exit 0 (rc=$rc)" [ "$rc" = 0 ]
check "--verbose reports the power-off" grep -q "guest powered off" "$work/boot3.err"
check "the power-off came through the port (msbvm.pvport)" \
	grep -q "power-off/panic port: guest powered off" "$work/boot3.err"
# boot 2 (killed) and boot 3 (which replayed boot 2's journal, then
# `poweroff -f` with / still mounted) wrote this image; fsck_clean replays
# what boot 3 left in the journal on a copy, then checks
fsck_clean "$work/root.ext4" "ext4 root after boots 2 (SIGKILL) and 3 (power-off)"

echo "# boot 4: init exits -> kernel panic -> exit 1 with the panic line"
"$msbvm" run --verbose --kernel "$kernel" --initrd "$work/initrd.cpio" --append "test=panic" \
	>"$work/boot4" 2>"$work/boot4.err" </dev/null
rc=$?
check "guest panic makes msbvm exit 1 (rc=$rc)" [ "$rc" = 1 ]
check "panic line shown on stderr" grep -q "msbvm: guest kernel panic: .*Kernel panic - not syncing: Attempted to kill init" "$work/boot4.err"
check "the panic came through the port (msbvm.pvport)" \
	grep -q "power-off/panic port: guest kernel panicked" "$work/boot4.err"

if [ $fails = 0 ]; then
	echo "integration: all passed"
	exit 0
fi
echo "integration: $fails failed"
for f in boot1 boot1.err boot2 boot2.err boot3 boot3.err boot4 boot4.err; do
	[ -f "$work/$f" ] && { echo "--- $f (tail)"; tail -20 "$work/$f"; }
done
exit 1
