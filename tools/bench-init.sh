#!/bin/sh
# /init for tools/boot-bench.sh: one exec to mount /proc, print the guest's
# own uptime at user space, reboot. Nothing else, so the numbers are boot.
/bin/busybox mount -t proc proc /proc
read -r up _ < /proc/uptime
echo "MSBVM-USERSPACE uptime=$up"
/bin/busybox reboot -f
