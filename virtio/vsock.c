/* virtio-vsock device: queue 0 rx (device -> driver), 1 tx, 2 event
 * (5.10.2). Packets are copied out of the guest once and checked: header
 * present and readable, len equal to the payload and at most 64 KiB, the
 * guest's own CID as source and the host as destination (no spoofing),
 * stream type. A bad packet on a connection resets that connection; a
 * malformed ring or buffer layout is a driver bug and sets NEEDS_RESET.
 * Backend work (Unix sockets) runs in one thread, under the transport
 * lock, woken by the sockets and by queue kicks through an eventfd. */
#include "vsock.h"
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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define VSOCK_HDR ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define VSOCK_RXQ 0
#define VSOCK_TXQ 1

/* vsock_close() sets stopping while the backend thread reads it: an
 * atomic store and load (volatile alone is still a data race). */
static bool vsock_stopping(const struct vsock *v)
{
	return __atomic_load_n(&v->stopping, __ATOMIC_ACQUIRE);
}

static void vsock_kick(struct vsock *v)
{
	uint64_t one = 1;

	if (write(v->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_guest("vsock-kick", "vsock: kick: %s", strerror(errno));
}

/* Pops a receive buffer: 1 popped, 0 ring empty, -1 broken. */
static int vsock_rx_pop(struct vsock *v, struct virtq_chain *ch)
{
	struct vdev *d = v->dev;
	struct virtq *vq = &d->vq[VSOCK_RXQ];
	const char *why = NULL;
	int r;

	if (vq->broken)
		return -1;
	r = virtq_pop(vq, d->gm, ch, &why);
	if (r == 0)
		v->rx_starved = true;
	if (r <= 0) {
		if (r < 0)
			d->needs_reset(d, why);
		return r < 0 ? -1 : 0;
	}
	if (ch->n_out || ch->in_len < VSOCK_HDR) {
		vq->broken = true;
		d->needs_reset(d, "rx buffer is device-readable or shorter than "
			       "a packet header");
		return -1;
	}
	return 1;
}

static void vsock_rx_push(struct vsock *v, struct virtq_chain *ch,
			  struct virtio_vsock_hdr *h)
{
	virtq_iov_fill(ch->in, ch->n_in, 0, h, VSOCK_HDR);
	virtq_push(&v->dev->vq[VSOCK_RXQ], v->dev->gm, ch->head,
		   VSOCK_HDR + le32toh(h->len));
	v->pkts_rx++;
}

static void vsock_hdr(struct vsconn *c, uint32_t host_port, uint32_t guest_port,
		      uint16_t op, uint32_t len, struct virtio_vsock_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = htole64(VSOCK_HOST_CID);
	h->dst_cid = htole64(VSOCK_GUEST_CID);
	h->src_port = htole32(host_port);
	h->dst_port = htole32(guest_port);
	h->len = htole32(len);
	h->type = htole16(VIRTIO_VSOCK_TYPE_STREAM);
	h->op = htole16(op);
	if (c) {
		h->buf_alloc = htole32(VSOCK_BUF_ALLOC);
		h->fwd_cnt = htole32(c->fwd_cnt);
		c->fwd_cnt_sent = c->fwd_cnt;
	}
}

/* One control packet; 1 sent, 0 no buffer, -1 broken. */
static int vsock_send_ctrl(struct vsock *v, struct vsconn *c, uint32_t host_port,
			   uint32_t guest_port, uint16_t op, uint32_t flags)
{
	struct virtq_chain *ch = &v->rx_chain;
	struct virtio_vsock_hdr h;
	int r = vsock_rx_pop(v, ch);

	if (r <= 0)
		return r;
	vsock_hdr(c, host_port, guest_port, op, 0, &h);
	h.flags = htole32(flags);
	vsock_rx_push(v, ch, &h);
	return 1;
}

static const struct {
	unsigned owe;
	uint16_t op;
} vsock_owed_ops[] = {
	{ VSCONN_OWE_REQUEST, VIRTIO_VSOCK_OP_REQUEST },
	{ VSCONN_OWE_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE },
	{ VSCONN_OWE_CREDIT, VIRTIO_VSOCK_OP_CREDIT_UPDATE },
	{ VSCONN_OWE_SHUTDOWN, VIRTIO_VSOCK_OP_SHUTDOWN },
	{ VSCONN_OWE_RST, VIRTIO_VSOCK_OP_RST },
};

/* Sends what c owes the guest; 0 done, -1 out of buffers or broken. */
static int vsock_rx_owed(struct vsock *v, struct vsconn *c)
{
	/* never announced to the guest: nothing to reset there */
	if ((c->owe & VSCONN_OWE_RST) && (c->owe & VSCONN_OWE_REQUEST)) {
		vsconn_free(v, c);
		return 0;
	}
	if (c->owe & VSCONN_OWE_RST)
		c->owe = VSCONN_OWE_RST;
	for (unsigned i = 0; i < sizeof(vsock_owed_ops) / sizeof(vsock_owed_ops[0]); i++) {
		uint32_t flags = VIRTIO_VSOCK_SHUTDOWN_SEND;

		if (!(c->owe & vsock_owed_ops[i].owe))
			continue;
		if (c->host_gone)
			flags |= VIRTIO_VSOCK_SHUTDOWN_RCV;
		if (vsock_send_ctrl(v, c, c->host_port, c->guest_port,
				    vsock_owed_ops[i].op,
				    vsock_owed_ops[i].op == VIRTIO_VSOCK_OP_SHUTDOWN ?
					    flags : 0) <= 0)
			return -1;
		c->owe &= ~vsock_owed_ops[i].owe;
		if (vsock_owed_ops[i].op == VIRTIO_VSOCK_OP_RST)
			vsconn_free(v, c); /* the connection is over */
	}
	return 0;
}

/* Host data for the guest, one packet; 1 sent, 0 nothing, -1 stop. */
static int vsock_rx_data(struct vsock *v, struct vsconn *c)
{
	struct virtq_chain *ch = &v->rx_chain;
	struct iovec part[VIRTQ_MAX_SIZE];
	struct virtio_vsock_hdr h;
	uint32_t max = vsconn_credit(c);
	ssize_t n;
	int r;

	if (c->state != VSCONN_ESTABLISHED || c->host_eof || c->guest_shut_rcv ||
	    c->owe || !max)
		return 0;
	if ((r = vsock_rx_pop(v, ch)) <= 0)
		return -1;
	if (max > ch->in_len - VSOCK_HDR)
		max = (uint32_t)(ch->in_len - VSOCK_HDR);
	if (max > VSOCK_MAX_PKT)
		max = VSOCK_MAX_PKT;
	unsigned k = virtq_iov_slice(ch->in, ch->n_in, VSOCK_HDR, max, part);
	n = vsconn_read(c, part, k);
	if (n <= 0) {
		virtq_unpop(&v->dev->vq[VSOCK_RXQ]);
		return 0;
	}
	c->tx_cnt += (uint32_t)n;
	vsock_hdr(c, c->host_port, c->guest_port, VIRTIO_VSOCK_OP_RW, (uint32_t)n, &h);
	vsock_rx_push(v, ch, &h);
	return 1;
}

/* Fills the guest's receive buffers: resets first, then per connection
 * its control packets and one data packet, round robin, until the ring
 * is empty or nobody has anything to send. */
static void vsock_rx_fill(struct vsock *v)
{
	struct vdev *d = v->dev;
	uint16_t used0 = d->vq[VSOCK_RXQ].used_idx;
	bool progress = true;

	while (progress && !d->vq[VSOCK_RXQ].broken) {
		progress = false;
		for (; v->n_rst; v->n_rst--)
			if (vsock_send_ctrl(v, NULL, v->rst[v->n_rst - 1].host_port,
					    v->rst[v->n_rst - 1].guest_port,
					    VIRTIO_VSOCK_OP_RST, 0) <= 0)
				goto out;
		for (unsigned j = 0; j < VSOCK_MAX_CONNS; j++) {
			struct vsconn *c = &v->conns[(v->rr + j) % VSOCK_MAX_CONNS];
			int r;

			if (c->state < VSCONN_CONNECTING)
				continue;
			if (c->owe && vsock_rx_owed(v, c) < 0)
				goto out;
			if (c->state == VSCONN_FREE)
				continue;
			if ((r = vsock_rx_data(v, c)) < 0)
				goto out;
			progress |= r > 0;
		}
		v->rr++;
	}
out:
	if (d->vq[VSOCK_RXQ].used_idx != used0 &&
	    virtq_should_notify(&d->vq[VSOCK_RXQ], d->gm))
		d->notify_used(d);
}

static void vsock_queue_rst(struct vsock *v, const struct virtio_vsock_hdr *h)
{
	if (le16toh(h->op) == VIRTIO_VSOCK_OP_RST)
		return; /* never answer a reset with a reset */
	if (v->n_rst == VSOCK_MAX_RST) {
		log_guest("vsock-rst", "vsock: reset queue full; dropping one");
		return;
	}
	v->rst[v->n_rst].host_port = le32toh(h->dst_port);
	v->rst[v->n_rst].guest_port = le32toh(h->src_port);
	v->n_rst++;
	v->resets++;
}

static void vsock_conn_reset(struct vsock *v, struct vsconn *c, const char *why)
{
	if (why)
		log_guest("vsock-conn", "vsock: guest port %u -> host port %u: %s; "
			  "connection reset", c->guest_port, c->host_port, why);
	c->host_gone = true;
	c->buf_len = 0;
	c->owe |= VSCONN_OWE_RST;
	v->resets++;
}

/* A packet on a known connection (5.10.6.4 - 5.10.6.6). */
static void vsock_tx_conn(struct vsock *v, struct vsconn *c,
			  const struct virtio_vsock_hdr *h,
			  const struct virtq_chain *ch)
{
	struct iovec part[VIRTQ_MAX_SIZE];
	uint32_t flags = le32toh(h->flags), len = le32toh(h->len);

	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	switch (le16toh(h->op)) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != VSCONN_CONNECTING || (c->owe & VSCONN_OWE_REQUEST)) {
			vsock_conn_reset(v, c, "unexpected RESPONSE");
			return;
		}
		char ok[32];
		int n = snprintf(ok, sizeof(ok), "OK %u\n", c->host_port);
		c->state = VSCONN_ESTABLISHED;
		c->deadline = 0;
		if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
			vsock_conn_reset(v, c, NULL);
		return;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != VSCONN_ESTABLISHED || c->guest_shut_send) {
			vsock_conn_reset(v, c, "data outside an open stream");
			return;
		}
		unsigned k = virtq_iov_slice(ch->out, ch->n_out, VSOCK_HDR, len, part);
		if (!vsconn_from_guest(c, part, k, len))
			vsock_conn_reset(v, c, "data beyond the credit we gave");
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c->guest_shut_rcv |= !!(flags & VIRTIO_VSOCK_SHUTDOWN_RCV);
		c->guest_shut_send |= !!(flags & VIRTIO_VSOCK_SHUTDOWN_SEND);
		if (c->guest_shut_rcv && c->guest_shut_send)
			c->deadline = time(NULL) + VSOCK_CLOSE_TIMEOUT_S;
		vsconn_flush(c);
		return;
	case VIRTIO_VSOCK_OP_RST:
		vsconn_free(v, c);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->owe |= VSCONN_OWE_CREDIT;
		return;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		return;
	case VIRTIO_VSOCK_OP_REQUEST:
		vsock_conn_reset(v, c, "REQUEST for a connection already open");
		return;
	default:
		vsock_conn_reset(v, c, "unknown operation");
	}
}

static void vsock_tx_packet(struct vsock *v, const struct virtq_chain *ch)
{
	struct virtio_vsock_hdr h;
	struct vsconn *c;

	v->pkts_tx++;
	if (ch->n_in || !virtq_iov_copy(ch->out, ch->n_out, 0, &h, sizeof(h)) ||
	    le32toh(h.len) != ch->out_len - VSOCK_HDR || le32toh(h.len) > VSOCK_MAX_PKT) {
		log_guest("vsock-pkt", "vsock: dropped a tx packet: no header, "
			  "device-writable part, or len not its payload size");
		v->refused++;
		return;
	}
	if (le64toh(h.src_cid) != VSOCK_GUEST_CID ||
	    le64toh(h.dst_cid) != VSOCK_HOST_CID) {
		log_guest("vsock-cid", "vsock: dropped a packet from CID %llu to "
			  "CID %llu (guest is %d, host %d)",
			  (unsigned long long)le64toh(h.src_cid),
			  (unsigned long long)le64toh(h.dst_cid), VSOCK_GUEST_CID,
			  VSOCK_HOST_CID);
		v->refused++;
		return;
	}
	c = vsconn_find(v, le32toh(h.dst_port), le32toh(h.src_port));
	if (le16toh(h.type) != VIRTIO_VSOCK_TYPE_STREAM) {
		if (c)
			vsock_conn_reset(v, c, "not a stream packet");
		else
			vsock_queue_rst(v, &h);
		return;
	}
	if (c) {
		vsock_tx_conn(v, c, &h, ch);
		return;
	}
	if (le16toh(h.op) != VIRTIO_VSOCK_OP_REQUEST ||
	    !(c = vsconn_connect_out(v, le32toh(h.dst_port), le32toh(h.src_port)))) {
		vsock_queue_rst(v, &h);
		return;
	}
	c->peer_buf_alloc = le32toh(h.buf_alloc);
	c->peer_fwd_cnt = le32toh(h.fwd_cnt);
}

static void vsock_tx(struct vsock *v)
{
	struct vdev *d = v->dev;
	struct virtq *vq = &d->vq[VSOCK_TXQ];
	struct virtq_chain *ch = &v->tx_chain;
	const char *why = NULL;
	bool pushed = false;
	int r;

	if (vq->broken)
		return;
	while ((r = virtq_pop(vq, d->gm, ch, &why)) > 0) {
		vsock_tx_packet(v, ch);
		virtq_push(vq, d->gm, ch->head, 0);
		pushed = true;
	}
	if (pushed && virtq_should_notify(vq, d->gm))
		d->notify_used(d);
	if (r < 0)
		d->needs_reset(d, why);
}

static void vsock_process(struct vsock *v)
{
	vsconn_sweep(v);
	if (v->active) {
		vsock_tx(v);
		vsock_rx_fill(v);
	}
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != VSCONN_FREE)
			vsconn_update_epoll(v, &v->conns[i]);
}

int vsock_poll_once(struct vsock *v, int timeout_ms)
{
	struct epoll_event ev[32];
	int n = epoll_wait(v->epfd, ev, 32, timeout_ms);

	if (n < 0) {
		if (errno != EINTR)
			log_guest("vsock-epoll", "vsock: epoll_wait: %s", strerror(errno));
		n = 0; /* still sweep and serve the queues below */
	}
	if (vsock_stopping(v))
		return n;
	v->dev->lock(v->dev);
	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64, cnt;

		if (tag == 0) {
			if (read(v->kick_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
				log_guest("vsock-kick", "vsock: %s", strerror(errno));
			v->rx_starved = false;
		} else if (tag == 1) {
			vsconn_accept(v);
		} else if (v->conns[tag - 2].state != VSCONN_FREE) {
			vsconn_event(v, &v->conns[tag - 2], ev[i].events);
		}
	}
	vsock_process(v);
	v->dev->unlock(v->dev);
	return n;
}

struct vsock_thread_arg {
	struct vsock *v;
	struct log_sink *log;
};

static void *vsock_thread(void *arg)
{
	struct vsock_thread_arg a = *(struct vsock_thread_arg *)arg;

	free(arg);
	/* the VM's sink, as on every thread of the VM: its log_fn and the
	 * per-VM rate limit (unbound, guest lines would go to stderr with
	 * no limit at all) */
	thread_enter(a.log, "vsock");
	while (!vsock_stopping(a.v))
		vsock_poll_once(a.v, 1000);
	return NULL;
}

static void vsock_notify(struct vdev *d, unsigned q)
{
	(void)q; /* tx, new rx buffers, event buffers: the thread looks */
	vsock_kick(d->priv);
}

static int vsock_activate(struct vdev *d)
{
	struct vsock *v = d->priv;

	v->active = true;
	vsock_kick(v);
	return 0;
}

/* A driver reset ends every guest connection (5.10.6.7); host programs
 * still in the CONNECT handshake keep waiting for the next driver. */
static void vsock_reset(struct vdev *d)
{
	struct vsock *v = d->priv;

	v->active = false;
	v->rx_starved = false;
	v->n_rst = 0;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state > VSCONN_HANDSHAKE)
			vsconn_free(v, &v->conns[i]);
}

static uint64_t vsock_features(struct vdev *d)
{
	(void)d;
	return (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
}

const struct vdev_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = 3,
	.queue_max = VSOCK_QUEUE_SIZE,
	.features = vsock_features,
	VDEV_CONFIG(struct vsock, cfg), /* filled by vsock_open */
	.activate = vsock_activate,
	.queue_notify = vsock_notify,
	.reset = vsock_reset,
};

/* A host error after the bind: everything opened so far is closed and
 * the socket file removed (callers only vsock_close() an opened device). */
static int vsock_open_fail(struct vsock *v, const char *what)
{
	int rc = err_set(errno, "vsock socket %s: %s: %s", v->path, what,
			 strerror(errno));

	vsock_close(v);
	return rc;
}

int vsock_open(struct vsock *v, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event e = { .events = EPOLLIN };
	struct stat st;
	int rc;

	memset(v, 0, sizeof(*v));
	v->listen_fd = v->epfd = v->kick_fd = -1;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		v->conns[i].fd = -1;
	v->next_port = 0x40000000u;
	v->cfg.guest_cid = htole64(VSOCK_GUEST_CID);
	/* room for "_<port>" on guest-initiated connections */
	if (strlen(path) + 12 > sizeof(v->path))
		return err_set(ENAMETOOLONG, "vsock socket path %s: longer than "
			       "%zu bytes", path, sizeof(v->path) - 12);
	strcpy(v->path, path);
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(EEXIST, "vsock socket path %s exists and is "
				       "not a socket", path);
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 &&
			    connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (probe >= 0)
			close(probe);
		if (live)
			return err_set(EADDRINUSE, "vsock socket %s is in use by "
				       "another VM", path);
		unlink(path);
	}
	v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->listen_fd < 0 ||
	    bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* not bound: the path is not ours to unlink */
		rc = err_set(errno, "vsock socket %s: %s", path, strerror(errno));
		if (v->listen_fd >= 0)
			close(v->listen_fd);
		v->listen_fd = -1;
		return rc;
	}
	if (listen(v->listen_fd, 64) < 0)
		return vsock_open_fail(v, "listen");
	v->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (v->epfd < 0)
		return vsock_open_fail(v, "epoll_create1");
	v->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (v->kick_fd < 0)
		return vsock_open_fail(v, "eventfd");
	e.data.u64 = 0;
	if (epoll_ctl(v->epfd, EPOLL_CTL_ADD, v->kick_fd, &e) < 0)
		return vsock_open_fail(v, "epoll_ctl(kick)");
	e.data.u64 = 1;
	if (epoll_ctl(v->epfd, EPOLL_CTL_ADD, v->listen_fd, &e) < 0)
		return vsock_open_fail(v, "epoll_ctl(listener)");
	return 0;
}

/* The thread logs to the sink bound on the caller's thread (the library
 * binds the VM's around machine_start). */
int vsock_start(struct vsock *v, struct vdev *d)
{
	struct vsock_thread_arg *a = malloc(sizeof(*a));
	int rc;

	if (!a)
		return err_set(ENOMEM, "vsock thread: out of memory");
	a->v = v;
	a->log = log_bind(NULL); /* read the caller's sink ... */
	log_bind(a->log);        /* ... and leave it bound */
	v->dev = d;
	if ((rc = pthread_create(&v->thread, NULL, vsock_thread, a)) != 0) {
		free(a);
		return err_set(rc, "vsock thread: %s", strerror(rc));
	}
	v->running = true;
	return 0;
}

void vsock_close(struct vsock *v)
{
	if (v->running) {
		__atomic_store_n(&v->stopping, true, __ATOMIC_RELEASE);
		vsock_kick(v);
		pthread_join(v->thread, NULL);
		v->running = false;
	}
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != VSCONN_FREE)
			vsconn_free(v, &v->conns[i]);
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		unlink(v->path);
	}
	if (v->epfd >= 0)
		close(v->epfd);
	if (v->kick_fd >= 0)
		close(v->kick_fd);
	v->listen_fd = v->epfd = v->kick_fd = -1;
}
