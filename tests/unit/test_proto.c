/* The control protocol's framing against hostile peers (both ends use
 * pconn): a 4 GiB length, truncated frames, garbage, a slow drip, and a
 * peer that never reads. Nothing may crash (ASan/UBSan), block, or grow
 * past the fixed buffers. Plus the key=value codec. */
#include "check.h"
#include "proto/proto.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void pair(struct pconn *a, int *peer)
{
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	CHECK(pconn_init(a, sv[0]) == 0);
	*peer = sv[1];
}

static void hdr(uint8_t *h, uint32_t len, uint16_t type, uint32_t id)
{
	h[0] = (uint8_t)len; h[1] = (uint8_t)(len >> 8);
	h[2] = (uint8_t)(len >> 16); h[3] = (uint8_t)(len >> 24);
	h[4] = (uint8_t)type; h[5] = (uint8_t)(type >> 8);
	h[6] = h[7] = 0;
	h[8] = (uint8_t)id; h[9] = (uint8_t)(id >> 8);
	h[10] = (uint8_t)(id >> 16); h[11] = (uint8_t)(id >> 24);
}

static void test_huge_length(void)
{
	struct pconn p;
	struct proto_frame f;
	uint8_t h[PROTO_HDR];
	int peer;

	pair(&p, &peer);
	hdr(h, 0xffffffffu, P_EXEC, 1);
	CHECK(write(peer, h, sizeof(h)) == sizeof(h));
	CHECK(pconn_fill(&p) == 0);
	CHECK(pconn_next(&p, &f) == -1);
	CHECK(p.failed);
	CHECK_STR_CONTAINS(p.why, "4294967295 bytes is over");
	/* one byte over the limit is refused too; the limit itself is fine */
	pconn_free(&p);
	close(peer);
	pair(&p, &peer);
	hdr(h, PROTO_MAX_PAYLOAD + 1, P_DATA, 1);
	CHECK(write(peer, h, sizeof(h)) == sizeof(h));
	pconn_fill(&p);
	CHECK(pconn_next(&p, &f) == -1);
	pconn_free(&p);
	close(peer);
}

static void test_truncated_and_drip(void)
{
	static uint8_t frame[PROTO_HDR + 10];
	struct pconn p;
	struct proto_frame f;
	int peer;

	pair(&p, &peer);
	hdr(frame, 10, P_HELLO, 7);
	memcpy(frame + PROTO_HDR, "version=1", 10);
	/* byte by byte: never a frame until the last byte */
	for (size_t i = 0; i < sizeof(frame); i++) {
		CHECK(write(peer, frame + i, 1) == 1);
		CHECK(pconn_fill(&p) == 0);
		int r = pconn_next(&p, &f);
		CHECK(r == (i == sizeof(frame) - 1 ? 1 : 0));
	}
	CHECK(f.type == P_HELLO && f.id == 7 && f.len == 10);
	CHECK(kv_valid(f.data, f.len));
	CHECK(!strcmp(kv_get(f.data, f.len, "version"), "1"));
	/* truncated: header + half the payload, then the peer goes away */
	CHECK(write(peer, frame, PROTO_HDR + 5) == PROTO_HDR + 5);
	close(peer);
	CHECK(pconn_fill(&p) == -1);
	CHECK(p.eof);
	CHECK(pconn_next(&p, &f) == 0); /* never handed out */
	pconn_free(&p);
}

static void test_garbage(void)
{
	static uint8_t junk[200000];
	struct pconn p;
	struct proto_frame f;
	int peer, frames = 0, r = 0;
	size_t off = 0;

	srand(42);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	pair(&p, &peer);
	/* feed until the parser gives up; it must never hand out a frame
	 * whose payload runs past what it holds */
	while (off < sizeof(junk) && r >= 0) {
		ssize_t w = write(peer, junk + off, sizeof(junk) - off);
		if (w > 0)
			off += (size_t)w;
		pconn_fill(&p);
		while ((r = pconn_next(&p, &f)) > 0) {
			CHECK(f.len <= PROTO_MAX_PAYLOAD);
			frames++;
		}
	}
	CHECK(r == -1); /* random lengths are over 64 KiB almost surely */
	CHECK(p.in_len <= PROTO_HDR + PROTO_MAX_PAYLOAD);
	pconn_free(&p);
	close(peer);
}

static void test_never_reads(void)
{
	static uint8_t payload[PROTO_MAX_PAYLOAD];
	struct pconn p;
	int peer, sent = 0;

	pair(&p, &peer);
	/* the peer never reads: the socket fills, then our buffer, then
	 * pconn_send refuses instead of growing */
	while (sent < 10000 && pconn_send(&p, P_DATA, 0, 1, payload, sizeof(payload))) {
		sent++;
		CHECK(pconn_flush(&p) == 0);
	}
	CHECK(sent < 10000);
	CHECK(p.out_len <= PROTO_OUT_CAP);
	CHECK(!pconn_can_send(&p));
	/* a frame over the payload limit is never queued */
	CHECK(!pconn_send(&p, P_DATA, 0, 1, payload, PROTO_MAX_PAYLOAD + 1));
	pconn_free(&p);
	close(peer);
}

static void test_kv(void)
{
	static struct kvbuf kv;
	long long v;

	kv_init(&kv);
	kv_add(&kv, "arg", "ls");
	kv_add(&kv, "arg", "-l");
	kv_add(&kv, "env", "A=B=C");
	CHECK(kv_valid((uint8_t *)kv.buf, kv.len));
	CHECK(!strcmp(kv_get((uint8_t *)kv.buf, kv.len, "env"), "A=B=C"));
	CHECK(!strcmp(kv_get((uint8_t *)kv.buf, kv.len, "arg"), "ls"));
	CHECK(kv_get((uint8_t *)kv.buf, kv.len, "cwd") == NULL);
	CHECK(kv_valid((const uint8_t *)"", 0));
	CHECK(!kv_valid((const uint8_t *)"a=1", 3));          /* no NUL */
	CHECK(!kv_valid((const uint8_t *)"=1\0", 3));         /* empty key */
	CHECK(!kv_valid((const uint8_t *)"Ab=1\0", 5));       /* bad key */
	CHECK(!kv_valid((const uint8_t *)"abc\0", 4));        /* no '=' */
	CHECK(!kv_valid((const uint8_t *)"a=1\0\0", 5));      /* empty entry */
	CHECK(kv_num("42", 0, 100, &v) && v == 42);
	CHECK(!kv_num("42x", 0, 100, &v));
	CHECK(!kv_num("", 0, 100, &v));
	CHECK(!kv_num("101", 0, 100, &v));
	CHECK(!kv_num("99999999999999999999999", 0, 100, &v));
	CHECK(!kv_num(NULL, 0, 100, &v));
	/* overflow is flagged, never written past the buffer */
	static char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	for (int i = 0; i < 40; i++)
		kv_add(&kv, "arg", big);
	CHECK(kv.overflow && kv.len <= sizeof(kv.buf));
}

/* The token compare: equal only for the same 64 hex digits; a prefix,
 * an extension, NULL or an invalid expected token never match. */
static void test_token_eq(void)
{
	const char *t = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char u[80];

	CHECK(proto_token_valid(t) && proto_token_eq(t, t));
	snprintf(u, sizeof(u), "%s", t);
	CHECK(proto_token_eq(u, t));
	u[0] = '1';
	CHECK(!proto_token_eq(u, t));   /* first digit */
	u[0] = '0', u[63] = 'e';
	CHECK(!proto_token_eq(u, t));   /* last digit */
	u[63] = '\0';
	CHECK(!proto_token_eq(u, t) && !proto_token_valid(u)); /* a prefix */
	snprintf(u, sizeof(u), "%s0", t);
	CHECK(!proto_token_eq(u, t) && !proto_token_valid(u)); /* longer */
	CHECK(!proto_token_eq("", t) && !proto_token_eq(NULL, t));
	CHECK(!proto_token_eq(t, NULL) && !proto_token_eq("", ""));
	snprintf(u, sizeof(u), "%s", t);
	u[5] = 'A';
	CHECK(!proto_token_valid(u) && !proto_token_eq(u, u)); /* not lowercase hex */
}

int main(void)
{
	test_huge_length();
	test_truncated_and_drip();
	test_garbage();
	test_never_reads();
	test_kv();
	test_token_eq();
	return check_result("proto");
}
