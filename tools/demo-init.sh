#!/bin/sh
# /init of the demo initramfs (`make run`, `make shell`): shows that a real
# user space runs, then reboots; with msbvm.shell on the kernel command line
# it starts an interactive shell on the console instead (exit reboots).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
hostname msbvm
read -r up _ < /proc/uptime
echo "msbvm guest: $(uname -sr) up ${up}s, $(grep -c ^processor /proc/cpuinfo) vCPU," \
	"$(sed -n 's/^MemTotal: *//p' /proc/meminfo) RAM"
case " $(cat /proc/cmdline) " in
*" msbvm.shell "*)
	echo "busybox shell; 'exit' reboots the guest"
	setsid cttyhack sh -l
	;;
esac
echo "rebooting"
reboot -f
