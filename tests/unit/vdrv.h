/* For tests that script a virtio-mmio driver: the register sequence that
 * brings a device up (virtio 1.2, 3.1.1 and 4.2.3.2). Queue q's rings sit
 * at VDRV_QBASE(q) (descriptors), +0x1000 (avail) and +0x2000 (used). */
#ifndef MSBVM_TEST_VDRV_H
#define MSBVM_TEST_VDRV_H

#include "virtio/mmio.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#define VDRV_QBASE(q) (0x10000u * ((q) + 1))

static inline uint32_t vdrv_rd(struct vmmio *t, uint64_t off)
{
	uint32_t x;

	vmmio_io(t, off, (uint8_t *)&x, 4, false);
	return x;
}

static inline void vdrv_wr(struct vmmio *t, uint64_t off, uint32_t x)
{
	vmmio_io(t, off, (uint8_t *)&x, 4, true);
}

/* ACKNOWLEDGE, DRIVER, VERSION_1 only, FEATURES_OK, nq queues of qsz
 * entries, DRIVER_OK. The device must be reset (status 0) before. */
static inline void vdrv_bringup(struct vmmio *t, unsigned nq, uint32_t qsz)
{
	vdrv_wr(t, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
		VIRTIO_CONFIG_S_DRIVER);
	vdrv_wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vdrv_wr(t, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	vdrv_wr(t, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
		VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned q = 0; q < nq; q++) {
		vdrv_wr(t, VIRTIO_MMIO_QUEUE_SEL, q);
		vdrv_wr(t, VIRTIO_MMIO_QUEUE_NUM, qsz);
		vdrv_wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, VDRV_QBASE(q));
		vdrv_wr(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, VDRV_QBASE(q) + 0x1000);
		vdrv_wr(t, VIRTIO_MMIO_QUEUE_USED_LOW, VDRV_QBASE(q) + 0x2000);
		vdrv_wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	vdrv_wr(t, VIRTIO_MMIO_STATUS, vdrv_rd(t, VIRTIO_MMIO_STATUS) |
		VIRTIO_CONFIG_S_DRIVER_OK);
}

#endif
