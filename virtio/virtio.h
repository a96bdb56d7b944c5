/* Virtio device model shared by the transport and the devices. A device is
 * one file exporting one `struct vdev_ops`, listed in vdev_table
 * (virtio/devices.c). The transport (mmio.c) owns the status state machine
 * and validates every register write, so a device's ops only ever see
 * in-range queue indices and sizes, and only after DRIVER_OK. */
#ifndef MSBVM_VIRTIO_H
#define MSBVM_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/core/mem.h"
#include "virtq.h"

#define VDEV_MAX_QUEUES 4

struct vdev;

struct vdev_ops {
	const char *name;
	uint32_t device_id;     /* VIRTIO_ID_* */
	unsigned num_queues;
	uint16_t queue_max;     /* power of two */
	uint64_t (*features)(struct vdev *d);   /* offered, incl. VERSION_1 */
	/* Device-specific configuration space (4.2.2, from offset 0x100): a
	 * struct virtio_*_config snapshot in the device's priv struct, filled
	 * at open, config_len bytes at byte config_off; set both with
	 * VDEV_CONFIG(). The transport serves reads from it. */
	size_t config_off;
	uint32_t config_len;
	/* Optional: driver writes to the config space (none of ours has a
	 * writable field; without it such writes are refused). */
	void (*config_write)(struct vdev *d, uint32_t off, const uint8_t *data, uint32_t len);
	int (*activate)(struct vdev *d);        /* at DRIVER_OK; <0 refuses */
	void (*queue_notify)(struct vdev *d, unsigned q);
	void (*reset)(struct vdev *d);
};

/* .config_off and .config_len of a vdev_ops for the config snapshot in
 * member of the device's priv struct type. */
#define VDEV_CONFIG(type, member)                                            \
	.config_off = offsetof(type, member),                                \
	.config_len = sizeof(((type *)0)->member)

struct vdev {
	const struct vdev_ops *ops;
	void *priv;
	/* The config snapshot (ops->config_off into priv), set by the
	 * transport at init; NULL when config_len is 0. */
	const void *config;
	uint32_t config_len;
	struct guest_mem *gm;
	uint64_t driver_features;   /* accepted at FEATURES_OK */
	struct virtq vq[VDEV_MAX_QUEUES];
	/* Raise the used-buffer interrupt / flag a fatal device error; both
	 * are provided by the transport. */
	void (*notify_used)(struct vdev *d);
	void (*needs_reset)(struct vdev *d, const char *why);
	/* For devices with a backend thread of their own (virtio-vsock): the
	 * transport lock that every register access and queue kick holds.
	 * Ops are always called with it held. */
	void (*lock)(struct vdev *d);
	void (*unlock)(struct vdev *d);
	void *transport;
};

/* devices.c: every device's ops (vblk_ops, vsock_ops, vnet_ops, vfs_ops), and a lookup by
 * vdev_ops.name ("virtio-blk", "virtio-vsock"); NULL if none. */
extern const struct vdev_ops *const vdev_table[];
extern const unsigned vdev_table_len;
const struct vdev_ops *vdev_find(const char *name);

#endif
