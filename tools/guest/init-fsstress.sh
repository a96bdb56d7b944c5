#!/bin/sh
# /sbin/init of the data-integrity A/B root (tools/integrity-ab.sh): the
# same guest work under msbvm and QEMU. Formats nothing: /dev/vdb is an
# ext4 image made on the host (lazy inode-table init left to the guest,
# as mkfs does by default), mounted with discard so that ext4lazyinit's
# WRITE_ZEROES and the deletes' DISCARDs reach the device (scratch=DEV on
# the command line names it). Runs fsstress,
# remounts, verifies, unmounts and prints the marker the host waits for.
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t devtmpfs dev /dev 2>/dev/null
secs=$($bb sed -n 's/.*stress=\([0-9]*\).*/\1/p' /proc/cmdline)

dev=$($bb sed -n 's/.*scratch=\([a-z/]*\).*/\1/p' /proc/cmdline)
$bb mkdir -p /mnt
if $bb mount -t ext4 -o discard ${dev:-/dev/vdb} /mnt; then
	/fsstress /mnt "${secs:-30}"; rc=$?
	$bb umount /mnt && $bb mount -t ext4 ${dev:-/dev/vdb} /mnt && /fsstress verify /mnt
	rc2=$?
	$bb umount /mnt
	$bb sync
	echo "INTEGRITY-DONE stress=$rc verify=$rc2"
else
	echo "INTEGRITY-DONE mount-failed"
fi
$bb reboot -f
