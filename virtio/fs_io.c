/* virtio-fs: open files and directories. Files are re-opened from their
 * O_PATH fd through /proc/self/fd/N, never by a path from the share root;
 * only regular files and directories are ever opened: a device node
 * (CVE-2020-35517) or a FIFO, whose open would block the worker forever
 * (CVE-2023-2861 in 9p), gets EACCES. Lengths and offsets from the guest
 * are bounded: READ by the guest's buffer and VFS_MAX_IO, WRITE by the
 * bytes it actually sent, READDIR by its buffer (whole entries only). */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define VFS_HDRS (sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in))

int vfs_reopen(struct vfs *v, const struct vfs_inode *in, int flags)
{
	struct stat st;
	char proc[16];
	int fd;

	if (in->type != S_IFREG && in->type != S_IFDIR)
		return -EACCES;
	snprintf(proc, sizeof(proc), "%d", in->fd);
	fd = openat(v->proc_fd, proc, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	/* the O_PATH fd pins the inode; checked anyway (defence in depth) */
	if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != in->type ||
	    st.st_ino != in->ino || st.st_dev != in->dev) {
		close(fd);
		return -EACCES;
	}
	return fd;
}

/* The host open flags for the guest's: access mode and a few harmless
 * ones; anything that writes is refused on a read-only share. */
static int vfs_flags(const struct vfs *v, uint32_t f, int *out)
{
	int acc = (int)(f & O_ACCMODE);

	if (acc == O_ACCMODE)
		return -EINVAL;
	if (v->ro && (acc != O_RDONLY || (f & O_TRUNC)))
		return -EROFS;
	*out = acc | (int)(f & (O_APPEND | O_TRUNC | O_SYNC | O_DSYNC));
	return 0;
}

static int vfs_open_reply(struct vfs *v, struct vfs_req *r, int fd, bool dir)
{
	struct fuse_open_out *o = vfs_reply_buf(v, r, sizeof(*o));
	uint64_t fh;
	int rc;

	if (!o) {
		close(fd);
		return -EINVAL;
	}
	if ((rc = vfs_fh_add(v, fd, dir, &fh)) < 0)
		return rc;
	o->fh = fh;
	return 0;
}

static int vfs_op_open(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_open_in a;
	int flags, fd, rc;

	memcpy(&a, r->arg, sizeof(a));
	if (in->type == S_IFDIR)
		return -EISDIR;
	if ((rc = vfs_flags(v, a.flags, &flags)) < 0)
		return rc;
	if ((fd = vfs_reopen(v, in, flags)) < 0)
		return fd;
	return vfs_open_reply(v, r, fd, false);
}

static int vfs_opendir(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	int fd;

	if (in->type != S_IFDIR)
		return -ENOTDIR;
	if ((fd = vfs_reopen(v, in, O_RDONLY | O_DIRECTORY)) < 0)
		return fd;
	return vfs_open_reply(v, r, fd, true);
}

/* CREATE: O_EXCL on the host always (an existing FIFO or device node is
 * never opened by O_CREAT); without the guest's O_EXCL an existing
 * regular file is opened through its O_PATH fd instead. */
static int vfs_create(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_create_in a;
	uint32_t off = sizeof(a);
	const char *name = vfs_arg_str(r, &off, true);
	struct fuse_entry_out *e;
	struct vfs_inode *ni;
	int flags, fd, pfd, rc;
	char proc[16];

	memcpy(&a, r->arg, sizeof(a));
	if (!name || !vfs_name_ok(name))
		return -EINVAL;
	if (in->type != S_IFDIR)
		return -ENOTDIR;
	if ((rc = vfs_flags(v, a.flags, &flags)) < 0)
		return rc;
	if (!(e = vfs_reply_buf(v, r, sizeof(*e) + sizeof(struct fuse_open_out))))
		return -EINVAL;
	fd = openat(in->fd, name, (flags & ~O_TRUNC) | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC | O_NOCTTY | O_NONBLOCK, a.mode & 0777);
	if (fd < 0 && (errno != EEXIST || (a.flags & O_EXCL)))
		return -errno;
	if (fd < 0) { /* exists: a regular file, opened by its inode */
		if ((rc = vfs_do_lookup(v, in, name, e)) < 0)
			return rc;
		ni = vfs_inode_get(v, e->nodeid);
		if ((fd = vfs_reopen(v, ni, flags)) < 0) {
			vfs_inode_forget(v, e->nodeid, 1);
			return fd;
		}
	} else {
		snprintf(proc, sizeof(proc), "%d", fd);
		pfd = openat(v->proc_fd, proc, O_PATH | O_CLOEXEC);
		if (pfd < 0 || (rc = vfs_entry(v, pfd, e)) < 0) {
			rc = pfd < 0 ? -errno : rc;
			close(fd);
			return rc;
		}
	}
	struct fuse_open_out *o = (struct fuse_open_out *)(e + 1);
	if ((rc = vfs_fh_add(v, fd, false, &o->fh)) < 0) {
		vfs_inode_forget(v, e->nodeid, 1);
		return rc;
	}
	return 0;
}

static int vfs_read(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_read_in a;
	struct vfs_handle *h;
	struct iovec iov[VIRTQ_MAX_SIZE];
	uint64_t size, done = 0;
	unsigned n;

	(void)in;
	memcpy(&a, r->arg, sizeof(a));
	if (!(h = vfs_fh_get(v, a.fh, false)))
		return -EBADF;
	if (a.offset > INT64_MAX)
		return -EINVAL;
	/* at most what the guest's buffer holds, and VFS_MAX_IO */
	size = a.size < r->out_room ? a.size : r->out_room;
	if (size > VFS_MAX_IO)
		size = VFS_MAX_IO;
	n = virtq_iov_slice(r->c->in, r->c->n_in, sizeof(struct fuse_out_header),
			    size, iov);
	while (done < size) {
		struct iovec part[VIRTQ_MAX_SIZE];
		unsigned k = virtq_iov_slice(iov, n, done, size - done, part);
		ssize_t got = preadv(h->fd, part, (int)k, (off_t)(a.offset + done));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break; /* end of file */
		done += (uint64_t)got;
	}
	r->direct = true;
	r->reply_len = (uint32_t)done;
	return 0;
}

static int vfs_write(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_write_in a;
	struct fuse_write_out *o;
	struct vfs_handle *h;
	struct iovec iov[VIRTQ_MAX_SIZE];
	uint64_t done = 0;
	unsigned n;

	(void)in;
	memcpy(&a, r->arg, sizeof(a));
	if (!(h = vfs_fh_get(v, a.fh, false)))
		return -EBADF;
	/* the declared size must be there: h.len (checked against the
	 * readable bytes) covers headers and data */
	if (r->h.len < VFS_HDRS || a.size > r->h.len - VFS_HDRS ||
	    a.size > VFS_MAX_IO || a.offset > (uint64_t)INT64_MAX - a.size)
		return -EINVAL;
	if (!(o = vfs_reply_buf(v, r, sizeof(*o))))
		return -EINVAL;
	n = virtq_iov_slice(r->c->out, r->c->n_out, VFS_HDRS, a.size, iov);
	while (done < a.size) {
		struct iovec part[VIRTQ_MAX_SIZE];
		unsigned k = virtq_iov_slice(iov, n, done, a.size - done, part);
		ssize_t put = pwritev(h->fd, part, (int)k, (off_t)(a.offset + done));

		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			return done ? 0 : put < 0 ? -errno : -EIO;
		done += (uint64_t)put;
		o->size = (uint32_t)done;
	}
	return 0;
}

static int vfs_release(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_release_in a;

	(void)in;
	memcpy(&a, r->arg, sizeof(a));
	return vfs_fh_release(v, a.fh, r->h.opcode == FUSE_RELEASEDIR);
}

static int vfs_flush(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_flush_in a;

	(void)in;
	memcpy(&a, r->arg, sizeof(a));
	return vfs_fh_get(v, a.fh, false) ? 0 : -EBADF;
}

static int vfs_fsync(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_fsync_in a;
	struct vfs_handle *h;

	(void)in;
	memcpy(&a, r->arg, sizeof(a));
	if (!(h = vfs_fh_get(v, a.fh, r->h.opcode == FUSE_FSYNCDIR)))
		return -EBADF;
	if (v->ro)
		return 0;
	return ((a.fsync_flags & 1) ? fdatasync(h->fd) : fsync(h->fd)) < 0 ? -errno : 0;
}

static int vfs_fallocate(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_fallocate_in a;
	struct vfs_handle *h;

	(void)in;
	memcpy(&a, r->arg, sizeof(a));
	if (!(h = vfs_fh_get(v, a.fh, false)))
		return -EBADF;
	if (a.mode & ~(uint32_t)(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
				 FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if (a.offset > INT64_MAX || a.length > (uint64_t)INT64_MAX - a.offset)
		return -EINVAL;
	return fallocate(h->fd, (int)a.mode, (off_t)a.offset, (off_t)a.length) < 0 ?
		       -errno : 0;
}

static int vfs_lseek(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_lseek_in a;
	struct fuse_lseek_out *o;
	struct vfs_handle *h;
	off_t off;

	(void)in;
	memcpy(&a, r->arg, sizeof(a));
	if (!(h = vfs_fh_get(v, a.fh, false)))
		return -EBADF;
	if (a.offset > INT64_MAX || (a.whence != SEEK_DATA && a.whence != SEEK_HOLE &&
				     a.whence != SEEK_SET && a.whence != SEEK_END))
		return -EINVAL;
	if (!(o = vfs_reply_buf(v, r, sizeof(*o))))
		return -EINVAL;
	if ((off = lseek(h->fd, (off_t)a.offset, (int)a.whence)) < 0)
		return -errno;
	o->offset = (uint64_t)off;
	return 0;
}

#define IO(op, type, flags, fn) { op, sizeof(type), flags, fn }
const struct vfs_op vfs_io_ops[] = {
	IO(FUSE_OPEN, struct fuse_open_in, VFS_F_NODE, vfs_op_open),
	IO(FUSE_OPENDIR, struct fuse_open_in, VFS_F_NODE, vfs_opendir),
	IO(FUSE_CREATE, struct fuse_create_in, VFS_F_NODE | VFS_F_MUT, vfs_create),
	IO(FUSE_READ, struct fuse_read_in, 0, vfs_read),
	IO(FUSE_WRITE, struct fuse_write_in, VFS_F_MUT, vfs_write),
	IO(FUSE_RELEASE, struct fuse_release_in, 0, vfs_release),
	IO(FUSE_RELEASEDIR, struct fuse_release_in, 0, vfs_release),
	IO(FUSE_FLUSH, struct fuse_flush_in, 0, vfs_flush),
	IO(FUSE_FSYNC, struct fuse_fsync_in, 0, vfs_fsync),
	IO(FUSE_FSYNCDIR, struct fuse_fsync_in, 0, vfs_fsync),
	IO(FUSE_FALLOCATE, struct fuse_fallocate_in, VFS_F_MUT, vfs_fallocate),
	IO(FUSE_LSEEK, struct fuse_lseek_in, 0, vfs_lseek),
	IO(FUSE_READDIR, struct fuse_read_in, VFS_F_NODE, vfs_readdir),
	IO(FUSE_READDIRPLUS, struct fuse_read_in, VFS_F_NODE, vfs_readdir),
};
const unsigned vfs_io_n = sizeof(vfs_io_ops) / sizeof(vfs_io_ops[0]);
