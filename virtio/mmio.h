/* virtio-mmio transport, version 2 (virtio 1.2, section 4.2). */
#ifndef MSBVM_VMMIO_H
#define MSBVM_VMMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio.h"

#define VMMIO_BASE 0xd0000000ULL
#define VMMIO_SIZE 0x1000
#define VMMIO_VENDOR 0x4d534256 /* "MSBV" */

struct vmmio {
	/* Held for every register access (vCPU thread) and every queue kick
	 * from the I/O thread (ioeventfd), so device state is never seen
	 * half-updated, e.g. a reset racing a request. */
	pthread_mutex_t lock;
	struct vdev dev;
	uint64_t base;
	unsigned irq;
	uint32_t status;
	uint32_t dev_feat_sel, drv_feat_sel;
	uint64_t drv_features;      /* as written, checked at FEATURES_OK */
	uint32_t queue_sel;
	bool queue_sel_ok;
	uint32_t isr;               /* InterruptStatus */
	uint32_t config_gen;
	uint64_t refused;           /* register writes refused (tests) */
	bool irq_level;             /* last level given to set_irq */
	uint64_t features_off;      /* withheld from the device's offer */
	void (*set_irq)(void *opaque, unsigned irq, bool level);
	void *irq_opaque;
};

void vmmio_init(struct vmmio *t, const struct vdev_ops *ops, void *priv,
		struct guest_mem *gm, uint64_t base, unsigned irq,
		void (*set_irq)(void *, unsigned, bool), void *irq_opaque);
/* MMIO bus handler. */
void vmmio_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	      bool is_write);
/* QueueNotify delivered through an ioeventfd (I/O thread): the same
 * checks as a trapped register write, under the lock. */
void vmmio_kick(struct vmmio *t, unsigned queue);
/* "virtio_mmio.device=4K@0x...:IRQ" for the kernel command line. */
int vmmio_cmdline(const struct vmmio *t, char *buf, size_t len);

#endif
