/* virtio-fs device (virtio 1.2, 5.11): queue 0 hiprio, 1 requests. Every
 * request is a FUSE message: the device-readable part holds fuse_in_header
 * and the arguments (and WRITE data), the writable part fuse_out_header
 * and the reply. The header is copied out of guest memory once and
 * checked on the copy (its len against the readable bytes), the arguments
 * likewise into a bounded buffer. A chain without room for the out header
 * (and not a FORGET) is a driver bug: NEEDS_RESET, logged rate-limited.
 *
 * Host I/O may block, so the work runs on a worker thread of its own,
 * woken through an eventfd by queue_notify (I/O thread or vCPU). It pops
 * and pushes under the transport lock and does the I/O without it; a
 * device reset in between bumps v->gen, and the chains popped before are
 * dropped rather than pushed to the new rings. */
#include "fs.h"
#include "vmm/core/err.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VFS_OUT_HDR ((uint32_t)sizeof(struct fuse_out_header))
#define VFS_IN_HDR ((uint32_t)sizeof(struct fuse_in_header))

static void vfs_lock(struct vfs *v)
{
	if (v->running)
		v->dev->lock(v->dev);
}

static void vfs_unlock(struct vfs *v)
{
	if (v->running)
		v->dev->unlock(v->dev);
}

static bool vfs_stopping(const struct vfs *v)
{
	return __atomic_load_n(&v->stopping, __ATOMIC_ACQUIRE);
}

static void vfs_kick(struct vfs *v)
{
	uint64_t one = 1;

	if (write(v->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_guest("vfs-kick", "virtio-fs: kick: %s", strerror(errno));
}

/* Copies the header and the arguments (WRITE: only fuse_write_in; its
 * data is read straight from the guest buffers). false: malformed. */
static bool vfs_parse(struct vfs *v, const struct virtq_chain *c,
		      struct vfs_req *r)
{
	uint64_t want;

	if (!virtq_iov_copy(c->out, c->n_out, 0, &r->h, VFS_IN_HDR))
		return false;
	/* the header's len covers header and arguments: never more than
	 * what the guest made readable */
	if (r->h.len < VFS_IN_HDR || r->h.len > c->out_len)
		return false;
	want = r->h.len - VFS_IN_HDR;
	if (r->h.opcode == FUSE_WRITE && want > sizeof(struct fuse_write_in))
		want = sizeof(struct fuse_write_in);
	if (want > VFS_ARG_MAX)
		return false;
	if (!virtq_iov_copy(c->out, c->n_out, VFS_IN_HDR, v->args, want))
		return false;
	r->arg = v->args;
	r->arg_len = (uint32_t)want;
	r->c = c;
	return true;
}

/* Serves one chain; returns the bytes written into it, or -1 when the
 * chain cannot carry an answer (NEEDS_RESET). */
static int64_t vfs_request(struct vfs *v, const struct virtq_chain *c)
{
	struct vfs_req r = { 0 };
	struct fuse_out_header o = { 0 };
	int rc;

	if (c->in_len > UINT32_MAX)
		return -1;
	r.out_room = c->in_len >= VFS_OUT_HDR ? (uint32_t)(c->in_len - VFS_OUT_HDR) : 0;
	if (!vfs_parse(v, c, &r)) {
		/* no trustworthy unique to answer: an error reply if there
		 * is room (the guest sees EINVAL), else a broken driver */
		if (c->in_len < VFS_OUT_HDR)
			return c->in_len == 0 ? 0 : -1;
		o = (struct fuse_out_header){ VFS_OUT_HDR, -EINVAL, r.h.unique };
		virtq_iov_fill(c->in, c->n_in, 0, &o, VFS_OUT_HDR);
		v->errors++;
		return VFS_OUT_HDR;
	}
	/* refused before it runs: no side effect the guest cannot hear of */
	if (c->in_len < VFS_OUT_HDR && r.h.opcode != FUSE_FORGET &&
	    r.h.opcode != FUSE_BATCH_FORGET)
		return -1;
	rc = vfs_dispatch(v, &r);
	v->requests++;
	if (r.no_reply)
		return 0;
	if (rc < 0) {
		r.reply_len = 0;
		r.direct = false;
		v->errors++;
	}
	o = (struct fuse_out_header){ VFS_OUT_HDR + r.reply_len, rc < 0 ? rc : 0,
				      r.h.unique };
	memcpy(v->reply, &o, VFS_OUT_HDR);
	/* the handlers never reply more than out_room (vfs_reply_buf) */
	virtq_iov_fill(c->in, c->n_in, 0, v->reply,
		       VFS_OUT_HDR + (r.direct ? 0 : r.reply_len));
	return VFS_OUT_HDR + r.reply_len;
}

/* Reset and DESTROY both end the session; the worker does it, so the
 * tables are only ever touched by one thread. */
static void vfs_sync_session(struct vfs *v, uint32_t gen)
{
	if (v->session_gen != gen) {
		vfs_session_reset(v);
		v->session_gen = gen;
	}
}

/* One request from queue q: 1 served, 0 empty, -1 stop this queue. */
static int vfs_serve_one(struct vfs *v, unsigned q)
{
	struct vdev *d = v->dev;
	struct virtq *vq = &d->vq[q];
	const char *why = NULL;
	uint32_t gen;
	int64_t len;
	int r;

	vfs_lock(v);
	gen = v->gen;
	r = v->active && !vq->broken ? virtq_pop(vq, d->gm, &v->chain, &why) : 0;
	if (r < 0)
		d->needs_reset(d, why);
	vfs_unlock(v);
	if (r <= 0)
		return r < 0 ? -1 : 0;
	vfs_sync_session(v, gen);
	len = vfs_request(v, &v->chain);
	vfs_lock(v);
	if (gen != v->gen) {
		r = -1; /* reset meanwhile: the chain is no longer the guest's */
	} else if (len < 0) {
		vq->broken = true;
		d->needs_reset(d, "request without room for fuse_out_header");
		r = -1;
	} else {
		virtq_push(vq, d->gm, v->chain.head, (uint32_t)len);
		if (virtq_should_notify(vq, d->gm))
			d->notify_used(d);
	}
	vfs_unlock(v);
	return r;
}

void vfs_serve(struct vfs *v)
{
	bool more = true;

	/* hiprio first (FORGETs free table slots), then requests; one
	 * request per queue per round so neither starves */
	while (more && !vfs_stopping(v)) {
		more = false;
		for (unsigned q = 0; q < 2; q++)
			more |= vfs_serve_one(v, q) > 0;
	}
}

struct vfs_thread_arg {
	struct vfs *v;
	struct log_sink *log;
};

static void *vfs_thread(void *arg)
{
	struct vfs_thread_arg a = *(struct vfs_thread_arg *)arg;
	uint64_t cnt;

	free(arg);
	/* the VM's sink and the "fs" seccomp filter, before any request */
	thread_enter(a.log, "fs");
	while (!vfs_stopping(a.v)) {
		if (read(a.v->kick_fd, &cnt, sizeof(cnt)) < 0 && errno != EINTR &&
		    errno != EAGAIN) {
			log_error("virtio-fs: kick: %s", strerror(errno));
			break;
		}
		vfs_serve(a.v);
	}
	return NULL;
}

static void vfs_notify(struct vdev *d, unsigned q)
{
	struct vfs *v = d->priv;

	(void)q;
	if (vfs_stopping(v))
		return; /* stopped: the machine is going away */
	if (v->running)
		vfs_kick(v);
	else
		vfs_serve(v); /* inline: tests and fuzzing (lock held) */
}

static int vfs_activate(struct vdev *d)
{
	struct vfs *v = d->priv;

	v->dev = d;
	v->active = true;
	if (v->running)
		vfs_kick(v);
	return 0;
}

/* 5.11.6: a reset ends the FUSE session; the guest INITs again. */
static void vfs_reset(struct vdev *d)
{
	struct vfs *v = d->priv;

	v->active = false;
	v->gen++;
}

static uint64_t vfs_features(struct vdev *d)
{
	(void)d;
	return (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
}

const struct vdev_ops vfs_ops = {
	.name = "virtio-fs",
	.device_id = VIRTIO_ID_FS,
	.num_queues = 2,
	.queue_max = VFS_QUEUE_SIZE,
	.features = vfs_features,
	VDEV_CONFIG(struct vfs, cfg),
	.activate = vfs_activate,
	.queue_notify = vfs_notify,
	.reset = vfs_reset,
};

int vfs_open(struct vfs *v, const char *host, const char *tag, bool ro)
{
	int root, rc;

	memset(v, 0, sizeof(*v));
	v->proc_fd = v->kick_fd = -1;
	if (strlen(tag) > sizeof(v->cfg.tag) || strlen(host) >= sizeof(v->host))
		return err_set(ENAMETOOLONG, "share %s: tag or path too long", host);
	memcpy(v->cfg.tag, tag, strlen(tag)); /* NUL-padded, not terminated */
	v->cfg.num_request_queues = htole32(1);
	snprintf(v->host, sizeof(v->host), "%s", host);
	v->ro = ro;
	v->uid = geteuid();
	v->gid = getegid();
	root = open(host, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return err_set(errno, "share %s: %s", host, strerror(errno));
	if (vfs_tables_init(v, root) < 0) {
		if (!v->n_ino) /* the root slot was never filled */
			close(root);
		vfs_close(v);
		return err_set(ENOMEM, "share %s: out of memory", host);
	}
	v->proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	v->kick_fd = eventfd(0, EFD_CLOEXEC);
	if (v->proc_fd < 0 || v->kick_fd < 0) {
		rc = err_set(errno, "share %s: %s: %s", host, v->proc_fd < 0 ?
			     "/proc/self/fd (is /proc mounted?)" : "eventfd",
			     strerror(errno));
		vfs_close(v);
		return rc;
	}
	return 0;
}

int vfs_start(struct vfs *v, struct vdev *d)
{
	struct vfs_thread_arg *a = malloc(sizeof(*a));
	int rc;

	if (!a)
		return err_set(ENOMEM, "virtio-fs thread: out of memory");
	a->v = v;
	a->log = log_bind(NULL); /* the caller's sink, left bound */
	log_bind(a->log);
	v->dev = d;
	/* running is set before the thread exists: vfs_lock must take the
	 * transport lock from the first request on */
	v->running = true;
	if ((rc = pthread_create(&v->thread, NULL, vfs_thread, a)) != 0) {
		v->running = false;
		free(a);
		return err_set(rc, "virtio-fs thread: %s", strerror(rc));
	}
	return 0;
}

void vfs_stop(struct vfs *v)
{
	/* stopping stays set: later kicks are ignored, never served inline */
	__atomic_store_n(&v->stopping, true, __ATOMIC_RELEASE);
	if (v->running) {
		vfs_kick(v);
		pthread_join(v->thread, NULL);
		v->running = false;
	}
}

void vfs_close(struct vfs *v)
{
	vfs_stop(v);
	vfs_tables_free(v);
	if (v->proc_fd >= 0)
		close(v->proc_fd);
	if (v->kick_fd >= 0)
		close(v->kick_fd);
	v->proc_fd = v->kick_fd = -1;
}
