/* virtio-fs: READDIR and READDIRPLUS. Each call seeks the directory fd to
 * the guest's cookie (a d_off we handed out) and converts getdents64
 * records into fuse_dirent(plus) records, whole entries only: a buffer
 * too small for the first one gets 0 bytes, never a cut record. For
 * READDIRPLUS every entry but "." and ".." is looked up (one reference
 * each, as the kernel expects); an entry that does not fit is forgotten
 * again. */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

struct vfs_dent {
	uint64_t ino;
	int64_t off;
	uint16_t reclen;
	uint8_t type;
	char name[];
};

/* Appends one entry at *pos of out (room bytes); false: it does not fit
 * (or its lookup failed hard: then the listing stops there). */
static bool vfs_dirent_put(struct vfs *v, struct vfs_inode *dir, bool plus,
			   const struct vfs_dent *d, uint8_t *out,
			   uint32_t room, uint32_t *pos)
{
	size_t nl = strnlen(d->name, d->reclen - offsetof(struct vfs_dent, name));
	size_t dsz = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl);
	size_t sz = plus ? sizeof(struct fuse_entry_out) + dsz : dsz;
	struct fuse_entry_out e = { 0 };
	struct fuse_dirent fd = { d->ino, (uint64_t)d->off, (uint32_t)nl, d->type };
	uint8_t *p = out + *pos;

	if (sz > room - *pos)
		return false;
	if (plus) {
		bool dots = !strcmp(d->name, ".") || !strcmp(d->name, "..");

		/* nodeid 0: no entry for the guest to cache (dots, or a
		 * lookup that failed: the name vanished meanwhile, table full) */
		if (!dots && vfs_do_lookup(v, dir, d->name, &e) < 0)
			memset(&e, 0, sizeof(e));
		memcpy(p, &e, sizeof(e));
		p += sizeof(e);
	}
	memset(p, 0, dsz);
	memcpy(p, &fd, FUSE_NAME_OFFSET);
	memcpy(p + FUSE_NAME_OFFSET, d->name, nl);
	*pos += (uint32_t)sz;
	return true;
}

int vfs_readdir(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	bool plus = r->h.opcode == FUSE_READDIRPLUS;
	struct fuse_read_in a;
	struct vfs_handle *h;
	uint32_t size, pos = 0;
	uint8_t *out;

	memcpy(&a, r->arg, sizeof(a));
	if (!(h = vfs_fh_get(v, a.fh, true)))
		return -EBADF;
	if (in->type != S_IFDIR)
		return -ENOTDIR;
	if (a.offset > INT64_MAX)
		return -EINVAL;
	size = a.size < r->out_room ? a.size : r->out_room;
	if (size > VFS_REPLY_MAX)
		size = VFS_REPLY_MAX;
	if (!(out = vfs_reply_buf(v, r, size)))
		return -EINVAL;
	r->reply_len = 0;
	if (lseek(h->fd, (off_t)a.offset, SEEK_SET) < 0)
		return -errno;
	for (;;) {
		ssize_t n = getdents64(h->fd, v->dents, sizeof(v->dents));

		if (n < 0)
			return pos ? 0 : -errno;
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n;) {
			const struct vfs_dent *d = (const void *)(v->dents + i);

			if (!vfs_dirent_put(v, in, plus, d, out, size, &pos)) {
				r->reply_len = pos;
				return 0;
			}
			r->reply_len = pos;
			i += d->reclen;
		}
	}
	return 0;
}
