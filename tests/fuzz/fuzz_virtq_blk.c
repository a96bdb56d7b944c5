/* libFuzzer target over the virtqueue walker and the virtio-blk request
 * parser: the input becomes the guest's RAM (rings, descriptors, headers,
 * all attacker-controlled) behind a correctly initialised queue, then the
 * driver "notifies". Build: make fuzz; run: build/fuzz/fuzz_virtq_blk. */
#include "virtio/blk.h"
#include "virtio/mmio.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAM_SIZE (64u << 10)
#define QSZ 16

static uint8_t *ram;
static struct guest_mem gm;
static struct vblk blk;
static bool ready;

static void irq(void *o, unsigned n, bool l) { (void)o; (void)n; (void)l; }

static void wr(struct vmmio *t, uint64_t off, uint32_t v)
{
	vmmio_io(t, off, (uint8_t *)&v, 4, true);
}

static void setup(void)
{
	char path[] = "/tmp/msbvm-fuzz-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		abort();
	close(fd);
	if (vblk_open(&blk, path, false, 0) < 0)
		abort();
	unlink(path); /* the open fd keeps it */
	ram = calloc(1, RAM_SIZE);
	gm.host = ram;
	gm_layout(&gm, RAM_SIZE);
	ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmmio t;
	uint64_t feat = (1ULL << VIRTIO_F_VERSION_1);

	if (!ready)
		setup();
	if (size < 1)
		return 0;
	/* first byte picks EVENT_IDX; the rest is guest RAM from 0x1000 */
	if (data[0] & 1)
		feat |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	memset(ram, 0, RAM_SIZE);
	size--;
	memcpy(ram + 0x1000, data + 1, size < RAM_SIZE - 0x1000 ? size : RAM_SIZE - 0x1000);
	vmmio_init(&t, &vblk_ops, &blk, &gm, VMMIO_BASE, 5, irq, NULL);
	wr(&t, VIRTIO_MMIO_STATUS, 1);
	wr(&t, VIRTIO_MMIO_STATUS, 3);
	wr(&t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
	wr(&t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(&t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
	wr(&t, VIRTIO_MMIO_STATUS, 11);
	wr(&t, VIRTIO_MMIO_QUEUE_NUM, QSZ);
	wr(&t, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
	wr(&t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x1100);
	wr(&t, VIRTIO_MMIO_QUEUE_USED_LOW, 0x1200);
	wr(&t, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(&t, VIRTIO_MMIO_STATUS, 15);
	for (int i = 0; i < 3; i++) /* repeated kicks: state carried over */
		wr(&t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	return 0;
}
