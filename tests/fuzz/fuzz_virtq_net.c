/* libFuzzer target over virtio-net's tx path (and rx into fuzzed
 * buffers): the input becomes guest RAM (both rings, descriptors,
 * headers, frames) behind correctly initialised queues; the driver kicks
 * tx, the backend loop runs, and a frame is delivered into whatever rx
 * buffers the input describes. Build: make fuzz; run:
 * build/fuzz/fuzz_virtq_net -max_total_time=30. */
#include "virtio/mmio.h"
#include "virtio/net.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#define RAM_SIZE (64u << 10)
#define QSZ 16

static uint8_t *ram;
static struct guest_mem gm;
static struct vnet net;
static size_t sent_bytes;

static void irq(void *o, unsigned n, bool l) { (void)o; (void)n; (void)l; }

static void wr(struct vmmio *t, uint64_t off, uint32_t v)
{
	vmmio_io(t, off, (uint8_t *)&v, 4, true);
}

/* the backend: every frame must be one the device was allowed to send */
static void be_send(void *o, const uint8_t *f, size_t len)
{
	(void)o;
	if (len < 14 || len > VNET_MAX_FRAME)
		abort();
	for (size_t i = 0; i < len; i++)
		sent_bytes += f[i]; /* touch it all: ASan checks the copy */
}

static void be_kick(void *o) { (void)o; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };
	struct vmmio t;
	uint64_t feat = (1ULL << VIRTIO_F_VERSION_1);

	if (!ram) {
		ram = calloc(1, RAM_SIZE);
		gm.host = ram;
		gm_layout(&gm, RAM_SIZE);
	}
	if (size < 1)
		return 0;
	if (data[0] & 1)
		feat |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	memset(ram, 0, RAM_SIZE);
	size--;
	memcpy(ram + 0x1000, data + 1, size < RAM_SIZE - 0x1000 ? size : RAM_SIZE - 0x1000);
	if (vnet_init(&net, mac, be_send, be_kick, NULL) < 0)
		abort();
	vmmio_init(&t, &vnet_ops, &net, &gm, VMMIO_BASE, 5, irq, NULL);
	wr(&t, VIRTIO_MMIO_STATUS, 1);
	wr(&t, VIRTIO_MMIO_STATUS, 3);
	wr(&t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
	wr(&t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(&t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
	wr(&t, VIRTIO_MMIO_STATUS, 11);
	for (uint32_t q = 0; q < 2; q++) {
		wr(&t, VIRTIO_MMIO_QUEUE_SEL, q);
		wr(&t, VIRTIO_MMIO_QUEUE_NUM, QSZ);
		wr(&t, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000 + 0x400 * q);
		wr(&t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x1100 + 0x400 * q);
		wr(&t, VIRTIO_MMIO_QUEUE_USED_LOW, 0x1200 + 0x400 * q);
		wr(&t, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr(&t, VIRTIO_MMIO_STATUS, 15);
	for (int i = 0; i < 3; i++) { /* repeated rounds: state carried over */
		wr(&t, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
		vnet_process(&net);
		/* frames come from the backend (slirp's buffers), never from
		 * guest memory: copy the fuzzer's bytes out first, or the rx
		 * copy may overlap its own source (ASan memcpy-param-overlap,
		 * a harness artifact, found by fuzz-ci) */
		static uint8_t frame[60 + 127 * 12];
		size_t flen = 60 + (size_t)(data[0] >> 1) * 12;
		memcpy(frame, ram + 0x3000, flen);
		vnet_receive(&net, frame, flen);
	}
	vnet_free(&net);
	return 0;
}
