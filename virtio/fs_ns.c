/* virtio-fs: operations that change the share's namespace or metadata.
 * Every name is one checked component under the parent's O_PATH fd; what
 * the guest creates never gets setuid/setgid (a guest must not plant a
 * set-id binary for host users), and only regular files and FIFOs can be
 * made (no device nodes: CVE-2020-35517, CVE-2023-2861). A read-only share
 * never gets here (VFS_F_MUT: EROFS). */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define VFS_PERM_MASK 01777 /* permissions and sticky; never S_ISUID/S_ISGID */

/* The LOOKUP reply for name just made in dir. */
static int vfs_made(struct vfs *v, struct vfs_req *r, struct vfs_inode *dir,
		    const char *name)
{
	struct fuse_entry_out *e = vfs_reply_buf(v, r, sizeof(*e));

	if (!e)
		return -EINVAL;
	return vfs_do_lookup(v, dir, name, e);
}

/* The one name after a fixed argument of fixed bytes. */
static const char *vfs_name_arg(const struct vfs_req *r, uint32_t fixed)
{
	uint32_t off = fixed;
	const char *n = vfs_arg_str(r, &off, true);

	return n && vfs_name_ok(n) ? n : NULL;
}

static int vfs_mkdir(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_mkdir_in m;
	const char *name = vfs_name_arg(r, sizeof(m));

	memcpy(&m, r->arg, sizeof(m));
	if (!name)
		return -EINVAL;
	if (mkdirat(in->fd, name, m.mode & VFS_PERM_MASK) < 0)
		return -errno;
	return vfs_made(v, r, in, name);
}

static int vfs_mknod(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_mknod_in m;
	const char *name = vfs_name_arg(r, sizeof(m));

	memcpy(&m, r->arg, sizeof(m));
	if (!name)
		return -EINVAL;
	if (!S_ISREG(m.mode) && !S_ISFIFO(m.mode))
		return -EPERM; /* no device nodes or sockets on the host */
	if (mknodat(in->fd, name, (m.mode & S_IFMT) | (m.mode & 0777), 0) < 0)
		return -errno;
	return vfs_made(v, r, in, name);
}

static int vfs_symlink(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	uint32_t off = 0;
	const char *name = vfs_arg_str(r, &off, false);
	const char *target = vfs_arg_str(r, &off, true);

	if (!name || !target || !vfs_name_ok(name) || !*target ||
	    strlen(target) >= PATH_MAX)
		return -EINVAL;
	/* any text: it is resolved by the guest, never by us */
	if (symlinkat(target, in->fd, name) < 0)
		return -errno;
	return vfs_made(v, r, in, name);
}

static int vfs_remove(struct vfs_req *r, struct vfs_inode *in, int flags)
{
	const char *name = vfs_name_arg(r, 0);

	if (!name)
		return -EINVAL;
	return unlinkat(in->fd, name, flags) < 0 ? -errno : 0;
}

static int vfs_unlink(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	(void)v;
	return vfs_remove(r, in, 0);
}

static int vfs_rmdir(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	(void)v;
	return vfs_remove(r, in, AT_REMOVEDIR);
}

static int vfs_do_rename(struct vfs *v, struct vfs_req *r, struct vfs_inode *in,
			 uint64_t newdir, uint32_t flags, uint32_t fixed)
{
	struct vfs_inode *nd = vfs_inode_get(v, newdir);
	uint32_t off = fixed;
	const char *old = vfs_arg_str(r, &off, false);
	const char *new = vfs_arg_str(r, &off, true);

	if (!nd)
		return -ENOENT;
	if (!old || !new || !vfs_name_ok(old) || !vfs_name_ok(new))
		return -EINVAL;
	/* no RENAME_WHITEOUT: it makes a character device (0:0) */
	if (flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	/* the system call itself: glibc's renameat2 turns flags 0 into
	 * renameat, one more entry in the seccomp list */
	return syscall(SYS_renameat2, in->fd, old, nd->fd, new, flags) < 0 ? -errno : 0;
}

static int vfs_rename(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_rename_in a;

	memcpy(&a, r->arg, sizeof(a));
	return vfs_do_rename(v, r, in, a.newdir, 0, sizeof(a));
}

static int vfs_rename2(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_rename2_in a;

	memcpy(&a, r->arg, sizeof(a));
	return vfs_do_rename(v, r, in, a.newdir, a.flags, sizeof(a));
}

/* LINK: nodeid is the new parent, oldnodeid the inode to link. */
static int vfs_link(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_link_in l;
	const char *name = vfs_name_arg(r, sizeof(l));
	struct vfs_inode *old;
	char proc[16];

	memcpy(&l, r->arg, sizeof(l));
	if (!name)
		return -EINVAL;
	if (!(old = vfs_inode_get(v, l.oldnodeid)))
		return -ENOENT;
	if (old->type == S_IFDIR)
		return -EPERM;
	/* by the inode's fd, not a path: linkat(AT_EMPTY_PATH) needs
	 * CAP_DAC_READ_SEARCH, /proc/self/fd/N does not */
	snprintf(proc, sizeof(proc), "%d", old->fd);
	if (linkat(v->proc_fd, proc, in->fd, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return vfs_made(v, r, in, name);
}

/* uid policy: the guest may "change" the owner only to what it already
 * is (as the guest sees it); the VMM never chowns host files to
 * guest-chosen ids. */
static int vfs_setattr_ids(struct vfs *v, const struct fuse_setattr_in *s,
			   const struct stat *st)
{
	struct fuse_attr a;

	vfs_fill_attr(v, st, &a);
	if ((s->valid & FATTR_UID) && s->uid != a.uid)
		return -EPERM;
	if ((s->valid & FATTR_GID) && s->gid != a.gid)
		return -EPERM;
	return 0;
}

static int vfs_truncate(struct vfs *v, const struct fuse_setattr_in *s,
			struct vfs_inode *in)
{
	struct vfs_handle *h = (s->valid & FATTR_FH) ? vfs_fh_get(v, s->fh, false) : NULL;
	int fd, rc = 0;

	if (s->size > INT64_MAX)
		return -EINVAL;
	if (in->type != S_IFREG)
		return in->type == S_IFDIR ? -EISDIR : -EINVAL;
	if (h)
		return ftruncate(h->fd, (off_t)s->size) < 0 ? -errno : 0;
	if ((fd = vfs_reopen(v, in, O_WRONLY)) < 0)
		return fd;
	if (ftruncate(fd, (off_t)s->size) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int vfs_utimes(struct vfs *v, const struct fuse_setattr_in *s,
		      struct vfs_inode *in)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	char proc[16];

	if (in->type == S_IFLNK)
		return -EOPNOTSUPP; /* would follow the link */
	if (s->valid & FATTR_ATIME)
		ts[0] = (struct timespec){ (time_t)s->atime, s->atimensec };
	if (s->valid & FATTR_MTIME)
		ts[1] = (struct timespec){ (time_t)s->mtime, s->mtimensec };
	if (s->valid & FATTR_ATIME_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	if (s->valid & FATTR_MTIME_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	if (s->atimensec >= 1000000000u || s->mtimensec >= 1000000000u)
		return -EINVAL;
	snprintf(proc, sizeof(proc), "%d", in->fd);
	return utimensat(v->proc_fd, proc, ts, 0) < 0 ? -errno : 0;
}

static int vfs_setattr(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_setattr_in s;
	struct stat st;
	char proc[16];
	int rc;

	memcpy(&s, r->arg, sizeof(s));
	if ((rc = vfs_stat(in->fd, &st)) < 0 ||
	    (rc = vfs_setattr_ids(v, &s, &st)) < 0)
		return rc;
	if (s.valid & FATTR_MODE) {
		if (in->type == S_IFLNK)
			return -EOPNOTSUPP;
		snprintf(proc, sizeof(proc), "%d", in->fd);
		if (fchmodat(v->proc_fd, proc, s.mode & VFS_PERM_MASK, 0) < 0)
			return -errno;
	}
	if ((s.valid & FATTR_SIZE) && (rc = vfs_truncate(v, &s, in)) < 0)
		return rc;
	if ((s.valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW |
			FATTR_MTIME_NOW)) && (rc = vfs_utimes(v, &s, in)) < 0)
		return rc;
	struct fuse_attr_out *o = vfs_reply_buf(v, r, sizeof(*o));
	if (!o)
		return -EINVAL;
	if ((rc = vfs_stat(in->fd, &st)) < 0)
		return rc;
	o->attr_valid = 1;
	vfs_fill_attr(v, &st, &o->attr);
	return 0;
}

#define NS(op, type, fn) { op, sizeof(type), VFS_F_NODE | VFS_F_MUT, fn }
const struct vfs_op vfs_ns_ops[] = {
	NS(FUSE_SETATTR, struct fuse_setattr_in, vfs_setattr),
	NS(FUSE_MKDIR, struct fuse_mkdir_in, vfs_mkdir),
	NS(FUSE_MKNOD, struct fuse_mknod_in, vfs_mknod),
	{ FUSE_SYMLINK, 0, VFS_F_NODE | VFS_F_MUT, vfs_symlink },
	{ FUSE_UNLINK, 0, VFS_F_NODE | VFS_F_MUT, vfs_unlink },
	{ FUSE_RMDIR, 0, VFS_F_NODE | VFS_F_MUT, vfs_rmdir },
	NS(FUSE_RENAME, struct fuse_rename_in, vfs_rename),
	NS(FUSE_RENAME2, struct fuse_rename2_in, vfs_rename2),
	NS(FUSE_LINK, struct fuse_link_in, vfs_link),
};
const unsigned vfs_ns_n = sizeof(vfs_ns_ops) / sizeof(vfs_ns_ops[0]);
