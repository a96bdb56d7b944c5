/* Requests are parsed from a copy: the 16-byte header is gathered out of
 * the guest buffers once, then validated (type, sector range with overflow
 * checks, data length a multiple of 512, read-only disks). A malformed
 * chain (no room for the status byte) is a driver bug: NEEDS_RESET. */
#include "blk.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static bool vblk_range_ok(const struct vblk *b, uint64_t sector, uint64_t bytes)
{
	uint64_t end;

	if (bytes % VBLK_SECTOR)
		return false;
	return !__builtin_add_overflow(sector, bytes / VBLK_SECTOR, &end) &&
	       end <= b->sectors;
}

/* Full transfer or failure; loops over short reads/writes. */
static bool vblk_rw(struct vblk *b, bool write, struct iovec *iov, unsigned n,
		    uint64_t off, uint64_t len)
{
	while (len) {
		ssize_t r = write ? pwritev(b->fd, iov, (int)n, (off_t)off)
				  : preadv(b->fd, iov, (int)n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		off += (uint64_t)r;
		len -= (uint64_t)r;
		/* advance the iovec array past r bytes */
		while (n && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return true;
}

static uint8_t vblk_discard(struct vblk *b, const struct virtq_chain *c,
			    uint32_t type)
{
	struct virtio_blk_discard_write_zeroes seg;
	const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	int mode;

	/* One segment (max_*_seg = 1 in the config). */
	if (b->ro || c->out_len != sizeof(struct virtio_blk_outhdr) + sizeof(seg) ||
	    !virtq_iov_copy(c->out, c->n_out, sizeof(struct virtio_blk_outhdr),
			 &seg, sizeof(seg)) ||
	    seg.flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP ||
	    !vblk_range_ok(b, seg.sector, (uint64_t)seg.num_sectors * VBLK_SECTOR))
		return VIRTIO_BLK_S_IOERR;
	/* WRITE_ZEROES with UNMAP (5.2.6.2: the device may deallocate) is a
	 * hole too: a regular file reads zeros there either way, and the
	 * guest's ext4lazyinit zeroing a scratch disk's inode tables then
	 * keeps the file sparse instead of allocating (ZERO_RANGE reserves
	 * unwritten extents) tens of MiB of host disk per VM. */
	mode = type == VIRTIO_BLK_T_DISCARD ||
			       (seg.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ?
		       punch : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	off_t off = (off_t)(seg.sector * VBLK_SECTOR);
	off_t len = (off_t)seg.num_sectors * VBLK_SECTOR;
	if (fallocate(b->fd, mode, off, len) == 0)
		return VIRTIO_BLK_S_OK;
	if (type == VIRTIO_BLK_T_WRITE_ZEROES && mode == punch &&
	    fallocate(b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len) == 0)
		return VIRTIO_BLK_S_OK;
	/* Discard is advisory; zeroing must happen even where the host file
	 * system cannot punch or zero ranges. */
	return type == VIRTIO_BLK_T_DISCARD ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
}

/* Handles one request; returns the status byte and sets *written. */
static uint8_t vblk_request(struct vblk *b, const struct virtq_chain *c,
			    const struct virtio_blk_outhdr *h, uint64_t *written)
{
	struct iovec iov[VIRTQ_MAX_SIZE];
	uint64_t data_in = c->in_len - 1; /* writable bytes before status */
	uint64_t data_out = c->out_len - sizeof(*h);
	unsigned n;

	*written = 0;
	switch (h->type) {
	case VIRTIO_BLK_T_IN:
		if (!vblk_range_ok(b, h->sector, data_in))
			return VIRTIO_BLK_S_IOERR;
		n = virtq_iov_slice(c->in, c->n_in, 0, data_in, iov);
		if (!vblk_rw(b, false, iov, n, h->sector * VBLK_SECTOR, data_in))
			return VIRTIO_BLK_S_IOERR;
		*written = data_in;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		/* Refused even if the driver ignores VIRTIO_BLK_F_RO. */
		if (b->ro || !vblk_range_ok(b, h->sector, data_out))
			return VIRTIO_BLK_S_IOERR;
		n = virtq_iov_slice(c->out, c->n_out, sizeof(*h), data_out, iov);
		return vblk_rw(b, true, iov, n, h->sector * VBLK_SECTOR, data_out) ?
			       VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
	case VIRTIO_BLK_T_FLUSH:
		/* Acknowledged writes must survive a killed VMM or host crash. */
		return b->ro || fdatasync(b->fd) == 0 ? VIRTIO_BLK_S_OK
						       : VIRTIO_BLK_S_IOERR;
	case VIRTIO_BLK_T_GET_ID:
		*written = data_in < sizeof(b->serial) ? data_in : sizeof(b->serial);
		virtq_iov_fill(c->in, c->n_in, 0, b->serial, *written);
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return vblk_discard(b, c, h->type);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static void vblk_notify(struct vdev *d, unsigned q)
{
	struct vblk *b = d->priv;
	struct virtq_chain *c = &b->chain; /* 8 KiB: kept off the stack */
	struct virtq *vq = &d->vq[q];
	const char *why = NULL;
	bool pushed = false;
	int r;

	while ((r = virtq_pop(vq, d->gm, c, &why)) > 0) {
		struct virtio_blk_outhdr h;
		uint64_t written;
		uint8_t status;

		if (c->in_len < 1 || c->in_len > UINT32_MAX ||
		    !virtq_iov_copy(c->out, c->n_out, 0, &h, sizeof(h))) {
			vq->broken = true;
			why = "request without header or status byte";
			r = -EINVAL;
			break;
		}
		/* the status byte is the last writable byte of the chain */
		struct iovec *last = &c->in[c->n_in - 1];
		if (last->iov_len == 0) {
			vq->broken = true;
			why = "zero-length status descriptor";
			r = -EINVAL;
			break;
		}
		status = vblk_request(b, c, &h, &written);
		((uint8_t *)last->iov_base)[last->iov_len - 1] = status;
		b->requests++;
		b->errors += status != VIRTIO_BLK_S_OK;
		virtq_push(vq, d->gm, c->head, (uint32_t)(written + 1));
		pushed = true;
	}
	if (pushed && virtq_should_notify(vq, d->gm))
		d->notify_used(d);
	if (r < 0)
		d->needs_reset(d, why);
}

static uint64_t vblk_features(struct vdev *d)
{
	struct vblk *b = d->priv;
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) |
		     (1ULL << VIRTIO_RING_F_EVENT_IDX) |
		     (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		     (1ULL << VIRTIO_BLK_F_BLK_SIZE);

	if (b->ro)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	else
		f |= (1ULL << VIRTIO_BLK_F_DISCARD) |
		     (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	return f;
}

static void vblk_reset(struct vdev *d)
{
	(void)d; /* no per-request state survives a request */
}

const struct vdev_ops vblk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.queue_max = VBLK_QUEUE_SIZE,
	.features = vblk_features,
	VDEV_CONFIG(struct vblk, cfg), /* filled by vblk_open */
	.queue_notify = vblk_notify,
	.reset = vblk_reset,
};

int vblk_open(struct vblk *b, const char *path, bool ro, unsigned index)
{
	struct stat st;

	memset(b, 0, sizeof(*b));
	b->path = path;
	b->ro = ro;
	b->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0)
		return err_set(errno, "disk %s: %s", path, strerror(errno));
	if (fstat(b->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(b->fd);
		return err_set(EINVAL, "disk %s: not a regular file", path);
	}
	if (st.st_size < VBLK_SECTOR || st.st_size % VBLK_SECTOR) {
		close(b->fd);
		return err_set(EINVAL, "disk %s: size %lld is not a non-zero "
			       "multiple of 512 bytes", path, (long long)st.st_size);
	}
	/* Two VMs writing one ext4 image corrupt it: a writer takes the
	 * image exclusively, readers share it (as QEMU's image locking). The
	 * lock goes with the fd, so a killed VMM never leaves it behind. */
	if (flock(b->fd, (ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int e = errno;
		close(b->fd);
		return err_set(e == EWOULDBLOCK ? EBUSY : e, "disk %s: %s", path,
			       e == EWOULDBLOCK ? "in use by another VM (locked)" :
			       strerror(e));
	}
	b->sectors = (uint64_t)st.st_size / VBLK_SECTOR;
	snprintf(b->serial, sizeof(b->serial), "msbvm-disk%u", index);
	b->cfg.capacity = b->sectors;
	b->cfg.seg_max = VBLK_QUEUE_SIZE - 2; /* header and status */
	b->cfg.blk_size = VBLK_SECTOR;
	b->cfg.max_discard_sectors = b->cfg.max_write_zeroes_sectors = 1u << 22;
	b->cfg.max_discard_seg = b->cfg.max_write_zeroes_seg = 1;
	b->cfg.discard_sector_alignment = 8;
	b->cfg.write_zeroes_may_unmap = 1;
	return 0;
}

void vblk_close(struct vblk *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}
