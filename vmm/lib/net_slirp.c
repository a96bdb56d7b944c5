/* libslirp backend of virtio-net (net_slirp.h). Threading: slirp is not
 * thread-safe, so every slirp call and every callback it makes runs on
 * the one I/O thread (or before it starts / after it is joined), with
 * the device's transport lock held; only poll() runs unlocked. The loop
 * sleeps in poll() on slirp's sockets, the kick eventfd (queue notifies,
 * stop) and the nearest timer: no busy loop. */
#include "net_slirp.h"
#include "vmm/core/err.h"

#ifdef MSBVM_NO_NET
#include <errno.h>
#include <string.h>

/* `make BUILD=static`: Debian has no static libslirp (it needs glib) */
int netslirp_open(struct netslirp *s, const struct net_spec *spec)
{
	(void)spec;
	memset(s, 0, sizeof(*s));
	return err_set(ENOTSUP, "this msbvm is built without networking "
		       "(static build): use --net none");
}

int netslirp_start(struct netslirp *s, struct vdev *vd)
{
	(void)s;
	(void)vd;
	return -ENOTSUP;
}

void netslirp_close(struct netslirp *s)
{
	(void)s;
}
#else

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct netslirp_timer {
	SlirpTimerCb cb;
	void *cb_opaque;
	int64_t expire_ms;           /* -1: not armed */
	struct netslirp_timer *next;
};

static int64_t netslirp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void netslirp_kick(void *opaque)
{
	struct netslirp *s = opaque;
	uint64_t one = 1;

	if (write(s->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_guest("net-kick", "net: kick: %s", strerror(errno));
}

/* virtio-net -> slirp: a guest frame (lock held, I/O thread) */
static void netslirp_send(void *opaque, const uint8_t *frame, size_t len)
{
	struct netslirp *s = opaque;

	slirp_input(s->slirp, frame, (int)len);
}

/* ---- SlirpCb: all called from slirp, on the I/O thread ---- */

static ssize_t netslirp_cb_send(const void *buf, size_t len, void *opaque)
{
	struct netslirp *s = opaque;

	vnet_receive(&s->dev, buf, len);
	return (ssize_t)len;
}

static void netslirp_cb_error(const char *msg, void *opaque)
{
	(void)opaque;
	log_guest("net-slirp", "net: slirp: guest error: %s", msg);
}

static int64_t netslirp_cb_clock(void *opaque)
{
	(void)opaque;
	return netslirp_now_ns();
}

static void *netslirp_cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct netslirp *s = opaque;
	struct netslirp_timer *t = calloc(1, sizeof(*t));

	if (!t)
		abort(); /* slirp has no failure path here (as in QEMU) */
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = s->timers;
	s->timers = t;
	return t;
}

static void netslirp_cb_timer_free(void *timer, void *opaque)
{
	struct netslirp *s = opaque;

	for (struct netslirp_timer **p = &s->timers; *p; p = &(*p)->next)
		if (*p == timer) {
			*p = (*p)->next;
			free(timer);
			return;
		}
}

/* expire_time is in milliseconds of clock_get_ns's clock (libslirp.h) */
static void netslirp_cb_timer_mod(void *timer, int64_t expire_time, void *opaque)
{
	(void)opaque;
	((struct netslirp_timer *)timer)->expire_ms = expire_time;
}

static void netslirp_cb_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque; /* we poll what slirp_pollfds_fill asks for each round */
}

static void netslirp_cb_notify(void *opaque)
{
	netslirp_kick(opaque);
}

static const SlirpCb netslirp_cb = {
	.send_packet = netslirp_cb_send,
	.guest_error = netslirp_cb_error,
	.clock_get_ns = netslirp_cb_clock,
	.timer_new = netslirp_cb_timer_new,
	.timer_free = netslirp_cb_timer_free,
	.timer_mod = netslirp_cb_timer_mod,
	.register_poll_fd = netslirp_cb_fd,
	.unregister_poll_fd = netslirp_cb_fd,
	.notify = netslirp_cb_notify,
};

/* ---- the poll loop ---- */

static int netslirp_add_poll(int fd, int events, void *opaque)
{
	struct netslirp *s = opaque;
	short ev = 0;

	if (s->npfd == s->cap) {
		unsigned cap = s->cap ? s->cap * 2 : 16;
		struct pollfd *p = realloc(s->pfd, cap * sizeof(*p));
		if (!p)
			return -1; /* slirp skips this fd for one round */
		s->pfd = p;
		s->cap = cap;
	}
	ev |= events & SLIRP_POLL_IN ? POLLIN : 0;
	ev |= events & SLIRP_POLL_OUT ? POLLOUT : 0;
	ev |= events & SLIRP_POLL_PRI ? POLLPRI : 0;
	s->pfd[s->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)s->npfd++;
}

static int netslirp_get_revents(int idx, void *opaque)
{
	struct netslirp *s = opaque;
	short r;
	int ev = 0;

	if (idx < 1 || (unsigned)idx >= s->npfd)
		return 0;
	r = s->pfd[idx].revents;
	ev |= r & POLLIN ? SLIRP_POLL_IN : 0;
	ev |= r & POLLOUT ? SLIRP_POLL_OUT : 0;
	ev |= r & POLLPRI ? SLIRP_POLL_PRI : 0;
	ev |= r & POLLERR ? SLIRP_POLL_ERR : 0;
	ev |= r & POLLHUP ? SLIRP_POLL_HUP : 0;
	return ev;
}

/* Runs expired timers; returns ms to the next one (at most cap). */
static uint32_t netslirp_timers(struct netslirp *s, uint32_t cap)
{
	int64_t now = netslirp_now_ns() / 1000000;
	bool again = true;

	/* a callback may free or re-arm timers: rescan after each one */
	while (again) {
		again = false;
		for (struct netslirp_timer *t = s->timers; t; t = t->next)
			if (t->expire_ms >= 0 && t->expire_ms <= now) {
				t->expire_ms = -1;
				t->cb(t->cb_opaque);
				again = true;
				break;
			}
	}
	for (struct netslirp_timer *t = s->timers; t; t = t->next)
		if (t->expire_ms >= 0 && (uint64_t)(t->expire_ms - now) < cap)
			cap = (uint32_t)(t->expire_ms - now);
	return cap;
}

static bool netslirp_stopping(struct netslirp *s)
{
	return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
}

static void netslirp_round(struct netslirp *s)
{
	uint32_t timeout;
	uint64_t cnt;
	int n;

	s->vd->lock(s->vd);
	timeout = netslirp_timers(s, 1000);
	s->npfd = 1; /* [0] is the kick eventfd */
	slirp_pollfds_fill(s->slirp, &timeout, netslirp_add_poll, s);
	s->vd->unlock(s->vd);
	s->pfd[0] = (struct pollfd){ .fd = s->kick_fd, .events = POLLIN };
	n = poll(s->pfd, s->npfd, (int)timeout);
	if (n < 0 && errno != EINTR)
		log_guest("net-poll", "net: poll: %s", strerror(errno));
	if (n > 0 && (s->pfd[0].revents & POLLIN) &&
	    read(s->kick_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_guest("net-kick", "net: kick: %s", strerror(errno));
	s->vd->lock(s->vd);
	s->polls++;
	slirp_pollfds_poll(s->slirp, n < 0, netslirp_get_revents, s);
	netslirp_timers(s, 0);
	vnet_process(&s->dev);
	s->vd->unlock(s->vd);
}

struct netslirp_arg {
	struct netslirp *s;
	struct log_sink *log;
};

static void *netslirp_thread(void *arg)
{
	struct netslirp_arg a = *(struct netslirp_arg *)arg;

	free(arg);
	log_bind(a.log); /* the VM's sink and rate limit, as every VM thread */
	while (!netslirp_stopping(a.s))
		netslirp_round(a.s);
	return NULL;
}

static int netslirp_forward(struct netslirp *s, const struct net_port *p)
{
	struct in_addr guest;
	char host[INET_ADDRSTRLEN];

	inet_pton(AF_INET, NET_GUEST_IP, &guest);
	if (slirp_add_hostfwd(s->slirp, p->udp, p->host, p->host_port, guest,
			      p->guest_port) == 0)
		return 0;
	inet_ntop(AF_INET, &p->host, host, sizeof(host));
	return err_set(EADDRINUSE, "published port %s:%u/%s: cannot listen "
		       "there (in use?)", host, p->host_port, p->udp ? "udp" : "tcp");
}

int netslirp_open(struct netslirp *s, const struct net_spec *spec)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	SlirpConfig cfg = { .version = 1, .in_enabled = true,
			    .if_mtu = VNET_MTU, .if_mru = VNET_MTU };
	int rc;

	memset(s, 0, sizeof(*s));
	s->kick_fd = -1;
	if ((rc = vnet_init(&s->dev, mac, netslirp_send, netslirp_kick, s)) < 0)
		return rc;
	s->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->pfd = calloc(16, sizeof(*s->pfd));
	if (s->kick_fd < 0 || !s->pfd)
		return err_set(errno ? errno : ENOMEM, "net: %s", strerror(errno));
	s->cap = 16;
	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, NET_GATEWAY_IP, &cfg.vhost);
	inet_pton(AF_INET, NET_GUEST_IP, &cfg.vdhcp_start);
	inet_pton(AF_INET, NET_DNS_IP, &cfg.vnameserver);
	if (!(s->slirp = slirp_new(&cfg, &netslirp_cb, s)))
		return err_set(EINVAL, "net: libslirp refused its configuration");
	for (unsigned i = 0; i < spec->n_ports; i++)
		if ((rc = netslirp_forward(s, &spec->ports[i])) < 0)
			return rc;
	return 0;
}

int netslirp_start(struct netslirp *s, struct vdev *vd)
{
	struct netslirp_arg *a = malloc(sizeof(*a));
	int rc;

	if (!a)
		return err_set(ENOMEM, "net thread: out of memory");
	a->s = s;
	a->log = log_bind(NULL); /* read the caller's sink ... */
	log_bind(a->log);        /* ... and leave it bound */
	s->vd = vd;
	if ((rc = pthread_create(&s->thread, NULL, netslirp_thread, a)) != 0) {
		free(a);
		return err_set(rc, "net thread: %s", strerror(rc));
	}
	s->running = true;
	return 0;
}

void netslirp_close(struct netslirp *s)
{
	if (s->running) {
		__atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE);
		netslirp_kick(s);
		pthread_join(s->thread, NULL);
		s->running = false;
	}
	if (s->slirp)
		slirp_cleanup(s->slirp); /* frees its timers through our cb */
	s->slirp = NULL;
	while (s->timers) {
		struct netslirp_timer *t = s->timers;
		s->timers = t->next;
		free(t);
	}
	if (s->kick_fd >= 0)
		close(s->kick_fd);
	s->kick_fd = -1;
	free(s->pfd);
	s->pfd = NULL;
	vnet_free(&s->dev);
}
#endif /* MSBVM_NO_NET */
