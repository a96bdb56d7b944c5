/* `msbvm exec | cp | ls | stop`: clients of a running VM found by name in
 * the state root. Exit codes: exec returns the command's status; all of
 * them return 2 for usage errors or an unreachable VM. */
#include "cmds.h"
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CMDS_CONNECT_MS 10000

static int cmds_sig_pipe[2] = { -1, -1 };

static void cmds_on_signal(int sig)
{
	if (cmds_sig_pipe[1] >= 0 && write(cmds_sig_pipe[1], &sig, sizeof(sig)) < 0)
		return;
}

static int cmds_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int cmds_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "msbvm: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

/* Opens NAME under the state root; prints why not. */
static msbvm *cmds_open(const char *state_dir, const char *name)
{
	msbvm_config *c = msbvm_config_new();
	msbvm *vm = NULL;

	if (!c || msbvm_config_set_state_dir(c, state_dir) < 0 ||
	    msbvm_open(c, name, &vm) < 0)
		cmds_fail("%s", c ? msbvm_config_errmsg(c) : "out of memory");
	msbvm_config_free(c);
	return vm;
}

/* exec -d: the guest pid on stdout, at once. */
static int cmds_exec_detached(msbvm *vm, const struct msbvm_exec *e)
{
	int pid = 0, rc = msbvm_exec_detached(vm, e, &pid);

	if (rc != 0) {
		fprintf(stderr, "msbvm: %s\n", msbvm_errmsg(vm));
		return rc < 0 ? 2 : rc;
	}
	printf("%d\n", pid);
	return 0;
}

static int cmds_exec(int argc, char **argv)
{
	struct exec_opts o;
	int rc;
	msbvm *vm;

	if (cli_parse_exec(argc, argv, &o) < 0)
		return cmds_fail("%s", cli_errmsg());
	if (!(vm = cmds_open(o.state_dir, o.name)))
		return 2;
	struct msbvm_exec e = {
		.argv = (const char *const *)o.cmd, .env = o.x.env,
		.cwd = o.x.workdir, .user = o.x.user,
		.tty = o.x.tty < 0 ? isatty(0) && isatty(1) : o.x.tty,
		.stdin_fd = 0, .stdout_fd = 1, .stderr_fd = 2,
	};
	if (o.detach) {
		rc = cmds_exec_detached(vm, &e);
		msbvm_destroy(vm);
		return rc;
	}
	if (pipe2(cmds_sig_pipe, O_CLOEXEC | O_NONBLOCK) == 0) {
		struct sigaction sa = { .sa_handler = cmds_on_signal };
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGWINCH, &sa, NULL);
	}
	e.signal_fd = cmds_sig_pipe[0];
	rc = msbvm_exec(vm, &e);
	if (rc < 0 || (rc >= 125 && rc <= 127 && *msbvm_errmsg(vm)))
		fprintf(stderr, "msbvm: %s\n", msbvm_errmsg(vm));
	msbvm_destroy(vm);
	/* hung up after a second Ctrl-C: the shell's status for SIGINT */
	return rc == -EINTR ? 128 + SIGINT : rc < 0 ? 2 : rc;
}

/* NAME:/path -> name and path; false for a host path. */
static bool cmds_split(char *arg, char **name, char **path)
{
	char *colon = strchr(arg, ':');

	if (!colon || colon == arg || colon[1] != '/' || strchr(arg, '/') < colon)
		return false;
	*colon = '\0';
	*name = arg;
	*path = colon + 1;
	return true;
}

static int cmds_cp(int argc, char **argv)
{
	const char *state = NULL;
	char *name, *gpath, *host;
	bool put;
	int i = 1, rc;
	msbvm *vm;

	if (argc > 2 && !strcmp(argv[1], "--state-dir"))
		state = argv[2], i = 3;
	if (argc - i != 2)
		return cmds_fail("usage: msbvm cp [--state-dir DIR] SRC DST, one of "
				 "them NAME:/guest/path");
	put = cmds_split(argv[i + 1], &name, &gpath);
	if (!put && !cmds_split(argv[i], &name, &gpath))
		return cmds_fail("cp: one side must be NAME:/absolute/path");
	host = put ? argv[i] : argv[i + 1];
	if (!(vm = cmds_open(state, name)))
		return 2;
	rc = put ? msbvm_copy_in(vm, host, gpath) : msbvm_copy_out(vm, gpath, host);
	if (rc < 0)
		cmds_fail("cp: %s", msbvm_errmsg(vm));
	msbvm_destroy(vm);
	return rc < 0 ? 1 : 0;
}

static void cmds_ls_one(void *opaque, const char *name, int pid, bool running)
{
	(void)opaque;
	if (running)
		printf("%-24s %-8d %s\n", name, pid, "running");
	else
		printf("%-24s %-8s %s\n", name, "-", "stale");
}

static int cmds_ls(int argc, char **argv)
{
	msbvm_config *c = msbvm_config_new();
	int rc;

	if (!c)
		return cmds_fail("out of memory");
	msbvm_config_set_state_dir(c, argc > 2 && !strcmp(argv[1], "--state-dir") ?
				   argv[2] : NULL);
	printf("%-24s %-8s %s\n", "NAME", "PID", "STATE");
	rc = msbvm_list(c, cmds_ls_one, NULL);
	if (rc < 0)
		cmds_fail("ls: %s", msbvm_config_errmsg(c));
	msbvm_config_free(c);
	return rc < 0 ? 2 : 0;
}

static int cmds_stop(int argc, char **argv)
{
	const char *state = NULL;
	long timeout = 30;
	msbvm_config *c;
	msbvm *vm;
	int i = 1, rc;

	for (; i < argc - 1 && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--state-dir"))
			state = argv[i + 1];
		else if (!strcmp(argv[i], "--timeout") && atol(argv[i + 1]) > 0)
			timeout = atol(argv[i + 1]);
		else
			return cmds_fail("stop: bad option '%s'", argv[i]);
	}
	if (argc - i != 1)
		return cmds_fail("usage: msbvm stop [--state-dir DIR] [--timeout SECS] NAME");
	if (!(c = msbvm_config_new()))
		return cmds_fail("out of memory");
	msbvm_config_set_state_dir(c, state);
	if (msbvm_open(c, argv[i], &vm) < 0) {
		/* a VM that died on its own left its state (and kernel.log) */
		rc = msbvm_remove_stale(c, argv[i]);
		if (rc == 0)
			fprintf(stderr, "msbvm: %s was not running; removed its stale "
				"state\n", argv[i]);
		else
			cmds_fail("no running VM named '%s'", argv[i]);
		msbvm_config_free(c);
		return rc == 0 ? 0 : 2;
	}
	msbvm_config_free(c);
	if (msbvm_stop(vm, (int)timeout * 1000) < 0)
		fprintf(stderr, "msbvm: %s\n", msbvm_errmsg(vm));
	msbvm_destroy(vm);
	return 0;
}

int cmds_main(int argc, char **argv)
{
	if (!strcmp(argv[0], "exec"))
		return cmds_exec(argc, argv);
	if (!strcmp(argv[0], "cp"))
		return cmds_cp(argc, argv);
	if (!strcmp(argv[0], "ls"))
		return cmds_ls(argc, argv);
	if (!strcmp(argv[0], "stop"))
		return cmds_stop(argc, argv);
	return -1;
}
