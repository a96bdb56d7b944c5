/* Host side of virtio-vsock: the Unix-socket listener, the CONNECT
 * handshake, and per-connection buffering. Host programs are as untrusted
 * as the guest: a bad CONNECT line, too many connections or a peer that
 * never reads only ever cost that peer its own connection, and buffers are
 * bounded by the credit we advertise. */
#include "vsock.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned vsconn_index(const struct vsock *v, const struct vsconn *c)
{
	return (unsigned)(c - v->conns);
}

static struct vsconn *vsconn_alloc(struct vsock *v, int fd)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsconn *c = &v->conns[i];

		if (c->state != VSCONN_FREE)
			continue;
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->state = VSCONN_HANDSHAKE;
		return c;
	}
	return NULL;
}

/* Takes c's fd out of the epoll set. A failure is only logged: the set
 * drops an fd by itself when the fd is closed, which every path that
 * stops polling a connection ends with. */
static void vsconn_epoll_del(struct vsock *v, struct vsconn *c)
{
	if (!c->in_epoll)
		return;
	if (epoll_ctl(v->epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
		log_guest("vsock-epoll", "vsock: epoll_ctl(DEL) of a host "
			  "connection: %s", strerror(errno));
	c->in_epoll = false;
	c->events = 0;
}

void vsconn_free(struct vsock *v, struct vsconn *c)
{
	if (c->fd >= 0) {
		vsconn_epoll_del(v, c);
		close(c->fd);
	}
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	/* a slot is free again: a listener paused on EMFILE may accept */
	if (v->listen_paused)
		vsconn_listen_arm(v, true);
}

/* A host-side failure on c (not the peer's doing, e.g. epoll_ctl): the
 * connection ends, the rest keep going. One the guest never heard of is
 * closed at once; otherwise the guest gets a reset first (5.10.6.7). */
static void vsconn_fail(struct vsock *v, struct vsconn *c, const char *what)
{
	log_guest("vsock-fail", "vsock: host connection (guest port %u): %s: %s; "
		  "closing it", c->guest_port, what, strerror(errno));
	if (c->state == VSCONN_HANDSHAKE || (c->owe & VSCONN_OWE_REQUEST)) {
		vsconn_free(v, c);
		return;
	}
	vsconn_epoll_del(v, c);
	c->host_gone = true;
	c->buf_len = 0;
	c->owe |= VSCONN_OWE_RST;
}

struct vsconn *vsconn_find(struct vsock *v, uint32_t host_port,
			   uint32_t guest_port)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsconn *c = &v->conns[i];

		if (c->state > VSCONN_HANDSHAKE && c->host_port == host_port &&
		    c->guest_port == guest_port)
			return c;
	}
	return NULL;
}

uint32_t vsconn_credit(const struct vsconn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* What the fd should wake us for, given the connection's state. */
void vsconn_update_epoll(struct vsock *v, struct vsconn *c)
{
	uint32_t ev = 0;

	if (c->fd < 0)
		return;
	/* Nothing more to write, and reads go on without epoll until EOF;
	 * left in the set, a dead peer's fd could wake us every round. */
	if (c->host_gone) {
		vsconn_epoll_del(v, c);
		return;
	}
	if (c->state == VSCONN_HANDSHAKE ||
	    (c->state == VSCONN_ESTABLISHED && !c->host_eof && !c->guest_shut_rcv &&
	     !v->rx_starved && vsconn_credit(c) > 0))
		ev |= EPOLLIN;
	if (c->buf_len)
		ev |= EPOLLOUT;
	if (c->in_epoll && ev == c->events)
		return;
	struct epoll_event e = { .events = ev, .data.u64 = 2 + vsconn_index(v, c) };
	if (epoll_ctl(v->epfd, c->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd,
		      &e) < 0) {
		/* the connection could hang or spin on stale interest */
		vsconn_fail(v, c, c->in_epoll ? "epoll_ctl(MOD)" : "epoll_ctl(ADD)");
		return;
	}
	c->in_epoll = true;
	c->events = ev;
}

void vsconn_listen_arm(struct vsock *v, bool on)
{
	struct epoll_event e = { .events = on ? EPOLLIN : 0, .data.u64 = 1 };

	if (epoll_ctl(v->epfd, EPOLL_CTL_MOD, v->listen_fd, &e) < 0) {
		log_guest("vsock-listen", "vsock: epoll_ctl(MOD) of the listener: %s",
			  strerror(errno));
		return;
	}
	v->listen_paused = !on;
	v->listen_retry = on ? 0 : time(NULL) + 1;
}

void vsconn_accept(struct vsock *v)
{
	for (;;) {
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (fd < 0) {
			/* EMFILE, ENFILE, ENOBUFS...: the connection stays
			 * queued and the level-triggered listener would wake
			 * us on it every round. Stop listening until a
			 * connection is freed or a second has passed. */
			log_guest("vsock-accept", "vsock: accepting a host "
				  "connection: %s; pausing the listener",
				  strerror(errno));
			vsconn_listen_arm(v, false);
			return;
		}
		struct vsconn *c = vsconn_alloc(v, fd);

		if (!c) {
			/* the cap bounds memory; the peer just sees EOF */
			log_guest("vsock-cap", "vsock: more than %d connections; "
				  "refusing a host connection", VSOCK_MAX_CONNS);
			close(fd);
			continue;
		}
		c->deadline = time(NULL) + VSOCK_CONNECT_TIMEOUT_S;
		vsconn_update_epoll(v, c);
	}
}

static uint32_t vsconn_new_port(struct vsock *v, uint32_t guest_port)
{
	for (;;) {
		uint32_t p = v->next_port++;

		if (v->next_port < 0x40000000u)
			v->next_port = 0x40000000u;
		if (!vsconn_find(v, p, guest_port))
			return p;
	}
}

/* "CONNECT <port>\n", gathered into c->line as it arrives. Each round
 * peeks, then takes off the socket exactly the bytes that belong to the
 * line (up to and including the newline), so bytes after it stay in the
 * socket for the guest, and a partial line leaves nothing unread: the
 * level-triggered epoll stays quiet until more arrives instead of waking
 * the backend on the same bytes until the handshake deadline. */
static void vsconn_handshake(struct vsock *v, struct vsconn *c)
{
	char *p = c->line + c->line_len;
	size_t room = sizeof(c->line) - 1 - c->line_len; /* >0: see below */
	ssize_t n = recv(c->fd, p, room, MSG_PEEK);
	char *nl, *end;
	unsigned long port;
	size_t take;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		vsconn_free(v, c); /* EOF or error before a whole line */
		return;
	}
	nl = memchr(p, '\n', (size_t)n);
	take = nl ? (size_t)(nl - p) + 1 : (size_t)n;
	/* the bytes were just peeked: a plain read of them cannot come up
	 * short unless the socket failed in between */
	if ((n = recv(c->fd, p, take, 0)) != (ssize_t)take) {
		log_guest("vsock-hs-read", "vsock: host connection failed during "
			  "the CONNECT line (%s); closing it",
			  n < 0 ? strerror(errno) : "short read");
		vsconn_free(v, c);
		return;
	}
	c->line_len = (uint8_t)(c->line_len + take);
	if (!nl) {
		/* a full buffer without a newline is not a CONNECT line */
		if (c->line_len == sizeof(c->line) - 1)
			goto bad;
		return; /* wait for the rest */
	}
	*nl = '\0';
	if (strncmp(c->line, "CONNECT ", 8) || c->line[8] < '0' || c->line[8] > '9')
		goto bad;
	errno = 0;
	port = strtoul(c->line + 8, &end, 10);
	if (end != nl || errno || port > UINT32_MAX) /* digits up to the newline */
		goto bad;
	c->guest_port = (uint32_t)port;
	c->host_port = vsconn_new_port(v, c->guest_port);
	c->state = VSCONN_CONNECTING;
	c->owe = VSCONN_OWE_REQUEST;
	c->deadline = time(NULL) + VSOCK_CONNECT_TIMEOUT_S;
	return;
bad:
	log_guest("vsock-connect", "vsock: host program sent a bad CONNECT line; "
		  "closing it (expected \"CONNECT <port>\\n\")");
	v->refused++;
	vsconn_free(v, c);
}

void vsconn_event(struct vsock *v, struct vsconn *c, uint32_t events)
{
	if (c->state == VSCONN_HANDSHAKE) {
		vsconn_handshake(v, c);
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* Readable data may still be queued: reads go on without epoll
		 * until EOF, but a hung-up fd must leave the set or it fires
		 * forever. */
		vsconn_epoll_del(v, c);
		c->host_gone = true;
		if (c->state == VSCONN_CONNECTING)
			c->owe |= VSCONN_OWE_RST;
	}
	if (events & EPOLLOUT)
		vsconn_flush(c);
}

struct vsconn *vsconn_connect_out(struct vsock *v, uint32_t host_port,
				  uint32_t guest_port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct vsconn *c;

	if (fd < 0)
		return NULL;
	/* vsock_open() left room for the suffix; checked again anyway */
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%.*s_%u",
			     (int)sizeof(sa.sun_path) - 12, v->path, host_port) >=
	    sizeof(sa.sun_path)) {
		close(fd);
		return NULL;
	}
	/* A Unix connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    !(c = vsconn_alloc(v, fd))) {
		close(fd);
		return NULL;
	}
	c->state = VSCONN_ESTABLISHED;
	c->host_port = host_port;
	c->guest_port = guest_port;
	c->owe = VSCONN_OWE_RESPONSE;
	return c;
}

/* Writes as much of iov as the fd takes now; returns bytes written. */
static size_t vsconn_write(struct vsconn *c, const struct iovec *iov, unsigned n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t r;

	if (c->host_gone)
		return 0;
	do
		r = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno != EAGAIN) {
		/* the host program went away: the guest gets a reset */
		c->host_gone = true;
		c->owe |= VSCONN_OWE_RST;
		return 0;
	}
	return r < 0 ? 0 : (size_t)r;
}

bool vsconn_from_guest(struct vsconn *c,
		       const struct iovec *iov, unsigned n, uint32_t len)
{
	struct iovec rest[VIRTQ_MAX_SIZE];
	size_t done = 0;

	/* 5.10.6.3: the guest may have at most buf_alloc bytes in flight. */
	if ((uint64_t)c->buf_len + len > VSOCK_BUF_ALLOC)
		return false;
	if (!c->buf_len)
		done = vsconn_write(c, iov, n);
	c->fwd_cnt += (uint32_t)done;
	if (done < len && !c->host_gone) {
		if (!c->buf && !(c->buf = malloc(VSOCK_BUF_ALLOC)))
			return false;
		if (c->buf_off + c->buf_len + (len - done) > VSOCK_BUF_ALLOC) {
			memmove(c->buf, c->buf + c->buf_off, c->buf_len);
			c->buf_off = 0;
		}
		unsigned k = virtq_iov_slice(iov, n, done, len - done, rest);
		virtq_iov_copy(rest, k, 0, c->buf + c->buf_off + c->buf_len,
			       len - done);
		c->buf_len += (uint32_t)(len - done);
	}
	vsconn_flush(c);
	return true;
}

void vsconn_flush(struct vsconn *c)
{
	if (c->buf_len) {
		struct iovec iov = { c->buf + c->buf_off, c->buf_len };
		size_t w = vsconn_write(c, &iov, 1);

		c->buf_off += (uint32_t)w;
		c->buf_len -= (uint32_t)w;
		c->fwd_cnt += (uint32_t)w;
		if (c->host_gone)
			c->buf_len = 0;
		if (!c->buf_len) {
			free(c->buf);
			c->buf = NULL;
			c->buf_off = 0;
		}
	}
	/* Tell a guest that may be waiting for credit (see VSOCK_BUF_ALLOC):
	 * once half the window has drained, it may be stalled. */
	if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_BUF_ALLOC / 2)
		c->owe |= VSCONN_OWE_CREDIT;
	if (c->buf_len)
		return;
	if (c->guest_shut_send && !c->host_gone && shutdown(c->fd, SHUT_WR) < 0)
		c->host_gone = true; /* ENOTCONN: the peer is gone; reset below */
	/* The guest closed both ways and everything reached the host: end
	 * it with a reset, as the close handshake asks (5.10.6.6). */
	if ((c->guest_shut_send && c->guest_shut_rcv) || c->host_gone)
		c->owe |= VSCONN_OWE_RST;
}

ssize_t vsconn_read(struct vsconn *c, const struct iovec *iov, unsigned n)
{
	ssize_t r;

	do
		r = readv(c->fd, iov, (int)n);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		return r;
	if (r < 0 && errno == EAGAIN)
		return 0;
	/* EOF (or error): the guest is told we send no more. */
	c->host_eof = true;
	c->owe |= VSCONN_OWE_SHUTDOWN;
	return -1;
}

/* Connections stuck in CONNECTING (no guest answer) or closing (a host
 * program that never reads the last bytes) are dropped after a timeout;
 * a listener paused by a failed accept is polled again after its pause. */
void vsconn_sweep(struct vsock *v)
{
	time_t now = time(NULL);

	if (v->listen_paused && now >= v->listen_retry)
		vsconn_listen_arm(v, true);
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsconn *c = &v->conns[i];
		bool closing = c->guest_shut_send && c->guest_shut_rcv;

		if (c->state == VSCONN_FREE || !c->deadline || now < c->deadline)
			continue;
		if (c->state == VSCONN_HANDSHAKE)
			vsconn_free(v, c);
		else if (c->state == VSCONN_CONNECTING || closing) {
			c->host_gone = true;
			c->buf_len = 0;
			c->owe |= VSCONN_OWE_RST;
		}
	}
}
