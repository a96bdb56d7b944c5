/* libFuzzer target over the virtio-fs request parser and FUSE handlers:
 * the input is a sequence of FUSE messages, each posted as one request
 * (split over one or two readable and one or two writable descriptors, on
 * the hiprio or the request queue) to a device sharing a scratch
 * directory that holds a file, a directory, a FIFO and a symlink to
 * /etc/passwd. Everything in a message (header lengths, opcodes, ids,
 * names, sizes, offsets) is the fuzzer's. Host-side safety: files are
 * capped by RLIMIT_FSIZE (EFBIG, not a full disk). Build: make fuzz; run:
 * build/fuzz/fuzz_vfs -max_total_time=30 tests/fuzz/corpus/vfs.
 *
 * Record format: u8 flags, u16 out_room, u16 len, len bytes of message.
 * flags bit 0: hiprio queue; bit 1: patch h.len to the message length;
 * bit 2: split readable part in two; bit 3: split writable part in two.
 * The first byte of the input: bit 0 set = no automatic INIT first. */
#include "virtio/fs.h"
#include "virtio/mmio.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define RAM_SIZE (1u << 20)
#define QSZ 16
#define QBASE(q) (0x1000u + 0x4000u * (q))
#define MSG 0x10000u
#define OUT 0x30000u
#define MSG_MAX 0x10000u

static uint8_t *ram;
static struct guest_mem gm;
static struct vfs *v;
static char dir[64];
static uint16_t avail[2];

static void irq(void *o, unsigned n, bool l) { (void)o; (void)n; (void)l; }

static void wr(struct vmmio *t, uint64_t off, uint32_t x)
{
	vmmio_io(t, off, (uint8_t *)&x, 4, true);
}

static uint32_t rd(struct vmmio *t, uint64_t off)
{
	uint32_t x;

	vmmio_io(t, off, (uint8_t *)&x, 4, false);
	return x;
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_vfs: could not remove %s\n", dir);
}

static void setup(void)
{
	struct rlimit fs = { 16u << 20, 16u << 20 };
	char p[128];

	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &fs);
	snprintf(dir, sizeof(dir), "/tmp/msbvm-fuzz-vfs-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	snprintf(p, sizeof(p), "%s/a", dir);
	FILE *f = fopen(p, "w");
	if (!f)
		abort();
	fputs("hello", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/d", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	mkfifo(p, 0644);
	snprintf(p, sizeof(p), "%s/evil", dir);
	if (symlink("/etc/passwd", p) < 0)
		abort();
	ram = calloc(1, RAM_SIZE);
	v = malloc(sizeof(*v));
	if (!ram || !v)
		abort();
	gm.host = ram;
	gm_layout(&gm, RAM_SIZE);
}

static void bringup(struct vmmio *t)
{
	memset(ram, 0, MSG);
	avail[0] = avail[1] = 0;
	wr(t, VIRTIO_MMIO_STATUS, 0);
	wr(t, VIRTIO_MMIO_STATUS, 3);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(t, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(t, VIRTIO_MMIO_STATUS, 11);
	for (unsigned q = 0; q < 2; q++) {
		wr(t, VIRTIO_MMIO_QUEUE_SEL, q);
		wr(t, VIRTIO_MMIO_QUEUE_NUM, QSZ);
		wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, QBASE(q));
		wr(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, QBASE(q) + 0x1000);
		wr(t, VIRTIO_MMIO_QUEUE_USED_LOW, QBASE(q) + 0x2000);
		wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr(t, VIRTIO_MMIO_STATUS, 15);
}

static void desc(unsigned q, unsigned i, uint64_t a, uint32_t len, uint16_t fl,
		 uint16_t next)
{
	struct vring_desc d = { a, len, fl, next };

	memcpy(ram + QBASE(q) + 16 * i, &d, 16);
}

/* One request: msg (len bytes) readable, room + 16 writable. */
static void post(struct vmmio *t, uint8_t flags, const uint8_t *msg, uint32_t len,
		 uint32_t room)
{
	unsigned q = flags & 1, i = 0;
	uint32_t half = len / 2, out = room + 16;
	uint16_t head = 0;

	memcpy(ram + MSG, msg, len);
	if ((flags & 2) && len >= 4) {
		memcpy(ram + MSG, &len, 4);
	}
	if ((flags & 4) && half) {
		desc(q, i, MSG, half, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
		i++;
		desc(q, i, MSG + half, len - half, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
	} else {
		desc(q, i, MSG, len, VRING_DESC_F_NEXT, (uint16_t)(i + 1));
	}
	i++;
	if ((flags & 8) && out / 2) {
		desc(q, i, OUT, out / 2, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
		     (uint16_t)(i + 1));
		i++;
		desc(q, i, OUT + out / 2, out - out / 2, VRING_DESC_F_WRITE, 0);
	} else {
		desc(q, i, OUT, out, VRING_DESC_F_WRITE, 0);
	}
	memcpy(ram + QBASE(q) + 0x1000 + 4 + 2 * (avail[q] % QSZ), &head, 2);
	avail[q]++;
	memcpy(ram + QBASE(q) + 0x1000 + 2, &avail[q], 2);
	wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, q);
	if (rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET)
		bringup(t);
}

static void auto_init(struct vmmio *t)
{
	uint8_t m[40 + sizeof(struct fuse_init_in)] = { 0 };
	struct fuse_in_header h = { sizeof(m), FUSE_INIT, 1, 0, 0, 0, 0, 0, 0 };
	struct fuse_init_in in = { 7, 37, 1u << 20, 0xffffffff, 0, { 0 } };

	memcpy(m, &h, sizeof(h));
	memcpy(m + sizeof(h), &in, sizeof(in));
	post(t, 0, m, sizeof(m), sizeof(struct fuse_init_out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmmio t;

	if (!ram)
		setup();
	if (size < 1 || vfs_open(v, dir, "msbvm-fuzz", data[0] & 2) < 0)
		return 0;
	vmmio_init(&t, &vfs_ops, v, &gm, VMMIO_BASE, 5, irq, NULL);
	bringup(&t);
	if (!(data[0] & 1))
		auto_init(&t);
	for (size_t at = 1; at + 5 <= size;) {
		uint8_t flags = data[at];
		uint32_t room = (uint32_t)data[at + 1] | (uint32_t)data[at + 2] << 8;
		uint32_t len = (uint32_t)data[at + 3] | (uint32_t)data[at + 4] << 8;

		at += 5;
		if (len > size - at)
			len = (uint32_t)(size - at);
		post(&t, flags, data + at, len, room);
		at += len;
	}
	vfs_close(v);
	return 0;
}
