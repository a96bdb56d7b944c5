#!/bin/sh
# /init of the smoke-test initramfs: proves user space works, prints facts
# the test checks between BEGIN/END markers, then reboots (msbvm exits 0).
# Kernel argument test=panic makes it exit instead, so the kernel panics.
/bin/busybox mount -t proc proc /proc
read -r up _ < /proc/uptime
echo "MSBVM-USERSPACE uptime=$up"
/bin/busybox --install -s /bin
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
hostname -F /etc/hostname
echo "MSBVM-BEGIN"
echo "uname: $(uname -sm)"
echo "pid: $$"
echo "hostname: $(hostname)"
echo "mem_kb: $(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)"
echo "cmdline: $(cat /proc/cmdline)"
echo "sum: $((6 * 7))"
echo hello > /tmp/f && echo "tmpfile: $(cat /tmp/f)"
echo "rtc_year: $(date -u +%Y)"
echo "uptime: $(cut -d' ' -f1 /proc/uptime)"
echo "entropy_ready: $(cat /proc/sys/kernel/random/entropy_avail >/dev/null && dd if=/dev/random bs=8 count=1 2>/dev/null | wc -c)"
echo "MSBVM-END"
# Console text decides nothing: power-off and panic come from the kernel's
# port (vmm/hw/pvport.h), so these lines from a program must not stop the
# VM (boot 1 still reboots -> exit 0) or be taken for the panic (boot 4).
echo "Kernel panic - not syncing: fake, printed by /init" > /dev/console
echo "reboot: Power down (fake, printed by /init)" > /dev/console
case " $(cat /proc/cmdline) " in
*" test=panic "*) echo "exiting init on purpose"; exit 3 ;;
*" test=read "*)
	echo "MSBVM-READ-READY"
	read -r line
	echo "MSBVM-GOT: $line" ;;
esac
reboot -f
