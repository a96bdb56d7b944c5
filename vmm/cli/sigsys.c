/* `msbvm run --seccomp on`: the library's filters send SIGSYS to the
 * offending thread (MSBVM_SECCOMP_TRAP) and this handler reports it before
 * the process dies: "msbvm: seccomp violation in THREAD: syscall NAME".
 * The command owns its process, so it may install a process-wide handler;
 * the library never does (embedders keep SECCOMP_RET_KILL_PROCESS). Only
 * async-signal-safe calls in the handler; the syscall names are resolved
 * (libseccomp, malloc) beforehand. */
#include "cli.h"

#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define SIGSYS_NR_MAX 512

static char sigsys_names[SIGSYS_NR_MAX][32];

static size_t sigsys_cat(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at + 1 < cap)
		buf[at++] = *s++;
	buf[at] = '\0';
	return at;
}

static void sigsys_handler(int sig, siginfo_t *si, void *uc)
{
	char msg[160], thread[17] = "?", num[12];
	int nr = si->si_syscall, i = (int)sizeof(num) - 1;
	size_t n = 0;

	(void)sig, (void)uc;
	/* every filter allows PR_GET_NAME (vmm/lib/seccomp_rules.c) */
	prctl(PR_GET_NAME, thread, 0, 0, 0);
	num[i] = '\0';
	do {
		num[--i] = (char)('0' + (unsigned)nr % 10);
		nr = (int)((unsigned)nr / 10);
	} while (nr && i > 0);
	n = sigsys_cat(msg, n, sizeof(msg), "msbvm: seccomp violation in ");
	n = sigsys_cat(msg, n, sizeof(msg), thread);
	n = sigsys_cat(msg, n, sizeof(msg), ": syscall ");
	nr = si->si_syscall;
	n = sigsys_cat(msg, n, sizeof(msg), nr >= 0 && nr < SIGSYS_NR_MAX &&
		       sigsys_names[nr][0] ? sigsys_names[nr] : "?");
	n = sigsys_cat(msg, n, sizeof(msg), " (");
	n = sigsys_cat(msg, n, sizeof(msg), num + i);
	n = sigsys_cat(msg, n, sizeof(msg), "); the VMM stops\n");
	if (write(STDERR_FILENO, msg, n) < 0)
		_exit(128 + SIGSYS);
	_exit(128 + SIGSYS);
}

void cli_sigsys_install(void)
{
	struct sigaction sa;

	for (int nr = 0; nr < SIGSYS_NR_MAX; nr++) {
		char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (s) {
			strncpy(sigsys_names[nr], s, sizeof(sigsys_names[nr]) - 1);
			free(s);
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
}
