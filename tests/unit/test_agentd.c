/* agentd's host-testable parts: the EXEC request parser (a malformed frame
 * must be refused whole, never run a partial argv), the kernel command
 * line's percent-decoding, file transfer on non-regular files, and the
 * session's EXIT/SIGNAL rules around a leader that exited. */
#include "check.h"
#include "agentd/agentd.h"
#include "agentd/init.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* main.c is not in libagentd.a (it is the guest's boot); these stand in.
 * The clock is the test's to move. */
static int64_t fake_now_ms;

int64_t agent_now_ms(void)
{
	return fake_now_ms;
}

void agent_log(const char *fmt, ...)
{
	(void)fmt;
}

void agent_fatal(const char *why)
{
	fprintf(stderr, "agent_fatal: %s\n", why);
	abort();
}

/* Builds a key=value payload from "k=v" strings (NULL-terminated). */
static size_t payload(uint8_t *buf, size_t cap, const char *const *entries)
{
	size_t len = 0;

	for (; *entries; entries++) {
		size_t n = strlen(*entries) + 1;

		if (len + n > cap)
			abort();
		memcpy(buf + len, *entries, n);
		len += n;
	}
	return len;
}

static char why[160];

static bool parse(struct exec_req *r, const char *const *entries)
{
	static uint8_t buf[PROTO_MAX_PAYLOAD];

	why[0] = '\0';
	return exec_parse(r, buf, payload(buf, sizeof(buf), entries), why,
			  sizeof(why));
}

static void test_parse_ok(void)
{
	static struct exec_req r;
	const char *const all[] = { "arg=sh", "arg=-c", "arg=echo hi",
		"env=FOO=bar", "env=EMPTY=", "cwd=/tmp", "user=app:5", "tty=1",
		"rows=50", "cols=132", NULL };
	const char *const min[] = { "arg=true", NULL };

	CHECK(parse(&r, all));
	CHECK(r.argc == 3 && !strcmp(r.argv[2], "echo hi"));
	CHECK(r.nreqenv == 2 && !strcmp(r.reqenv[0], "FOO=bar") &&
	      !strcmp(r.reqenv[1], "EMPTY="));
	CHECK(!strcmp(r.cwd, "/tmp") && !strcmp(r.user, "app:5"));
	CHECK(r.tty && r.rows == 50 && r.cols == 132);
	/* defaults */
	CHECK(parse(&r, min));
	CHECK(r.argc == 1 && !strcmp(r.cwd, "/") && !r.user && !r.tty);
	CHECK(r.rows == 24 && r.cols == 80);
}

static void test_parse_refused(void)
{
	static struct exec_req r;
	const char *const none[] = { NULL };
	const char *const no_arg[] = { "cwd=/", NULL };
	const char *const empty_arg0[] = { "arg=", "arg=x", NULL };
	const char *const unknown[] = { "arg=true", "colour=red", NULL };
	const char *const bad_env[] = { "arg=true", "env=NOEQUALS", NULL };
	const char *const env_no_name[] = { "arg=true", "env==x", NULL };
	const char *const bad_rows[] = { "arg=true", "rows=0", NULL };
	const char *const big_cols[] = { "arg=true", "cols=65536", NULL };
	const char *const empty_cwd[] = { "arg=true", "cwd=", NULL };
	const char *const empty_user[] = { "arg=true", "user=", NULL };

	CHECK(!parse(&r, none));
	CHECK(!parse(&r, no_arg));
	CHECK_STR_CONTAINS(why, "needs arg=");
	CHECK(!parse(&r, empty_arg0));
	CHECK(!parse(&r, unknown));
	CHECK_STR_CONTAINS(why, "colour=red: unknown key");
	CHECK(!parse(&r, bad_env));
	CHECK(!parse(&r, env_no_name));
	CHECK(!parse(&r, bad_rows));
	CHECK(!parse(&r, big_cols));
	CHECK(!parse(&r, empty_cwd));
	CHECK(!parse(&r, empty_user));
}

/* The reviewed defect: a key too long for the parser's buffer ended the
 * loop as if the payload had ended, and the argv read so far ran. */
static void test_parse_long_key(void)
{
	static struct exec_req r;
	const char *const k16[] = { "arg=rm", "aaaaaaaaaaaaaaaa=1", "arg=-rf",
		"arg=/tmp/x", NULL };
	const char *const k15[] = { "arg=true", "aaaaaaaaaaaaaaa=1", NULL };
	const char *const k100[] = { "arg=true", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1", NULL };
	const char *const last[] = { "arg=true", "cwd=/", "a_key_that_is_too_long_"
		"for_any_buffer=1", NULL };

	CHECK(!parse(&r, k16));
	CHECK_STR_CONTAINS(why, "unknown key");
	CHECK(!parse(&r, k15)); /* fits, but unknown */
	CHECK(!parse(&r, k100));
	CHECK_STR_CONTAINS(why, "is over 31 bytes");
	CHECK(!parse(&r, last));
}

/* Not a key=value list at all (serve.c checks this first; the parser
 * must not rely on it). */
static void test_parse_malformed(void)
{
	static struct exec_req r;
	static const uint8_t no_nul[] = "arg=true"; /* sizeof - 1: no final NUL */
	static const uint8_t no_eq[] = "arg=true\0junk";
	static const uint8_t upper[] = "ARG=true";

	CHECK(!exec_parse(&r, no_nul, sizeof(no_nul) - 1, why, sizeof(why)));
	CHECK_STR_CONTAINS(why, "not a key=value list");
	CHECK(!exec_parse(&r, no_eq, sizeof(no_eq), why, sizeof(why)));
	CHECK(!exec_parse(&r, upper, sizeof(upper), why, sizeof(why)));
}

static void test_parse_limits(void)
{
	static const char *ents[AGENT_MAX_ARGS + 3];
	static char env[AGENT_MAX_ARGS + 1][16];
	static struct exec_req r;

	for (unsigned i = 0; i <= AGENT_MAX_ARGS; i++)
		ents[i] = "arg=x";
	ents[AGENT_MAX_ARGS] = NULL;
	CHECK(parse(&r, ents));
	CHECK(r.argc == AGENT_MAX_ARGS);
	ents[AGENT_MAX_ARGS] = "arg=x"; /* one too many: refused, not cut */
	ents[AGENT_MAX_ARGS + 1] = NULL;
	CHECK(!parse(&r, ents));
	CHECK_STR_CONTAINS(why, "too many arg entries");
	/* arg=x then AGENT_MAX_ARGS + 1 env entries: one too many */
	ents[0] = "arg=x";
	for (unsigned i = 0; i <= AGENT_MAX_ARGS; i++) {
		snprintf(env[i], sizeof(env[i]), "env=V%u=1", i);
		ents[i + 1] = env[i];
	}
	ents[AGENT_MAX_ARGS + 2] = NULL;
	CHECK(!parse(&r, ents));
	ents[AGENT_MAX_ARGS + 1] = NULL;
	CHECK(parse(&r, ents));
	CHECK(r.nreqenv == AGENT_MAX_ARGS);
}

/* Every request, not only EXEC: kv_get ends at an overlong key. */
static void test_keys_fit(void)
{
	static uint8_t buf[256];
	const char *const ok[] = { "path=/x", "a_key_of_exactly_31_bytes_long_=1",
		NULL };
	const char *const over[] = { "path=/x", "a_key_of_exactly_32_bytes_long__=1",
		"mode=0600", NULL };
	const char *const none[] = { NULL };
	size_t len;

	CHECK(agent_keys_fit(buf, payload(buf, sizeof(buf), ok)));
	CHECK(agent_keys_fit(buf, payload(buf, sizeof(buf), none)));
	len = payload(buf, sizeof(buf), over);
	CHECK(!agent_keys_fit(buf, len));
	/* what the check protects: kv_get misses mode= after the long key */
	CHECK(kv_get(buf, len, "mode") == NULL);
}

/* A connection as serve.c sets one up, its peer end read by the test. */
struct tconn {
	struct aconn c;
	struct pconn peer;
	struct proto_frame f;      /* the last reply read */
	char kind[32], msg[256];   /* of an ERROR reply */
};

static void tconn_open(struct tconn *t)
{
	int sv[2];

	memset(t, 0, sizeof(*t));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	CHECK(pconn_init(&t->c.pc, sv[0]) == 0);
	CHECK(pconn_init(&t->peer, sv[1]) == 0);
	t->c.used = t->c.hello = true;
	t->c.file_fd = -1;
	t->c.s.in_fd = t->c.s.out_fd = t->c.s.err_fd = -1;
}

static void tconn_close(struct tconn *t)
{
	files_release(&t->c);
	pconn_free(&t->c.pc);
	pconn_free(&t->peer);
}

/* The next frame the agent sent; its type, or 0 if none is queued. */
static uint16_t tconn_reply(struct tconn *t)
{
	const char *v;

	pconn_flush(&t->c.pc);
	pconn_fill(&t->peer);
	if (pconn_next(&t->peer, &t->f) != 1)
		return 0;
	t->kind[0] = t->msg[0] = '\0';
	if (t->f.type == P_ERROR && kv_valid(t->f.data, t->f.len)) {
		if ((v = kv_get(t->f.data, t->f.len, "kind")))
			snprintf(t->kind, sizeof(t->kind), "%s", v);
		if ((v = kv_get(t->f.data, t->f.len, "msg")))
			snprintf(t->msg, sizeof(t->msg), "%s", v);
	}
	return t->f.type;
}

/* A request frame from "k=v" entries. */
static void request(struct tconn *t, uint16_t type, uint32_t id,
		    const char *const *entries)
{
	static uint8_t buf[4096];
	struct proto_frame f = { .type = type, .id = id, .data = buf };

	f.len = (uint32_t)payload(buf, sizeof(buf), entries);
	files_request(&t->c, &f);
}

static void file_req(struct tconn *t, uint16_t type, const char *path)
{
	char p[300];
	const char *const e[] = { p, NULL };

	snprintf(p, sizeof(p), "path=%s", path);
	request(t, type, 7, e);
}

/* GET or PUT on PATH is refused at once, with nothing left open. */
static void check_refused(uint16_t type, const char *path, const char *kind,
			  const char *msg)
{
	struct tconn t;

	tconn_open(&t);
	file_req(&t, type, path);
	CHECK(t.c.op == OP_NONE && t.c.file_fd < 0);
	CHECK(tconn_reply(&t) == P_ERROR && t.f.id == 7);
	CHECK(!strcmp(t.kind, kind));
	CHECK_STR_CONTAINS(t.msg, msg);
	tconn_close(&t);
}

/* The reviewed defect: open() of a FIFO blocked the whole agent (here:
 * the test, until the alarm in main), /dev/null was "transferred". */
static void test_files_not_regular(const char *dir)
{
	char fifo[256], sub[256], want[300];
	int rd;

	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	CHECK(mkfifo(fifo, 0600) == 0);
	CHECK(mkdir(sub, 0755) == 0);
	snprintf(want, sizeof(want), "not a regular file: %s", fifo);
	check_refused(P_GET, fifo, "not_regular", want);
	check_refused(P_PUT, fifo, "not_regular", want);
	/* with a reader, a non-blocking open would succeed: still refused */
	rd = open(fifo, O_RDONLY | O_NONBLOCK);
	CHECK(rd >= 0);
	check_refused(P_PUT, fifo, "not_regular", want);
	close(rd);
	check_refused(P_GET, "/dev/null", "not_regular", "not a regular file: /dev/null");
	check_refused(P_PUT, "/dev/null", "not_regular", "not a regular file: /dev/null");
	check_refused(P_GET, sub, "is_dir", "Is a directory");
	check_refused(P_PUT, sub, "is_dir", "Is a directory");
	check_refused(P_GET, "/nonexistent/x", "not_found", "No such file");
	unlink(fifo);
	rmdir(sub);
}

/* Regular files still go both ways, through a symlink too (cp follows),
 * on a blocking fd. */
static void test_files_regular(const char *dir)
{
	char file[256], link[256], mode[16] = "mode=600", p[300];
	const char *const put[] = { p, mode, NULL };
	struct proto_frame data = { .type = P_DATA, .id = 7, .len = 6,
				    .flags = P_FLAG_EOF, .data = (const uint8_t *)"hello\n" };
	struct tconn t;
	struct stat st;

	snprintf(file, sizeof(file), "%s/file", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(p, sizeof(p), "path=%s", link);
	CHECK(symlink("file", link) == 0);
	tconn_open(&t);
	request(&t, P_PUT, 7, put);
	CHECK(t.c.op == OP_PUT && t.c.file_fd >= 0);
	CHECK(!(fcntl(t.c.file_fd, F_GETFL) & O_NONBLOCK));
	files_frame(&t.c, &data);
	CHECK(tconn_reply(&t) == P_OK && t.c.op == OP_NONE);
	CHECK(stat(file, &st) == 0 && st.st_size == 6 && (st.st_mode & 0777) == 0600);
	file_req(&t, P_GET, link);
	CHECK(t.c.op == OP_GET && !(fcntl(t.c.file_fd, F_GETFL) & O_NONBLOCK));
	files_pump(&t.c);
	CHECK(tconn_reply(&t) == P_DATA && t.f.len == 6 &&
	      !memcmp(t.f.data, "hello\n", 6) && !(t.f.flags & P_FLAG_EOF));
	CHECK(tconn_reply(&t) == P_DATA && t.f.len == 0 && (t.f.flags & P_FLAG_EOF));
	CHECK(t.c.op == OP_NONE && t.c.file_fd < 0);
	tconn_close(&t);
	unlink(link);
	unlink(file);
}

static bool unesc(const char *in, const char *want)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s", in);
	if (!init_unescape(buf))
		return false;
	return !strcmp(buf, want);
}

static bool unesc_refused(const char *in)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s", in);
	return !init_unescape(buf);
}

static void test_unescape(void)
{
	CHECK(unesc("", ""));
	CHECK(unesc("plain", "plain"));
	CHECK(unesc("a%20b", "a b"));
	CHECK(unesc("%2f%2F", "//"));
	CHECK(unesc("%25", "%"));
	CHECK(unesc("%2541", "%41")); /* decoded once, not twice */
	CHECK(unesc("%e2%82%ac", "\xe2\x82\xac"));
	CHECK(unesc("%ff", "\xff"));
	CHECK(unesc("x%3D%3d", "x=="));
	/* invalid or truncated escapes; %00 would cut the value short */
	CHECK(unesc_refused("%"));
	CHECK(unesc_refused("a%"));
	CHECK(unesc_refused("%4"));
	CHECK(unesc_refused("%g0"));
	CHECK(unesc_refused("%0g"));
	CHECK(unesc_refused("% 1"));
	CHECK(unesc_refused("%-1"));
	CHECK(unesc_refused("%00"));
	CHECK(unesc_refused("ab%00cd"));
}

static void on_alarm(int sig)
{
	static const char msg[] = "test_agentd: timed out (the agent blocked)\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

int main(void)
{
	char dir[] = "/tmp/test_agentd.XXXXXX";

	/* a blocking open or read in the agent hangs the test: fail it */
	signal(SIGALRM, on_alarm);
	alarm(20);
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return 1;
	test_parse_ok();
	test_parse_refused();
	test_parse_long_key();
	test_parse_malformed();
	test_parse_limits();
	test_keys_fit();
	test_unescape();
	test_files_not_regular(dir);
	test_files_regular(dir);
	rmdir(dir);
	return check_result("test_agentd");
}
