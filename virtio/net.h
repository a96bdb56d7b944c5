/* virtio-net (virtio 1.2, section 5.1): one rx and one tx queue, no
 * offloads, the frames handed to and taken from a backend through two
 * callbacks (the VMM's libslirp backend, vmm/lib/net_slirp.c; a test's
 * script). Device state is touched with the transport lock held only:
 * by the backend thread (vnet_process, vnet_receive) and by the ops. */
#ifndef MSBVM_VNET_H
#define MSBVM_VNET_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio.h"

#define VNET_QUEUE_SIZE 256
#define VNET_MTU 1500
/* VIRTIO_F_VERSION_1: the 12-byte header, num_buffers included (5.1.6) */
#define VNET_HDR_LEN ((uint32_t)sizeof(struct virtio_net_hdr_v1))
/* Ethernet header + MTU + one VLAN tag: the largest frame either way */
#define VNET_MAX_FRAME (14u + VNET_MTU + 4u)
/* Frames the backend produced while the guest had no rx buffer posted;
 * beyond this they are dropped (TCP in slirp retransmits), so a guest
 * that never reads cannot grow the VMM's memory. */
#define VNET_BACKLOG 256
/* tx chains per vnet_process: a flooding guest yields to rx and to the
 * backend's sockets between batches */
#define VNET_TX_BUDGET 64

struct vnet_stats {
	uint64_t tx_frames, tx_bytes, tx_dropped;
	uint64_t rx_frames, rx_bytes, rx_dropped;
};

struct vnet_frame {
	uint16_t len;
	uint8_t data[VNET_MAX_FRAME];
};

struct vnet {
	struct vdev *dev;                /* set by the transport's activate */
	bool active;                     /* DRIVER_OK and not reset */
	/* backend: a guest frame to send on; wake the backend thread */
	void (*send)(void *opaque, const uint8_t *frame, size_t len);
	void (*kick)(void *opaque);
	void *opaque;
	struct vnet_frame *backlog;      /* VNET_BACKLOG frames, a ring */
	unsigned bl_head, bl_count;
	uint8_t txbuf[VNET_MAX_FRAME];
	/* scratch, one per queue: sending a tx frame can make the backend
	 * answer at once (ARP, ICMP), i.e. an rx pop inside the tx loop */
	struct virtq_chain rx_chain, tx_chain;
	struct vnet_stats st;
	struct virtio_net_config cfg;
};

/* mac: the guest's address. -errno with a message (out of memory). */
int vnet_init(struct vnet *n, const uint8_t mac[6],
	      void (*send)(void *, const uint8_t *, size_t),
	      void (*kick)(void *), void *opaque);
void vnet_free(struct vnet *n);
/* With the transport lock held, on the backend thread: the guest's tx
 * frames (up to VNET_TX_BUDGET; kicks again if more are waiting), then
 * backlogged rx frames into the buffers the guest posted. */
void vnet_process(struct vnet *n);
/* A frame for the guest (lock held): into an rx buffer now, or into the
 * backlog; dropped and counted if it cannot be delivered. */
void vnet_receive(struct vnet *n, const void *frame, size_t len);

extern const struct vdev_ops vnet_ops;

#endif
