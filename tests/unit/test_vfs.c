/* virtio-fs under a scripted hostile FUSE driver: fake guest RAM, the
 * virtio-mmio transport, and requests built by hand on a temporary
 * directory share. Round trips first (INIT, LOOKUP, CREATE, WRITE, READ,
 * READDIR), then every bound and confinement rule of docs/virtio-fs.md:
 * huge and tiny buffers, ids never handed out, over-FORGETs, requests
 * before INIT, unknown opcodes, malformed headers, bad names, symlinks
 * out of the share, "..", read-only shares, set-id bits, device nodes
 * and FIFOs. Runs under ASan/UBSan (make unit). */
#include "check.h"
#include "vdrv.h"
#include "virtio/fs.h"
#include "vmm/core/err.h"
#include "vmm/lib/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RAM_SIZE (4u << 20)
#define QSZ 16
#define IN_BUF 0x100000u
#define OUT_BUF 0x200000u

static uint8_t *ram;
static struct guest_mem gm;
static uint16_t avail[2];
static char dir[64];
static uint64_t uniq = 1;

static void irq(void *o, unsigned n, bool level) { (void)o; (void)n; (void)level; }

struct res {
	int used;          /* used len, -1: nothing pushed */
	int32_t error;
	uint32_t len;      /* out header len */
	uint8_t *body;     /* in RAM after the out header */
};

static void set_desc(unsigned q, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };

	memcpy(ram + VDRV_QBASE(q) + 16 * i, &d, 16);
}

static uint16_t used_idx(unsigned q)
{
	/* the worker thread stores it (test_thread) */
	return __atomic_load_n((uint16_t *)(ram + VDRV_QBASE(q) + 0x2000 + 2),
			       __ATOMIC_ACQUIRE);
}

/* Posts the chain at descriptor 0 of queue q and waits (inline, or for
 * the worker up to 5 s). Returns the used length or -1. */
static int post(struct vmmio *t, unsigned q)
{
	uint16_t before = used_idx(q), head = 0;
	uint32_t len;
	struct timespec ts = { 0, 1000000 };

	memcpy(ram + VDRV_QBASE(q) + 0x1000 + 4 + 2 * (avail[q] % QSZ), &head, 2);
	avail[q]++;
	memcpy(ram + VDRV_QBASE(q) + 0x1000 + 2, &avail[q], 2);
	vdrv_wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, q);
	for (int i = 0; i < 5000 && __atomic_load_n((uint16_t *)(ram + VDRV_QBASE(q) +
			0x2000 + 2), __ATOMIC_ACQUIRE) == before; i++)
		nanosleep(&ts, NULL);
	/* the worker pushes under the transport lock: taking it once orders
	 * its writes (reply, used element) before our reads, in terms TSan
	 * understands (virtq.c's fences it does not model) */
	pthread_mutex_lock(&t->lock);
	pthread_mutex_unlock(&t->lock);
	if (used_idx(q) == before)
		return -1;
	memcpy(&len, ram + VDRV_QBASE(q) + 0x2000 + 4 + 8 * ((used_idx(q) - 1) % QSZ) + 4, 4);
	return (int)len;
}

/* A request: header (len = 40 + alen + dlen unless hlen), args, data in
 * one readable descriptor, out_room + 16 writable bytes in another. */
static struct res req_full(struct vmmio *t, unsigned q, uint32_t op, uint64_t node,
			   const void *a, uint32_t alen, const void *data,
			   uint32_t dlen, uint32_t out_room, int64_t hlen)
{
	struct fuse_in_header h = { 0 };
	struct res r = { 0 };
	struct fuse_out_header o;
	uint32_t total = (uint32_t)sizeof(h) + alen + dlen;

	h.len = hlen >= 0 ? (uint32_t)hlen : total;
	h.opcode = op;
	h.unique = ++uniq;
	h.nodeid = node;
	memcpy(ram + IN_BUF, &h, sizeof(h));
	if (alen)
		memcpy(ram + IN_BUF + sizeof(h), a, alen);
	if (dlen)
		memcpy(ram + IN_BUF + sizeof(h) + alen, data, dlen);
	memset(ram + OUT_BUF, 0xee, 16 + (size_t)out_room + 64);
	set_desc(q, 0, IN_BUF, total, VRING_DESC_F_NEXT, 1);
	set_desc(q, 1, OUT_BUF, 16 + out_room, VRING_DESC_F_WRITE, 0);
	r.used = post(t, q);
	memcpy(&o, ram + OUT_BUF, sizeof(o));
	r.error = o.error;
	r.len = o.len;
	r.body = ram + OUT_BUF + 16;
	if (r.used >= 16)
		CHECK(o.unique == uniq && o.len == (uint32_t)r.used);
	return r;
}

static struct res req(struct vmmio *t, uint32_t op, uint64_t node, const void *a,
		      uint32_t alen, uint32_t out_room)
{
	return req_full(t, 1, op, node, a, alen, NULL, 0, out_room, -1);
}

/* name + NUL after a fixed argument struct */
static uint32_t with_name(uint8_t *buf, const void *fixed, uint32_t flen,
			  const char *name)
{
	memcpy(buf, fixed, flen);
	strcpy((char *)buf + flen, name);
	return flen + (uint32_t)strlen(name) + 1;
}

static int32_t init(struct vmmio *t, uint32_t minor)
{
	struct fuse_init_in in = { 7, minor, 1u << 20, 0xffffffff, 0, { 0 } };
	struct res r = req(t, FUSE_INIT, 0, &in, sizeof(in), sizeof(struct fuse_init_out));

	return r.error;
}

static uint64_t lookup(struct vmmio *t, uint64_t parent, const char *name, int32_t *err)
{
	struct res r = req(t, FUSE_LOOKUP, parent, name, (uint32_t)strlen(name) + 1,
			   sizeof(struct fuse_entry_out));
	struct fuse_entry_out e;

	*err = r.error;
	memcpy(&e, r.body, sizeof(e));
	return r.error ? 0 : e.nodeid;
}

static uint64_t open_node(struct vmmio *t, uint64_t node, uint32_t op,
			  uint32_t flags, int32_t *err)
{
	struct fuse_open_in o = { flags, 0 };
	struct res r = req(t, op, node, &o, sizeof(o), sizeof(struct fuse_open_out));
	struct fuse_open_out out;

	*err = r.error;
	memcpy(&out, r.body, sizeof(out));
	return out.fh;
}

/* CREATE name in parent: nodeid, fh in *fh. */
static uint64_t create(struct vmmio *t, uint64_t parent, const char *name,
		       uint32_t mode, uint64_t *fh, int32_t *err)
{
	struct fuse_create_in c = { O_RDWR | O_CREAT, mode, 0, 0 };
	uint8_t buf[512];
	uint32_t n = with_name(buf, &c, sizeof(c), name);
	struct res r = req(t, FUSE_CREATE, parent, buf, n,
			   sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out));
	struct fuse_entry_out e;
	struct fuse_open_out o;

	*err = r.error;
	memcpy(&e, r.body, sizeof(e));
	memcpy(&o, r.body + sizeof(e), sizeof(o));
	*fh = o.fh;
	return r.error ? 0 : e.nodeid;
}

static int32_t do_write(struct vmmio *t, uint64_t fh, uint64_t off, const char *s,
			uint32_t declared, uint32_t *written)
{
	struct fuse_write_in w = { .fh = fh, .offset = off, .size = declared };
	struct res r = req_full(t, 1, FUSE_WRITE, 0, &w, sizeof(w), s,
				(uint32_t)strlen(s), sizeof(struct fuse_write_out), -1);
	struct fuse_write_out o;

	memcpy(&o, r.body, sizeof(o));
	*written = o.size;
	return r.error;
}

static struct res do_read(struct vmmio *t, uint64_t fh, uint64_t off, uint32_t size,
			  uint32_t room)
{
	struct fuse_read_in rd = { .fh = fh, .offset = off, .size = size };

	return req(t, FUSE_READ, 0, &rd, sizeof(rd), room);
}

static bool needs_reset(struct vmmio *t)
{
	return vdrv_rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static void bringup(struct vmmio *t)
{
	memset(ram, 0, 0x40000);
	avail[0] = avail[1] = 0;
	vdrv_wr(t, VIRTIO_MMIO_STATUS, 0);
	vdrv_bringup(t, 2, QSZ);
	CHECK(vdrv_rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK);
}

static char *hpath(const char *name)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static void test_config(struct vmmio *t)
{
	struct virtio_fs_config c;

	CHECK(vdrv_rd(t, VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_FS);
	for (unsigned i = 0; i < sizeof(c); i += 4) {
		uint32_t x = vdrv_rd(t, VIRTIO_MMIO_CONFIG + i);
		memcpy((uint8_t *)&c + i, &x, sizeof(c) - i < 4 ? sizeof(c) - i : 4);
	}
	CHECK(!memcmp(c.tag, "msbvm-vol0", 11));
	CHECK(c.num_request_queues == 1);
}

/* INIT rules: nothing before it, negotiation, no second one. */
static void test_init(struct vmmio *t)
{
	struct fuse_init_in in = { 7, 37, 1u << 22, 0xffffffff, 0, { 0 } };
	struct fuse_init_out o;
	struct res r;

	bringup(t);
	r = req(t, FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){ 0 },
		sizeof(struct fuse_getattr_in), sizeof(struct fuse_attr_out));
	CHECK(r.error == -EIO);
	CHECK(init(t, 20) == -EPROTO); /* too old: no compat structs */
	r = req(t, FUSE_INIT, 0, &in, 8, sizeof(o)); /* truncated */
	CHECK(r.error == -EINVAL);
	r = req(t, FUSE_INIT, 0, &in, sizeof(in), sizeof(o));
	memcpy(&o, r.body, sizeof(o));
	CHECK(r.error == 0 && o.major == 7 && o.minor == 37);
	CHECK(o.max_write == VFS_MAX_IO && o.max_readahead == VFS_MAX_IO);
	CHECK(!(o.flags & ~in.flags));
	CHECK(init(t, 37) == -EIO); /* a second INIT */
	/* a reset ends the session */
	bringup(t);
	r = req(t, FUSE_GETATTR, FUSE_ROOT_ID, &(struct fuse_getattr_in){ 0 },
		sizeof(struct fuse_getattr_in), sizeof(struct fuse_attr_out));
	CHECK(r.error == -EIO);
	CHECK(init(t, 99) == 0); /* a newer guest gets our minor */
	r = req(t, 9999, FUSE_ROOT_ID, NULL, 0, 64);
	CHECK(r.error == -ENOSYS);
	r = req(t, FUSE_SETXATTR, FUSE_ROOT_ID, NULL, 0, 64);
	CHECK(r.error == -ENOSYS);
}

static void test_roundtrip(struct vmmio *t)
{
	uint64_t fh, fh2, n1, n2, n3;
	uint32_t w = 0;
	int32_t e;
	struct res r;
	struct fuse_attr_out a;

	n1 = create(t, FUSE_ROOT_ID, "f", 0644, &fh, &e);
	CHECK(e == 0 && n1 > 1);
	CHECK(do_write(t, fh, 0, "hello", 5, &w) == 0 && w == 5);
	r = do_read(t, fh, 0, 4096, 4096);
	CHECK(r.error == 0 && r.used == 16 + 5 && !memcmp(r.body, "hello", 5));
	r = req(t, FUSE_GETATTR, n1, &(struct fuse_getattr_in){ 0 },
		sizeof(struct fuse_getattr_in), sizeof(a));
	memcpy(&a, r.body, sizeof(a));
	CHECK(r.error == 0 && a.attr.size == 5 && S_ISREG(a.attr.mode));
	CHECK(a.attr.uid == 0); /* the VMM's user is the guest's root */
	/* repeated lookups: one inode, one nodeid */
	n2 = lookup(t, FUSE_ROOT_ID, "f", &e);
	n3 = lookup(t, FUSE_ROOT_ID, "f", &e);
	CHECK(n2 == n1 && n3 == n1);
	CHECK(lookup(t, FUSE_ROOT_ID, "nope", &e) == 0 && e == -ENOENT);
	/* the host sees the data, owned by the invoking user */
	struct stat st;
	CHECK(stat(hpath("f"), &st) == 0 && st.st_size == 5 && st.st_uid == geteuid());
	fh2 = open_node(t, n1, FUSE_OPEN, O_RDONLY, &e);
	CHECK(e == 0 && fh2 != fh);
	r = do_read(t, fh2, 1, 3, 4096);
	CHECK(r.error == 0 && r.used == 16 + 3 && !memcmp(r.body, "ell", 3));
	r = req(t, FUSE_RELEASE, n1, &(struct fuse_release_in){ .fh = fh2 },
		sizeof(struct fuse_release_in), 0);
	CHECK(r.error == 0 && r.used == 16);
	r = do_read(t, fh2, 0, 3, 4096); /* released */
	CHECK(r.error == -EBADF);
	/* mkdir, rename, unlink, rmdir, link, symlink round trips */
	uint8_t buf[256];
	uint32_t n = with_name(buf, &(struct fuse_mkdir_in){ 0755, 0 },
			       sizeof(struct fuse_mkdir_in), "d");
	r = req(t, FUSE_MKDIR, FUSE_ROOT_ID, buf, n, sizeof(struct fuse_entry_out));
	CHECK(r.error == 0);
	struct fuse_entry_out de;
	memcpy(&de, r.body, sizeof(de));
	struct fuse_rename_in rn = { de.nodeid };
	memcpy(buf, &rn, sizeof(rn));
	memcpy(buf + sizeof(rn), "f\0g", 4);
	r = req(t, FUSE_RENAME, FUSE_ROOT_ID, buf, sizeof(rn) + 4, 0);
	CHECK(r.error == 0 && access(hpath("d/g"), F_OK) == 0);
	n = with_name(buf, &(struct fuse_link_in){ n1 }, sizeof(struct fuse_link_in), "h");
	r = req(t, FUSE_LINK, FUSE_ROOT_ID, buf, n, sizeof(struct fuse_entry_out));
	CHECK(r.error == 0 && access(hpath("h"), F_OK) == 0);
	r = req(t, FUSE_UNLINK, FUSE_ROOT_ID, "h", 2, 0);
	CHECK(r.error == 0 && access(hpath("h"), F_OK) < 0);
	r = req(t, FUSE_RMDIR, FUSE_ROOT_ID, "d", 2, 0);
	CHECK(r.error == -ENOTEMPTY);
	r = req(t, FUSE_SYMLINK, FUSE_ROOT_ID, "s\0d/g", 6, sizeof(struct fuse_entry_out));
	CHECK(r.error == 0);
	memcpy(&de, r.body, sizeof(de));
	r = req(t, FUSE_READLINK, de.nodeid, NULL, 0, 256);
	CHECK(r.error == 0 && r.used == 16 + 3 && !memcmp(r.body, "d/g", 3));
	r = req(t, FUSE_STATFS, FUSE_ROOT_ID, NULL, 0, sizeof(struct fuse_statfs_out));
	CHECK(r.error == 0);
	r = req(t, FUSE_FSYNC, n1, &(struct fuse_fsync_in){ .fh = fh },
		sizeof(struct fuse_fsync_in), 0);
	CHECK(r.error == 0);
	r = req(t, FUSE_LSEEK, n1, &(struct fuse_lseek_in){ .fh = fh, .whence = SEEK_END },
		sizeof(struct fuse_lseek_in), sizeof(struct fuse_lseek_out));
	CHECK(r.error == 0);
	r = req(t, FUSE_FALLOCATE, n1, &(struct fuse_fallocate_in){ .fh = fh, .length = 8192 },
		sizeof(struct fuse_fallocate_in), 0);
	CHECK(r.error == 0 || r.error == -EOPNOTSUPP);
	r = req(t, FUSE_GETXATTR, n1, "\0\0\0\0\0\0\0\0user.x", 15, 64);
	CHECK(r.error == -ENODATA);
	r = req(t, FUSE_RELEASE, n1, &(struct fuse_release_in){ .fh = fh },
		sizeof(struct fuse_release_in), 0);
	CHECK(r.error == 0);
}

/* Names READDIR returned, joined with '|'. */
static void dirents(const uint8_t *p, uint32_t len, bool plus, char *out, size_t cap)
{
	out[0] = 0;
	for (uint32_t off = 0; off < len;) {
		struct fuse_dirent d;
		uint32_t skip = plus ? sizeof(struct fuse_entry_out) : 0;

		memcpy(&d, p + off + skip, sizeof(d));
		strncat(out, (const char *)p + off + skip + FUSE_NAME_OFFSET,
			d.namelen < cap - strlen(out) - 2 ? d.namelen : 0);
		strcat(out, "|");
		off += skip + FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + d.namelen);
	}
}

static void test_readdir(struct vmmio *t)
{
	char names[1024];
	int32_t e;
	uint64_t dh = open_node(t, FUSE_ROOT_ID, FUSE_OPENDIR, O_RDONLY, &e);
	struct fuse_read_in rd = { .fh = dh, .size = 4096 };
	struct res r;

	CHECK(e == 0);
	r = req(t, FUSE_READDIR, FUSE_ROOT_ID, &rd, sizeof(rd), 4096);
	CHECK(r.error == 0 && r.used > 16);
	dirents(r.body, (uint32_t)r.used - 16, false, names, sizeof(names));
	CHECK_STR_CONTAINS(names, "|s|");
	/* a 1-byte buffer: whole entries only, so none */
	rd.size = 1;
	r = req(t, FUSE_READDIR, FUSE_ROOT_ID, &rd, sizeof(rd), 1);
	CHECK(r.error == 0 && r.used == 16);
	/* the guest's size larger than its buffer: the buffer wins */
	rd.size = 1u << 30;
	r = req(t, FUSE_READDIR, FUSE_ROOT_ID, &rd, sizeof(rd), 40);
	CHECK(r.error == 0 && r.used <= 16 + 40);
	rd.size = 4096;
	r = req(t, FUSE_READDIRPLUS, FUSE_ROOT_ID, &rd, sizeof(rd), 4096);
	CHECK(r.error == 0 && r.used > 16);
	dirents(r.body, (uint32_t)r.used - 16, true, names, sizeof(names));
	CHECK_STR_CONTAINS(names, "|s|");
	/* a file handle is not a directory handle and vice versa */
	r = do_read(t, dh, 0, 10, 100);
	CHECK(r.error == -EBADF);
	r = req(t, FUSE_RELEASEDIR, FUSE_ROOT_ID, &(struct fuse_release_in){ .fh = dh },
		sizeof(struct fuse_release_in), 0);
	CHECK(r.error == 0);
	r = req(t, FUSE_READDIR, FUSE_ROOT_ID, &rd, sizeof(rd), 4096);
	CHECK(r.error == -EBADF);
}

static void test_bounds(struct vmmio *t)
{
	uint64_t fh, node;
	uint32_t w = 7;
	int32_t e;
	struct res r;

	node = create(t, FUSE_ROOT_ID, "big", 0644, &fh, &e);
	CHECK(e == 0);
	/* READ of 2^32-1 bytes: capped to the 100-byte buffer */
	char data[200];
	memset(data, 'x', sizeof(data) - 1);
	data[sizeof(data) - 1] = 0;
	CHECK(do_write(t, fh, 0, data, 199, &w) == 0 && w == 199);
	r = do_read(t, fh, 0, UINT32_MAX, 100);
	CHECK(r.error == 0 && r.used == 116);
	CHECK(ram[OUT_BUF + 116] == 0xee); /* nothing past the buffer */
	r = do_read(t, fh, (uint64_t)1 << 63, 10, 100); /* offset past off_t */
	CHECK(r.error == -EINVAL);
	/* WRITE declaring more than it carries */
	CHECK(do_write(t, fh, 0, "abc", 1000, &w) == -EINVAL);
	CHECK(do_write(t, fh, 0, "abc", UINT32_MAX, &w) == -EINVAL);
	CHECK(do_write(t, fh, UINT64_MAX - 1, "abc", 3, &w) == -EINVAL);
	/* ids never handed out */
	r = req(t, FUSE_GETATTR, 0x12345678, NULL, 0, sizeof(struct fuse_attr_out));
	CHECK(r.error == -ENOENT);
	r = req(t, FUSE_GETATTR, UINT64_MAX, NULL, 0, sizeof(struct fuse_attr_out));
	CHECK(r.error == -ENOENT);
	r = req(t, FUSE_GETATTR, 0, NULL, 0, sizeof(struct fuse_attr_out));
	CHECK(r.error == -ENOENT);
	r = do_read(t, 0xffffffff12345ULL, 0, 10, 100);
	CHECK(r.error == -EBADF);
	r = do_read(t, fh + (1ULL << 32), 0, 10, 100); /* wrong generation */
	CHECK(r.error == -EBADF);
	/* a reply that does not fit the guest's buffer: an error, no overflow */
	r = req(t, FUSE_GETATTR, node, NULL, 0, 8);
	CHECK(r.error == -EINVAL && ram[OUT_BUF + 16] == 0xee);
	/* FORGET more than looked up: clamped, the inode goes, ids go stale */
	struct fuse_forget_in f = { 1000 };
	r = req_full(t, 0, FUSE_FORGET, node, &f, sizeof(f), NULL, 0, 0, -1);
	CHECK(r.used == 0);
	r = req(t, FUSE_GETATTR, node, NULL, 0, sizeof(struct fuse_attr_out));
	CHECK(r.error == -ENOENT);
	r = req_full(t, 0, FUSE_FORGET, 0xdead, &f, sizeof(f), NULL, 0, 0, -1);
	r = req_full(t, 0, FUSE_FORGET, FUSE_ROOT_ID, &f, sizeof(f), NULL, 0, 0, -1);
	r = req(t, FUSE_GETATTR, FUSE_ROOT_ID, NULL, 0, sizeof(struct fuse_attr_out));
	CHECK(r.error == 0); /* the root is never forgotten */
	/* the open handle still works on its own fd */
	r = do_read(t, fh, 0, 3, 100);
	CHECK(r.error == 0 && r.used == 19);
	/* BATCH_FORGET claiming 2^32-1 entries, carrying one */
	uint8_t bf[sizeof(struct fuse_batch_forget_in) + sizeof(struct fuse_forget_one)];
	struct fuse_batch_forget_in b = { UINT32_MAX, 0 };
	struct fuse_forget_one one = { FUSE_ROOT_ID, 5 };
	memcpy(bf, &b, sizeof(b));
	memcpy(bf + sizeof(b), &one, sizeof(one));
	r = req_full(t, 0, FUSE_BATCH_FORGET, 0, bf, sizeof(bf), NULL, 0, 0, -1);
	CHECK(r.used == 0);
	/* malformed headers: len past the readable bytes, len below the
	 * header; both answered EINVAL */
	r = req_full(t, 1, FUSE_GETATTR, FUSE_ROOT_ID, NULL, 0, NULL, 0, 128, 1000);
	CHECK(r.error == -EINVAL);
	r = req_full(t, 1, FUSE_GETATTR, FUSE_ROOT_ID, NULL, 0, NULL, 0, 128, 3);
	CHECK(r.error == -EINVAL);
	/* arguments shorter than the opcode's struct */
	r = req(t, FUSE_READ, 0, "x", 1, 100);
	CHECK(r.error == -EINVAL);
	CHECK(!needs_reset(t));
	r = req(t, FUSE_RELEASE, 0, &(struct fuse_release_in){ .fh = fh },
		sizeof(struct fuse_release_in), 0);
	CHECK(r.error == 0);
}

/* The inode table's cap: ENFILE, and room again after a FORGET. */
static void test_inode_cap(struct vmmio *t, struct vfs *v)
{
	uint32_t saved = v->max_ino;
	uint64_t ids[64], fh;
	unsigned n = 0;
	int32_t e = 0;
	char name[16];

	v->max_ino = v->live_ino + 3;
	for (; n < 64; n++) {
		snprintf(name, sizeof(name), "cap%u", n);
		ids[n] = create(t, FUSE_ROOT_ID, name, 0644, &fh, &e);
		if (e)
			break;
		req(t, FUSE_RELEASE, 0, &(struct fuse_release_in){ .fh = fh },
		    sizeof(struct fuse_release_in), 0);
	}
	CHECK(n == 3 && e == -ENFILE);
	CHECK(lookup(t, FUSE_ROOT_ID, "big", &e) == 0 && e == -ENFILE);
	struct fuse_forget_in f = { 1 };
	req_full(t, 0, FUSE_FORGET, ids[0], &f, sizeof(f), NULL, 0, 0, -1);
	CHECK(lookup(t, FUSE_ROOT_ID, "big", &e) > 1 && e == 0);
	v->max_ino = saved;
}

/* No room for fuse_out_header: a driver bug, NEEDS_RESET; a reset and a
 * new INIT recover. */
static void test_malformed_chain(struct vmmio *t)
{
	struct fuse_in_header h = { 40, FUSE_GETATTR, 1, FUSE_ROOT_ID, 0, 0, 0, 0, 0 };
	int32_t e;

	memcpy(ram + IN_BUF, &h, sizeof(h));
	set_desc(1, 0, IN_BUF, 40, VRING_DESC_F_NEXT, 1);
	set_desc(1, 1, OUT_BUF, 8, VRING_DESC_F_WRITE, 0);
	post(t, 1);
	CHECK(needs_reset(t));
	bringup(t);
	CHECK(init(t, 37) == 0);
	CHECK(lookup(t, FUSE_ROOT_ID, "s", &e) > 1 && e == 0);
	/* refused before it runs: the UNLINK has no side effect */
	h = (struct fuse_in_header){ 42, FUSE_UNLINK, 2, FUSE_ROOT_ID, 0, 0, 0, 0, 0 };
	memcpy(ram + IN_BUF, &h, sizeof(h));
	memcpy(ram + IN_BUF + sizeof(h), "s", 2);
	set_desc(1, 0, IN_BUF, 42, VRING_DESC_F_NEXT, 1);
	set_desc(1, 1, OUT_BUF, 8, VRING_DESC_F_WRITE, 0);
	post(t, 1);
	CHECK(needs_reset(t));
	struct stat st;
	CHECK(lstat(hpath("s"), &st) == 0);
	bringup(t);
	CHECK(init(t, 37) == 0);
}

static void test_names(struct vmmio *t)
{
	int32_t e;
	char longname[300];
	struct res r;

	CHECK(lookup(t, FUSE_ROOT_ID, "d/g", &e) == 0 && e == -EINVAL);
	CHECK(lookup(t, FUSE_ROOT_ID, ".", &e) == 0 && e == -EINVAL);
	CHECK(lookup(t, FUSE_ROOT_ID, "", &e) == 0 && e == -EINVAL);
	/* ".." at the root is the root: no climbing out of the share */
	CHECK(lookup(t, FUSE_ROOT_ID, "..", &e) == FUSE_ROOT_ID && e == 0);
	uint64_t d = lookup(t, FUSE_ROOT_ID, "d", &e);
	CHECK(d > 1 && lookup(t, d, "..", &e) == FUSE_ROOT_ID);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CHECK(lookup(t, FUSE_ROOT_ID, longname, &e) == 0 && e == -EINVAL);
	/* a NUL inside the given length, and no NUL at all */
	r = req(t, FUSE_LOOKUP, FUSE_ROOT_ID, "d\0g", 4, sizeof(struct fuse_entry_out));
	CHECK(r.error == -EINVAL);
	r = req(t, FUSE_LOOKUP, FUSE_ROOT_ID, "dd", 2, sizeof(struct fuse_entry_out));
	CHECK(r.error == -EINVAL);
	/* names of mutating ops too */
	uint8_t buf[64];
	uint32_t n = with_name(buf, &(struct fuse_mkdir_in){ 0755, 0 },
			       sizeof(struct fuse_mkdir_in), "../esc");
	r = req(t, FUSE_MKDIR, FUSE_ROOT_ID, buf, n, sizeof(struct fuse_entry_out));
	CHECK(r.error == -EINVAL);
	r = req(t, FUSE_UNLINK, FUSE_ROOT_ID, "..", 3, 0);
	CHECK(r.error == -EINVAL);
	r = req(t, FUSE_SYMLINK, FUSE_ROOT_ID, "x/y\0/etc", 9, sizeof(struct fuse_entry_out));
	CHECK(r.error == -EINVAL);
	struct fuse_rename2_in rn = { FUSE_ROOT_ID, 0, 0 };
	memcpy(buf, &rn, sizeof(rn));
	memcpy(buf + sizeof(rn), "s\0..", 5);
	r = req(t, FUSE_RENAME2, FUSE_ROOT_ID, buf, sizeof(rn) + 5, 0);
	CHECK(r.error == -EINVAL);
	rn.flags = RENAME_WHITEOUT; /* would make a device node */
	memcpy(buf, &rn, sizeof(rn));
	memcpy(buf + sizeof(rn), "s\0t", 4);
	r = req(t, FUSE_RENAME2, FUSE_ROOT_ID, buf, sizeof(rn) + 4, 0);
	CHECK(r.error == -EINVAL);
	rn.flags = RENAME_NOREPLACE;
	memcpy(buf, &rn, sizeof(rn));
	memcpy(buf + sizeof(rn), "s\0d", 4);
	r = req(t, FUSE_RENAME2, FUSE_ROOT_ID, buf, sizeof(rn) + 4, 0);
	CHECK(r.error == -EEXIST);
}

/* Symlinks out of the share: text for READLINK, never followed here. */
static void test_symlinks(struct vmmio *t)
{
	int32_t e;
	struct res r;
	struct fuse_attr_out a;

	CHECK(symlink("/etc/passwd", hpath("evil")) == 0);
	CHECK(symlink("/etc", hpath("etcdir")) == 0);
	CHECK(symlink("..", hpath("up")) == 0);
	uint64_t ev = lookup(t, FUSE_ROOT_ID, "evil", &e);
	CHECK(ev > 1 && e == 0);
	r = req(t, FUSE_GETATTR, ev, NULL, 0, sizeof(a));
	memcpy(&a, r.body, sizeof(a));
	CHECK(r.error == 0 && S_ISLNK(a.attr.mode)); /* the link, not passwd */
	r = req(t, FUSE_READLINK, ev, NULL, 0, 256);
	CHECK(r.error == 0 && r.used == 16 + 11 && !memcmp(r.body, "/etc/passwd", 11));
	open_node(t, ev, FUSE_OPEN, O_RDONLY, &e);
	CHECK(e == -EACCES);
	open_node(t, ev, FUSE_OPEN, O_RDWR, &e);
	CHECK(e == -EACCES);
	/* through a directory symlink: not a directory to us */
	uint64_t ed = lookup(t, FUSE_ROOT_ID, "etcdir", &e);
	CHECK(ed > 1 && lookup(t, ed, "passwd", &e) == 0 && e == -ENOTDIR);
	open_node(t, ed, FUSE_OPENDIR, O_RDONLY, &e);
	CHECK(e == -ENOTDIR);
	uint64_t up = lookup(t, FUSE_ROOT_ID, "up", &e);
	CHECK(up > 1 && lookup(t, up, "..", &e) == 0 && e == -ENOTDIR);
	/* SETATTR on the link: chmod would follow it */
	struct fuse_setattr_in s = { .valid = FATTR_MODE, .mode = 0777 };
	r = req(t, FUSE_SETATTR, ev, &s, sizeof(s), sizeof(a));
	CHECK(r.error == -EOPNOTSUPP);
	/* LINK of a symlink links the link */
	uint8_t buf[64];
	uint32_t n = with_name(buf, &(struct fuse_link_in){ ev }, sizeof(struct fuse_link_in),
			       "evil2");
	r = req(t, FUSE_LINK, FUSE_ROOT_ID, buf, n, sizeof(struct fuse_entry_out));
	struct stat st;
	CHECK(lstat(hpath("evil2"), &st) < 0 || S_ISLNK(st.st_mode));
	/* CREATE over a symlink name: never opens the target */
	uint64_t fh;
	create(t, FUSE_ROOT_ID, "evil", 0644, &fh, &e);
	CHECK(e == -EEXIST || e == -EACCES || e == -ELOOP);
}

static void test_special(struct vmmio *t)
{
	int32_t e;
	uint64_t fh;
	struct res r;
	struct stat st;
	uint8_t buf[64];
	uint32_t n;

	/* set-id bits never reach the host: CREATE, MKDIR, SETATTR */
	uint64_t node = create(t, FUSE_ROOT_ID, "suid", 06755, &fh, &e);
	CHECK(e == 0 && stat(hpath("suid"), &st) == 0 && !(st.st_mode & 06000));
	struct fuse_setattr_in s = { .valid = FATTR_MODE, .mode = S_IFREG | 06777 };
	r = req(t, FUSE_SETATTR, node, &s, sizeof(s), sizeof(struct fuse_attr_out));
	CHECK(r.error == 0 && stat(hpath("suid"), &st) == 0 && !(st.st_mode & 06000) &&
	      (st.st_mode & 0777) == 0777);
	n = with_name(buf, &(struct fuse_mkdir_in){ 02755, 0 }, sizeof(struct fuse_mkdir_in),
		      "sgid");
	r = req(t, FUSE_MKDIR, FUSE_ROOT_ID, buf, n, sizeof(struct fuse_entry_out));
	CHECK(r.error == 0 && stat(hpath("sgid"), &st) == 0 && !(st.st_mode & 06000));
	/* chown to other ids: EPERM; to the ids it has: fine */
	s = (struct fuse_setattr_in){ .valid = FATTR_UID, .uid = 1234 };
	r = req(t, FUSE_SETATTR, node, &s, sizeof(s), sizeof(struct fuse_attr_out));
	CHECK(r.error == -EPERM);
	s = (struct fuse_setattr_in){ .valid = FATTR_UID | FATTR_GID, .uid = 0, .gid = 0 };
	r = req(t, FUSE_SETATTR, node, &s, sizeof(s), sizeof(struct fuse_attr_out));
	CHECK(r.error == 0);
	s = (struct fuse_setattr_in){ .valid = FATTR_SIZE | FATTR_FH, .fh = fh, .size = 3 };
	r = req(t, FUSE_SETATTR, node, &s, sizeof(s), sizeof(struct fuse_attr_out));
	CHECK(r.error == 0 && stat(hpath("suid"), &st) == 0 && st.st_size == 3);
	s = (struct fuse_setattr_in){ .valid = FATTR_SIZE, .size = 1 };
	r = req(t, FUSE_SETATTR, node, &s, sizeof(s), sizeof(struct fuse_attr_out));
	CHECK(r.error == 0 && stat(hpath("suid"), &st) == 0 && st.st_size == 1);
	s = (struct fuse_setattr_in){ .valid = FATTR_MTIME, .mtime = 1000 };
	r = req(t, FUSE_SETATTR, node, &s, sizeof(s), sizeof(struct fuse_attr_out));
	CHECK(r.error == 0 && stat(hpath("suid"), &st) == 0 && st.st_mtime == 1000);
	/* MKNOD: devices and sockets refused, FIFOs made but never opened */
	n = with_name(buf, &(struct fuse_mknod_in){ S_IFCHR | 0666, makedev(1, 3), 0, 0 },
		      sizeof(struct fuse_mknod_in), "null");
	r = req(t, FUSE_MKNOD, FUSE_ROOT_ID, buf, n, sizeof(struct fuse_entry_out));
	CHECK(r.error == -EPERM && access(hpath("null"), F_OK) < 0);
	n = with_name(buf, &(struct fuse_mknod_in){ S_IFSOCK | 0666, 0, 0, 0 },
		      sizeof(struct fuse_mknod_in), "sock");
	r = req(t, FUSE_MKNOD, FUSE_ROOT_ID, buf, n, sizeof(struct fuse_entry_out));
	CHECK(r.error == -EPERM);
	n = with_name(buf, &(struct fuse_mknod_in){ S_IFIFO | 0666, 0, 0, 0 },
		      sizeof(struct fuse_mknod_in), "fifo");
	r = req(t, FUSE_MKNOD, FUSE_ROOT_ID, buf, n, sizeof(struct fuse_entry_out));
	CHECK(r.error == 0);
	uint64_t fifo = lookup(t, FUSE_ROOT_ID, "fifo", &e);
	open_node(t, fifo, FUSE_OPEN, O_WRONLY, &e); /* would block forever */
	CHECK(e == -EACCES);
	open_node(t, fifo, FUSE_OPEN, O_RDONLY, &e);
	CHECK(e == -EACCES);
	create(t, FUSE_ROOT_ID, "fifo", 0644, &fh, &e); /* O_CREAT on a FIFO */
	CHECK(e == -EACCES);
	/* a device node put there on the host (needs root to make) */
	if (mknod(hpath("hostnull"), S_IFCHR | 0666, makedev(1, 3)) == 0) {
		uint64_t dn = lookup(t, FUSE_ROOT_ID, "hostnull", &e);
		CHECK(dn > 1);
		open_node(t, dn, FUSE_OPEN, O_RDWR, &e);
		CHECK(e == -EACCES);
		s = (struct fuse_setattr_in){ .valid = FATTR_SIZE, .size = 0 };
		r = req(t, FUSE_SETATTR, dn, &s, sizeof(s), sizeof(struct fuse_attr_out));
		CHECK(r.error == -EINVAL);
	}
}

/* A read-only share: EROFS for every mutating op, reads still work. */
static void test_ro(struct vmmio *t)
{
	int32_t e;
	uint64_t fh;
	uint8_t buf[128];
	uint32_t n, w;
	struct res r;

	bringup(t);
	CHECK(init(t, 37) == 0);
	uint64_t node = lookup(t, FUSE_ROOT_ID, "big", &e);
	CHECK(node > 1);
	fh = open_node(t, node, FUSE_OPEN, O_RDONLY, &e);
	CHECK(e == 0);
	r = do_read(t, fh, 0, 5, 100);
	CHECK(r.error == 0 && r.used == 21);
	CHECK(do_write(t, fh, 0, "x", 1, &w) == -EROFS);
	open_node(t, node, FUSE_OPEN, O_RDWR, &e);
	CHECK(e == -EROFS);
	open_node(t, node, FUSE_OPEN, O_RDONLY | O_TRUNC, &e);
	CHECK(e == -EROFS);
	create(t, FUSE_ROOT_ID, "new", 0644, &fh, &e);
	CHECK(e == -EROFS);
	n = with_name(buf, &(struct fuse_mkdir_in){ 0755, 0 }, sizeof(struct fuse_mkdir_in), "nd");
	CHECK(req(t, FUSE_MKDIR, FUSE_ROOT_ID, buf, n, 128).error == -EROFS);
	n = with_name(buf, &(struct fuse_mknod_in){ S_IFREG | 0644, 0, 0, 0 },
		      sizeof(struct fuse_mknod_in), "nn");
	CHECK(req(t, FUSE_MKNOD, FUSE_ROOT_ID, buf, n, 128).error == -EROFS);
	CHECK(req(t, FUSE_SYMLINK, FUSE_ROOT_ID, "l\0x", 4, 128).error == -EROFS);
	CHECK(req(t, FUSE_UNLINK, FUSE_ROOT_ID, "big", 4, 0).error == -EROFS);
	CHECK(req(t, FUSE_RMDIR, FUSE_ROOT_ID, "d", 2, 0).error == -EROFS);
	struct fuse_rename_in rn = { FUSE_ROOT_ID };
	memcpy(buf, &rn, sizeof(rn));
	memcpy(buf + sizeof(rn), "big\0b2", 7);
	CHECK(req(t, FUSE_RENAME, FUSE_ROOT_ID, buf, sizeof(rn) + 7, 0).error == -EROFS);
	struct fuse_rename2_in rn2 = { FUSE_ROOT_ID, RENAME_NOREPLACE, 0 };
	memcpy(buf, &rn2, sizeof(rn2));
	memcpy(buf + sizeof(rn2), "big\0b2", 7);
	CHECK(req(t, FUSE_RENAME2, FUSE_ROOT_ID, buf, sizeof(rn2) + 7, 0).error == -EROFS);
	n = with_name(buf, &(struct fuse_link_in){ node }, sizeof(struct fuse_link_in), "l2");
	CHECK(req(t, FUSE_LINK, FUSE_ROOT_ID, buf, n, 128).error == -EROFS);
	struct fuse_setattr_in s = { .valid = FATTR_MODE, .mode = 0600 };
	CHECK(req(t, FUSE_SETATTR, node, &s, sizeof(s), 128).error == -EROFS);
	struct fuse_fallocate_in fa = { .fh = fh, .length = 10 };
	CHECK(req(t, FUSE_FALLOCATE, node, &fa, sizeof(fa), 0).error == -EROFS);
	CHECK(req(t, FUSE_ACCESS, node, &(struct fuse_access_in){ W_OK, 0 },
		  sizeof(struct fuse_access_in), 0).error == -EROFS);
	CHECK(access(hpath("big"), F_OK) == 0 && access(hpath("new"), F_OK) < 0);
}

/* The worker thread: kicks wake it, replies arrive, close joins it. */
static void test_thread(struct vmmio *t, struct vfs *v)
{
	int32_t e;

	bringup(t);
	CHECK(vfs_start(v, &t->dev) == 0);
	CHECK(init(t, 37) == 0);
	for (int i = 0; i < 20; i++)
		CHECK(lookup(t, FUSE_ROOT_ID, "big", &e) > 1 && e == 0);
	bringup(t); /* a reset while the worker runs */
	CHECK(init(t, 37) == 0);
	CHECK(lookup(t, FUSE_ROOT_ID, "big", &e) > 1);
	vfs_stop(v);
}

static void rm_tree(const char *p);
static struct sc_set sc;

static void sc_hook(void *opaque, const char *kind)
{
	(void)opaque;
	if (sc_install(&sc, kind) < 0)
		_exit(5);
}

/* The whole round trip again, served by the worker under its real "fs"
 * seccomp filter (in a child: a missing syscall kills it with SIGSYS). */
static void test_seccomp_worker(void)
{
	int st = -1;
	pid_t pid = fork();

	if (pid == 0) {
		struct vfs *v = malloc(sizeof(*v));

		check_failures = 0; /* the child's own count */
		struct log_sink sink;
		struct vmmio t;

		snprintf(dir, sizeof(dir), "/tmp/msbvm-vfs-sc-XXXXXX");
		if (!v || !mkdtemp(dir) || sc_prepare(&sc, MSBVM_SECCOMP_ON) < 0 ||
		    vfs_open(v, dir, "msbvm-vol0", false) < 0)
			_exit(3);
		log_sink_init(&sink);
		sink.thread_hook = sc_hook;
		log_bind(&sink);
		vmmio_init(&t, &vfs_ops, v, &gm, VMMIO_BASE, 5, irq, NULL);
		bringup(&t);
		if (vfs_start(v, &t.dev) < 0)
			_exit(4);
		CHECK(init(&t, 37) == 0);
		test_roundtrip(&t);
		test_readdir(&t);
		test_special(&t);
		vfs_close(v);
		rm_tree(dir);
		_exit(check_failures ? 1 : 0);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fprintf(stderr, "seccomp worker child: status 0x%x\n", st);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void rm_tree(const char *p)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	struct vfs *v = malloc(sizeof(*v)), *ro = malloc(sizeof(*ro));
	struct vmmio t, tro;

	snprintf(dir, sizeof(dir), "/tmp/msbvm-vfs-XXXXXX");
	if (!v || !ro || !mkdtemp(dir))
		return 1;
	ram = calloc(1, RAM_SIZE);
	gm.host = ram;
	gm_layout(&gm, RAM_SIZE);
	CHECK(vfs_open(v, "/nonexistent/dir", "x", false) < 0);
	CHECK(vfs_open(v, dir, "a-tag-longer-than-thirty-six-bytes-xxxxx", false) < 0);
	CHECK(vfs_open(v, dir, "msbvm-vol0", false) == 0);
	vmmio_init(&t, &vfs_ops, v, &gm, VMMIO_BASE, 5, irq, NULL);
	test_config(&t);
	test_init(&t);
	test_roundtrip(&t);
	test_readdir(&t);
	test_bounds(&t);
	test_inode_cap(&t, v);
	test_malformed_chain(&t);
	test_names(&t);
	test_symlinks(&t);
	test_special(&t);
	vfs_close(v);

	CHECK(vfs_open(ro, dir, "msbvm-root", true) == 0);
	vmmio_init(&tro, &vfs_ops, ro, &gm, VMMIO_BASE, 5, irq, NULL);
	test_ro(&tro);
	test_thread(&tro, ro);
	vfs_close(ro);
	test_seccomp_worker();
	free(v);
	free(ro);
	free(ram);
	rm_tree(dir);
	return check_result("test_vfs");
}
