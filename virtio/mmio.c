/* The transport is where a misbehaving driver is stopped: every register
 * write is checked against the device status state machine (4.2.2.1,
 * 3.1.1) before it reaches the device, so devices never see an invalid
 * queue index or size, nor a queue before DRIVER_OK. */
#include "mmio.h"
#include "vmm/core/err.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>

#define VMMIO_MAGIC 0x74726976 /* "virt" */
#define VMMIO_VERSION 2

/* The line follows InterruptStatus; only changes are passed on (with an
 * irqfd, each rising edge is one injected interrupt). */
static void vmmio_update_irq(struct vmmio *t)
{
	bool level = t->isr != 0;

	if (level != t->irq_level) {
		t->irq_level = level;
		t->set_irq(t->irq_opaque, t->irq, level);
	}
}

static void vmmio_notify_used(struct vdev *d)
{
	struct vmmio *t = d->transport;

	t->isr |= VIRTIO_MMIO_INT_VRING;
	vmmio_update_irq(t);
}

/* Device error (2.1.2): set NEEDS_RESET and tell the driver via a
 * configuration-change interrupt; processing stops until reset. */
static void vmmio_needs_reset(struct vdev *d, const char *why)
{
	struct vmmio *t = d->transport;

	log_guest(d->ops->name, "%s@0x%llx: %s; device needs reset", d->ops->name,
		  (unsigned long long)t->base, why);
	if (t->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	t->isr |= VIRTIO_MMIO_INT_CONFIG;
	vmmio_update_irq(t);
}

static void vmmio_refuse(struct vmmio *t, uint64_t off, uint32_t v,
			 const char *why)
{
	t->refused++;
	log_guest(t->dev.ops->name, "%s@0x%llx: write 0x%x to register 0x%llx "
		  "refused: %s", t->dev.ops->name, (unsigned long long)t->base, v,
		  (unsigned long long)off, why);
}

static void vmmio_lock(struct vdev *d)
{
	pthread_mutex_lock(&((struct vmmio *)d->transport)->lock);
}

static void vmmio_unlock(struct vdev *d)
{
	pthread_mutex_unlock(&((struct vmmio *)d->transport)->lock);
}

void vmmio_init(struct vmmio *t, const struct vdev_ops *ops, void *priv,
		struct guest_mem *gm, uint64_t base, unsigned irq,
		void (*set_irq)(void *, unsigned, bool), void *irq_opaque)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->dev.ops = ops;
	t->dev.priv = priv;
	if (ops->config_len) {
		t->dev.config = (const uint8_t *)priv + ops->config_off;
		t->dev.config_len = ops->config_len;
	}
	t->dev.gm = gm;
	t->dev.transport = t;
	t->dev.notify_used = vmmio_notify_used;
	t->dev.needs_reset = vmmio_needs_reset;
	t->dev.lock = vmmio_lock;
	t->dev.unlock = vmmio_unlock;
	t->base = base;
	t->irq = irq;
	t->set_irq = set_irq;
	t->irq_opaque = irq_opaque;
	t->queue_sel_ok = true; /* QueueSel resets to 0, a valid queue */
}

static void vmmio_reset(struct vmmio *t)
{
	if (t->dev.ops->reset)
		t->dev.ops->reset(&t->dev);
	for (unsigned i = 0; i < VDEV_MAX_QUEUES; i++)
		virtq_reset(&t->dev.vq[i]);
	t->status = 0;
	t->drv_features = t->dev.driver_features = 0;
	t->dev_feat_sel = t->drv_feat_sel = t->queue_sel = 0;
	t->queue_sel_ok = true;
	t->isr = 0;
	vmmio_update_irq(t);
}

int vmmio_cmdline(const struct vmmio *t, char *buf, size_t len)
{
	int n = snprintf(buf, len, "virtio_mmio.device=4K@0x%llx:%u",
			 (unsigned long long)t->base, t->irq);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

static uint64_t vmmio_offer(struct vmmio *t)
{
	return t->dev.ops->features(&t->dev) & ~t->features_off;
}

static uint32_t vmmio_read_reg(struct vmmio *t, uint64_t off)
{
	const struct vdev_ops *ops = t->dev.ops;
	struct virtq *q = t->queue_sel_ok ? &t->dev.vq[t->queue_sel] : NULL;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE: return VMMIO_MAGIC;
	case VIRTIO_MMIO_VERSION: return VMMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID: return ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return VMMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->dev_feat_sel > 1)
			return 0;
		return (uint32_t)(vmmio_offer(t) >> (32 * t->dev_feat_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX: return q ? ops->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY: return q ? q->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return t->isr;
	case VIRTIO_MMIO_STATUS: return t->status;
	case VIRTIO_MMIO_CONFIG_GENERATION: return t->config_gen;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH: return 0xffffffff; /* no region */
	default: return 0;
	}
}

/* Status (3.1.1): 0 resets; otherwise bits are only ever added, in order
 * ACKNOWLEDGE -> DRIVER -> FEATURES_OK -> DRIVER_OK; FAILED at any time. */
static void vmmio_write_status(struct vmmio *t, uint32_t v)
{
	uint32_t old = t->status, add = v & ~old;
	uint64_t offered = vmmio_offer(t);

	if (v == 0) {
		vmmio_reset(t);
		return;
	}
	if ((old & ~v & ~VIRTIO_CONFIG_S_NEEDS_RESET) || v > 0xff) {
		vmmio_refuse(t, VIRTIO_MMIO_STATUS, v, "status bits cleared without reset");
		return;
	}
	if (((add & VIRTIO_CONFIG_S_DRIVER) && !(v & VIRTIO_CONFIG_S_ACKNOWLEDGE)) ||
	    ((add & VIRTIO_CONFIG_S_FEATURES_OK) && !(v & VIRTIO_CONFIG_S_DRIVER)) ||
	    ((add & VIRTIO_CONFIG_S_DRIVER_OK) && !(v & VIRTIO_CONFIG_S_FEATURES_OK))) {
		vmmio_refuse(t, VIRTIO_MMIO_STATUS, v, "status steps out of order");
		return;
	}
	if (add & VIRTIO_CONFIG_S_FEATURES_OK) {
		/* Only offered bits, and a modern driver (VERSION_1): if not,
		 * FEATURES_OK stays clear and the driver gives up (3.1.1). */
		if ((t->drv_features & ~offered) ||
		    !(t->drv_features & (1ULL << VIRTIO_F_VERSION_1))) {
			vmmio_refuse(t, VIRTIO_MMIO_STATUS, v, "driver features "
				     "not a subset of the offer, or no VERSION_1");
			v &= ~VIRTIO_CONFIG_S_FEATURES_OK;
		} else {
			t->dev.driver_features = t->drv_features;
		}
	}
	t->status = v;
	if ((add & VIRTIO_CONFIG_S_DRIVER_OK) && t->dev.ops->activate &&
	    t->dev.ops->activate(&t->dev) < 0)
		vmmio_needs_reset(&t->dev, "activation failed");
}

/* Queue registers are writable between FEATURES_OK and DRIVER_OK only
 * (4.2.3.2), on a valid QueueSel, and not while the queue is ready. */
static struct virtq *vmmio_queue_for_write(struct vmmio *t, uint64_t off,
					   uint32_t v)
{
	struct virtq *q;

	if (!(t->status & VIRTIO_CONFIG_S_FEATURES_OK) ||
	    (t->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
		vmmio_refuse(t, off, v, "queue setup outside FEATURES_OK..DRIVER_OK");
		return NULL;
	}
	if (!t->queue_sel_ok) {
		vmmio_refuse(t, off, v, "QueueSel names no queue");
		return NULL;
	}
	q = &t->dev.vq[t->queue_sel];
	if (q->ready && off != VIRTIO_MMIO_QUEUE_READY) {
		vmmio_refuse(t, off, v, "queue is live");
		return NULL;
	}
	return q;
}

static void vmmio_set_addr(uint64_t *a, bool high, uint32_t v)
{
	*a = high ? ((*a & 0xffffffffULL) | ((uint64_t)v << 32))
		  : ((*a & ~0xffffffffULL) | v);
}

static void vmmio_write_queue(struct vmmio *t, uint64_t off, uint32_t v)
{
	struct virtq *q = vmmio_queue_for_write(t, off, v);
	uint16_t max = t->dev.ops->queue_max;

	if (!q)
		return;
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		if (v == 0 || v > max || (v & (v - 1)))
			vmmio_refuse(t, off, v, "QueueNum zero, above the maximum "
				     "or not a power of two");
		else
			q->num = (uint16_t)v;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (!v) {
			q->ready = false;
			break;
		}
		if (virtq_validate(q, t->dev.gm) < 0) {
			vmmio_needs_reset(&t->dev, "queue rings misaligned, outside "
					  "RAM or bad size");
			break;
		}
		q->event_idx = t->dev.driver_features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
		q->ready = true;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW: vmmio_set_addr(&q->desc_gpa, false, v); break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH: vmmio_set_addr(&q->desc_gpa, true, v); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: vmmio_set_addr(&q->avail_gpa, false, v); break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: vmmio_set_addr(&q->avail_gpa, true, v); break;
	case VIRTIO_MMIO_QUEUE_USED_LOW: vmmio_set_addr(&q->used_gpa, false, v); break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH: vmmio_set_addr(&q->used_gpa, true, v); break;
	}
}

static void vmmio_notify(struct vmmio *t, uint32_t v)
{
	if (!(t->status & VIRTIO_CONFIG_S_DRIVER_OK) ||
	    (t->status & VIRTIO_CONFIG_S_NEEDS_RESET)) {
		vmmio_refuse(t, VIRTIO_MMIO_QUEUE_NOTIFY, v, "notify before DRIVER_OK "
			     "or after a device error");
		return;
	}
	if (v >= t->dev.ops->num_queues || !t->dev.vq[v].ready) {
		vmmio_refuse(t, VIRTIO_MMIO_QUEUE_NOTIFY, v, "no such live queue");
		return;
	}
	t->dev.ops->queue_notify(&t->dev, v);
}

static void vmmio_write_reg(struct vmmio *t, uint64_t off, uint32_t v)
{
	bool negotiating = (t->status & VIRTIO_CONFIG_S_DRIVER) &&
			   !(t->status & VIRTIO_CONFIG_S_FEATURES_OK);

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: t->dev_feat_sel = v; break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: t->drv_feat_sel = v; break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (!negotiating || t->drv_feat_sel > 1)
			vmmio_refuse(t, off, v, "features written outside negotiation");
		else
			vmmio_set_addr(&t->drv_features, t->drv_feat_sel == 1, v);
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = v;
		t->queue_sel_ok = v < t->dev.ops->num_queues;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_READY:
	case VIRTIO_MMIO_QUEUE_DESC_LOW: case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW: case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
	case VIRTIO_MMIO_QUEUE_USED_LOW: case VIRTIO_MMIO_QUEUE_USED_HIGH:
		vmmio_write_queue(t, off, v);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY: vmmio_notify(t, v); break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		t->isr &= ~v;
		vmmio_update_irq(t);
		break;
	case VIRTIO_MMIO_STATUS: vmmio_write_status(t, v); break;
	default: vmmio_refuse(t, off, v, "read-only or unknown register");
	}
}

/* Device configuration space (4.2.2, offset 0x100 on): served from the
 * device's snapshot (vdev.config). Bytes past its end read as 0 (the spec
 * gives them no value; 0 as other VMMs) and a read straddling the end
 * gets the bytes that exist. The snapshots never change after open, so
 * ConfigGeneration stays 0 (4.2.2: it would change with the contents).
 * Writes go to the device's config_write, inside the space and once the
 * driver is loaded, and are refused otherwise. */
static void vmmio_config_io(struct vmmio *t, uint64_t coff, uint8_t *data,
			    uint32_t len, bool is_write)
{
	const struct vdev *d = &t->dev;

	if (is_write) {
		uint32_t v = 0;

		if (d->ops->config_write && coff < d->config_len &&
		    len <= d->config_len - coff &&
		    (t->status & VIRTIO_CONFIG_S_DRIVER)) {
			d->ops->config_write(&t->dev, (uint32_t)coff, data, len);
			return;
		}
		memcpy(&v, data, len < 4 ? len : 4);
		vmmio_refuse(t, VIRTIO_MMIO_CONFIG + coff, v, "config space "
			     "read-only, or written outside it or before DRIVER");
		return;
	}
	memset(data, 0, len);
	if (coff < d->config_len) {
		uint32_t n = d->config_len - (uint32_t)coff;

		memcpy(data, (const uint8_t *)d->config + coff, n < len ? n : len);
	}
}

static void vmmio_io_locked(struct vmmio *t, uint64_t off, uint8_t *data,
			    uint32_t len, bool is_write)
{
	uint32_t v = 0;

	if (off >= VIRTIO_MMIO_CONFIG) {
		vmmio_config_io(t, off - VIRTIO_MMIO_CONFIG, data, len, is_write);
		return;
	}
	/* 4.2.2.2: registers are 32 bits wide and accessed as such. */
	if (len != 4 || (off & 3)) {
		if (!is_write)
			memset(data, 0xff, len);
		else
			vmmio_refuse(t, off, 0, "not an aligned 32-bit access");
		return;
	}
	if (!is_write) {
		v = vmmio_read_reg(t, off);
		memcpy(data, &v, 4);
		return;
	}
	memcpy(&v, data, 4);
	vmmio_write_reg(t, off, v);
}

void vmmio_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	      bool is_write)
{
	struct vmmio *t = opaque;

	pthread_mutex_lock(&t->lock);
	vmmio_io_locked(t, off, data, len, is_write);
	pthread_mutex_unlock(&t->lock);
}

void vmmio_kick(struct vmmio *t, unsigned queue)
{
	pthread_mutex_lock(&t->lock);
	vmmio_notify(t, queue);
	pthread_mutex_unlock(&t->lock);
}
