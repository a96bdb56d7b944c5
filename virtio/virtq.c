#include "virtq.h"

#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

/* The guest writes the rings concurrently (on SMP guests, from other vCPUs
 * or while we run on another thread): every shared field is read exactly
 * once through these, and ordered with explicit fences (2.7.13). */
static uint16_t virtq_load16(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static void virtq_store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

static uint64_t virtq_avail_size(uint16_t num)
{
	return 4 + 2ULL * num + 2; /* flags, idx, ring, used_event */
}

static uint64_t virtq_used_size(uint16_t num)
{
	return 4 + 8ULL * num + 2; /* flags, idx, ring, avail_event */
}

int virtq_validate(struct virtq *vq, const struct guest_mem *gm)
{
	uint16_t n = vq->num;

	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return -EINVAL;
	/* 2.7: descriptor table 16-, avail 2-, used 4-byte aligned. */
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return -EINVAL;
	if (!gm_ptr(gm, vq->desc_gpa, 16ULL * n) ||
	    !gm_ptr(gm, vq->avail_gpa, virtq_avail_size(n)) ||
	    !gm_ptr(gm, vq->used_gpa, virtq_used_size(n)))
		return -EFAULT;
	return 0;
}

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

/* Copies the chain starting at head into c; NULL or an error string. */
static const char *virtq_walk(struct virtq *vq, const struct guest_mem *gm,
			      uint16_t head, struct virtq_chain *c)
{
	const uint8_t *table = gm_ptr(gm, vq->desc_gpa, 16ULL * vq->num);
	uint16_t idx = head;

	c->head = head;
	c->n_out = c->n_in = 0;
	c->out_len = c->in_len = 0;
	for (unsigned count = 0;; count++) {
		struct vring_desc d;
		void *p;

		/* A chain can never hold more descriptors than the queue:
		 * this bounds self-loops and longer cycles (2.7.5.3.2). */
		if (count >= vq->num)
			return "descriptor chain longer than the queue (a loop?)";
		memcpy(&d, table + 16ULL * idx, sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT)
			return "indirect descriptor, not negotiated";
		p = gm_ptr(gm, d.addr, d.len);
		if (!p)
			return "descriptor buffer outside guest RAM or wrapping";
		if (d.flags & VRING_DESC_F_WRITE) {
			c->in[c->n_in++] = (struct iovec){ p, d.len };
			c->in_len += d.len;
		} else {
			/* 2.7.4.2: readable descriptors come first */
			if (c->n_in)
				return "device-readable descriptor after a writable one";
			c->out[c->n_out++] = (struct iovec){ p, d.len };
			c->out_len += d.len;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			return NULL;
		if (d.next >= vq->num)
			return "descriptor next index out of range";
		idx = d.next;
	}
}

int virtq_pop(struct virtq *vq, const struct guest_mem *gm,
	      struct virtq_chain *c, const char **why)
{
	uint8_t *avail = gm_ptr(gm, vq->avail_gpa, virtq_avail_size(vq->num));
	uint16_t aidx, pending, head;

	if (vq->broken || !vq->ready || !avail)
		return 0;
	aidx = virtq_load16(avail + 2);
	pending = (uint16_t)(aidx - vq->last_avail);
	if (pending == 0)
		return 0;
	if (pending > vq->num) {
		*why = "avail index moved by more than the queue size";
		goto broken;
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* idx before ring entries */
	head = virtq_load16(avail + 4 + 2 * (vq->last_avail & (vq->num - 1)));
	if (head >= vq->num) {
		*why = "avail ring names a descriptor out of range";
		goto broken;
	}
	if ((*why = virtq_walk(vq, gm, head, c)))
		goto broken;
	vq->last_avail++;
	if (vq->event_idx) {
		uint8_t *used = gm_ptr(gm, vq->used_gpa, virtq_used_size(vq->num));

		virtq_store16(used + 4 + 8 * vq->num, vq->last_avail);
		/* Store-load barrier (2.7.10, Linux's vhost_enable_notify):
		 * the caller's next pop reads the avail idx. If that read
		 * were satisfied before this store became visible, a driver
		 * adding a buffer in between would read the old avail_event,
		 * skip its notification, and we would stop on a ring that
		 * is not empty: a request hung until the next kick. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	return 1;
broken:
	vq->broken = true;
	return -EINVAL;
}

void virtq_push(struct virtq *vq, const struct guest_mem *gm, uint16_t head,
		uint32_t len)
{
	uint8_t *used = gm_ptr(gm, vq->used_gpa, virtq_used_size(vq->num));
	struct vring_used_elem e = { head, len };

	if (!used)
		return;
	memcpy(used + 4 + 8 * (vq->used_idx & (vq->num - 1)), &e, sizeof(e));
	vq->used_idx++;
	__atomic_thread_fence(__ATOMIC_RELEASE); /* element before idx */
	virtq_store16(used + 2, vq->used_idx);
}

bool virtq_should_notify(struct virtq *vq, const struct guest_mem *gm)
{
	uint8_t *avail = gm_ptr(gm, vq->avail_gpa, virtq_avail_size(vq->num));
	uint16_t old = vq->signalled_used;
	bool valid = vq->signalled_valid;

	if (!avail)
		return false;
	/* Our used idx store must be visible before we read the driver's
	 * suppression state (2.7.7.2 / 2.7.10). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->signalled_used = vq->used_idx;
	vq->signalled_valid = true;
	if (!vq->event_idx)
		return !(virtq_load16(avail) & VRING_AVAIL_F_NO_INTERRUPT);
	return !valid || vring_need_event(virtq_load16(avail + 4 + 2 * vq->num),
					  vq->used_idx, old);
}

void virtq_unpop(struct virtq *vq)
{
	vq->last_avail--;
}

bool virtq_iov_copy(const struct iovec *iov, unsigned n, uint64_t off,
		    void *dst, size_t len)
{
	struct iovec part[VIRTQ_MAX_SIZE];
	unsigned k = virtq_iov_slice(iov, n, off, len, part);
	uint8_t *d = dst;

	for (unsigned i = 0; i < k; i++) {
		memcpy(d, part[i].iov_base, part[i].iov_len);
		d += part[i].iov_len;
	}
	return (size_t)(d - (uint8_t *)dst) == len;
}

bool virtq_iov_fill(const struct iovec *iov, unsigned n, uint64_t off,
		    const void *src, size_t len)
{
	struct iovec part[VIRTQ_MAX_SIZE];
	unsigned k = virtq_iov_slice(iov, n, off, len, part);
	const uint8_t *s = src;

	for (unsigned i = 0; i < k; i++) {
		memcpy(part[i].iov_base, s, part[i].iov_len);
		s += part[i].iov_len;
	}
	return (size_t)(s - (const uint8_t *)src) == len;
}

unsigned virtq_iov_slice(const struct iovec *iov, unsigned n, uint64_t skip,
			 uint64_t max, struct iovec *out)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && max; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		uint64_t l = iov[i].iov_len - skip;
		if (l > max)
			l = max;
		out[k++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, l };
		max -= l;
		skip = 0;
	}
	return k;
}
