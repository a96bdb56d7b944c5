/* virtio-net device (virtio 1.2, section 5.1): queue 0 receiveq1, queue 1
 * transmitq1 (5.1.2); features MAC, STATUS, MTU and VERSION_1, no
 * offloads: the guest computes checksums and never sends GSO frames, so
 * every frame fits one MTU (the backend, libslirp, takes plain frames).
 * Without VIRTIO_NET_F_MRG_RXBUF and GUEST_TSO the Linux driver posts
 * rx buffers of header + 1518 bytes ("small" buffers), so one frame fills
 * one buffer and num_buffers is 1 (5.1.6.3.1). Every chain is copied out
 * of guest memory through virtq_pop's checked walk; a tx chain shorter
 * than the header, a frame shorter than an Ethernet header or longer
 * than MTU + header, and an rx buffer too small for the frame are
 * dropped and counted, never fatal. A read-only rx buffer or a broken
 * ring is a driver bug: NEEDS_RESET, as for the other devices. */
#include "net.h"
#include "vmm/core/err.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#define VNET_RXQ 0
#define VNET_TXQ 1
#define VNET_ETH_HLEN 14u

int vnet_init(struct vnet *n, const uint8_t mac[6],
	      void (*send)(void *, const uint8_t *, size_t),
	      void (*kick)(void *), void *opaque)
{
	memset(n, 0, sizeof(*n));
	n->backlog = calloc(VNET_BACKLOG, sizeof(*n->backlog));
	if (!n->backlog)
		return err_set(ENOMEM, "virtio-net: out of memory");
	n->send = send;
	n->kick = kick;
	n->opaque = opaque;
	/* 5.1.4: config fields are little-endian with VERSION_1 */
	memcpy(n->cfg.mac, mac, 6);
	n->cfg.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->cfg.max_virtqueue_pairs = htole16(1);
	n->cfg.mtu = htole16(VNET_MTU);
	return 0;
}

void vnet_free(struct vnet *n)
{
	free(n->backlog);
	n->backlog = NULL;
	n->bl_count = 0;
}

static void vnet_notify_if(struct vnet *n, unsigned q, uint16_t used0)
{
	struct vdev *d = n->dev;

	if (d->vq[q].used_idx != used0 && virtq_should_notify(&d->vq[q], d->gm))
		d->notify_used(d);
}

/* One frame into the next rx buffer: 1 the buffer was used (frame
 * delivered, or dropped because the buffer is too small), 0 no buffer
 * posted, -1 the queue is broken. */
static int vnet_rx_one(struct vnet *n, const uint8_t *f, size_t len)
{
	struct vdev *d = n->dev;
	struct virtq *vq = &d->vq[VNET_RXQ];
	struct virtq_chain *ch = &n->rx_chain;
	struct virtio_net_hdr_v1 h = { .num_buffers = htole16(1) };
	const char *why = NULL;
	int r;

	if (vq->broken)
		return -1;
	if ((r = virtq_pop(vq, d->gm, ch, &why)) <= 0) {
		if (r < 0)
			d->needs_reset(d, why);
		return r < 0 ? -1 : 0;
	}
	if (ch->n_out) {
		vq->broken = true;
		d->needs_reset(d, "rx buffer has a device-readable descriptor");
		return -1;
	}
	if (ch->in_len < VNET_HDR_LEN + len) {
		/* 5.1.6.3: we may not write past it; the driver sees a used
		 * length of 0 (shorter than a header) and reposts */
		log_guest("vnet-rxsmall", "virtio-net: rx buffer of %llu bytes "
			  "cannot hold a %zu-byte frame; frame dropped",
			  (unsigned long long)ch->in_len, len);
		n->st.rx_dropped++;
		virtq_push(vq, d->gm, ch->head, 0);
		return 1;
	}
	virtq_iov_fill(ch->in, ch->n_in, 0, &h, VNET_HDR_LEN);
	virtq_iov_fill(ch->in, ch->n_in, VNET_HDR_LEN, f, len);
	virtq_push(vq, d->gm, ch->head, VNET_HDR_LEN + (uint32_t)len);
	n->st.rx_frames++;
	n->st.rx_bytes += len;
	return 1;
}

/* Backlogged frames, oldest first, while the guest has buffers. */
static void vnet_rx_flush(struct vnet *n)
{
	while (n->bl_count) {
		struct vnet_frame *f = &n->backlog[n->bl_head];
		int r = vnet_rx_one(n, f->data, f->len);

		if (r == 0)
			return;
		if (r < 0) {
			n->st.rx_dropped += n->bl_count;
			n->bl_count = 0;
			return;
		}
		n->bl_head = (n->bl_head + 1) % VNET_BACKLOG;
		n->bl_count--;
	}
}

void vnet_receive(struct vnet *n, const void *frame, size_t len)
{
	uint16_t used0;
	int r = 0;

	if (!n->active || len < VNET_ETH_HLEN || len > VNET_MAX_FRAME) {
		n->st.rx_dropped++;
		return;
	}
	used0 = n->dev->vq[VNET_RXQ].used_idx;
	vnet_rx_flush(n);
	if (!n->bl_count)
		r = vnet_rx_one(n, frame, len);
	if (r == 0) {
		if (n->bl_count == VNET_BACKLOG) {
			log_guest("vnet-backlog", "virtio-net: guest posts no rx "
				  "buffers; %u frames waiting, frame dropped",
				  VNET_BACKLOG);
			n->st.rx_dropped++;
		} else {
			struct vnet_frame *f =
				&n->backlog[(n->bl_head + n->bl_count) % VNET_BACKLOG];
			memcpy(f->data, frame, len);
			f->len = (uint16_t)len;
			n->bl_count++;
		}
	} else if (r < 0) {
		n->st.rx_dropped++;
	}
	vnet_notify_if(n, VNET_RXQ, used0);
}

/* One tx chain: header then frame, device-readable only (5.1.6.2). The
 * header is not looked at: with no offload negotiated its flags and
 * gso_type must be 0, and a frame is sent as it is either way. */
static void vnet_tx_chain(struct vnet *n, const struct virtq_chain *ch)
{
	uint64_t len = ch->out_len - (ch->out_len >= VNET_HDR_LEN ? VNET_HDR_LEN : 0);

	if (ch->n_in || ch->out_len < VNET_HDR_LEN + VNET_ETH_HLEN ||
	    len > VNET_MAX_FRAME) {
		log_guest("vnet-txbad", "virtio-net: dropped a tx chain of %llu "
			  "bytes%s (header %u, frame %u..%u bytes)",
			  (unsigned long long)ch->out_len,
			  ch->n_in ? " with device-writable buffers" : "",
			  VNET_HDR_LEN, VNET_ETH_HLEN, VNET_MAX_FRAME);
		n->st.tx_dropped++;
		return;
	}
	virtq_iov_copy(ch->out, ch->n_out, VNET_HDR_LEN, n->txbuf, (size_t)len);
	n->st.tx_frames++;
	n->st.tx_bytes += len;
	n->send(n->opaque, n->txbuf, (size_t)len);
}

static void vnet_tx(struct vnet *n)
{
	struct vdev *d = n->dev;
	struct virtq *vq = &d->vq[VNET_TXQ];
	uint16_t used0 = vq->used_idx;
	const char *why = NULL;
	unsigned budget = VNET_TX_BUDGET;
	int r = 0;

	while (budget && (r = virtq_pop(vq, d->gm, &n->tx_chain, &why)) > 0) {
		vnet_tx_chain(n, &n->tx_chain);
		/* 5.1.6.2: used length 0, nothing written */
		virtq_push(vq, d->gm, n->tx_chain.head, 0);
		budget--;
	}
	vnet_notify_if(n, VNET_TXQ, used0);
	if (r < 0)
		d->needs_reset(d, why);
	else if (!budget)
		n->kick(n->opaque); /* more may wait: come back after a poll */
}

void vnet_process(struct vnet *n)
{
	if (!n->active)
		return;
	vnet_tx(n);
	if (n->bl_count) {
		uint16_t used0 = n->dev->vq[VNET_RXQ].used_idx;

		vnet_rx_flush(n);
		vnet_notify_if(n, VNET_RXQ, used0);
	}
}

static void vnet_queue_notify(struct vdev *d, unsigned q)
{
	struct vnet *n = d->priv;

	(void)q; /* tx or new rx buffers: the backend thread looks */
	n->kick(n->opaque);
}

static int vnet_activate(struct vdev *d)
{
	struct vnet *n = d->priv;

	n->dev = d;
	n->active = true;
	n->kick(n->opaque);
	return 0;
}

static void vnet_reset(struct vdev *d)
{
	struct vnet *n = d->priv;

	n->active = false;
	n->bl_count = 0;
}

static uint64_t vnet_features(struct vdev *d)
{
	(void)d;
	return (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
	       (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
	       (1ULL << VIRTIO_NET_F_MTU);
}

const struct vdev_ops vnet_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.num_queues = 2,
	.queue_max = VNET_QUEUE_SIZE,
	.features = vnet_features,
	VDEV_CONFIG(struct vnet, cfg), /* filled by vnet_init */
	.activate = vnet_activate,
	.queue_notify = vnet_queue_notify,
	.reset = vnet_reset,
};
