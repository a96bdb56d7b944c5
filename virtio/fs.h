/* virtio-fs (virtio 1.2, section 5.11): a host directory shared with the
 * guest, served by an in-process FUSE server (docs/virtio-fs.md).
 *
 * fs.c is the device (queues, requests, the worker thread), fs_inode.c the
 * inode and handle tables, fs_ops.c (dispatch, INIT, lookups, attributes),
 * fs_ns.c (namespace changes) and fs_io.c (open files and directories)
 * the FUSE operations.
 * Confinement: every inode is an O_PATH fd reached by one-component
 * openat(..., O_NOFOLLOW) from its parent, files are re-opened through
 * /proc/self/fd/N, never by a path from the share root (the virtiofsd and
 * 9p path-escape CVE history). All session state (inodes, handles, the
 * INIT state) is touched by one thread only: the worker, or, without a
 * worker (tests, fuzzing), the thread that kicks the queue. */
#ifndef MSBVM_VFS_H
#define MSBVM_VFS_H

#include <limits.h>
#include <linux/fuse.h>
#include <linux/virtio_fs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "virtio.h"

#define VFS_QUEUE_SIZE 256
#define VFS_HIPRIO_Q 0
#define VFS_REQUEST_Q 1
/* The FUSE minor we speak (from linux/fuse.h); we refuse guests older
 * than 7.31 (the first with virtio-fs, Linux 5.4): no compat structs. */
#define VFS_MINOR_MIN 31
/* Largest READ/WRITE payload; advertised as max_write, max_readahead and
 * max_pages (the guest clamps max_pages to the queue size, 5.11.6). */
#define VFS_MAX_IO (1u << 20)
/* The inode table's cap: LOOKUP, CREATE, MKDIR... answer ENFILE when
 * full, until the guest FORGETs some. Every inode is an open fd, so the
 * process's RLIMIT_NOFILE may be reached first (EMFILE then). */
#define VFS_MAX_INODES 65536u
#define VFS_HASH_SIZE 16384u
/* Open files and directories at a time: ENFILE beyond. */
#define VFS_MAX_HANDLES 4096u
/* Request arguments (without WRITE data): two names, a link target. */
#define VFS_ARG_MAX (PATH_MAX + 2 * (NAME_MAX + 1) + 128)
/* Replies built in our buffer (all but READ data): READDIR is cut here. */
#define VFS_REPLY_MAX (64u * 1024)
#define VFS_NONE UINT32_MAX

struct vfs_inode {
	int fd;             /* O_PATH | O_NOFOLLOW; -1: slot free */
	dev_t dev;
	ino_t ino;
	mode_t type;        /* S_IFMT bits */
	uint64_t nlookup;   /* LOOKUPs not yet FORGOTten (root: pinned) */
	uint32_t gen;       /* bumped when the slot is freed (stale ids) */
	uint32_t hnext;     /* hash chain, or free list when free */
};

struct vfs_handle {
	int fd;             /* -1: slot free */
	uint32_t gen;
	bool dir;
};

struct vfs {
	struct virtio_fs_config cfg;
	char host[PATH_MAX];
	bool ro;
	int proc_fd;        /* /proc/self/fd, to re-open O_PATH fds */
	uid_t uid;          /* the VMM's euid/egid: shown as 0 in the guest */
	gid_t gid;
	/* inode table: slot i is nodeid (gen << 32 | i + 1); slot 0 root */
	struct vfs_inode *ino;
	uint32_t n_ino, free_ino, live_ino;
	uint32_t max_ino;   /* VFS_MAX_INODES (tests lower it) */
	uint32_t hash[VFS_HASH_SIZE];
	struct vfs_handle *fh;
	uint32_t n_fh, live_fh;
	/* session: INIT seen and its minor */
	bool inited;
	uint32_t minor;
	/* device state, written under the transport lock */
	struct vdev *dev;
	bool active;
	uint32_t gen;       /* bumped by reset: chains popped before are dropped */
	uint32_t session_gen; /* worker: gen the session belongs to */
	/* worker thread */
	pthread_t thread;
	bool running;
	bool stopping;
	int kick_fd;
	/* worker scratch: one request at a time */
	struct virtq_chain chain;
	uint8_t args[VFS_ARG_MAX];
	uint8_t reply[sizeof(struct fuse_out_header) + VFS_REPLY_MAX];
	uint8_t dents[VFS_REPLY_MAX];
	uint64_t requests, errors;
};

/* One request being served: the header copy and the argument copy. */
struct vfs_req {
	struct fuse_in_header h;
	const uint8_t *arg;     /* v->args */
	uint32_t arg_len;
	const struct virtq_chain *c;
	uint32_t out_room;      /* writable bytes after fuse_out_header */
	uint32_t reply_len;     /* bytes of v->reply after the out header */
	bool no_reply;          /* FORGET, BATCH_FORGET */
	bool direct;            /* READ: data already in the guest buffers */
};

/* Opens the share (host errors -> -errno with a message). */
int vfs_open(struct vfs *v, const char *host, const char *tag, bool ro);
/* Starts the worker; without it requests are served inline on the
 * kicking thread (tests, fuzzing). */
int vfs_start(struct vfs *v, struct vdev *d);
/* Serves both queues until empty (worker, or inline). */
void vfs_serve(struct vfs *v);
/* Stops and joins the worker (before guest RAM goes away); later kicks
 * are ignored. */
void vfs_stop(struct vfs *v);
/* vfs_stop, then closes every fd. */
void vfs_close(struct vfs *v);

extern const struct vdev_ops vfs_ops;

/* fs_inode.c */
int vfs_tables_init(struct vfs *v, int root_fd);
void vfs_tables_free(struct vfs *v);
/* Back to just the root (DESTROY, device reset). */
void vfs_session_reset(struct vfs *v);
struct vfs_inode *vfs_inode_get(struct vfs *v, uint64_t nodeid);
/* Takes fd (O_PATH): the existing inode for (dev, ino) with one more
 * lookup, or a new one. -errno (fd closed) when the table is full. */
int vfs_inode_add(struct vfs *v, int fd, const struct stat *st,
		  uint64_t *nodeid);
struct vfs_inode *vfs_inode_find(struct vfs *v, dev_t dev, ino_t ino);
void vfs_inode_forget(struct vfs *v, uint64_t nodeid, uint64_t n);
int vfs_fh_add(struct vfs *v, int fd, bool dir, uint64_t *fh);
struct vfs_handle *vfs_fh_get(struct vfs *v, uint64_t fh, bool dir);
int vfs_fh_release(struct vfs *v, uint64_t fh, bool dir);

/* fs_ops.c / fs_io.c: one handler per opcode, 0 or -errno. in is the
 * request's nodeid resolved (VFS_F_NODE), else NULL. */
#define VFS_F_NODE 1     /* h.nodeid must name a live inode: ENOENT */
#define VFS_F_MUT 2      /* mutates the share: EROFS when read-only */
#define VFS_F_NOREPLY 4  /* FORGET: the guest waits for no answer */
struct vfs_op {
	uint32_t opcode;
	uint32_t arg_min;    /* fixed argument bytes: EINVAL below */
	unsigned flags;
	int (*fn)(struct vfs *v, struct vfs_req *r, struct vfs_inode *in);
};
extern const struct vfs_op vfs_ns_ops[];   /* fs_ns.c */
extern const unsigned vfs_ns_n;
extern const struct vfs_op vfs_io_ops[];   /* fs_io.c */
extern const unsigned vfs_io_n;

int vfs_dispatch(struct vfs *v, struct vfs_req *r);
/* The reply body of len bytes (NULL: it does not fit the guest's
 * buffer); sets r->reply_len. */
void *vfs_reply_buf(struct vfs *v, struct vfs_req *r, uint32_t len);
/* The NUL-terminated string at *off in the arguments (advanced past it);
 * last: it must end them. NULL when malformed. */
const char *vfs_arg_str(const struct vfs_req *r, uint32_t *off, bool last);
/* One path component: 1..NAME_MAX bytes, no '/', not "." or "..". */
bool vfs_name_ok(const char *name);
int vfs_stat(int fd, struct stat *st);
void vfs_fill_attr(const struct vfs *v, const struct stat *st,
		   struct fuse_attr *a);
/* A real fd for a regular file or directory inode, via /proc/self/fd;
 * anything else (devices, FIFOs, sockets, symlinks) -EACCES. */
int vfs_reopen(struct vfs *v, const struct vfs_inode *in, int flags);
/* LOOKUP of name in dir into e (one more reference on success). */
int vfs_do_lookup(struct vfs *v, struct vfs_inode *dir, const char *name,
		  struct fuse_entry_out *e);
/* READDIR and READDIRPLUS (fs_dir.c). */
int vfs_readdir(struct vfs *v, struct vfs_req *r, struct vfs_inode *in);
/* e for an fd (O_PATH) just created or opened: takes fd. */
int vfs_entry(struct vfs *v, int fd, struct fuse_entry_out *e);

#endif
