/* agentd's host-testable parts: the EXEC request parser (a malformed frame
 * must be refused whole, never run a partial argv), the kernel command
 * line's percent-decoding, file transfer on non-regular files, and the
 * session's EXIT/SIGNAL rules around a leader that exited. */
#include "check.h"
#include "agentd/agentd.h"
#include "agentd/init.h"

#include <stdlib.h>

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

int main(void)
{
	test_parse_ok();
	test_parse_refused();
	test_parse_long_key();
	test_parse_malformed();
	test_parse_limits();
	test_keys_fit();
	test_unescape();
	return check_result("test_agentd");
}
