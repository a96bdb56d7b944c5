/* Hostile-driver harness: a fake guest RAM and a scripted "driver" drive the
 * virtio-mmio transport, the split virtqueue and virtio-blk with every kind
 * of malformed input. Each must leave the VMM alive (this runs under
 * ASan/UBSan), be refused or put the device in NEEDS_RESET, and a correct
 * request afterwards (after a reset where needed) must still work. */
#include "check.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAM_SIZE (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define HDR 0x8000
#define DATA 0x9000
#define STATUS 0xa000
#define QSZ 8

static uint8_t *ram;
static struct guest_mem gm;
static int irqs;
static uint16_t avail_idx;

static void irq(void *o, unsigned n, bool level) { (void)o; (void)n; irqs += level; }

static uint32_t rd(struct vmmio *t, uint64_t off)
{
	uint32_t v;
	vmmio_io(t, off, (uint8_t *)&v, 4, false);
	return v;
}

static void wr(struct vmmio *t, uint64_t off, uint32_t v)
{
	vmmio_io(t, off, (uint8_t *)&v, 4, true);
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };
	memcpy(ram + DESC + 16 * i, &d, 16);
}

/* The status dance and one queue of QSZ entries; returns the status. */
static uint32_t drv_init(struct vmmio *t, uint64_t features)
{
	memset(ram, 0, RAM_SIZE);
	avail_idx = 0;
	wr(t, VIRTIO_MMIO_STATUS, 0);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				  VIRTIO_CONFIG_S_FEATURES_OK);
	wr(t, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(t, VIRTIO_MMIO_QUEUE_NUM, QSZ);
	wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
	wr(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, AVAIL);
	wr(t, VIRTIO_MMIO_QUEUE_USED_LOW, USED);
	wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(t, VIRTIO_MMIO_STATUS, rd(t, VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
	return rd(t, VIRTIO_MMIO_STATUS);
}

static const uint64_t FEAT = 1ULL << VIRTIO_F_VERSION_1;

static uint16_t used_idx(void)
{
	uint16_t v;
	memcpy(&v, ram + USED + 2, 2);
	return v;
}

static void kick(struct vmmio *t, uint16_t head, uint16_t advance)
{
	memcpy(ram + AVAIL + 4 + 2 * (avail_idx % QSZ), &head, 2);
	avail_idx = (uint16_t)(avail_idx + advance);
	memcpy(ram + AVAIL + 2, &avail_idx, 2);
	wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

/* A well-formed 3-descriptor request; returns the status byte. */
static int blk_req(struct vmmio *t, uint32_t type, uint64_t sector, uint32_t len)
{
	struct virtio_blk_outhdr h = { type, 0, sector };
	uint16_t before = used_idx();

	memcpy(ram + HDR, &h, sizeof(h));
	ram[STATUS] = 0xee;
	set_desc(0, HDR, sizeof(h), VRING_DESC_F_NEXT, 1);
	set_desc(1, DATA, len, VRING_DESC_F_NEXT |
		 (type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID ?
			  VRING_DESC_F_WRITE : 0), 2);
	set_desc(2, STATUS, 1, VRING_DESC_F_WRITE, 0);
	kick(t, 0, 1);
	return used_idx() == before + 1 ? ram[STATUS] : -1;
}

static bool needs_reset(struct vmmio *t)
{
	return rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

/* A malformed chain must give NEEDS_RESET; reset + a good read recovers. */
static void expect_broken_then_recover(struct vmmio *t, const char *what)
{
	bool nr = needs_reset(t);

	if (!nr)
		fprintf(stderr, "no NEEDS_RESET after: %s\n", what);
	CHECK(nr);
	CHECK(drv_init(t, FEAT) & VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK);
	CHECK(ram[DATA] == 'D' && ram[DATA + 511] == 'D');
}

static void test_transport(struct vmmio *t)
{
	uint64_t r0;

	CHECK(rd(t, VIRTIO_MMIO_MAGIC_VALUE) == 0x74726976);
	CHECK(rd(t, VIRTIO_MMIO_VERSION) == 2);
	CHECK(rd(t, VIRTIO_MMIO_DEVICE_ID) == 2);
	/* a feature the device does not offer: FEATURES_OK never sticks */
	drv_init(t, FEAT | (1ULL << 40));
	CHECK(!(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK));
	CHECK(!(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK));
	/* a withheld feature (features_off) is neither offered nor accepted */
	t->features_off = 1ULL << VIRTIO_RING_F_EVENT_IDX;
	wr(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	CHECK(!(rd(t, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_RING_F_EVENT_IDX)));
	drv_init(t, FEAT | (1ULL << VIRTIO_RING_F_EVENT_IDX));
	CHECK(!(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK));
	t->features_off = 0;
	drv_init(t, FEAT | (1ULL << VIRTIO_RING_F_EVENT_IDX));
	CHECK(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(t->dev.vq[0].event_idx);
	/* a legacy driver (no VERSION_1) is refused the same way */
	drv_init(t, 0);
	CHECK(!(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK));
	/* status out of order: DRIVER_OK straight after ACKNOWLEDGE */
	wr(t, VIRTIO_MMIO_STATUS, 0);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(t, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(rd(t, VIRTIO_MMIO_STATUS) == VIRTIO_CONFIG_S_ACKNOWLEDGE);
	/* queue registers before FEATURES_OK are refused */
	r0 = t->refused;
	wr(t, VIRTIO_MMIO_QUEUE_NUM, 4);
	CHECK(t->refused == r0 + 1 && t->dev.vq[0].num == 0);

	CHECK(drv_init(t, FEAT) & VIRTIO_CONFIG_S_DRIVER_OK);
	/* queue registers after DRIVER_OK are refused; the ring stays put */
	r0 = t->refused;
	wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, 0xdead000);
	wr(t, VIRTIO_MMIO_QUEUE_NUM, 2);
	CHECK(t->refused == r0 + 2);
	CHECK(t->dev.vq[0].desc_gpa == DESC && t->dev.vq[0].num == QSZ);
	/* QueueSel out of range: reads as absent, writes refused */
	wr(t, VIRTIO_MMIO_QUEUE_SEL, 7);
	CHECK(rd(t, VIRTIO_MMIO_QUEUE_NUM_MAX) == 0);
	wr(t, VIRTIO_MMIO_QUEUE_SEL, 0xffffffff);
	wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	CHECK(t->refused > r0 + 2);
	wr(t, VIRTIO_MMIO_QUEUE_SEL, 0);
	/* notify for a queue that does not exist */
	r0 = t->refused;
	wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 3);
	CHECK(t->refused == r0 + 1);
	/* unaligned / narrow register access */
	uint16_t h = 1;
	vmmio_io(t, VIRTIO_MMIO_STATUS, (uint8_t *)&h, 2, true);
	CHECK(t->refused == r0 + 2);
	/* config space (4.2.2): served from the snapshot vblk_open filled */
	const uint32_t clen = sizeof(struct virtio_blk_config);
	uint64_t cap = 0;
	CHECK(t->dev.config_len == clen);
	vmmio_io(t, VIRTIO_MMIO_CONFIG, (uint8_t *)&cap, 8, false);
	CHECK(cap == 64); /* 32 KiB image */
	uint32_t w = 0, bs = 0;
	vmmio_io(t, VIRTIO_MMIO_CONFIG +
		 offsetof(struct virtio_blk_config, blk_size), (uint8_t *)&bs, 4, false);
	CHECK(bs == 512);
	CHECK(rd(t, VIRTIO_MMIO_CONFIG_GENERATION) == 0);
	/* past the end reads 0, up to the end of the window */
	w = 0xdeadbeef;
	vmmio_io(t, VIRTIO_MMIO_CONFIG + clen, (uint8_t *)&w, 4, false);
	CHECK(w == 0);
	w = 0xdeadbeef;
	vmmio_io(t, VIRTIO_MMIO_CONFIG + 0x1000 - 0x100 - 4, (uint8_t *)&w, 4, false);
	CHECK(w == 0);
	/* a read straddling the end: the bytes that exist, then 0 */
	uint8_t raw[8], want[8] = { 0 };
	memset(raw, 0xee, sizeof(raw));
	memcpy(want, (const uint8_t *)t->dev.config + clen - 3, 3);
	vmmio_io(t, VIRTIO_MMIO_CONFIG + clen - 3, raw, 8, false);
	CHECK(!memcmp(raw, want, 8));
	/* the space is read-only: writes refused, the snapshot unchanged */
	r0 = t->refused;
	w = 0;
	vmmio_io(t, VIRTIO_MMIO_CONFIG, (uint8_t *)&w, 4, true);
	vmmio_io(t, VIRTIO_MMIO_CONFIG + clen + 8, (uint8_t *)&w, 4, true);
	CHECK(t->refused == r0 + 2);
	cap = 0;
	vmmio_io(t, VIRTIO_MMIO_CONFIG, (uint8_t *)&cap, 8, false);
	CHECK(cap == 64);
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK);

	/* bad QueueNum values while setting up */
	wr(t, VIRTIO_MMIO_STATUS, 0);
	wr(t, VIRTIO_MMIO_STATUS, 1);
	wr(t, VIRTIO_MMIO_STATUS, 3);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 is bit 32 */
	wr(t, VIRTIO_MMIO_STATUS, 11);
	r0 = t->refused;
	wr(t, VIRTIO_MMIO_QUEUE_NUM, 0);
	wr(t, VIRTIO_MMIO_QUEUE_NUM, 3);
	wr(t, VIRTIO_MMIO_QUEUE_NUM, 1024);
	CHECK(t->refused == r0 + 3 && t->dev.vq[0].num == 0);
	/* a ring outside RAM makes QUEUE_READY fail into NEEDS_RESET */
	wr(t, VIRTIO_MMIO_QUEUE_NUM, QSZ);
	wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, 0xfffff000);
	wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	CHECK(!t->dev.vq[0].ready && needs_reset(t));
}

/* notify before DRIVER_OK must not process anything */
static void test_early_notify(struct vmmio *t)
{
	drv_init(t, FEAT);
	wr(t, VIRTIO_MMIO_STATUS, 0);
	wr(t, VIRTIO_MMIO_STATUS, 1);
	uint64_t r0 = t->refused;
	avail_idx = 1;
	memcpy(ram + AVAIL + 2, &avail_idx, 2);
	wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	CHECK(t->refused == r0 + 1 && used_idx() == 0);
	CHECK(drv_init(t, FEAT) & VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK);
}

/* One malformed request per row: up to three descriptors, then the head
 * the avail ring names and how far avail->idx moves. */
static const struct hostile {
	const char *what;
	struct vring_desc d[3];
	uint16_t head, advance;
} hostile[] = {
	{ "self-loop", { { HDR, 16, VRING_DESC_F_NEXT, 0 } }, 0, 1 },
	{ "2-cycle", { { HDR, 16, VRING_DESC_F_NEXT, 1 },
		       { DATA, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 0 } }, 0, 1 },
	{ "next out of range", { { HDR, 16, VRING_DESC_F_NEXT, QSZ + 3 } }, 0, 1 },
	{ "head out of range", { { HDR, 16, 0, 0 } }, 200, 1 },
	{ "past RAM", { { RAM_SIZE - 8, 16, VRING_DESC_F_NEXT, 1 },
			{ STATUS, 1, VRING_DESC_F_WRITE, 0 } }, 0, 1 },
	{ "wraps 2^64", { { UINT64_MAX - 7, 16, VRING_DESC_F_NEXT, 1 },
			  { STATUS, 1, VRING_DESC_F_WRITE, 0 } }, 0, 1 },
	{ "huge length", { { HDR, 0xffffffff, VRING_DESC_F_NEXT, 1 },
			   { STATUS, 1, VRING_DESC_F_WRITE, 0 } }, 0, 1 },
	{ "zero-length header", { { HDR, 0, VRING_DESC_F_NEXT, 1 },
				  { STATUS, 1, VRING_DESC_F_WRITE, 0 } }, 0, 1 },
	{ "zero-length status", { { HDR, 16, VRING_DESC_F_NEXT, 1 },
				  { STATUS, 0, VRING_DESC_F_WRITE, 0 } }, 0, 1 },
	{ "no status byte", { { HDR, 16, 0, 0 } }, 0, 1 },
	{ "readable after writable", { { HDR, 16, VRING_DESC_F_NEXT, 1 },
				       { STATUS, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2 },
				       { DATA, 16, 0, 0 } }, 0, 1 },
	{ "indirect", { { DATA, 32, VRING_DESC_F_INDIRECT, 0 } }, 0, 1 },
	{ "avail jump", { { HDR, 16, VRING_DESC_F_NEXT, 1 },
			  { STATUS, 1, VRING_DESC_F_WRITE, 0 } }, 0, 5000 },
};

static void test_hostile_chains(struct vmmio *t)
{
	struct virtio_blk_outhdr h = { VIRTIO_BLK_T_IN, 0, 0 };

	drv_init(t, FEAT);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		const struct hostile *c = &hostile[i];

		memcpy(ram + HDR, &h, sizeof(h));
		for (unsigned k = 0; k < 3; k++)
			set_desc(k, c->d[k].addr, c->d[k].len, c->d[k].flags, c->d[k].next);
		kick(t, c->head, c->advance);
		expect_broken_then_recover(t, c->what);
	}
	/* nothing of this grew the used ring behind our back */
	CHECK(used_idx() == 1);
}

static void test_requests(struct vmmio *t, struct vblk *b)
{
	uint8_t buf[512];

	drv_init(t, FEAT);
	/* write then read back, checked on the image file itself */
	memset(ram + DATA, 'W', 1024);
	CHECK(blk_req(t, VIRTIO_BLK_T_OUT, 4, 1024) == VIRTIO_BLK_S_OK);
	CHECK(pread(b->fd, buf, 512, 5 * 512) == 512 && buf[0] == 'W' && buf[511] == 'W');
	memset(ram + DATA, 0, 1024);
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 4, 1024) == VIRTIO_BLK_S_OK);
	CHECK(ram[DATA] == 'W' && ram[DATA + 1023] == 'W');
	/* used length = data written + status byte */
	uint32_t ulen;
	memcpy(&ulen, ram + USED + 4 + 8 * ((used_idx() - 1) % QSZ) + 4, 4);
	CHECK(ulen == 1025);
	CHECK(blk_req(t, VIRTIO_BLK_T_FLUSH, 0, 0) == VIRTIO_BLK_S_OK);
	/* out of range, overflowing sector, odd length, unknown type: IOERR
	 * or UNSUPP, and the device keeps serving */
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 64, 512) == VIRTIO_BLK_S_IOERR);
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 63, 1024) == VIRTIO_BLK_S_IOERR);
	CHECK(blk_req(t, VIRTIO_BLK_T_OUT, UINT64_MAX - 1, 1024) == VIRTIO_BLK_S_IOERR);
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 0, 100) == VIRTIO_BLK_S_IOERR);
	CHECK(blk_req(t, 77, 0, 512) == VIRTIO_BLK_S_UNSUPP);
	CHECK(blk_req(t, VIRTIO_BLK_T_GET_ID, 0, 20) == VIRTIO_BLK_S_OK);
	CHECK(!memcmp(ram + DATA, "msbvm-disk0", 11));
	CHECK(!needs_reset(t));
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK && ram[DATA] == 'D');
	CHECK(irqs > 0);
}

/* DISCARD / WRITE_ZEROES (5.2.6.2): one segment; zeros read back; with
 * UNMAP the range becomes a hole in the image file (stays sparse). */
static int blk_zero(struct vmmio *t, uint32_t type, uint64_t sector,
		    uint32_t n, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes seg = { sector, n, flags };

	memcpy(ram + DATA, &seg, sizeof(seg));
	return blk_req(t, type, 0, sizeof(seg));
}

static void test_zeroes(struct vmmio *t, struct vblk *b)
{
	uint8_t buf[4096], zero[4096] = { 0 };
	struct stat st0, st1;

	drv_init(t, FEAT);
	memset(buf, 'W', sizeof(buf));
	for (int s = 8; s < 64; s += 8)
		CHECK(pwrite(b->fd, buf, sizeof(buf), s * 512) == sizeof(buf));
	CHECK(fsync(b->fd) == 0 && fstat(b->fd, &st0) == 0);
	CHECK(blk_zero(t, VIRTIO_BLK_T_WRITE_ZEROES, 8, 8, 0) == VIRTIO_BLK_S_OK);
	CHECK(pread(b->fd, buf, 4096, 8 * 512) == 4096 && !memcmp(buf, zero, 4096));
	CHECK(blk_zero(t, VIRTIO_BLK_T_WRITE_ZEROES, 16, 8,
		       VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) == VIRTIO_BLK_S_OK);
	CHECK(pread(b->fd, buf, 4096, 16 * 512) == 4096 && !memcmp(buf, zero, 4096));
	CHECK(fstat(b->fd, &st1) == 0 && st1.st_blocks < st0.st_blocks);
	CHECK(pread(b->fd, buf, 512, 24 * 512) == 512 && buf[0] == 'W');
	CHECK(blk_zero(t, VIRTIO_BLK_T_DISCARD, 24, 8, 0) == VIRTIO_BLK_S_OK);
	/* out of range, unknown flag: IOERR, nothing changed */
	CHECK(blk_zero(t, VIRTIO_BLK_T_WRITE_ZEROES, 60, 8, 0) == VIRTIO_BLK_S_IOERR);
	CHECK(blk_zero(t, VIRTIO_BLK_T_WRITE_ZEROES, 32, 8, 2) == VIRTIO_BLK_S_IOERR);
	CHECK(pread(b->fd, buf, 512, 32 * 512) == 512 && buf[0] == 'W');
	CHECK(!needs_reset(t));
}

/* EVENT_IDX (2.7.10): no interrupt until used idx passes used_event. */
static void test_event_idx(struct vmmio *t)
{
	uint16_t ev;
	int before;

	drv_init(t, FEAT | (1ULL << VIRTIO_RING_F_EVENT_IDX));
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK);
	wr(t, VIRTIO_MMIO_INTERRUPT_ACK, 3);
	ev = 3; /* driver: interrupt me once used idx moves past 3 */
	memcpy(ram + AVAIL + 4 + 2 * QSZ, &ev, 2);
	before = irqs;
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK); /* idx 2 */
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK); /* idx 3 */
	CHECK(irqs == before && rd(t, VIRTIO_MMIO_INTERRUPT_STATUS) == 0);
	CHECK(blk_req(t, VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK); /* idx 4 */
	CHECK(irqs == before + 1);
	/* the device publishes avail_event = how far it has consumed */
	memcpy(&ev, ram + USED + 4 + 8 * QSZ, 2);
	CHECK(ev == 4);
}

/* A read-only disk refuses writes from a driver that ignores the RO bit. */
static void test_readonly(struct vblk *b, const char *path)
{
	struct vmmio t;
	uint8_t buf[512];

	CHECK(vblk_open(b, path, true, 1) == 0);
	vmmio_init(&t, &vblk_ops, b, &gm, VMMIO_BASE, 5, irq, NULL);
	CHECK(vblk_ops.features(&t.dev) & (1ULL << VIRTIO_BLK_F_RO));
	drv_init(&t, FEAT);
	memset(ram + DATA, 'X', 512);
	CHECK(blk_req(&t, VIRTIO_BLK_T_OUT, 0, 512) == VIRTIO_BLK_S_IOERR);
	CHECK(pread(b->fd, buf, 512, 0) == 512 && buf[0] == 'D');
	CHECK(blk_req(&t, VIRTIO_BLK_T_IN, 0, 512) == VIRTIO_BLK_S_OK);
	vblk_close(b);
}

/* The device table: each device once, with ops the transport can use. */
static void test_device_table(void)
{
	CHECK(vdev_table_len == 4);
	CHECK(vdev_find("virtio-blk") == &vblk_ops);
	CHECK(vdev_find("virtio-vsock") != NULL &&
	      vdev_find("virtio-vsock")->device_id == VIRTIO_ID_VSOCK);
	CHECK(vdev_find("virtio-net") != NULL &&
	      vdev_find("virtio-net")->device_id == VIRTIO_ID_NET);
	CHECK(vdev_find("virtio-fs") != NULL &&
	      vdev_find("virtio-fs")->device_id == VIRTIO_ID_FS);
	CHECK(vdev_find("virtio-gpu") == NULL && vdev_find("blk") == NULL &&
	      vdev_find("") == NULL && vdev_find(NULL) == NULL);
	for (unsigned i = 0; i < vdev_table_len; i++) {
		const struct vdev_ops *o = vdev_table[i];

		CHECK(o->name && vdev_find(o->name) == o);
		CHECK(o->num_queues >= 1 && o->num_queues <= VDEV_MAX_QUEUES);
		CHECK(o->queue_max && !(o->queue_max & (o->queue_max - 1)) &&
		      o->queue_max <= VIRTQ_MAX_SIZE);
		CHECK(o->features && o->queue_notify);
		CHECK(o->config_len > 0 && o->config_len <= VMMIO_SIZE - VIRTIO_MMIO_CONFIG);
		for (unsigned j = 0; j < i; j++)
			CHECK(vdev_table[j]->device_id != o->device_id);
	}
}

int main(void)
{
	char path[] = "/tmp/msbvm-vblk-XXXXXX";
	int fd = mkstemp(path);
	static uint8_t img[32768];
	struct vblk b;
	struct vmmio t;

	memset(img, 'D', sizeof(img));
	CHECK(fd >= 0 && write(fd, img, sizeof(img)) == (ssize_t)sizeof(img));
	close(fd);
	ram = calloc(1, RAM_SIZE);
	gm.host = ram;
	gm_layout(&gm, RAM_SIZE);
	CHECK(vblk_open(&b, path, false, 0) == 0);
	vmmio_init(&t, &vblk_ops, &b, &gm, VMMIO_BASE, 5, irq, NULL);
	test_device_table();
	test_transport(&t);
	test_early_notify(&t);
	test_hostile_chains(&t);
	test_requests(&t, &b);
	test_zeroes(&t, &b);
	test_event_idx(&t);
	vblk_close(&b);
	test_readonly(&b, path);
	/* host-side errors */
	CHECK(vblk_open(&b, "/nonexistent/disk", false, 0) < 0);
	CHECK_STR_CONTAINS(err_msg(), "/nonexistent/disk");
	/* an image a VM writes is locked against every other open */
	struct vblk b2, b3;
	CHECK(vblk_open(&b, path, false, 0) == 0);
	CHECK(vblk_open(&b2, path, false, 1) == -EBUSY);
	CHECK_STR_CONTAINS(err_msg(), "in use by another VM");
	CHECK(vblk_open(&b2, path, true, 1) == -EBUSY);
	vblk_close(&b);
	CHECK(vblk_open(&b2, path, true, 1) == 0);  /* readers share it */
	CHECK(vblk_open(&b3, path, true, 2) == 0);
	CHECK(vblk_open(&b, path, false, 0) == -EBUSY);
	vblk_close(&b2);
	vblk_close(&b3);
	CHECK(vblk_open(&b, "/tmp", false, 0) < 0);
	CHECK_STR_CONTAINS(err_msg(), "disk /tmp");
	unlink(path);
	free(ram);
	return check_result("test_virtio");
}
