#!/bin/sh
# /init for tools/net-bench.sh (no agent: the same script under msbvm and
# QEMU): eth0 up by hand, then fetch netbench.mb MB from the host's HTTP
# server on netbench.port through the gateway, timed on the guest's clock.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
port=$(sed -n 's/.*netbench.port=\([0-9]*\).*/\1/p' /proc/cmdline)
file=$(sed -n 's/.*netbench.file=\([a-z]*\).*/\1/p' /proc/cmdline)
read -r t0 _ < /proc/uptime
echo "NETBENCH-START $t0"
sum=$(wget -q -O - "http://10.0.2.2:$port/$file" | md5sum)
read -r t1 _ < /proc/uptime
echo "NETBENCH-END $t0 $t1 ${sum%% *}"
/bin/busybox poweroff -f
