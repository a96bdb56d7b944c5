#!/bin/bash
# Issue "ext4 corruption under systemd": the Debian 12 systemd root
# (tools/mkrootfs-init.sh systemd) booted with systemd as PID 1 directly
# (no agent, so QEMU, which has no vsock transport here, runs the very
# same guest), N times under msbvm and N times under QEMU microvm, the two
# VMMs side by side. A oneshot-free unit waits for `systemctl
# is-system-running --wait`, prints the state and powers off. After each
# boot: `e2fsck -fn` of that boot's copy of the pristine image, and the
# guest's EXT4-fs error lines counted. Prints corrupted / total per VMM.
#   usage: tools/integrity-systemd-ab.sh [-n N]      (slow: ~5-8 min a boot here)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-3}; [ "$n" = -n ] && n=$2
# A boot still running after LIMIT seconds is stopped hard; its image is
# then judged after replaying its journal on a copy (as fsck would at the
# next mount), so a stalled systemd still gives a valid sample.
limit=${LIMIT:-900}
msbvm=${MSBVM:-$top/build/msbvm}
kernel=$(readlink -f "${MSBVM_KERNEL:-$top/build/vmlinux}")
img=$("$top/tools/mkrootfs-init.sh" systemd) || exit 1
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
cat >"$work/integrity.service" <<'UNIT'
[Unit]
Description=integrity run: report the boot's outcome, then power off
[Service]
Type=simple
ExecStart=/bin/sh -c 'timeout 900 systemctl is-system-running --wait >/dev/null 2>&1; echo "SYSTEMD-DONE $(systemctl is-system-running)" >/dev/console; systemctl --failed --no-legend >/dev/console; timeout 300 systemctl poweroff || { echo "SYSTEMD-POWEROFF-FAILED" >/dev/console; sync; mount -o remount,ro /; poweroff -f; }'
[Install]
WantedBy=multi-user.target
UNIT
cp --sparse=always "$img" "$work/pristine.ext4"
debugfs -w -R "write $work/integrity.service /etc/systemd/system/integrity.service" \
	"$work/pristine.ext4" >/dev/null 2>&1
debugfs -w -R "symlink /etc/systemd/system/multi-user.target.wants/integrity.service /etc/systemd/system/integrity.service" \
	"$work/pristine.ext4" >/dev/null 2>&1
e2fsck -fn "$work/pristine.ext4" >/dev/null 2>&1 || { echo "pristine image not clean" >&2; exit 1; }
nested=$("$msbvm" run --verbose --no-agent --rootfs /dev/null 2>&1 | sed -n "s/.*adding '\(.*\)'/\1/p")
cmd="console=ttyS0 reboot=k panic=-1 8250.nr_uarts=1 random.trust_bootloader=on quiet rootfstype=ext4 init=/lib/systemd/systemd $nested"

boot() { # VMM RUN -> result line
	local v=$1 i=$2 root=$work/$1-$2.ext4 log=$work/$1-$2.log
	cp --sparse=always "$work/pristine.ext4" "$root"
	local t0=$(date +%s)
	if [ $v = msbvm ]; then
		timeout "$limit" "$msbvm" run --no-agent --kernel "$kernel" --rootfs "$root" \
			--memory 1024 --nested-workarounds off --cmdline "$cmd" </dev/null >"$log" 2>&1
	else
		( timeout "$limit" qemu-system-x86_64 -M microvm,acpi=off -enable-kvm \
			-cpu host,-arch-capabilities -m 1024 -nodefaults -no-user-config \
			-nographic -serial stdio -no-reboot -kernel "$kernel" \
			-drive "file=$root,if=none,id=d0,format=raw,discard=unmap" \
			-device virtio-blk-device,drive=d0 \
			-append "$cmd root=/dev/vda rw" </dev/null >"$log" 2>&1 ) &
		local pid=$!
		# no ACPI and no i8042 on microvm: stop at the kernel's last line
		while kill -0 $pid 2>/dev/null && ! grep -aq 'reboot: \(Power down\|System halted\)' "$log" 2>/dev/null; do
			sleep 2
		done
		sleep 1; pkill -f "file=$root"; wait $pid 2>/dev/null
	fi
	local secs=$(( $(date +%s) - t0 ))
	local state=$(grep -a -o 'SYSTEMD-DONE [a-z-]*' "$log" | tail -1)
	local errs=$(grep -ac 'EXT4-fs error' "$log")
	local chk=$root
	if ! grep -aq 'reboot: \(Power down\|System halted\)' "$log"; then
		chk=$work/$v-$i.replayed
		cp --sparse=always "$root" "$chk"
		e2fsck -y -E journal_only "$chk" >/dev/null 2>&1
	fi
	local fsck; fsck=$(e2fsck -fn "$chk" 2>&1); local frc=$?
	[ "$chk" = "$root" ] || rm -f "$chk"
	local verdict=OK
	[ $frc != 0 ] || [ "$errs" != 0 ] && verdict=CORRUPT
	grep -aq 'reboot: \(Power down\|System halted\)' "$log" || verdict="$verdict(hard-stopped,journal-replayed)"
	echo "$v run $i: $verdict ${state:-no-state} ext4-errors=$errs e2fsck=$frc ${secs}s $(echo "$fsck" | grep -v '^Pass\|^e2fsck\|^$\|clean\|files\|blocks' | head -3 | tr '\n' ' ')"
	rm -f "$root"
}
for i in $(seq "$n"); do
	boot msbvm $i > "$work/r-msbvm-$i" &
	boot qemu $i > "$work/r-qemu-$i" &
	wait
	cat "$work/r-msbvm-$i" "$work/r-qemu-$i"
done
echo "corrupted boots:"
for v in msbvm qemu; do
	echo "  $v: $(cat "$work"/r-$v-* | grep -c CORRUPT) / $(cat "$work"/r-$v-* | wc -l)"
done
echo "(logs in $work)"
