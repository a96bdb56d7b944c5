/* Per-thread seccomp filters (seccomp.h). libseccomp builds and checks
 * the rules and resolves syscall names for this architecture; its BPF
 * output is exported once per VM, so a starting thread only makes two
 * system calls (no_new_privs, seccomp) and no library call that could
 * touch shared state. */
#include "seccomp.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *const sc_kinds[SC_KINDS] = { "vcpu", "io", "vsock", "console",
						  "fs" };

static bool sc_has_kind(const char *list, const char *kind)
{
	size_t n = strlen(kind);

	for (const char *p = list; (p = strstr(p, kind)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
	return false;
}

int sc_count(const char *kind)
{
	int n = 0;

	for (const struct sc_rule *r = sc_rules; r->name; r++) {
		bool dup = false;

		if (!sc_has_kind(r->kinds, kind))
			continue;
		/* several argument values of one syscall count once */
		for (const struct sc_rule *q = sc_rules; q < r && !dup; q++)
			dup = sc_has_kind(q->kinds, kind) && !strcmp(q->name, r->name);
		n += !dup;
	}
	return n;
}

static int sc_add(scmp_filter_ctx ctx, const struct sc_rule *r)
{
	int nr = seccomp_syscall_resolve_name(r->name);

	int rc;

	if (nr == __NR_SCMP_ERROR)
		return err_set(EINVAL, "seccomp: unknown system call %s", r->name);
	if (r->arg < 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	else
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
				      SCMP_CMP((unsigned)r->arg, SCMP_CMP_EQ, r->val));
	return rc < 0 ? err_set(-rc, "seccomp: rule %s: %s", r->name, strerror(-rc)) : 0;
}

/* The BPF of ctx, through a pipe (libseccomp 2.5 exports only to an fd);
 * a filter is at most BPF_MAXINSNS instructions, well under a pipe's
 * 64 KiB. */
static int sc_export(scmp_filter_ctx ctx, struct sock_fprog *out)
{
	size_t cap = BPF_MAXINSNS * sizeof(struct sock_filter), got = 0;
	struct sock_filter *buf = malloc(cap);
	int p[2], rc;
	ssize_t n;

	if (!buf)
		return err_set(ENOMEM, "seccomp: out of memory");
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(buf);
		return err_set(errno, "seccomp: pipe: %s", strerror(errno));
	}
	fcntl(p[1], F_SETPIPE_SZ, (int)cap + 4096);
	rc = seccomp_export_bpf(ctx, p[1]);
	close(p[1]);
	while (rc == 0 && (n = read(p[0], (char *)buf + got, cap - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	if (rc < 0 || got == 0 || got % sizeof(struct sock_filter)) {
		free(buf);
		return err_set(rc < 0 ? -rc : EIO, "seccomp: exporting the filter: %s",
			       strerror(rc < 0 ? -rc : EIO));
	}
	out->filter = buf;
	out->len = (unsigned short)(got / sizeof(struct sock_filter));
	return 0;
}

static uint32_t sc_default_action(enum msbvm_seccomp mode)
{
	switch (mode) {
	case MSBVM_SECCOMP_LOG: return SCMP_ACT_LOG;
	case MSBVM_SECCOMP_TRAP: return SCMP_ACT_TRAP;
	default: return SCMP_ACT_KILL_PROCESS;
	}
}

static int sc_build(const char *kind, enum msbvm_seccomp mode, struct sock_fprog *out)
{
	scmp_filter_ctx ctx = seccomp_init(sc_default_action(mode));
	int rc = 0;

	if (!ctx)
		return err_set(ENOMEM, "seccomp: cannot create a filter");
	/* per thread: TSYNC would filter every thread of an embedder */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 0);
	for (const struct sc_rule *r = sc_rules; r->name && rc == 0; r++)
		if (sc_has_kind(r->kinds, kind))
			rc = sc_add(ctx, r);
	if (rc == 0)
		rc = sc_export(ctx, out);
	seccomp_release(ctx);
	return rc;
}

int sc_prepare(struct sc_set *s, enum msbvm_seccomp mode)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	if (mode == MSBVM_SECCOMP_OFF)
		return 0;
	for (unsigned i = 0; i < SC_KINDS; i++) {
		if ((rc = sc_build(sc_kinds[i], mode, &s->prog[i])) < 0) {
			sc_free(s);
			return rc;
		}
	}
	return 0;
}

void sc_free(struct sc_set *s)
{
	for (unsigned i = 0; i < SC_KINDS; i++) {
		free(s->prog[i].filter);
		s->prog[i].filter = NULL;
	}
}

#ifdef MSBVM_TEST_HOOKS
/* build/hooks/msbvm only (tests/integration/agent.sh): the thread of
 * kind $MSBVM_TEST_SECCOMP makes a system call no filter allows, as a
 * device thread taken over by a guest would */
static void sc_test_violation(const char *kind)
{
	const char *want = getenv("MSBVM_TEST_SECCOMP");

	if (want && !strcmp(want, kind))
		syscall(SYS_getppid);
}
#endif

int sc_install(const struct sc_set *s, const char *kind)
{
	char name[16];
	unsigned i;

	snprintf(name, sizeof(name), "msbvm-%s", kind);
	pthread_setname_np(pthread_self(), name);
	for (i = 0; i < SC_KINDS && strcmp(sc_kinds[i], kind); i++)
		;
	if (!s || s->mode == MSBVM_SECCOMP_OFF || i == SC_KINDS || !s->prog[i].filter)
		return 0;
	if (s->mode == MSBVM_SECCOMP_TRAP) {
		/* the library's threads block every signal; a blocked SIGSYS
		 * from the filter would be reset to its default (a core
		 * dump, no message): let the process's handler run */
		sigset_t m;
		sigemptyset(&m);
		sigaddset(&m, SIGSYS);
		pthread_sigmask(SIG_UNBLOCK, &m, NULL);
	}
	/* no_new_privs is per thread, as is the filter (no TSYNC flag) */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &s->prog[i]) < 0)
		return err_set(errno, "seccomp: cannot filter the %s thread: %s",
			       kind, strerror(errno));
#ifdef MSBVM_TEST_HOOKS
	sc_test_violation(kind);
#endif
	return 0;
}
