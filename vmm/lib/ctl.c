/* Control-protocol client (see ctl.h). */
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int ctl_fail(struct ctl *c, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int ctl_fail(struct ctl *c, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return -e;
}

static int ctl_error(struct ctl *c, const struct proto_frame *f);

static int64_t ctl_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Reads the "OK <port>\n" line byte by byte: nothing after it is eaten. */
static int ctl_handshake(struct ctl *c, int fd, int timeout_ms)
{
	char line[40];
	size_t n = 0;
	int64_t end = ctl_ms() + timeout_ms;

	if (write(fd, "CONNECT 1024\n", 13) != 13)
		return ctl_fail(c, EIO, "vsock: %s", strerror(errno));
	while (n < sizeof(line) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(end - ctl_ms());

		if (left <= 0 || poll(&p, 1, left) <= 0)
			return ctl_fail(c, ETIMEDOUT, "the guest agent did not accept a "
					"connection within %d ms", timeout_ms);
		if (read(fd, line + n, 1) != 1)
			return ctl_fail(c, ECONNREFUSED, "the guest agent is not "
					"listening (vsock port %d refused)",
					PROTO_AGENT_PORT);
		if (line[n++] == '\n')
			break;
	}
	line[n] = '\0';
	if (strncmp(line, "OK ", 3))
		return ctl_fail(c, EPROTO, "vsock: unexpected reply to CONNECT");
	return 0;
}

int ctl_connect(struct ctl *c, const char *sock_path, const char *token,
		int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct kvbuf *kv = &c->kv;
	struct proto_frame f;
	int fd, rc;

	memset(c, 0, sizeof(*c));
	c->pc.fd = -1;
	c->next_id = 1;
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		return ctl_fail(c, ENAMETOOLONG, "%s: path too long", sock_path);
	strcpy(sa.sun_path, sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = errno;
		if (fd >= 0)
			close(fd);
		return ctl_fail(c, rc, "%s: %s", sock_path, strerror(rc));
	}
	if ((rc = ctl_handshake(c, fd, timeout_ms)) < 0) {
		close(fd);
		return rc;
	}
	/* on failure pconn_init has closed fd already (pconn_free) */
	if ((rc = pconn_init(&c->pc, fd)) < 0)
		return ctl_fail(c, -rc, "out of memory");
	fcntl(fd, F_SETFL, O_NONBLOCK);
	kv_init(kv);
	kv_addf(kv, "version", "%d", PROTO_VERSION);
	if (token)
		kv_add(kv, "token", token);
	pconn_send(&c->pc, P_HELLO, 0, 0, kv->buf, kv->len);
	explicit_bzero(kv->buf, kv->len); /* no copy of the token left behind */
	if ((rc = ctl_wait(c, &f, timeout_ms, -1)) <= 0)
		return rc < 0 ? -EPROTO : ctl_fail(c, ETIMEDOUT, "agent: no HELLO");
	if (f.type == P_ERROR && ctl_error(c, &f) && !strcmp(c->err_kind, "auth")) {
		char msg[sizeof(c->err)];

		snprintf(msg, sizeof(msg), "%s", c->err);
		return ctl_fail(c, EACCES, "agent refused the handshake: %s "
				"(a stale token file, or a VM of another build?)", msg);
	}
	if (f.type != P_HELLO)
		return ctl_fail(c, EPROTO, "agent refused the handshake (%s)",
				proto_type_name(f.type));
	return 0;
}

void ctl_close(struct ctl *c)
{
	pconn_free(&c->pc);
}

int ctl_wait(struct ctl *c, struct proto_frame *f, int timeout_ms, int stop_fd)
{
	int64_t end = ctl_ms() + timeout_ms;

	for (;;) {
		struct pollfd p[2] = { { .fd = c->pc.fd, .events = POLLIN },
				       { .fd = stop_fd, .events = POLLIN } };
		int r = pconn_next(&c->pc, f), left;

		if (r > 0)
			return 1;
		if (r < 0)
			return ctl_fail(c, EPROTO, "agent: %s", c->pc.why), -1;
		if (c->pc.eof)
			return ctl_fail(c, EPIPE, "agent closed the connection"), -1;
		if (pconn_flush(&c->pc) < 0)
			return ctl_fail(c, EPIPE, "agent: %s", c->pc.why), -1;
		p[0].events |= pconn_pending(&c->pc) ? POLLOUT : 0;
		left = timeout_ms < 0 ? -1 : (int)(end - ctl_ms());
		if (timeout_ms >= 0 && left <= 0)
			return 0;
		if (poll(p, stop_fd >= 0 ? 2 : 1, left) < 0 && errno != EINTR)
			return ctl_fail(c, errno, "poll: %s", strerror(errno)), -1;
		if (p[1].revents)
			return 0;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			pconn_fill(&c->pc);
	}
}

/* An ERROR frame into c->err / c->err_kind. */
static int ctl_error(struct ctl *c, const struct proto_frame *f)
{
	const char *k = NULL, *m = NULL;

	if (kv_valid(f->data, f->len)) {
		k = kv_get(f->data, f->len, "kind");
		m = kv_get(f->data, f->len, "msg");
	}
	snprintf(c->err_kind, sizeof(c->err_kind), "%s", k ? k : "unknown");
	return ctl_fail(c, EIO, "%s", m ? m : "agent error without a message");
}

int ctl_call(struct ctl *c, uint16_t type, const void *kv, size_t kv_len,
	     void *reply, size_t *reply_len, int timeout_ms)
{
	uint32_t id = c->next_id++;
	struct proto_frame f;
	int r;

	c->err_kind[0] = '\0';
	if (!pconn_send(&c->pc, type, 0, id, kv, kv_len))
		return ctl_fail(c, E2BIG, "request too large");
	if ((r = ctl_wait(c, &f, timeout_ms, -1)) <= 0)
		return r < 0 ? -EIO : ctl_fail(c, ETIMEDOUT, "agent: no reply to %s",
					       proto_type_name(type));
	if (f.id != id)
		return ctl_fail(c, EPROTO, "agent: reply for request %u, expected %u",
				f.id, id);
	if (f.type == P_ERROR)
		return ctl_error(c, &f);
	if (f.type != P_OK)
		return ctl_fail(c, EPROTO, "agent: %s in reply to %s",
				proto_type_name(f.type), proto_type_name(type));
	if (reply && reply_len) {
		*reply_len = f.len < *reply_len ? f.len : *reply_len;
		memcpy(reply, f.data, *reply_len);
	}
	return 0;
}

int ctl_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ctl_put(struct ctl *c, int fd, const char *path, unsigned mode)
{
	struct kvbuf *kv = &c->kv;
	uint8_t *buf = c->io;
	uint32_t id = c->next_id++;
	struct proto_frame f;
	ssize_t n;
	int r;

	kv_init(kv);
	kv_add(kv, "path", path);
	kv_addf(kv, "mode", "%o", mode & 07777);
	pconn_send(&c->pc, P_PUT, 0, id, kv->buf, kv->len);
	do {
		n = read(fd, buf, sizeof(c->io));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ctl_fail(c, errno, "read: %s", strerror(errno));
		while (!pconn_send(&c->pc, P_DATA, n ? 0 : P_FLAG_EOF, id, buf, (size_t)n)) {
			/* full: flush, and stop early if the agent refused */
			if ((r = ctl_wait(c, &f, 50, -1)) < 0)
				return -EIO;
			if (r > 0 && f.type == P_ERROR)
				return ctl_error(c, &f);
		}
	} while (n > 0);
	if ((r = ctl_wait(c, &f, 600000, -1)) <= 0)
		return r < 0 ? -EIO : ctl_fail(c, ETIMEDOUT, "agent: PUT timed out");
	return f.type == P_ERROR ? ctl_error(c, &f) :
	       f.type == P_OK ? 0 : ctl_fail(c, EPROTO, "agent: bad reply to PUT");
}

static int ctl_stream(struct ctl *c, uint16_t type, const char *path, int fd)
{
	struct kvbuf *kv = &c->kv;
	uint32_t id = c->next_id++;
	struct proto_frame f;
	int r;

	kv_init(kv);
	kv_add(kv, "path", path);
	pconn_send(&c->pc, type, 0, id, kv->buf, kv->len);
	for (;;) {
		if ((r = ctl_wait(c, &f, 600000, -1)) <= 0)
			return r < 0 ? -EIO : ctl_fail(c, ETIMEDOUT, "agent timed out");
		if (f.type == P_ERROR)
			return ctl_error(c, &f);
		if (type == P_LIST && f.type == P_OK)
			return 0;
		if (f.type != P_DATA || f.id != id)
			return ctl_fail(c, EPROTO, "agent: unexpected %s",
					proto_type_name(f.type));
		if (type == P_GET && ctl_write_all(fd, f.data, f.len) < 0)
			return ctl_fail(c, errno, "write: %s", strerror(errno));
		if (type == P_GET && (f.flags & P_FLAG_EOF))
			return 0;
		if (type == P_LIST && kv_valid(f.data, f.len)) {
			char key[16];
			const char *v;
			size_t pos = 0;
			while (kv_next(f.data, f.len, &pos, key, sizeof(key), &v))
				dprintf(fd, "%s\n", v);
		}
	}
}

int ctl_get(struct ctl *c, const char *path, int fd)
{
	return ctl_stream(c, P_GET, path, fd);
}

int ctl_list(struct ctl *c, const char *path, int fd)
{
	return ctl_stream(c, P_LIST, path, fd);
}

struct ctl *ctl_new(void)
{
	struct ctl *c = calloc(1, sizeof(*c));

	if (c)
		c->pc.fd = -1;
	return c;
}

void ctl_free(struct ctl *c)
{
	if (!c)
		return;
	ctl_close(c);
	free(c);
}
