/* The host's control client (vmm/lib/ctl.c, ctl_exec.c) against a scripted
 * fake agent: a thread on the other end of a socketpair (or of a Unix
 * listening socket, for ctl_connect) that plays a list of steps: expect a
 * frame, send a frame, write raw bytes, close, signal stop. It records
 * every frame it receives; the main thread checks them after joining it.
 * Covers the frames of exec (request keys, stdio in order, stdin, signals,
 * exit statuses, typed start errors), call, get/list/put, the CONNECT and
 * HELLO handshake, and a hostile agent (foreign ids, malformed EXIT,
 * unexpected types, a 4 GiB length, a closed connection, a silent agent),
 * where the client must fail with a clear message and never hang. */
#include "check.h"
#include "vmm/lib/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define FAKE_WAIT_MS 3000       /* a step that waits longer is a failure */
#define MAXREC 32
#define RECDATA 512

/* a frame header claiming 4 GiB (EXIT, id 41) */
#define HUGE_HDR "\xff\xff\xff\xff" "\x11\x00" "\x00\x00" "\x29\x00\x00\x00"

enum op { OP_END, OP_ACCEPT, OP_EXPECT, OP_SEND, OP_RAW, OP_CLOSE, OP_STOP,
	  OP_COLLECT };

struct step {
	enum op op;
	uint16_t type, flags;
	int32_t id_off;         /* OP_SEND: id relative to the request's */
	const char *data;
	size_t len;
	char fill;              /* OP_SEND with data NULL: len bytes of fill */
};

#define END { .op = OP_END }
#define ACCEPT { .op = OP_ACCEPT }
#define EXPECT(t) { .op = OP_EXPECT, .type = (t) }
#define EXPECTF(t, fl) { .op = OP_EXPECT, .type = (t), .flags = (fl) }
/* a key=value literal ("a=1\0b=2"): sizeof counts the final NUL */
#define SEND(t, kv) { .op = OP_SEND, .type = (t), .data = (kv), .len = sizeof(kv) }
#define SENDID(t, off, kv) { .op = OP_SEND, .type = (t), .id_off = (off), \
			     .data = (kv), .len = sizeof(kv) }
/* raw bytes: without the literal's NUL */
#define SENDB(t, fl, b) { .op = OP_SEND, .type = (t), .flags = (fl), \
			  .data = (b), .len = sizeof(b) - 1 }
#define SEND0(t, fl) { .op = OP_SEND, .type = (t), .flags = (fl) }
#define SENDFILL(t, fl, n, ch) { .op = OP_SEND, .type = (t), .flags = (fl), \
				 .len = (n), .fill = (ch) }
#define RAW(b) { .op = OP_RAW, .data = (b), .len = sizeof(b) - 1 }
#define CLOSE { .op = OP_CLOSE }
#define STOP { .op = OP_STOP }
#define COLLECT(t) { .op = OP_COLLECT, .type = (t) }
/* EXEC answered with STARTED; the client then closes stdin (in_fd -1) */
#define STARTED_SEQ EXPECT(P_EXEC), SEND(P_STARTED, "pid=42"), \
		    EXPECTF(P_STDIN, P_FLAG_EOF)

struct rec {
	uint16_t type, flags;
	uint32_t id, len;
	uint8_t data[RECDATA];
};

struct fake {
	const struct step *steps;
	int lfd;                /* OP_ACCEPT: listening socket */
	struct pconn pc;
	bool open;
	int stop_wr;            /* OP_STOP writes here */
	int64_t stop_ms;
	uint32_t id;            /* the request's id (last request frame) */
	char line[64];          /* the CONNECT line */
	struct rec recs[MAXREC];
	int nrec;
	uint8_t *coll;          /* OP_COLLECT: payloads concatenated */
	size_t coll_len, coll_cap;
	int coll_frames, coll_eofs, coll_empty;
	int bad;
	char why[256];
	pthread_t th;
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void fake_bad(struct fake *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The script went wrong (reported by the main thread after the join). */
static void fake_bad(struct fake *a, const char *fmt, ...)
{
	va_list ap;

	if (a->bad++)
		return;
	va_start(ap, fmt);
	vsnprintf(a->why, sizeof(a->why), fmt, ap);
	va_end(ap);
}

static bool is_request(uint16_t t)
{
	return t == P_EXEC || t == P_PUT || t == P_GET || t == P_LIST ||
	       t == P_STAT || t == P_MKDIR || t == P_REMOVE || t == P_PING ||
	       t == P_SHUTDOWN;
}

/* 1 frame, 0 EOF, -1 broken frame, -2 timeout */
static int fake_recv(struct fake *a, struct proto_frame *f, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		int r = pconn_next(&a->pc, f), left;

		if (r)
			return r;
		if (a->pc.eof)
			return 0;
		if ((left = (int)(end - now_ms())) <= 0)
			return -2;
		struct pollfd p = { .fd = a->pc.fd, .events = POLLIN };
		if (poll(&p, 1, left) > 0)
			pconn_fill(&a->pc);
	}
}

static void fake_record(struct fake *a, const struct proto_frame *f)
{
	struct rec *r;

	if (a->nrec >= MAXREC)
		return;
	r = &a->recs[a->nrec++];
	r->type = f->type;
	r->flags = f->flags;
	r->id = f->id;
	r->len = f->len;
	memcpy(r->data, f->data, f->len < RECDATA ? f->len : RECDATA);
}

static void fake_write(struct fake *a, const void *p, size_t n)
{
	const uint8_t *b = p;
	int64_t end = now_ms() + FAKE_WAIT_MS;

	while (n) {
		struct pollfd pf = { .fd = a->pc.fd, .events = POLLOUT };
		ssize_t w = send(a->pc.fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			fake_bad(a, "send: %s", strerror(errno));
			return;
		}
		if (now_ms() > end || poll(&pf, 1, 100) < 0) {
			fake_bad(a, "send: stuck");
			return;
		}
	}
}

static void fake_send(struct fake *a, const struct step *s)
{
	uint32_t id = a->id + (uint32_t)s->id_off;
	char *buf = NULL;
	const void *p = s->data;
	int64_t end = now_ms() + FAKE_WAIT_MS;

	if (!p && s->len) {
		buf = malloc(s->len);
		memset(buf, s->fill, s->len);
		p = buf;
	}
	if (!pconn_send(&a->pc, s->type, s->flags, id, p, s->len))
		fake_bad(a, "pconn_send %s failed", proto_type_name(s->type));
	free(buf);
	while (!a->bad && pconn_pending(&a->pc)) {
		struct pollfd pf = { .fd = a->pc.fd, .events = POLLOUT };

		if (pconn_flush(&a->pc) < 0)
			fake_bad(a, "flush: %s", a->pc.why);
		else if (pconn_pending(&a->pc) &&
			 (now_ms() > end || poll(&pf, 1, 100) < 0))
			fake_bad(a, "flush: stuck");
	}
}

static void fake_accept(struct fake *a)
{
	struct pollfd p = { .fd = a->lfd, .events = POLLIN };
	size_t n = 0;
	int fd;

	if (poll(&p, 1, FAKE_WAIT_MS) != 1 ||
	    (fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0) {
		fake_bad(a, "accept: nobody came");
		return;
	}
	pconn_init(&a->pc, fd);
	a->open = true;
	while (n < sizeof(a->line) - 1) {
		struct pollfd q = { .fd = fd, .events = POLLIN };

		if (poll(&q, 1, FAKE_WAIT_MS) != 1 || read(fd, a->line + n, 1) != 1) {
			fake_bad(a, "no CONNECT line");
			return;
		}
		if (a->line[n++] == '\n')
			break;
	}
}

static void fake_expect(struct fake *a, const struct step *s)
{
	struct proto_frame f;
	int r = fake_recv(a, &f, FAKE_WAIT_MS);

	if (r != 1) {
		fake_bad(a, "expected %s, got %d (1 frame, 0 EOF, -2 timeout)",
			 proto_type_name(s->type), r);
		return;
	}
	fake_record(a, &f);
	if (f.type != s->type || (f.flags & s->flags) != s->flags) {
		fake_bad(a, "expected %s, got type %u", proto_type_name(s->type), f.type);
		return;
	}
	if (is_request(f.type))
		a->id = f.id;
	else if (f.type != P_HELLO && f.id != a->id)
		fake_bad(a, "%s with id %u", proto_type_name(f.type), f.id);
}

static void fake_collect(struct fake *a, const struct step *s)
{
	struct proto_frame f;

	for (;;) {
		int r = fake_recv(a, &f, FAKE_WAIT_MS);

		if (r != 1) {
			fake_bad(a, "collecting %s: %d", proto_type_name(s->type), r);
			return;
		}
		if (f.type != s->type || f.id != a->id) {
			fake_record(a, &f);
			fake_bad(a, "collecting %s: got type %u",
				 proto_type_name(s->type), f.type);
			return;
		}
		if (a->coll_len + f.len > a->coll_cap) {
			a->coll_cap = (a->coll_len + f.len) * 2;
			a->coll = realloc(a->coll, a->coll_cap);
		}
		if (f.len)
			memcpy(a->coll + a->coll_len, f.data, f.len);
		a->coll_len += f.len;
		a->coll_frames++;
		a->coll_empty += !f.len && !(f.flags & P_FLAG_EOF);
		if (f.flags & P_FLAG_EOF) {
			a->coll_eofs++;
			return;
		}
	}
}

static void fake_close(struct fake *a)
{
	if (a->open)
		pconn_free(&a->pc);
	a->open = false;
}

static void *fake_main(void *arg)
{
	struct fake *a = arg;
	struct proto_frame f;
	int r;

	for (const struct step *s = a->steps; s->op != OP_END && !a->bad; s++) {
		switch (s->op) {
		case OP_ACCEPT: fake_accept(a); break;
		case OP_EXPECT: fake_expect(a, s); break;
		case OP_SEND: fake_send(a, s); break;
		case OP_RAW: fake_write(a, s->data, s->len); break;
		case OP_CLOSE: fake_close(a); break;
		case OP_COLLECT: fake_collect(a, s); break;
		case OP_STOP:
			a->stop_ms = now_ms();
			if (write(a->stop_wr, "x", 1) != 1)
				fake_bad(a, "stop: %s", strerror(errno));
			break;
		case OP_END: break;
		}
	}
	/* Hold the connection (recording what comes) until the client
	 * closes it; a script that went wrong closes at once instead, so
	 * the client is never left waiting for a frame that won't come. */
	while (a->open && !a->bad && (r = fake_recv(a, &f, FAKE_WAIT_MS)) != 0) {
		if (r < 0) {
			fake_bad(a, "holding: %d", r);
			break;
		}
		fake_record(a, &f);
	}
	fake_close(a);
	return NULL;
}

static struct fake *fake_new(const struct step *steps)
{
	struct fake *a = calloc(1, sizeof(*a));

	a->steps = steps;
	a->lfd = a->stop_wr = -1;
	return a;
}

/* The client on one end of a socketpair, the fake agent on the other. */
static struct ctl *fake_pair(struct fake *a)
{
	struct ctl *c = ctl_new();
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(c && pconn_init(&c->pc, sv[0]) == 0);
	c->next_id = 41;
	pconn_init(&a->pc, sv[1]);
	a->open = true;
	CHECK(pthread_create(&a->th, NULL, fake_main, a) == 0);
	return c;
}

/* Closes the client (the fake then ends), joins it, reports its failure. */
static void fake_join(struct fake *a, struct ctl *c)
{
	ctl_free(c);
	pthread_join(a->th, NULL);
	CHECK(a->bad == 0);
	if (a->bad)
		fprintf(stderr, "  fake agent: %s\n", a->why);
}

static void fake_free(struct fake *a)
{
	free(a->coll);
	free(a);
}

/* A recorded payload's entries as "k=v|k=v|". */
static const char *rec_str(const struct rec *r)
{
	static char s[RECDATA + 1];
	size_t n = r->len < RECDATA ? r->len : RECDATA;

	for (size_t i = 0; i < n; i++)
		s[i] = r->data[i] ? (char)r->data[i] : '|';
	s[n] = '\0';
	return s;
}

static const char *rec_get(const struct rec *r, const char *key)
{
	if (r->len > RECDATA || !kv_valid(r->data, r->len))
		return NULL;
	return kv_get(r->data, r->len, key);
}

static bool rec_is(const struct rec *r, const char *key, const char *val)
{
	const char *v = rec_get(r, key);

	return v && !strcmp(v, val);
}

static const char *const argv_true[] = { "true", NULL };

static struct ctl_exec_opts exec_opts(void)
{
	return (struct ctl_exec_opts){ .argv = argv_true, .in_fd = -1,
		.out_fd = -1, .err_fd = -1, .stop_fd = -1, .sig_fd = -1 };
}

static size_t drain(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return n;
}

/* --- exec ---------------------------------------------------------------- */

static void test_exec_request_and_output(void)
{
	static const char *const argv[] = { "/bin/echo", "a b", "", "x=y", NULL };
	static const char *const env[] = { "A=1", "B=x=y", "EMPTY=", NULL };
	const struct step steps[] = {
		EXPECT(P_EXEC), SEND(P_STARTED, "pid=42"),
		SENDB(P_STDOUT, 0, "hello "), SENDB(P_STDERR, 0, "oops\n"),
		SENDB(P_STDOUT, 0, "world\n"), SEND0(P_STDOUT, P_FLAG_EOF),
		SEND0(P_STDERR, P_FLAG_EOF), EXPECTF(P_STDIN, P_FLAG_EOF),
		SEND(P_EXIT, "code=3"), END,
	};
	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);
	struct ctl_exec_opts o = exec_opts();
	int out[2], err[2], rc;
	char buf[256];

	CHECK(pipe2(out, O_NONBLOCK) == 0 && pipe2(err, O_NONBLOCK) == 0);
	o.argv = argv;
	o.env = env;
	o.cwd = "/tmp";
	o.user = "1000:1000";
	o.out_fd = out[1];
	o.err_fd = err[1];
	rc = ctl_exec(c, &o);
	CHECK(rc == 3);
	CHECK(c->err[0] == '\0' && c->err_kind[0] == '\0');
	fake_join(a, c);
	CHECK(a->nrec == 2);
	/* EXEC: every key as given, in order, nothing else (no tty) */
	CHECK(a->recs[0].type == P_EXEC && a->recs[0].id == 41);
	CHECK(!strcmp(rec_str(&a->recs[0]), "arg=/bin/echo|arg=a b|arg=|arg=x=y|"
		      "env=A=1|env=B=x=y|env=EMPTY=|cwd=/tmp|user=1000:1000|"));
	CHECK(kv_valid(a->recs[0].data, a->recs[0].len));
	/* no stdin given: an empty STDIN with EOF right after STARTED */
	CHECK(a->recs[1].type == P_STDIN && a->recs[1].flags == P_FLAG_EOF &&
	      a->recs[1].len == 0 && a->recs[1].id == 41);
	close(out[1]);
	close(err[1]);
	CHECK(drain(out[0], buf, sizeof(buf)) == 12 && !strcmp(buf, "hello world\n"));
	CHECK(drain(err[0], buf, sizeof(buf)) == 5 && !strcmp(buf, "oops\n"));
	close(out[0]);
	close(err[0]);
	fake_free(a);
}

struct outlog {
	char s[512];
	size_t n;
	size_t total[3];
	int calls;
};

static void on_output(void *opaque, int stream, const void *p, size_t n)
{
	struct outlog *l = opaque;

	l->calls++;
	if (stream == 1 || stream == 2)
		l->total[stream] += n;
	l->n += (size_t)snprintf(l->s + l->n, sizeof(l->s) - l->n, "%d:%zu:%.*s|",
				 stream, n, (int)(n < 8 ? n : 8), (const char *)p);
}

static void test_exec_on_output(void)
{
	const struct step steps[] = {
		STARTED_SEQ,
		SENDB(P_STDOUT, 0, "hello "), SENDB(P_STDERR, 0, "oops\n"),
		SENDFILL(P_STDOUT, 0, PROTO_MAX_PAYLOAD, 'z'),
		SENDB(P_STDOUT, 0, "world\n"), SEND0(P_STDOUT, P_FLAG_EOF),
		SEND0(P_STDERR, P_FLAG_EOF), SEND(P_EXIT, "code=0"), END,
	};
	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);
	struct ctl_exec_opts o = exec_opts();
	static struct outlog l;

	memset(&l, 0, sizeof(l));
	o.on_output = on_output;
	o.opaque = &l;
	CHECK(ctl_exec(c, &o) == 0);
	fake_join(a, c);
	/* both streams, in the agent's order; the empty EOF frames are not
	 * handed to the callback */
	CHECK(!strcmp(l.s, "1:6:hello |2:5:oops\n|1:65536:zzzzzzzz|1:6:world\n|"));
	CHECK(l.calls == 4);
	CHECK(l.total[1] == 6 + PROTO_MAX_PAYLOAD + 6 && l.total[2] == 5);
	fake_free(a);

	/* mixed: stdout to a fd, stderr to the callback */
	const struct step steps2[] = {
		STARTED_SEQ, SENDB(P_STDOUT, 0, "to fd"), SENDB(P_STDERR, 0, "to cb"),
		SEND(P_EXIT, "code=0"), END,
	};
	int out[2];
	char buf[64];

	memset(&l, 0, sizeof(l));
	CHECK(pipe2(out, O_NONBLOCK) == 0);
	a = fake_new(steps2);
	c = fake_pair(a);
	o.out_fd = out[1];
	CHECK(ctl_exec(c, &o) == 0);
	fake_join(a, c);
	CHECK(!strcmp(l.s, "2:5:to cb|"));
	close(out[1]);
	CHECK(drain(out[0], buf, sizeof(buf)) == 5 && !strcmp(buf, "to fd"));
	close(out[0]);
	fake_free(a);
}

struct exec_case {
	const char *what;
	const struct step *steps;
	int rc;
	const char *err;        /* c->err contains this */
	const char *kind;       /* c->err_kind is this, or NULL: not checked */
};

/* Exit statuses, typed start errors, and a hostile agent: each case is
 * one exec against a script, and none may take long. */
static void test_exec_cases(void)
{
	const struct exec_case cases[] = {
		{ "code 0", (const struct step[]){ STARTED_SEQ,
			SEND(P_EXIT, "code=0"), END }, 0, "", NULL },
		{ "code 255", (const struct step[]){ STARTED_SEQ,
			SEND(P_EXIT, "code=255"), END }, 255, "", NULL },
		{ "signal 9", (const struct step[]){ STARTED_SEQ,
			SEND(P_EXIT, "signal=9"), END }, 137, "", NULL },
		{ "signal 15", (const struct step[]){ STARTED_SEQ,
			SEND(P_EXIT, "signal=15"), END }, 143, "", NULL },
		{ "exit after output EOF with extra keys", (const struct step[]){
			STARTED_SEQ, SEND0(P_STDOUT, P_FLAG_EOF),
			SEND(P_EXIT, "code=7\0extra=1"), END }, 7, "", NULL },
		/* typed start errors: the shell's numbers, the agent's words */
		{ "not_found", (const struct step[]){ EXPECT(P_EXEC),
			SEND(P_ERROR, "kind=not_found\0msg=nosuch: command not found"),
			END }, 127, "nosuch: command not found", "not_found" },
		{ "not_executable", (const struct step[]){ EXPECT(P_EXEC),
			SEND(P_ERROR, "kind=not_executable\0msg=/etc: is a directory"),
			END }, 126, "/etc: is a directory", "not_executable" },
		{ "bad_cwd", (const struct step[]){ EXPECT(P_EXEC),
			SEND(P_ERROR, "kind=bad_cwd\0msg=working directory /x: No such"),
			END }, 125, "working directory /x", "bad_cwd" },
		{ "bad_user", (const struct step[]){ EXPECT(P_EXEC),
			SEND(P_ERROR, "kind=bad_user\0msg=user 'bob' not found"),
			END }, 125, "user 'bob'", "bad_user" },
		{ "exec_failed", (const struct step[]){ EXPECT(P_EXEC),
			SEND(P_ERROR, "kind=exec_failed\0msg=Exec format error"),
			END }, 125, "Exec format error", "exec_failed" },
		{ "ERROR without a kv payload", (const struct step[]){ EXPECT(P_EXEC),
			SENDB(P_ERROR, 0, "garbage"), END }, 125, "exec failed",
			"unknown" },
		/* malformed EXIT */
		{ "EXIT empty", (const struct step[]){ STARTED_SEQ,
			SEND0(P_EXIT, 0), END }, -1, "malformed EXIT", NULL },
		{ "EXIT code=300", (const struct step[]){ STARTED_SEQ,
			SEND(P_EXIT, "code=300"), END }, -1, "malformed EXIT", NULL },
		{ "EXIT code=-1", (const struct step[]){ STARTED_SEQ,
			SEND(P_EXIT, "code=-1"), END }, -1, "malformed EXIT", NULL },
		{ "EXIT code=1x", (const struct step[]){ STARTED_SEQ,
			SEND(P_EXIT, "code=1x"), END }, -1, "malformed EXIT", NULL },
		{ "EXIT signal=0", (const struct step[]){ STARTED_SEQ,
			SEND(P_EXIT, "signal=0"), END }, -1, "malformed EXIT", NULL },
		{ "EXIT signal=128", (const struct step[]){ STARTED_SEQ,
			SEND(P_EXIT, "signal=128"), END }, -1, "malformed EXIT", NULL },
		{ "EXIT without the final NUL", (const struct step[]){ STARTED_SEQ,
			SENDB(P_EXIT, 0, "code=1"), END }, -1, "malformed EXIT", NULL },
		{ "EXIT status=0", (const struct step[]){ STARTED_SEQ,
			SEND(P_EXIT, "status=0"), END }, -1, "malformed EXIT", NULL },
		/* frames for another request */
		{ "STDOUT for another id", (const struct step[]){ STARTED_SEQ,
			SENDID(P_STDOUT, 1, "x"), END }, -1, "frame for request 42", NULL },
		{ "EXIT for another id", (const struct step[]){ STARTED_SEQ,
			SENDID(P_EXIT, -1, "code=0"), END }, -1, "frame for request 40", NULL },
		{ "STARTED for another id", (const struct step[]){ EXPECT(P_EXEC),
			SENDID(P_STARTED, 5, "pid=1"), END }, -1,
			"reply for request 46, expected 41", NULL },
		{ "ERROR for another id", (const struct step[]){ EXPECT(P_EXEC),
			SENDID(P_ERROR, 5, "kind=not_found\0msg=stale"), END }, -1,
			"reply for request 46, expected 41", NULL },
		/* unexpected types */
		{ "OK in reply to EXEC", (const struct step[]){ EXPECT(P_EXEC),
			SEND0(P_OK, 0), END }, -1, "OK in reply to EXEC", NULL },
		{ "DATA during exec", (const struct step[]){ STARTED_SEQ,
			SENDB(P_DATA, 0, "x"), END }, -1, "unexpected DATA during exec", NULL },
		{ "ERROR during exec", (const struct step[]){ STARTED_SEQ,
			SEND(P_ERROR, "kind=io\0msg=boom"), END }, -1,
			"unexpected ERROR during exec", NULL },
		{ "STARTED twice", (const struct step[]){ STARTED_SEQ,
			SEND(P_STARTED, "pid=43"), END }, -1, "unexpected STARTED", NULL },
		{ "unknown type", (const struct step[]){ STARTED_SEQ,
			SEND0(999, 0), END }, -1, "unexpected ? during exec", NULL },
		/* the connection goes away or breaks the framing */
		{ "closed before STARTED", (const struct step[]){ EXPECT(P_EXEC),
			CLOSE, END }, -1, "agent closed the connection", NULL },
		{ "closed mid-exec", (const struct step[]){ STARTED_SEQ,
			SENDB(P_STDOUT, 0, "partial"), CLOSE, END }, -1,
			"agent connection lost", NULL },
		{ "4 GiB frame before STARTED", (const struct step[]){ EXPECT(P_EXEC),
			RAW(HUGE_HDR), END }, -1, "4294967295 bytes is over", NULL },
		{ "4 GiB frame mid-exec", (const struct step[]){ STARTED_SEQ,
			RAW(HUGE_HDR), END }, -1, "4294967295 bytes is over", NULL },
		{ "truncated frame then close", (const struct step[]){ STARTED_SEQ,
			RAW("\x10\x00\x00\x00" "\x11\x00" "\x00\x00" "\x29\x00\x00\x00" "code"),
			CLOSE, END }, -1, "agent connection lost", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct exec_case *t = &cases[i];
		struct fake *a = fake_new(t->steps);
		struct ctl *c = fake_pair(a);
		struct ctl_exec_opts o = exec_opts();
		int64_t t0 = now_ms();
		int rc = ctl_exec(c, &o);
		int64_t dt = now_ms() - t0;

		CHECK(rc == t->rc);
		CHECK_STR_CONTAINS(c->err, t->err);
		CHECK(t->err[0] || !c->err[0]);
		CHECK(!t->kind || !strcmp(c->err_kind, t->kind));
		CHECK(dt < 1000);
		if (rc != t->rc || !strstr(c->err, t->err) ||
		    (t->kind && strcmp(c->err_kind, t->kind)))
			fprintf(stderr, "  case '%s': rc %d, err '%s', kind '%s'\n",
				t->what, rc, c->err, c->err_kind);
		fake_join(a, c);
		fake_free(a);
	}
}

struct feeder {
	int fd;
	size_t n;
	pthread_t th;
};

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 % 251);
}

static void *feeder_main(void *arg)
{
	struct feeder *fe = arg;
	static uint8_t buf[10000];
	size_t off = 0;

	while (off < fe->n) {
		size_t n = fe->n - off < sizeof(buf) ? fe->n - off : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		if (ctl_write_all(fe->fd, buf, n) < 0)
			break;
		off += n;
	}
	close(fe->fd);
	return NULL;
}

/* Host stdin streams to the agent as STDIN frames, EOF as one empty
 * STDIN with the flag; no early EOF when there is an in_fd. */
static void test_exec_stdin(void)
{
	const struct step steps[] = {
		EXPECT(P_EXEC), SEND(P_STARTED, "pid=42"), COLLECT(P_STDIN),
		SEND(P_EXIT, "code=0"), END,
	};
	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);
	struct ctl_exec_opts o = exec_opts();
	struct feeder fe = { .n = 300000 };
	int in[2];
	bool same = true;

	CHECK(pipe2(in, O_CLOEXEC) == 0);
	fe.fd = in[1];
	CHECK(pthread_create(&fe.th, NULL, feeder_main, &fe) == 0);
	o.in_fd = in[0];
	CHECK(ctl_exec(c, &o) == 0);
	fake_join(a, c);
	pthread_join(fe.th, NULL);
	close(in[0]);
	CHECK(a->coll_len == fe.n);
	for (size_t i = 0; i < a->coll_len && same; i++)
		same = a->coll[i] == pattern(i);
	CHECK(same);
	/* at most 64 KiB a frame: several data frames, then the EOF one */
	CHECK(a->coll_frames >= 6);
	CHECK(a->coll_eofs == 1 && a->coll_empty == 0);
	CHECK(a->nrec == 1); /* EXEC; nothing after EXIT */
	fake_free(a);
}

static void sig_pipe(int fds[2], const int *sigs, size_t n)
{
	CHECK(pipe2(fds, O_CLOEXEC) == 0);
	CHECK(write(fds[1], sigs, n * sizeof(int)) == (ssize_t)(n * sizeof(int)));
}

/* Ints on sig_fd become SIGNAL frames; SIGWINCH without a tty is dropped. */
static void test_exec_signals(void)
{
	const struct step steps[] = {
		STARTED_SEQ, EXPECT(P_SIGNAL), EXPECT(P_SIGNAL),
		SEND(P_EXIT, "signal=2"), END,
	};
	static const int sigs[] = { SIGTERM, SIGWINCH, SIGINT };
	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);
	struct ctl_exec_opts o = exec_opts();
	int sp[2];

	sig_pipe(sp, sigs, 3);
	o.sig_fd = sp[0];
	CHECK(ctl_exec(c, &o) == 130);
	fake_join(a, c);
	CHECK(a->nrec == 4);
	CHECK(a->recs[2].type == P_SIGNAL && a->recs[2].id == 41 &&
	      rec_is(&a->recs[2], "sig", "15"));
	CHECK(a->recs[3].type == P_SIGNAL && rec_is(&a->recs[3], "sig", "2"));
	close(sp[0]);
	close(sp[1]);
	fake_free(a);
}

/* A second SIGINT is not forwarded: the client hangs up (returns at once,
 * hung_up set; closing the connection is the agent's cue). */
static void test_exec_second_interrupt(void)
{
	const struct step steps[] = { STARTED_SEQ, EXPECT(P_SIGNAL), END };
	static const int sigs[] = { SIGINT, SIGINT };
	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);
	struct ctl_exec_opts o = exec_opts();
	int sp[2];

	sig_pipe(sp, sigs, 2);
	o.sig_fd = sp[0];
	CHECK(ctl_exec(c, &o) == -1 && c->hung_up);
	CHECK_STR_CONTAINS(c->err, "hung up the command");
	fake_join(a, c);
	CHECK(a->nrec == 3); /* EXEC, STDIN EOF, one SIGNAL */
	CHECK(a->recs[2].type == P_SIGNAL && rec_is(&a->recs[2], "sig", "2"));
	close(sp[0]);
	close(sp[1]);
	fake_free(a);
}

/* detach=1: STARTED is the whole answer (its pid); no stdin, no tty keys;
 * a refusal keeps the shell's codes. */
static void test_exec_detached(void)
{
	const struct step ok[] = { EXPECT(P_EXEC),
		SEND(P_STARTED, "pid=77\0log=/run/msbvm/exec-77.log"), END };
	const struct step refused[] = { EXPECT(P_EXEC),
		SEND(P_ERROR, "kind=not_found\0msg=nope: not found"), END };
	const struct step nopid[] = { EXPECT(P_EXEC), SEND(P_STARTED, "log=x"), END };
	struct fake *a = fake_new(ok);
	struct ctl *c = fake_pair(a);
	struct ctl_exec_opts o = exec_opts();
	int pid = 0;

	o.tty = true; /* ignored: a detached command has no terminal */
	CHECK(ctl_exec_detached(c, &o, &pid) == 0 && pid == 77);
	fake_join(a, c);
	CHECK(a->nrec == 1 && rec_is(&a->recs[0], "detach", "1") &&
	      !rec_get(&a->recs[0], "tty") && rec_is(&a->recs[0], "arg", "true"));
	fake_free(a);
	a = fake_new(refused);
	c = fake_pair(a);
	CHECK(ctl_exec_detached(c, &o, &pid) == 127);
	CHECK_STR_CONTAINS(c->err, "nope: not found");
	fake_join(a, c);
	fake_free(a);
	a = fake_new(nopid);
	c = fake_pair(a);
	CHECK(ctl_exec_detached(c, &o, &pid) == -1);
	CHECK_STR_CONTAINS(c->err, "STARTED without a pid");
	fake_join(a, c);
	fake_free(a);
}

/* With a tty: EXEC carries tty/rows/cols from out_fd, SIGWINCH becomes
 * RESIZE with the terminal's size. */
static void test_exec_tty_resize(void)
{
	const struct step steps[] = {
		STARTED_SEQ, EXPECT(P_RESIZE), SEND(P_EXIT, "code=0"), END,
	};
	static const int sigs[] = { SIGWINCH };
	struct winsize ws = { .ws_row = 33, .ws_col = 99 };
	char name[64];
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), s = -1, sp[2];

	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, name, sizeof(name)) ||
	    (s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		printf("ctl: no pty here (%s), tty case skipped\n", strerror(errno));
		if (m >= 0)
			close(m);
		return;
	}
	CHECK(ioctl(s, TIOCSWINSZ, &ws) == 0);

	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);
	struct ctl_exec_opts o = exec_opts();

	sig_pipe(sp, sigs, 1);
	o.tty = true;
	o.out_fd = s;
	o.sig_fd = sp[0];
	CHECK(ctl_exec(c, &o) == 0);
	fake_join(a, c);
	CHECK(a->nrec == 3);
	CHECK(!strcmp(rec_str(&a->recs[0]), "arg=true|tty=1|rows=33|cols=99|"));
	CHECK(a->recs[2].type == P_RESIZE && rec_is(&a->recs[2], "rows", "33") &&
	      rec_is(&a->recs[2], "cols", "99"));
	close(sp[0]);
	close(sp[1]);
	close(s);
	close(m);
	fake_free(a);
}

/* stop_fd readable while the command runs: give up at once. */
static void test_exec_stop(void)
{
	const struct step steps[] = { STARTED_SEQ, STOP, END };
	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);
	struct ctl_exec_opts o = exec_opts();
	int stop[2], rc;
	int64_t t_ret;

	CHECK(pipe2(stop, O_CLOEXEC) == 0);
	a->stop_wr = stop[1];
	o.stop_fd = stop[0];
	rc = ctl_exec(c, &o);
	t_ret = now_ms();
	CHECK(rc == -1);
	CHECK_STR_CONTAINS(c->err, "the VM stopped");
	fake_join(a, c);
	CHECK(a->stop_ms && t_ret - a->stop_ms < 500);
	fake_free(a);

	/* already stopped before the agent answered EXEC */
	const struct step steps2[] = { EXPECT(P_EXEC), END };
	int64_t t0 = now_ms();

	a = fake_new(steps2);
	c = fake_pair(a);
	rc = ctl_exec(c, &o);
	CHECK(rc == -1);
	CHECK_STR_CONTAINS(c->err, "the VM stopped");
	CHECK(now_ms() - t0 < 500);
	fake_join(a, c);
	close(stop[0]);
	close(stop[1]);
	fake_free(a);
}

/* A command line over the payload limit is refused before sending. */
static void test_exec_too_big(void)
{
	const struct step steps[] = { END };
	static char big[PROTO_MAX_PAYLOAD + 100];
	const char *argv[] = { "echo", big, NULL };
	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);
	struct ctl_exec_opts o = exec_opts();

	memset(big, 'x', sizeof(big) - 1);
	o.argv = argv;
	CHECK(ctl_exec(c, &o) == -1);
	CHECK_STR_CONTAINS(c->err, "exceed 65536 bytes");
	fake_join(a, c);
	CHECK(a->nrec == 0);
	fake_free(a);
}

/* --- call ---------------------------------------------------------------- */

static void test_call(void)
{
	const struct step steps[] = {
		EXPECT(P_STAT), SEND(P_OK, "type=file\0size=3"),
		EXPECT(P_STAT), SEND(P_OK, "type=file\0size=3"),
		EXPECT(P_PING), SEND0(P_OK, 0),
		EXPECT(P_MKDIR), SEND(P_ERROR, "kind=exists\0msg=/x: File exists"),
		EXPECT(P_REMOVE), SENDB(P_ERROR, 0, "junk"),
		END,
	};
	static const char req[] = "path=/x";
	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);
	char reply[64];
	size_t len = sizeof(reply);

	/* OK: the payload copied, its length returned */
	CHECK(ctl_call(c, P_STAT, req, sizeof(req), reply, &len, 1000) == 0);
	CHECK(len == sizeof("type=file\0size=3") &&
	      !memcmp(reply, "type=file\0size=3", len));
	/* a reply longer than the buffer is cut to it */
	memset(reply, '#', sizeof(reply));
	len = 4;
	CHECK(ctl_call(c, P_STAT, req, sizeof(req), reply, &len, 1000) == 0);
	CHECK(len == 4 && !memcmp(reply, "type#", 5));
	CHECK(ctl_call(c, P_PING, NULL, 0, NULL, NULL, 1000) == 0);
	/* ERROR: the agent's message and kind */
	CHECK(ctl_call(c, P_MKDIR, req, sizeof(req), NULL, NULL, 1000) == -EIO);
	CHECK(!strcmp(c->err, "/x: File exists") && !strcmp(c->err_kind, "exists"));
	CHECK(ctl_call(c, P_REMOVE, req, sizeof(req), NULL, NULL, 1000) == -EIO);
	CHECK_STR_CONTAINS(c->err, "agent error without a message");
	CHECK(!strcmp(c->err_kind, "unknown"));
	fake_join(a, c);
	CHECK(a->nrec == 5);
	for (int i = 0; i < 5 && i < a->nrec; i++)
		CHECK(a->recs[i].id == 41u + (unsigned)i);
	CHECK(a->recs[0].len == sizeof(req) && !memcmp(a->recs[0].data, req, sizeof(req)));
	CHECK(a->recs[2].type == P_PING && a->recs[2].len == 0);
	fake_free(a);
}

static void test_call_hostile(void)
{
	struct {
		const char *what;
		const struct step *steps;
		int timeout_ms, rc;
		const char *err;
	} cases[] = {
		{ "silent agent", (const struct step[]){ EXPECT(P_PING), END },
		  200, -ETIMEDOUT, "no reply to PING" },
		{ "reply for another id", (const struct step[]){ EXPECT(P_PING),
			SENDID(P_OK, 1, "x=1"), END }, 1000, -EPROTO,
			"reply for request 42, expected 41" },
		{ "wrong type", (const struct step[]){ EXPECT(P_PING),
			SEND0(P_HELLO, 0), END }, 1000, -EPROTO, "HELLO in reply to PING" },
		{ "closed", (const struct step[]){ EXPECT(P_PING), CLOSE, END },
		  1000, -EIO, "agent closed the connection" },
		{ "4 GiB frame", (const struct step[]){ EXPECT(P_PING),
			RAW(HUGE_HDR), END }, 5000, -EIO, "4294967295 bytes is over" },
		{ "half a frame, then silence", (const struct step[]){ EXPECT(P_PING),
			RAW("\x10\x00\x00\x00" "\x03\x00"), END }, 200, -ETIMEDOUT,
			"no reply to PING" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake *a = fake_new(cases[i].steps);
		struct ctl *c = fake_pair(a);
		int64_t t0 = now_ms();
		int rc = ctl_call(c, P_PING, NULL, 0, NULL, NULL, cases[i].timeout_ms);
		int64_t dt = now_ms() - t0;

		CHECK(rc == cases[i].rc);
		CHECK_STR_CONTAINS(c->err, cases[i].err);
		if (rc != cases[i].rc)
			fprintf(stderr, "  case '%s': rc %d, err '%s'\n",
				cases[i].what, rc, c->err);
		/* a timeout takes the timeout, not much more; the rest are prompt */
		if (cases[i].rc == -ETIMEDOUT)
			CHECK(dt >= cases[i].timeout_ms - 5 && dt < cases[i].timeout_ms + 500);
		else
			CHECK(dt < 500);
		fake_join(a, c);
		fake_free(a);
	}

	/* a request over the payload limit is refused, nothing sent */
	const struct step steps[] = { END };
	static char big[PROTO_MAX_PAYLOAD + 1];
	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);

	CHECK(ctl_call(c, P_PING, big, sizeof(big), NULL, NULL, 1000) == -E2BIG);
	fake_join(a, c);
	CHECK(a->nrec == 0);
	fake_free(a);
}

/* --- files --------------------------------------------------------------- */

static int tmp_fd(void)
{
	FILE *f = tmpfile();
	int fd;

	CHECK(f != NULL);
	fd = dup(fileno(f));
	fclose(f);
	return fd;
}

static size_t file_read(int fd, char *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap, 0);

	return n < 0 ? 0 : (size_t)n;
}

static void test_get(void)
{
	const struct step steps[] = {
		EXPECT(P_GET), SENDB(P_DATA, 0, "hello "),
		SENDFILL(P_DATA, 0, PROTO_MAX_PAYLOAD, 'x'),
		SEND0(P_DATA, 0), SENDB(P_DATA, P_FLAG_EOF, "world"), END,
	};
	static char buf[2 * PROTO_MAX_PAYLOAD];
	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);
	int fd = tmp_fd();
	size_t n;

	CHECK(ctl_get(c, "/etc/hostname", fd) == 0);
	fake_join(a, c);
	CHECK(a->nrec == 1 && a->recs[0].type == P_GET &&
	      !strcmp(rec_str(&a->recs[0]), "path=/etc/hostname|"));
	n = file_read(fd, buf, sizeof(buf));
	CHECK(n == 6 + PROTO_MAX_PAYLOAD + 5);
	CHECK(!memcmp(buf, "hello x", 7) && buf[6 + PROTO_MAX_PAYLOAD - 1] == 'x' &&
	      !memcmp(buf + 6 + PROTO_MAX_PAYLOAD, "world", 5));
	close(fd);
	fake_free(a);

	struct {
		const char *what;
		const struct step *steps;
		int rc;
		const char *err, *got;
	} cases[] = {
		{ "empty file", (const struct step[]){ EXPECT(P_GET),
			SEND0(P_DATA, P_FLAG_EOF), END }, 0, "", "" },
		{ "not found", (const struct step[]){ EXPECT(P_GET),
			SEND(P_ERROR, "kind=not_found\0msg=/nope: No such file or directory"),
			END }, -EIO, "/nope: No such file or directory", "" },
		{ "error mid-stream", (const struct step[]){ EXPECT(P_GET),
			SENDB(P_DATA, 0, "par"),
			SEND(P_ERROR, "kind=io\0msg=read: Input/output error"), END },
			-EIO, "read: Input/output error", "par" },
		{ "DATA for another id", (const struct step[]){ EXPECT(P_GET),
			SENDB(P_DATA, 0, "ok "), SENDID(P_DATA, 3, "x"), END },
			-EPROTO, "agent: unexpected DATA", "ok " },
		{ "OK instead of DATA", (const struct step[]){ EXPECT(P_GET),
			SEND0(P_OK, 0), END }, -EPROTO, "agent: unexpected OK", "" },
		{ "closed mid-stream", (const struct step[]){ EXPECT(P_GET),
			SENDB(P_DATA, 0, "par"), CLOSE, END }, -EIO,
			"agent closed the connection", "par" },
		{ "4 GiB frame", (const struct step[]){ EXPECT(P_GET),
			RAW(HUGE_HDR), END }, -EIO, "4294967295 bytes is over", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t0 = now_ms();
		int rc;

		a = fake_new(cases[i].steps);
		c = fake_pair(a);
		fd = tmp_fd();
		rc = ctl_get(c, "/f", fd);
		CHECK(rc == cases[i].rc);
		CHECK_STR_CONTAINS(c->err, cases[i].err);
		CHECK(now_ms() - t0 < 1000);
		if (rc != cases[i].rc)
			fprintf(stderr, "  case '%s': rc %d, err '%s'\n",
				cases[i].what, rc, c->err);
		fake_join(a, c);
		n = file_read(fd, buf, sizeof(buf));
		CHECK(n == strlen(cases[i].got) && !memcmp(buf, cases[i].got, n));
		close(fd);
		fake_free(a);
	}
}

static void test_list(void)
{
	const struct step steps[] = {
		EXPECT(P_LIST), SEND(P_DATA, "entry=f 3 644 a\0entry=d 0 755 b"),
		SEND(P_DATA, "entry=l 7 777 c"), SEND0(P_OK, 0), END,
	};
	struct fake *a = fake_new(steps);
	struct ctl *c = fake_pair(a);
	int fd = tmp_fd();
	char buf[256];
	size_t n;

	CHECK(ctl_list(c, "/", fd) == 0);
	fake_join(a, c);
	n = file_read(fd, buf, sizeof(buf) - 1);
	buf[n] = '\0';
	CHECK(!strcmp(buf, "f 3 644 a\nd 0 755 b\nl 7 777 c\n"));
	close(fd);
	fake_free(a);
}

static void test_put(void)
{
	const struct step ok[] = {
		EXPECT(P_PUT), COLLECT(P_DATA), SEND0(P_OK, 0), END,
	};
	const struct step fail[] = {
		EXPECT(P_PUT), COLLECT(P_DATA),
		SEND(P_ERROR, "kind=no_space\0msg=write: No space left on device"), END,
	};
	static uint8_t src[150000];
	struct fake *a = fake_new(ok);
	struct ctl *c = fake_pair(a);
	int fd = tmp_fd();

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = pattern(i);
	CHECK(ctl_write_all(fd, src, sizeof(src)) == 0);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK(ctl_put(c, fd, "/tmp/f", 0100644) == 0);
	fake_join(a, c);
	CHECK(a->nrec == 1 && !strcmp(rec_str(&a->recs[0]), "path=/tmp/f|mode=644|"));
	CHECK(a->coll_len == sizeof(src) && !memcmp(a->coll, src, sizeof(src)));
	CHECK(a->coll_eofs == 1);
	fake_free(a);

	a = fake_new(fail);
	c = fake_pair(a);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK(ctl_put(c, fd, "/tmp/f", 0600) == -EIO);
	CHECK(!strcmp(c->err, "write: No space left on device"));
	CHECK(!strcmp(c->err_kind, "no_space"));
	fake_join(a, c);
	close(fd);
	fake_free(a);
}

/* --- connect ------------------------------------------------------------- */

static char sock_dir[64], sock_path[128];

static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	unlink(path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	      listen(fd, 4) == 0);
	return fd;
}

#define TEST_TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* ctl_connect against a fake agent behind a listening socket; returns rc. */
static int connect_case(const struct step *steps, int timeout_ms, struct fake **out,
			struct ctl **cout)
{
	struct fake *a = fake_new(steps);
	struct ctl *c = ctl_new();
	int rc;

	a->lfd = listen_at(sock_path);
	a->open = false;
	CHECK(pthread_create(&a->th, NULL, fake_main, a) == 0);
	rc = ctl_connect(c, sock_path, TEST_TOKEN, timeout_ms);
	*out = a;
	*cout = c;
	return rc;
}

static void connect_join(struct fake *a, struct ctl *c)
{
	fake_join(a, c);
	close(a->lfd);
}

static void test_connect(void)
{
	const struct step ok[] = {
		ACCEPT, RAW("OK 1073741824\n"), EXPECT(P_HELLO),
		SEND(P_HELLO, "version=1\0agent=fake"), EXPECT(P_PING), SEND0(P_OK, 0),
		END,
	};
	/* the OK line and the HELLO in one write: the handshake must not eat
	 * the frame that follows the line */
	const struct step eager[] = {
		ACCEPT, RAW("OK 5\n" "\x0a\x00\x00\x00" "\x01\x00" "\x00\x00"
			    "\x00\x00\x00\x00" "version=1\0"),
		EXPECT(P_HELLO), EXPECT(P_PING), SEND0(P_OK, 0), END,
	};
	struct fake *a;
	struct ctl *c;
	int64_t t0;

	CHECK(mkdtemp(strcpy(sock_dir, "/tmp/test_ctl.XXXXXX")) != NULL);
	snprintf(sock_path, sizeof(sock_path), "%s/vsock.sock", sock_dir);

	CHECK(connect_case(ok, 1000, &a, &c) == 0);
	CHECK(ctl_call(c, P_PING, NULL, 0, NULL, NULL, 1000) == 0);
	connect_join(a, c);
	CHECK(!strcmp(a->line, "CONNECT 1024\n"));
	/* the token travels in HELLO, and only there */
	CHECK(a->nrec == 2 && a->recs[0].type == P_HELLO &&
	      !strcmp(rec_str(&a->recs[0]), "version=1|token=" TEST_TOKEN "|"));
	CHECK(a->recs[1].type == P_PING && a->recs[1].id == 1);
	fake_free(a);

	CHECK(connect_case(eager, 1000, &a, &c) == 0);
	CHECK(ctl_call(c, P_PING, NULL, 0, NULL, NULL, 1000) == 0);
	connect_join(a, c);
	fake_free(a);

	struct {
		const char *what;
		const struct step *steps;
		int timeout_ms, rc;
		const char *err;
	} cases[] = {
		{ "nobody on port 1024", (const struct step[]){ ACCEPT, CLOSE, END },
		  1000, -ECONNREFUSED, "not listening (vsock port 1024 refused)" },
		{ "odd reply to CONNECT", (const struct step[]){ ACCEPT,
			RAW("NOPE\n"), END }, 1000, -EPROTO, "unexpected reply to CONNECT" },
		{ "HELLO refused", (const struct step[]){ ACCEPT, RAW("OK 1\n"),
			EXPECT(P_HELLO), SEND(P_ERROR, "kind=version\0msg=version 1"),
			END }, 1000, -EPROTO, "agent refused the handshake (ERROR)" },
		{ "token refused", (const struct step[]){ ACCEPT, RAW("OK 1\n"),
			EXPECT(P_HELLO), SEND(P_ERROR, "kind=auth\0msg=missing or "
			"wrong control token"), END }, 1000, -EACCES,
			"agent refused the handshake: missing or wrong control token" },
		{ "closed after OK", (const struct step[]){ ACCEPT, RAW("OK 1\n"),
			EXPECT(P_HELLO), CLOSE, END }, 1000, -EPROTO,
			"agent closed the connection" },
		{ "no HELLO", (const struct step[]){ ACCEPT, RAW("OK 1\n"),
			EXPECT(P_HELLO), END }, 200, -ETIMEDOUT, "agent: no HELLO" },
		{ "no OK line", (const struct step[]){ ACCEPT, END }, 200,
		  -ETIMEDOUT, "did not accept a connection within 200 ms" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		t0 = now_ms();
		rc = connect_case(cases[i].steps, cases[i].timeout_ms, &a, &c);
		CHECK(rc == cases[i].rc);
		CHECK_STR_CONTAINS(c->err, cases[i].err);
		CHECK(now_ms() - t0 < cases[i].timeout_ms + 500);
		if (rc != cases[i].rc)
			fprintf(stderr, "  case '%s': rc %d, err '%s'\n",
				cases[i].what, rc, c->err);
		connect_join(a, c);
		fake_free(a);
	}

	/* nobody accepts at all (backlog only) */
	int lfd = listen_at(sock_path);

	c = ctl_new();
	t0 = now_ms();
	CHECK(ctl_connect(c, sock_path, TEST_TOKEN, 200) == -ETIMEDOUT);
	CHECK(now_ms() - t0 < 700);
	ctl_free(c);
	close(lfd);

	/* no socket; a path too long for sun_path */
	static char longp[200];
	c = ctl_new();
	unlink(sock_path);
	CHECK(ctl_connect(c, sock_path, TEST_TOKEN, 200) == -ENOENT);
	CHECK_STR_CONTAINS(c->err, "vsock.sock: No such file");
	memset(longp, 'a', sizeof(longp) - 1);
	CHECK(ctl_connect(c, longp, TEST_TOKEN, 200) == -ENAMETOOLONG);
	CHECK_STR_CONTAINS(c->err, "path too long");
	ctl_free(c);
	rmdir(sock_dir);
}

int main(void)
{
	test_exec_request_and_output();
	test_exec_on_output();
	test_exec_cases();
	test_exec_stdin();
	test_exec_signals();
	test_exec_second_interrupt();
	test_exec_detached();
	test_exec_tty_resize();
	test_exec_stop();
	test_exec_too_big();
	test_call();
	test_call_hostile();
	test_get();
	test_list();
	test_put();
	test_connect();
	return check_result("ctl");
}
