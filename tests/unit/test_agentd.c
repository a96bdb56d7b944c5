/* agentd's host-testable parts: the EXEC request parser (a malformed frame
 * must be refused whole, never run a partial argv), the kernel command
 * line's percent-decoding, file transfer on non-regular files, the
 * session's EXIT/SIGNAL rules around a leader that exited, and who dies
 * when: hang-up of a dropped client, what a finished command left. */
#include "check.h"
#include "agentd/agentd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
	const char *const det[] = { "arg=sleep", "arg=9", "detach=1", NULL };

	CHECK(parse(&r, all));
	CHECK(r.argc == 3 && !strcmp(r.argv[2], "echo hi"));
	CHECK(r.nreqenv == 2 && !strcmp(r.reqenv[0], "FOO=bar") &&
	      !strcmp(r.reqenv[1], "EMPTY="));
	CHECK(!strcmp(r.cwd, "/tmp") && !strcmp(r.user, "app:5"));
	CHECK(r.tty && r.rows == 50 && r.cols == 132);
	/* defaults */
	CHECK(parse(&r, min));
	CHECK(r.argc == 1 && !strcmp(r.cwd, "/") && !r.user && !r.tty);
	CHECK(r.rows == 24 && r.cols == 80 && !r.detach);
	CHECK(parse(&r, det));
	CHECK(r.detach && r.argc == 2 && !r.tty);
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
	const char *const detach_tty[] = { "arg=sh", "tty=1", "detach=1", NULL };

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
	CHECK(!parse(&r, detach_tty));
	CHECK_STR_CONTAINS(why, "a detached command has no terminal");
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
	struct aconn *c;           /* the agent's end */
	struct pconn peer;
	struct proto_frame f;      /* the last reply read */
	char kind[32], msg[256];   /* of an ERROR reply */
};

static void tconn_open(struct tconn *t, struct aconn *c)
{
	int sv[2];

	memset(t, 0, sizeof(*t));
	memset(c, 0, sizeof(*c));
	t->c = c;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	CHECK(pconn_init(&c->pc, sv[0]) == 0);
	CHECK(pconn_init(&t->peer, sv[1]) == 0);
	c->used = c->hello = true;
	c->file_fd = -1;
	c->s.in_fd = c->s.out_fd = c->s.err_fd = -1;
}

static void tconn_close(struct tconn *t)
{
	exec_release(t->c);
	files_release(t->c);
	pconn_free(&t->c->pc);
	pconn_free(&t->peer);
}

/* The next frame the agent sent; its type, or 0 if none is queued. */
static uint16_t tconn_reply(struct tconn *t)
{
	const char *v;

	pconn_flush(&t->c->pc);
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

/* The last reply carries key=val. */
static bool reply_has(const struct tconn *t, const char *key, const char *val)
{
	const char *v = kv_valid(t->f.data, t->f.len) ?
			kv_get(t->f.data, t->f.len, key) : NULL;

	return v && !strcmp(v, val);
}

/* A request frame from "k=v" entries. */
static void request(struct tconn *t, uint16_t type, uint32_t id,
		    const char *const *entries)
{
	static uint8_t buf[4096];
	struct proto_frame f = { .type = type, .id = id, .data = buf };

	f.len = (uint32_t)payload(buf, sizeof(buf), entries);
	files_request(t->c, &f);
}

static void file_req(struct tconn *t, uint16_t type, const char *path)
{
	char p[300];
	const char *const e[] = { p, NULL };

	snprintf(p, sizeof(p), "path=%s", path);
	request(t, type, 7, e);
}

/* HELLO from "k=v" entries on a fresh (not yet greeted) connection. */
static void hello(struct agent *a, struct tconn *t, struct aconn *c,
		  const char *const *entries)
{
	static uint8_t buf[512];
	struct proto_frame f = { .type = P_HELLO, .id = 3, .data = buf };

	tconn_open(t, c);
	c->hello = false;
	f.len = (uint32_t)payload(buf, sizeof(buf), entries);
	agent_hello(a, c, &f);
}

#define TOK "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* The control token: HELLO with it is answered, without it or with a
 * wrong one gets ERROR kind=auth and the connection is marked to close;
 * refusals are logged once per AGENT_AUTH_LOG_MS. */
static void test_hello_token(void)
{
	static struct agent a;
	const char *const good[] = { "version=1", "token=" TOK, NULL };
	const char *const none[] = { "version=1", NULL };
	const char *const wrong[] = { "version=1", "token=" TOK "0", NULL };
	const char *const empty[] = { "version=1", "token=", NULL };
	const char *const flipped[] = { "version=1", "token=10112233445566778899"
					"aabbccddeeff00112233445566778899aabbccddeeff", NULL };
	const char *const *bad[] = { none, wrong, empty, flipped };
	struct aconn c;
	struct tconn t;

	memset(&a, 0, sizeof(a));
	a.token = TOK;
	fake_now_ms = 1000;
	hello(&a, &t, &c, good);
	CHECK(c.hello && !c.pc.failed && tconn_reply(&t) == P_HELLO && t.f.id == 3);
	CHECK(reply_has(&t, "agent", "msbvm-agentd"));
	tconn_close(&t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hello(&a, &t, &c, bad[i]);
		CHECK(!c.hello && c.pc.failed);
		CHECK(tconn_reply(&t) == P_ERROR && !strcmp(t.kind, "auth"));
		CHECK_STR_CONTAINS(t.msg, "missing or wrong control token");
		tconn_close(&t);
	}
	/* one line for the first, the other three wait for the next window */
	CHECK(a.auth_log_ms == 1000 && a.auth_unlogged == 3);
	fake_now_ms += AGENT_AUTH_LOG_MS;
	hello(&a, &t, &c, none);
	CHECK(a.auth_log_ms == fake_now_ms && a.auth_unlogged == 0);
	tconn_close(&t);
	/* an agent without a token (no boot configuration) greets nobody */
	a.token = NULL;
	hello(&a, &t, &c, good);
	CHECK(!c.hello && c.pc.failed && tconn_reply(&t) == P_ERROR &&
	      !strcmp(t.kind, "auth"));
	tconn_close(&t);
	/* the version is still checked first */
	a.token = TOK;
	const char *const v2[] = { "version=2", "token=" TOK, NULL };
	hello(&a, &t, &c, v2);
	CHECK(!c.hello && tconn_reply(&t) == P_ERROR && !strcmp(t.kind, "version"));
	tconn_close(&t);
}

/* GET or PUT on PATH is refused at once, with nothing left open. */
static void check_refused(uint16_t type, const char *path, const char *kind,
			  const char *msg)
{
	struct aconn c;
	struct tconn t;

	tconn_open(&t, &c);
	file_req(&t, type, path);
	CHECK(c.op == OP_NONE && c.file_fd < 0);
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
	struct aconn c;
	struct tconn t;
	struct stat st;

	snprintf(file, sizeof(file), "%s/file", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(p, sizeof(p), "path=%s", link);
	CHECK(symlink("file", link) == 0);
	tconn_open(&t, &c);
	request(&t, P_PUT, 7, put);
	CHECK(c.op == OP_PUT && c.file_fd >= 0);
	CHECK(!(fcntl(c.file_fd, F_GETFL) & O_NONBLOCK));
	files_frame(&c, &data);
	CHECK(tconn_reply(&t) == P_OK && c.op == OP_NONE);
	CHECK(stat(file, &st) == 0 && st.st_size == 6 && (st.st_mode & 0777) == 0600);
	file_req(&t, P_GET, link);
	CHECK(c.op == OP_GET && !(fcntl(c.file_fd, F_GETFL) & O_NONBLOCK));
	files_pump(&c);
	CHECK(tconn_reply(&t) == P_DATA && t.f.len == 6 &&
	      !memcmp(t.f.data, "hello\n", 6) && !(t.f.flags & P_FLAG_EOF));
	CHECK(tconn_reply(&t) == P_DATA && t.f.len == 0 && (t.f.flags & P_FLAG_EOF));
	CHECK(c.op == OP_NONE && c.file_fd < 0);
	tconn_close(&t);
	unlink(link);
	unlink(file);
}

/* A session as exec_start leaves it, on agent slot 0, with stdout and
 * stderr pipes whose write ends the test holds (the command's, or a
 * daemon's it left behind). */
static void session_open(struct agent *a, struct tconn *t, pid_t pid,
			 int *out_w, int *err_w)
{
	struct aconn *c = &a->conns[0];
	int out[2], err[2];

	leftover_init(a);
	tconn_open(t, c);
	CHECK(pipe2(out, O_CLOEXEC | O_NONBLOCK) == 0);
	CHECK(pipe2(err, O_CLOEXEC | O_NONBLOCK) == 0);
	c->op = OP_EXEC;
	c->op_id = 9;
	c->s.pid = pid;
	c->s.out_fd = out[0];
	c->s.err_fd = err[0];
	*out_w = out[1];
	*err_w = err[1];
}

/* The reviewed defect: EXIT waited for EOF, which never comes while a
 * daemon the command started holds stdout. Now: EXIT AGENT_EXIT_DRAIN_MS
 * after the exit, with all the command itself wrote delivered first. */
static void test_exit_with_daemon(void)
{
	static struct agent a;
	struct aconn *c = &a.conns[0];
	struct tconn t;
	int out_w, err_w;

	session_open(&a, &t, 4242, &out_w, &err_w);
	CHECK(write(out_w, "last words", 10) == 10);
	fake_now_ms = 1000;
	CHECK(exec_reaped(&a, 4242, 3 << 8)); /* exit code 3 */
	CHECK(c->s.owed_out == 10 && c->s.owed_err == 0);
	CHECK(!exec_done(&a, c));
	CHECK(exec_deadline(c) == -1); /* owed bytes: the fd wakes poll */
	/* the grace passes before the host had room: the bytes still go */
	fake_now_ms = 1000 + AGENT_EXIT_DRAIN_MS + 50;
	CHECK(!exec_done(&a, c));
	exec_pump(c, 0, POLLIN, 0);
	CHECK(c->s.owed_out == 0);
	/* stdout and stderr still open (the daemon), grace over: EXIT */
	CHECK(exec_done(&a, c));
	CHECK(tconn_reply(&t) == P_STDOUT && t.f.len == 10 &&
	      !memcmp(t.f.data, "last words", 10));
	CHECK(tconn_reply(&t) == P_STDOUT && (t.f.flags & P_FLAG_EOF));
	CHECK(tconn_reply(&t) == P_STDERR && (t.f.flags & P_FLAG_EOF));
	CHECK(tconn_reply(&t) == P_EXIT && t.f.id == 9 &&
	      reply_has(&t, "code", "3"));
	CHECK(c->s.out_fd < 0 && c->s.err_fd < 0);
	/* the daemon's later writes neither fail (SIGPIPE would kill it)
	 * nor block it: the agent reads them into the void */
	CHECK(a.leftover[0] >= 0 && a.leftover[1] >= 0);
	for (int i = 0; i < 100; i++) {
		static char chunk[4096];

		CHECK(write(out_w, chunk, sizeof(chunk)) == sizeof(chunk));
		leftover_drain(&a, 0);
	}
	close(out_w);
	leftover_drain(&a, 0);
	CHECK(a.leftover[0] == -1); /* EOF: closed */
	close(err_w);
	leftover_drain(&a, 1);
	CHECK(a.leftover[1] == -1);
	tconn_close(&t);
}

/* Within the grace, EXIT waits for EOF (the usual case: it comes at once,
 * and no output is cut); the timer wakes poll at the deadline. */
static void test_exit_within_grace(void)
{
	static struct agent a;
	struct aconn *c = &a.conns[0];
	struct tconn t;
	int out_w, err_w;

	session_open(&a, &t, 4343, &out_w, &err_w);
	fake_now_ms = 5000;
	CHECK(exec_deadline(c) == -1); /* running: no timer */
	CHECK(exec_reaped(&a, 4343, SIGTERM)); /* killed by SIGTERM */
	CHECK(!exec_reaped(&a, 4343, 0)); /* once per pid */
	fake_now_ms = 5000 + AGENT_EXIT_DRAIN_MS - 1;
	CHECK(exec_deadline(c) == 5000 + AGENT_EXIT_DRAIN_MS);
	CHECK(!exec_done(&a, c));
	close(err_w);
	exec_pump(c, 0, 0, POLLIN);
	CHECK(c->s.err_fd < 0 && !exec_done(&a, c));
	CHECK(write(out_w, "tail", 4) == 4); /* a child still writing */
	exec_pump(c, 0, POLLIN, 0);
	close(out_w);
	exec_pump(c, 0, POLLIN, 0);
	CHECK(c->s.out_fd < 0 && exec_done(&a, c));
	CHECK(tconn_reply(&t) == P_STDERR && (t.f.flags & P_FLAG_EOF));
	CHECK(tconn_reply(&t) == P_STDOUT && t.f.len == 4);
	CHECK(tconn_reply(&t) == P_STDOUT && (t.f.flags & P_FLAG_EOF));
	CHECK(tconn_reply(&t) == P_EXIT &&
	      reply_has(&t, "signal", "15"));
	tconn_close(&t);
}

/* A process group whose leader exits at once, leaving a member that
 * waits for a signal. Returns the leader's pid (the group's id). */
static pid_t group_with_orphan(pid_t *member)
{
	int p[2];
	pid_t leader;

	CHECK(pipe(p) == 0);
	if ((leader = fork()) == 0) {
		pid_t m;

		setpgid(0, 0);
		if ((m = fork()) == 0) {
			close(p[1]);
			for (;;)
				pause();
		}
		if (write(p[1], &m, sizeof(m)) != sizeof(m))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	CHECK(read(p[0], member, sizeof(*member)) == sizeof(*member));
	close(p[0]);
	return leader;
}

/* The reviewed defect: SIGNAL was dropped once the leader had exited,
 * though its group (and the EXEC) lived on. */
static void test_signal_after_leader_exit(void)
{
	static struct agent a;
	struct aconn *c = &a.conns[0];
	const char *const sig[] = { "sig=15", NULL };
	static uint8_t buf[64];
	struct proto_frame f = { .type = P_SIGNAL, .id = 9, .data = buf };
	struct tconn t;
	pid_t leader, member, r = 0;
	int status = 0, out_w, err_w;

	/* the member is re-parented to us, so the test can reap it */
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	leader = group_with_orphan(&member);
	session_open(&a, &t, leader, &out_w, &err_w);
	CHECK(waitpid(leader, &status, 0) == leader);
	CHECK(exec_reaped(&a, leader, status));
	f.len = (uint32_t)payload(buf, sizeof(buf), sig);
	exec_frame(c, &f);
	for (int i = 0; i < 200 && !r; i++) {
		struct timespec ms10 = { 0, 10000000 };

		r = waitpid(member, &status, WNOHANG);
		nanosleep(&ms10, NULL);
	}
	CHECK(r == member && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	if (r != member) {
		kill(member, SIGKILL);
		waitpid(member, &status, 0);
	}
	close(out_w);
	close(err_w);
	tconn_close(&t);
}

/* Waits up to 2 s for pid to end; its status, or -1 if it still runs. */
static int ended(pid_t pid)
{
	int status;

	for (int i = 0; i < 200; i++) {
		struct timespec ms10 = { 0, 10000000 };

		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		nanosleep(&ms10, NULL);
	}
	return -1;
}

static bool still_runs(pid_t pid)
{
	struct timespec ms100 = { 0, 100000000 };
	int status;

	nanosleep(&ms100, NULL);
	return waitpid(pid, &status, WNOHANG) == 0;
}

/* A running process group: a leader waiting for a signal (default
 * dispositions, so SIGHUP ends it) and a member that ignores SIGHUP, as
 * `nohup` would. Returns the leader's pid (the group's id). */
static pid_t group_running(pid_t *member)
{
	int p[2];
	pid_t leader;

	CHECK(pipe(p) == 0);
	if ((leader = fork()) == 0) {
		setpgid(0, 0);
		if (fork() == 0) {
			pid_t me = getpid();

			signal(SIGHUP, SIG_IGN);
			if (write(p[1], &me, sizeof(me)) != sizeof(me))
				_exit(1);
		}
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	CHECK(read(p[0], member, sizeof(*member)) == sizeof(*member));
	close(p[0]);
	return leader;
}

/* The client left while the command ran: SIGHUP to the group at once,
 * SIGKILL for what ignored it when the grace is over, not before. */
static void test_hangup(void)
{
	static struct agent a;
	struct aconn *c = &a.conns[0];
	struct tconn t;
	pid_t leader, member;
	int status, out_w, err_w;

	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	leader = group_running(&member);
	session_open(&a, &t, leader, &out_w, &err_w);
	fake_now_ms = 10000;
	agent_drop(&a, c);
	CHECK(!c->used && c->op == OP_NONE);
	status = ended(leader);
	CHECK(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP);
	CHECK(still_runs(member));
	CHECK(a.hangups[0].pgid == leader &&
	      a.hangups[0].kill_ms == 10000 + AGENT_HANGUP_GRACE_MS);
	/* its streams closed with it: no reader left */
	CHECK(write(out_w, "x", 1) < 0 && errno == EPIPE);
	fake_now_ms = 10000 + AGENT_HANGUP_GRACE_MS - 1;
	leftover_tick(&a);
	CHECK(a.hangups[0].pgid == leader && still_runs(member));
	fake_now_ms = 10000 + AGENT_HANGUP_GRACE_MS;
	leftover_tick(&a);
	CHECK(a.hangups[0].pgid == 0);
	status = ended(member);
	CHECK(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	if (status == -1) {
		kill(member, SIGKILL);
		waitpid(member, &status, 0);
	}
	close(out_w);
	close(err_w);
	tconn_close(&t);
}

/* With every hang-up slot taken, the next group is SIGKILLed at once. */
static void test_hangup_full(void)
{
	static struct agent a;
	pid_t leader, member;
	int status;

	for (unsigned i = 0; i < AGENT_MAX_HANGUPS; i++)
		a.hangups[i] = (struct hangup){ .pgid = 0x7ffffff0, .kill_ms = 1 << 30 };
	leader = group_running(&member);
	leftover_hangup(&a, leader);
	status = ended(member);
	CHECK(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	status = ended(leader);
	CHECK(status != -1 && WIFSIGNALED(status));
	for (unsigned i = 0; i < AGENT_MAX_HANGUPS; i++)
		CHECK(a.hangups[i].pgid == 0x7ffffff0);
}

/* The command exited on its own and the client left before EXIT: what
 * it left in its group runs on, its streams drained by the agent. */
static void test_drop_after_leader_exit(void)
{
	static struct agent a;
	struct aconn *c = &a.conns[0];
	struct tconn t;
	pid_t leader, member;
	int status = 0, out_w, err_w;

	leader = group_with_orphan(&member);
	session_open(&a, &t, leader, &out_w, &err_w);
	CHECK(waitpid(leader, &status, 0) == leader);
	CHECK(exec_reaped(&a, leader, status));
	agent_drop(&a, c);
	CHECK(!c->used && a.hangups[0].pgid == 0);
	CHECK(still_runs(member));
	CHECK(a.leftover[0] >= 0 && a.leftover[1] >= 0);
	CHECK(write(out_w, "still here", 10) == 10);
	kill(member, SIGKILL);
	waitpid(member, &status, 0);
	close(out_w);
	close(err_w);
	leftover_drain(&a, 0);
	leftover_drain(&a, 0);
	leftover_drain(&a, 1);
	CHECK(a.leftover[0] == -1 && a.leftover[1] == -1);
	tconn_close(&t);
}

/* Past AGENT_MAX_LEFTOVER streams, one more is closed (EPIPE). */
static void test_leftover_full(void)
{
	static struct agent a;
	int p[2];

	leftover_init(&a);
	for (unsigned i = 0; i < AGENT_MAX_LEFTOVER; i++) {
		CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
		leftover_keep(&a, p[0]);
		close(p[1]); /* EOF at the first drain */
	}
	CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
	leftover_keep(&a, p[0]);
	CHECK(write(p[1], "x", 1) < 0 && errno == EPIPE);
	close(p[1]);
	for (unsigned i = 0; i < AGENT_MAX_LEFTOVER; i++) {
		CHECK(a.leftover[i] >= 0);
		leftover_drain(&a, i);
		CHECK(a.leftover[i] == -1);
	}
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
	test_hello_token();
	test_files_not_regular(dir);
	test_files_regular(dir);
	test_exit_with_daemon();
	test_exit_within_grace();
	test_signal_after_leader_exit();
	test_hangup();
	test_hangup_full();
	test_drop_after_leader_exit();
	test_leftover_full();
	rmdir(dir);
	return check_result("test_agentd");
}
