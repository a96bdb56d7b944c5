#!/bin/sh
# /sbin/init of the disk-test root file system (root=/dev/vda, ext4).
# test=write token=T: prove the root is the virtio disk, write T to
#   /persist.txt and sync; probe the read-only disk /dev/vdb and the scratch
#   disk /dev/vdc (1 MiB pattern at offset 1 MiB); print MSBVM-SYNCED and wait to be killed by the host.
# test=read: print /persist.txt, then power the guest off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
# /tmp in RAM: ext4 writes cost crc32c in the emulated kernel on nested hosts
mount -t tmpfs tmp /tmp
arg() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
echo "MSBVM-BEGIN"
echo "rootdev: $(awk '$2 == "/" {print $1, $3}' /proc/mounts | tail -1)"
echo "serial: $(cat /sys/block/vda/serial 2>/dev/null)"
case "$(arg test)" in
write)
	echo "$(arg token)" > /persist.txt
	sync
	echo "persist: written"
	echo "vdb_ro_flag: $(cat /sys/block/vdb/ro)"
	if dd if=/dev/zero of=/dev/vdb bs=4096 count=1 conv=fsync 2>/dev/null; then
		echo "vdb_write: accepted"
	else
		echo "vdb_write: refused"
	fi
	mount -o ro /dev/vdb /mnt && echo "vdb_file: $(cat /mnt/hello.txt)" && umount /mnt
	# 1 MiB pattern made in user space (native speed here; /dev/urandom
	# would run the emulated kernel's chacha20), written at 1 MiB into
	# the scratch disk, read back after dropping the page cache. The host
	# regenerates the pattern and checks the image file too.
	# (4 KiB per printf: busybox awk writes each printf with its own
	# syscall, and a syscall costs ~0.5 ms of emulated kernel here)
	pat() { awk 'BEGIN { for (i = 0; i < 256; i++) { s = "";
		for (j = 0; j < 256; j++) s = s sprintf("%015d\n", i * 256 + j);
		printf "%s", s } }'; }
	pat | dd of=/dev/vdc bs=64k seek=16 conv=fsync 2>/dev/null
	echo 3 > /proc/sys/vm/drop_caches
	echo "vdc_guest_sum: $(pat | md5sum | cut -d' ' -f1)"
	echo "vdc_readback_sum: $(dd if=/dev/vdc bs=64k skip=16 count=16 2>/dev/null | md5sum | cut -d' ' -f1)"
	echo "MSBVM-END"
	echo "MSBVM-SYNCED"
	while :; do sleep 1; done ;;
read)
	echo "persist: $(cat /persist.txt 2>&1)"
	echo "MSBVM-END"
	poweroff -f ;;
esac
echo "MSBVM-END"
reboot -f
