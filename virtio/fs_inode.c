/* virtio-fs inode and handle tables. Inodes are deduplicated by (st_dev,
 * st_ino): a second LOOKUP of one file returns the same nodeid with one
 * more reference, and FORGET drops references (clamped: a guest that
 * forgets more than it looked up cannot underflow the count), closing the
 * O_PATH fd at zero. Ids carry the slot's generation in their upper 32
 * bits, so an id from before a FORGET, or one never handed out, resolves
 * to nothing (ENOENT/EBADF) instead of another file or an out-of-range
 * index. Both tables are bounded (fs.h): ENFILE at the caps. */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t vfs_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev;

	return (uint32_t)(h >> 40) % VFS_HASH_SIZE;
}

int vfs_tables_init(struct vfs *v, int root_fd)
{
	struct stat st;

	for (uint32_t i = 0; i < VFS_HASH_SIZE; i++)
		v->hash[i] = VFS_NONE;
	v->free_ino = VFS_NONE;
	v->max_ino = VFS_MAX_INODES;
	/* the whole table at once (2.5 MiB of address space, pages touched
	 * as used): never moved, so handlers may hold inode pointers across
	 * lookups (READDIRPLUS looks up entry after entry in one directory) */
	v->ino = calloc(VFS_MAX_INODES, sizeof(*v->ino));
	v->fh = calloc(VFS_MAX_HANDLES, sizeof(*v->fh));
	if (!v->ino || !v->fh || fstatat(root_fd, "", &st, AT_EMPTY_PATH) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < VFS_MAX_HANDLES; i++)
		v->fh[i].fd = -1;
	/* slot 0 is the root, nodeid FUSE_ROOT_ID (gen 0), never forgotten */
	v->ino[0] = (struct vfs_inode){ .fd = root_fd, .dev = st.st_dev,
					.ino = st.st_ino, .type = S_IFDIR,
					.nlookup = 1, .hnext = VFS_NONE };
	v->hash[vfs_hash(st.st_dev, st.st_ino)] = 0;
	v->n_ino = v->live_ino = 1;
	return 0;
}

static void vfs_inode_unhash(struct vfs *v, uint32_t i)
{
	uint32_t *p = &v->hash[vfs_hash(v->ino[i].dev, v->ino[i].ino)];

	while (*p != VFS_NONE && *p != i)
		p = &v->ino[*p].hnext;
	if (*p == i)
		*p = v->ino[i].hnext;
}

static void vfs_inode_free(struct vfs *v, uint32_t i)
{
	struct vfs_inode *in = &v->ino[i];

	vfs_inode_unhash(v, i);
	close(in->fd);
	in->fd = -1;
	in->nlookup = 0;
	in->gen++;
	in->hnext = v->free_ino;
	v->free_ino = i;
	v->live_ino--;
}

void vfs_session_reset(struct vfs *v)
{
	for (uint32_t i = 1; i < v->n_ino; i++)
		if (v->ino[i].fd >= 0)
			vfs_inode_free(v, i);
	for (uint32_t i = 0; i < VFS_MAX_HANDLES; i++)
		if (v->fh[i].fd >= 0) {
			close(v->fh[i].fd);
			v->fh[i].fd = -1;
			v->fh[i].gen++;
		}
	v->live_fh = 0;
	v->inited = false;
	v->minor = 0;
}

void vfs_tables_free(struct vfs *v)
{
	if (v->ino && v->fh)
		vfs_session_reset(v);
	if (v->ino && v->n_ino && v->ino[0].fd >= 0)
		close(v->ino[0].fd);
	free(v->ino);
	free(v->fh);
	v->ino = NULL;
	v->fh = NULL;
	v->n_ino = v->live_ino = 0;
}

struct vfs_inode *vfs_inode_get(struct vfs *v, uint64_t nodeid)
{
	uint64_t i = (nodeid & 0xffffffffu) - 1;

	if ((nodeid & 0xffffffffu) == 0 || i >= v->n_ino)
		return NULL;
	if (v->ino[i].fd < 0 || v->ino[i].gen != (uint32_t)(nodeid >> 32))
		return NULL;
	return &v->ino[i];
}

static uint64_t vfs_nodeid(const struct vfs *v, const struct vfs_inode *in)
{
	return (uint64_t)in->gen << 32 | (uint64_t)(in - v->ino + 1);
}

struct vfs_inode *vfs_inode_find(struct vfs *v, dev_t dev, ino_t ino)
{
	for (uint32_t i = v->hash[vfs_hash(dev, ino)]; i != VFS_NONE;
	     i = v->ino[i].hnext)
		if (v->ino[i].dev == dev && v->ino[i].ino == ino)
			return &v->ino[i];
	return NULL;
}

/* A free slot: the free list, then a fresh one. */
static int vfs_inode_slot(struct vfs *v, uint32_t *slot)
{
	if (v->live_ino >= v->max_ino)
		return -ENFILE; /* the cap: until the guest FORGETs some */
	if (v->free_ino != VFS_NONE) {
		*slot = v->free_ino;
		v->free_ino = v->ino[*slot].hnext;
		return 0;
	}
	if (v->n_ino == VFS_MAX_INODES)
		return -ENFILE;
	*slot = v->n_ino++;
	v->ino[*slot].gen = 0;
	return 0;
}

int vfs_inode_add(struct vfs *v, int fd, const struct stat *st,
		  uint64_t *nodeid)
{
	struct vfs_inode *in = vfs_inode_find(v, st->st_dev, st->st_ino);
	uint32_t slot;
	int rc;

	if (in) {
		close(fd);
		if (in != v->ino) /* the root stays pinned at 1 */
			in->nlookup++;
		*nodeid = vfs_nodeid(v, in);
		return 0;
	}
	if ((rc = vfs_inode_slot(v, &slot)) < 0) {
		close(fd);
		return rc;
	}
	in = &v->ino[slot];
	in->fd = fd;
	in->dev = st->st_dev;
	in->ino = st->st_ino;
	in->type = st->st_mode & S_IFMT;
	in->nlookup = 1;
	in->hnext = v->hash[vfs_hash(st->st_dev, st->st_ino)];
	v->hash[vfs_hash(st->st_dev, st->st_ino)] = slot;
	v->live_ino++;
	*nodeid = vfs_nodeid(v, in);
	return 0;
}

void vfs_inode_forget(struct vfs *v, uint64_t nodeid, uint64_t n)
{
	struct vfs_inode *in = vfs_inode_get(v, nodeid);

	if (!in || in == v->ino)
		return; /* unknown, stale, or the root: nothing to drop */
	in->nlookup -= n < in->nlookup ? n : in->nlookup; /* clamp */
	if (!in->nlookup)
		vfs_inode_free(v, (uint32_t)(in - v->ino));
}

int vfs_fh_add(struct vfs *v, int fd, bool dir, uint64_t *fh)
{
	for (uint32_t i = 0; i < VFS_MAX_HANDLES; i++) {
		/* round robin from n_fh: freed slots are reused last */
		uint32_t s = (v->n_fh + i) % VFS_MAX_HANDLES;

		if (v->fh[s].fd >= 0)
			continue;
		v->fh[s].fd = fd;
		v->fh[s].dir = dir;
		v->n_fh = s + 1;
		v->live_fh++;
		*fh = (uint64_t)v->fh[s].gen << 32 | s;
		return 0;
	}
	close(fd);
	return -ENFILE;
}

struct vfs_handle *vfs_fh_get(struct vfs *v, uint64_t fh, bool dir)
{
	uint64_t s = fh & 0xffffffffu;

	if (s >= VFS_MAX_HANDLES || v->fh[s].fd < 0 ||
	    v->fh[s].gen != (uint32_t)(fh >> 32) || v->fh[s].dir != dir)
		return NULL;
	return &v->fh[s];
}

int vfs_fh_release(struct vfs *v, uint64_t fh, bool dir)
{
	struct vfs_handle *h = vfs_fh_get(v, fh, dir);

	if (!h)
		return -EBADF;
	close(h->fd);
	h->fd = -1;
	h->gen++;
	v->live_fh--;
	return 0;
}
