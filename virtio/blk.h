/* virtio-blk (virtio 1.2, section 5.2) backed by a raw image file. */
#ifndef MSBVM_VBLK_H
#define MSBVM_VBLK_H

#include <linux/virtio_blk.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio.h"

#define VBLK_QUEUE_SIZE 128
#define VBLK_SECTOR 512

struct vblk {
	int fd;
	bool ro;
	const char *path;
	uint64_t sectors;
	char serial[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_config cfg;
	uint64_t requests, errors;
	struct virtq_chain chain; /* scratch for the request in flight */
};

/* Opens the image (host errors -> -errno with a message). */
int vblk_open(struct vblk *b, const char *path, bool ro, unsigned index);
void vblk_close(struct vblk *b);

extern const struct vdev_ops vblk_ops;

#endif
