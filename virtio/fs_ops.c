/* virtio-fs: FUSE dispatch, INIT, and the namespace operations (LOOKUP,
 * FORGET, attributes, create/remove/rename/link). Names are checked to be
 * one component and resolved with *at() calls relative to the parent's
 * O_PATH fd with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW / AT_EMPTY_PATH, so no
 * guest-supplied name or symlink ever walks the host outside the share
 * (9p ".." escapes, CVE-2020-35517 in virtiofsd). */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#define VFS_TTL 1 /* seconds the guest may cache entries and attributes */

void *vfs_reply_buf(struct vfs *v, struct vfs_req *r, uint32_t len)
{
	if (len > r->out_room || len > VFS_REPLY_MAX)
		return NULL;
	r->reply_len = len;
	memset(v->reply + sizeof(struct fuse_out_header), 0, len);
	return v->reply + sizeof(struct fuse_out_header);
}

const char *vfs_arg_str(const struct vfs_req *r, uint32_t *off, bool last)
{
	const char *s = (const char *)r->arg + *off;
	size_t n;

	if (*off >= r->arg_len)
		return NULL;
	n = strnlen(s, r->arg_len - *off);
	if (n == r->arg_len - *off)
		return NULL; /* no NUL inside the given length */
	*off += (uint32_t)n + 1;
	if (last && *off != r->arg_len)
		return NULL; /* bytes after the last name: malformed */
	return s;
}

bool vfs_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n && n <= NAME_MAX && !strchr(name, '/') && strcmp(name, ".") &&
	       strcmp(name, "..");
}

int vfs_stat(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ?
		       -errno : 0;
}

/* uid policy (docs/virtio-fs.md): the VMM's own user and group appear as
 * the guest's root; every other id as it is on the host. */
void vfs_fill_attr(const struct vfs *v, const struct stat *st,
		   struct fuse_attr *a)
{
	*a = (struct fuse_attr){
		.ino = st->st_ino, .size = (uint64_t)st->st_size,
		.blocks = (uint64_t)st->st_blocks,
		.atime = (uint64_t)st->st_atim.tv_sec,
		.mtime = (uint64_t)st->st_mtim.tv_sec,
		.ctime = (uint64_t)st->st_ctim.tv_sec,
		.atimensec = (uint32_t)st->st_atim.tv_nsec,
		.mtimensec = (uint32_t)st->st_mtim.tv_nsec,
		.ctimensec = (uint32_t)st->st_ctim.tv_nsec,
		.mode = st->st_mode, .nlink = (uint32_t)st->st_nlink,
		.uid = st->st_uid == v->uid ? 0 : st->st_uid,
		.gid = st->st_gid == v->gid ? 0 : st->st_gid,
		.rdev = (uint32_t)st->st_rdev, .blksize = (uint32_t)st->st_blksize,
	};
}

int vfs_entry(struct vfs *v, int fd, struct fuse_entry_out *e)
{
	struct stat st;
	int rc = vfs_stat(fd, &st);

	if (rc < 0) {
		close(fd);
		return rc;
	}
	if ((rc = vfs_inode_add(v, fd, &st, &e->nodeid)) < 0)
		return rc;
	e->generation = 0;
	e->entry_valid = e->attr_valid = VFS_TTL;
	vfs_fill_attr(v, &st, &e->attr);
	return 0;
}

int vfs_do_lookup(struct vfs *v, struct vfs_inode *dir, const char *name,
		  struct fuse_entry_out *e)
{
	struct stat st;
	int fd, rc;

	if (dir->type != S_IFDIR)
		return -ENOTDIR;
	if (!strcmp(name, "..")) {
		/* ".." of the root is the root (no 9p-style climb out); of
		 * another directory, only an inode already handed out: a
		 * directory moved out of the share on the host leads nowhere */
		fd = openat(dir->fd, dir == v->ino ? "." : "..",
			    O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if ((rc = vfs_stat(fd, &st)) < 0 || !vfs_inode_find(v, st.st_dev, st.st_ino)) {
			close(fd);
			return rc < 0 ? rc : -EACCES;
		}
		return vfs_entry(v, fd, e);
	}
	if (!vfs_name_ok(name))
		return -EINVAL;
	fd = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return vfs_entry(v, fd, e);
}

static int vfs_init(struct vfs *v, struct vfs_req *r)
{
	struct fuse_init_in in = { 0 };
	struct fuse_init_out *o;
	uint32_t want = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES |
			FUSE_ATOMIC_O_TRUNC | FUSE_PARALLEL_DIROPS |
			FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO;

	if (v->inited)
		return -EIO; /* a second INIT in one session */
	/* 7.6+ sends at least these 16 bytes; newer ones flags2 and more */
	if (r->arg_len < 16)
		return -EINVAL;
	memcpy(&in, r->arg, r->arg_len < sizeof(in) ? r->arg_len : sizeof(in));
	if (in.major < FUSE_KERNEL_VERSION)
		return -EPROTO;
	if (!(o = vfs_reply_buf(v, r, sizeof(*o))))
		return -EINVAL;
	o->major = FUSE_KERNEL_VERSION;
	o->minor = FUSE_KERNEL_MINOR_VERSION;
	if (in.major > FUSE_KERNEL_VERSION)
		return 0; /* our version only: the guest INITs again */
	if (in.minor < VFS_MINOR_MIN)
		return -EPROTO;
	v->minor = in.minor < FUSE_KERNEL_MINOR_VERSION ? in.minor :
							  FUSE_KERNEL_MINOR_VERSION;
	o->minor = v->minor;
	o->flags = in.flags & want;
	o->max_readahead = in.max_readahead < VFS_MAX_IO ? in.max_readahead :
							   VFS_MAX_IO;
	o->max_background = 64;
	o->congestion_threshold = 48;
	o->max_write = VFS_MAX_IO;
	o->time_gran = 1;
	o->max_pages = VFS_MAX_IO / 4096;
	v->inited = true;
	return 0;
}

static int vfs_destroy(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	(void)r;
	(void)in;
	vfs_session_reset(v); /* every inode but the root, every handle */
	return 0;
}

static int vfs_lookup(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	uint32_t off = 0;
	const char *name = vfs_arg_str(r, &off, true);
	struct fuse_entry_out *e = vfs_reply_buf(v, r, sizeof(*e));

	if (!name || !e)
		return -EINVAL;
	return vfs_do_lookup(v, in, name, e);
}

static int vfs_forget(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_forget_in f;

	(void)in;
	memcpy(&f, r->arg, sizeof(f));
	vfs_inode_forget(v, r->h.nodeid, f.nlookup);
	return 0;
}

static int vfs_batch_forget(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_batch_forget_in b;
	uint32_t max = (r->arg_len - (uint32_t)sizeof(b)) /
		       (uint32_t)sizeof(struct fuse_forget_one);

	(void)in;
	memcpy(&b, r->arg, sizeof(b));
	/* count is the guest's word: only the entries actually sent count */
	for (uint32_t i = 0; i < b.count && i < max; i++) {
		struct fuse_forget_one one;

		memcpy(&one, r->arg + sizeof(b) + i * sizeof(one), sizeof(one));
		vfs_inode_forget(v, one.nodeid, one.nlookup);
	}
	return 0;
}

static int vfs_attr_reply(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_attr_out *o = vfs_reply_buf(v, r, sizeof(*o));
	struct stat st;
	int rc;

	if (!o)
		return -EINVAL;
	if ((rc = vfs_stat(in->fd, &st)) < 0)
		return rc;
	o->attr_valid = VFS_TTL;
	vfs_fill_attr(v, &st, &o->attr);
	return 0;
}

static int vfs_getattr(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	return vfs_attr_reply(v, r, in);
}

static int vfs_readlink(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	char *buf;
	uint32_t room = r->out_room < PATH_MAX ? r->out_room : PATH_MAX;
	ssize_t n;

	if (in->type != S_IFLNK)
		return -EINVAL;
	if (!(buf = vfs_reply_buf(v, r, room)))
		return -EINVAL;
	/* the target is text for the guest: never followed here */
	n = readlinkat(in->fd, "", buf, room);
	if (n < 0)
		return -errno;
	r->reply_len = (uint32_t)n;
	return 0;
}

static int vfs_statfs(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_statfs_out *o = vfs_reply_buf(v, r, sizeof(*o));
	struct statfs s;

	if (!o)
		return -EINVAL;
	if (fstatfs(in->fd, &s) < 0)
		return -errno;
	o->st = (struct fuse_kstatfs){
		.blocks = s.f_blocks, .bfree = s.f_bfree, .bavail = s.f_bavail,
		.files = s.f_files, .ffree = s.f_ffree, .bsize = (uint32_t)s.f_bsize,
		.namelen = (uint32_t)s.f_namelen, .frsize = (uint32_t)s.f_frsize,
	};
	return 0;
}

static int vfs_access(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_access_in a;
	char name[16];

	memcpy(&a, r->arg, sizeof(a));
	if ((a.mask & W_OK) && v->ro)
		return -EROFS;
	if (in->type == S_IFLNK)
		return 0; /* the guest checks symlinks' targets itself */
	snprintf(name, sizeof(name), "%d", in->fd);
	return faccessat(v->proc_fd, name, (int)(a.mask & 7), 0) < 0 ? -errno : 0;
}

/* Extended attributes are not passed through (no security.* or trusted.*
 * reaching the host: CVE-2021-20263 in virtiofsd): none are there. */
static int vfs_getxattr(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	(void)v;
	(void)r;
	(void)in;
	return -ENODATA;
}

static int vfs_listxattr(struct vfs *v, struct vfs_req *r, struct vfs_inode *in)
{
	struct fuse_getxattr_in g;
	struct fuse_getxattr_out *o;

	(void)in;
	memcpy(&g, r->arg, sizeof(g));
	if (g.size)
		return 0; /* an empty list */
	if (!(o = vfs_reply_buf(v, r, sizeof(*o))))
		return -EINVAL;
	o->size = 0;
	return 0;
}

static const struct vfs_op vfs_ops_tab[] = {
	{ FUSE_DESTROY, 0, 0, vfs_destroy },
	{ FUSE_LOOKUP, 0, VFS_F_NODE, vfs_lookup },
	{ FUSE_FORGET, sizeof(struct fuse_forget_in), VFS_F_NOREPLY, vfs_forget },
	{ FUSE_BATCH_FORGET, sizeof(struct fuse_batch_forget_in), VFS_F_NOREPLY,
	  vfs_batch_forget },
	{ FUSE_GETATTR, 0, VFS_F_NODE, vfs_getattr },
	{ FUSE_READLINK, 0, VFS_F_NODE, vfs_readlink },
	{ FUSE_STATFS, 0, VFS_F_NODE, vfs_statfs },
	{ FUSE_ACCESS, sizeof(struct fuse_access_in), VFS_F_NODE, vfs_access },
	{ FUSE_GETXATTR, sizeof(struct fuse_getxattr_in), VFS_F_NODE, vfs_getxattr },
	{ FUSE_LISTXATTR, sizeof(struct fuse_getxattr_in), VFS_F_NODE, vfs_listxattr },
};

static const struct vfs_op *vfs_find_op(uint32_t opcode)
{
	const struct {
		const struct vfs_op *t;
		unsigned n;
	} tabs[] = { { vfs_ops_tab, sizeof(vfs_ops_tab) / sizeof(vfs_ops_tab[0]) },
		     { vfs_ns_ops, vfs_ns_n }, { vfs_io_ops, vfs_io_n } };

	for (unsigned t = 0; t < 3; t++)
		for (unsigned i = 0; i < tabs[t].n; i++)
			if (tabs[t].t[i].opcode == opcode)
				return &tabs[t].t[i];
	return NULL;
}

int vfs_dispatch(struct vfs *v, struct vfs_req *r)
{
	const struct vfs_op *op = vfs_find_op(r->h.opcode);
	struct vfs_inode *in = NULL;

	if (op && (op->flags & VFS_F_NOREPLY))
		r->no_reply = true;
	if (r->h.opcode == FUSE_INIT)
		return vfs_init(v, r);
	if (!v->inited)
		return -EIO; /* nothing before INIT */
	if (!op)
		return -ENOSYS; /* unknown or unsupported: the guest stops asking */
	if (r->arg_len < op->arg_min)
		return -EINVAL;
	if ((op->flags & VFS_F_MUT) && v->ro)
		return -EROFS;
	if ((op->flags & VFS_F_NODE) && !(in = vfs_inode_get(v, r->h.nodeid)))
		return -ENOENT;
	return op->fn(v, r, in);
}
