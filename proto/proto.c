/* Frame and key=value codec for the control protocol (docs/protocol.md). */
#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint32_t proto_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void proto_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

int pconn_init(struct pconn *p, int fd)
{
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->in = malloc(PROTO_HDR + PROTO_MAX_PAYLOAD);
	p->out = malloc(PROTO_OUT_CAP);
	if (!p->in || !p->out) {
		pconn_free(p);
		return -ENOMEM;
	}
	return 0;
}

void pconn_free(struct pconn *p)
{
	free(p->in);
	free(p->out);
	p->in = p->out = NULL;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

/* Drops the frame handed out last time (its bytes stay valid until the
 * next pconn_fill or pconn_next). */
static void pconn_compact(struct pconn *p)
{
	if (p->in_used) {
		memmove(p->in, p->in + p->in_used, p->in_len - p->in_used);
		p->in_len -= p->in_used;
		p->in_used = 0;
	}
}

int pconn_fill(struct pconn *p)
{
	size_t cap = PROTO_HDR + PROTO_MAX_PAYLOAD;

	pconn_compact(p);
	while (p->in_len < cap) {
		ssize_t n = read(p->fd, p->in + p->in_len, cap - p->in_len);

		if (n > 0) {
			p->in_len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		p->eof = true;
		return -1;
	}
	return 0;
}

int pconn_next(struct pconn *p, struct proto_frame *f)
{
	const uint8_t *h;

	pconn_compact(p);
	if (p->in_len < PROTO_HDR)
		return 0;
	h = p->in;
	f->len = proto_get32(h);
	f->type = (uint16_t)(h[4] | h[5] << 8);
	f->flags = (uint16_t)(h[6] | h[7] << 8);
	f->id = proto_get32(h + 8);
	/* Checked before a single payload byte is buffered: a peer claiming
	 * 4 GiB costs nothing but its connection. */
	if (f->len > PROTO_MAX_PAYLOAD) {
		snprintf(p->why, sizeof(p->why), "frame of %u bytes is over the "
			 "%u-byte limit", f->len, PROTO_MAX_PAYLOAD);
		p->failed = true;
		return -1;
	}
	if (p->in_len < PROTO_HDR + f->len)
		return 0;
	f->data = p->in + PROTO_HDR;
	p->in_used = PROTO_HDR + f->len;
	return 1;
}

bool pconn_send(struct pconn *p, uint16_t type, uint16_t flags, uint32_t id,
		const void *data, size_t len)
{
	uint8_t *h;

	if (len > PROTO_MAX_PAYLOAD)
		return false;
	if (p->out_off && p->out_off + p->out_len + PROTO_HDR + len > PROTO_OUT_CAP) {
		memmove(p->out, p->out + p->out_off, p->out_len);
		p->out_off = 0;
	}
	if (p->out_off + p->out_len + PROTO_HDR + len > PROTO_OUT_CAP)
		return false;
	h = p->out + p->out_off + p->out_len;
	proto_put32(h, (uint32_t)len);
	h[4] = (uint8_t)type;
	h[5] = (uint8_t)(type >> 8);
	h[6] = (uint8_t)flags;
	h[7] = (uint8_t)(flags >> 8);
	proto_put32(h + 8, id);
	if (len)
		memcpy(h + PROTO_HDR, data, len);
	p->out_len += PROTO_HDR + len;
	return true;
}

bool pconn_can_send(const struct pconn *p)
{
	return p->out_len + PROTO_HDR + PROTO_MAX_PAYLOAD <= PROTO_OUT_HIGH;
}

bool pconn_pending(const struct pconn *p)
{
	return p->out_len > 0;
}

int pconn_flush(struct pconn *p)
{
	while (p->out_len) {
		ssize_t n = send(p->fd, p->out + p->out_off, p->out_len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			p->failed = true;
			snprintf(p->why, sizeof(p->why), "write: %s",
				 n < 0 ? strerror(errno) : "closed");
			return -1;
		}
		p->out_off += (size_t)n;
		p->out_len -= (size_t)n;
	}
	p->out_off = 0;
	return 0;
}

void kv_init(struct kvbuf *k)
{
	k->len = 0;
	k->overflow = false;
}

void kv_add(struct kvbuf *k, const char *key, const char *val)
{
	size_t kl = strlen(key), vl = strlen(val);

	if (k->len + kl + vl + 2 > sizeof(k->buf)) {
		k->overflow = true;
		return;
	}
	memcpy(k->buf + k->len, key, kl);
	k->buf[k->len + kl] = '=';
	memcpy(k->buf + k->len + kl + 1, val, vl + 1);
	k->len += kl + vl + 2;
}

void kv_addf(struct kvbuf *k, const char *key, const char *fmt, ...)
{
	char val[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	kv_add(k, key, val);
}

bool kv_valid(const uint8_t *data, size_t len)
{
	size_t i = 0;

	if (len && data[len - 1] != '\0')
		return false;
	while (i < len) {
		size_t start = i;

		while (i < len && ((data[i] >= 'a' && data[i] <= 'z') ||
				   (data[i] >= '0' && data[i] <= '9') || data[i] == '_'))
			i++;
		if (i == start || i >= len || data[i] != '=')
			return false;
		i += strlen((const char *)data + i) + 1;
	}
	return true;
}

bool kv_next(const uint8_t *data, size_t len, size_t *pos, char *key,
	     size_t keycap, const char **val)
{
	const char *e, *eq;
	size_t el;

	if (*pos >= len)
		return false;
	e = (const char *)data + *pos;
	el = strlen(e);
	*pos += el + 1;
	eq = strchr(e, '=');
	if (!eq || (size_t)(eq - e) >= keycap)
		return false;
	memcpy(key, e, (size_t)(eq - e));
	key[eq - e] = '\0';
	*val = eq + 1;
	return true;
}

const char *kv_get(const uint8_t *data, size_t len, const char *key)
{
	char k[32];
	const char *v;
	size_t pos = 0;

	while (kv_next(data, len, &pos, k, sizeof(k), &v))
		if (!strcmp(k, key))
			return v;
	return NULL;
}

bool kv_num(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end || errno || v < min || v > max)
		return false;
	*out = v;
	return true;
}

const char *proto_type_name(uint16_t type)
{
	static const struct { uint16_t t; const char *n; } names[] = {
		{ P_HELLO, "HELLO" }, { P_ERROR, "ERROR" }, { P_OK, "OK" },
		{ P_EXEC, "EXEC" }, { P_STARTED, "STARTED" }, { P_STDIN, "STDIN" },
		{ P_STDOUT, "STDOUT" }, { P_STDERR, "STDERR" }, { P_SIGNAL, "SIGNAL" },
		{ P_RESIZE, "RESIZE" }, { P_EXIT, "EXIT" }, { P_PUT, "PUT" },
		{ P_GET, "GET" }, { P_DATA, "DATA" }, { P_STAT, "STAT" },
		{ P_LIST, "LIST" }, { P_MKDIR, "MKDIR" }, { P_REMOVE, "REMOVE" },
		{ P_READY, "READY" }, { P_SHUTDOWN, "SHUTDOWN" }, { P_PING, "PING" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == type)
			return names[i].n;
	return "?";
}

bool proto_token_valid(const char *s)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < PROTO_TOKEN_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

bool proto_token_eq(const char *presented, const char *expected)
{
	volatile unsigned char diff = 0;
	size_t n;

	if (!presented || !expected || !proto_token_valid(expected))
		return false;
	/* the length is public (always PROTO_TOKEN_HEX); reading at most
	 * that many bytes of presented keeps every comparison the same work */
	n = strnlen(presented, PROTO_TOKEN_HEX + 1);
	for (size_t i = 0; i < PROTO_TOKEN_HEX; i++)
		diff |= (unsigned char)((i < n ? presented[i] : 0) ^ expected[i]);
	return diff == 0 && n == PROTO_TOKEN_HEX;
}
