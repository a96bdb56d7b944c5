/* `msbvm exec | cp | ls | stop`: clients of a running VM found by name in
 * the state root. Exit codes: exec returns the command's status; all of
 * them return 2 for usage errors or an unreachable VM. */
#include "cmds.h"
#include "vmm/lib/ctl.h"
#include "vmm/core/err.h"
#include "vmm/lib/state.h"

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

/* Connects to the agent of the VM whose state is st. */
static int cmds_connect_state(const struct vmstate *st, struct ctl *c)
{
	char sock[PATH_MAX];

	if (ctl_connect(c, state_path(st, "vsock.sock", sock, sizeof(sock)),
			CMDS_CONNECT_MS) < 0) {
		ctl_close(c);
		return cmds_fail("%s: %s", st->name, c->err);
	}
	return 0;
}

/* Opens NAME's state and connects to its agent. */
static int cmds_connect(const char *state_dir, const char *name, struct ctl *c)
{
	char root[PATH_MAX / 4];
	struct vmstate st;

	state_root(state_dir, root, sizeof(root));
	if (state_open(&st, root, name) < 0)
		return cmds_fail("%s", err_msg());
	return cmds_connect_state(&st, c);
}

static int cmds_exec(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "tty", no_argument, NULL, 't' },
		{ "no-tty", no_argument, NULL, 'T' },
		{ 0 },
	};
	const char *env[65] = { 0 }, *state = NULL, *cwd = NULL, *user = NULL;
	unsigned n_env = 0;
	int tty = -1, c, rc;
	struct ctl cl;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+e:w:u:tT", lo, NULL)) != -1) {
		switch (c) {
		case 's': state = optarg; break;
		case 'w': cwd = optarg; break;
		case 'u': user = optarg; break;
		case 't': tty = 1; break;
		case 'T': tty = 0; break;
		case 'e':
			if (n_env == 64 || !strchr(optarg, '=') || *optarg == '=')
				return cmds_fail("exec: --env '%s': expected NAME=VALUE",
						 optarg);
			env[n_env++] = optarg;
			break;
		default:
			return cmds_fail("exec: bad option '%s' (usage: msbvm exec "
					 "[-e K=V] [-w DIR] [-u USER] [-t|-T] NAME -- "
					 "CMD [ARG...])", argv[optind - 1]);
		}
	}
	if (argc - optind < 2)
		return cmds_fail("usage: msbvm exec [options] NAME -- CMD [ARG...]");
	const char *name = argv[optind++];
	if (!strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc)
		return cmds_fail("exec: no command given");
	if ((rc = cmds_connect(state, name, &cl)))
		return rc;
	if (pipe2(cmds_sig_pipe, O_CLOEXEC | O_NONBLOCK) == 0) {
		struct sigaction sa = { .sa_handler = cmds_on_signal };
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGWINCH, &sa, NULL);
	}
	struct ctl_exec_opts eo = {
		.argv = (const char *const *)argv + optind, .env = env, .cwd = cwd,
		.user = user, .tty = tty < 0 ? isatty(0) && isatty(1) : tty,
		.in_fd = 0, .out_fd = 1, .err_fd = 2, .stop_fd = -1,
		.sig_fd = cmds_sig_pipe[0],
	};
	rc = ctl_exec(&cl, &eo);
	if (rc < 0 || (rc >= 125 && rc <= 127 && cl.err[0]))
		fprintf(stderr, "msbvm: %s\n", cl.err);
	ctl_close(&cl);
	return rc < 0 ? 2 : rc;
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
	struct ctl cl;
	struct stat st;
	bool put;
	int i = 1, rc, fd;

	if (argc > 2 && !strcmp(argv[1], "--state-dir"))
		state = argv[2], i = 3;
	if (argc - i != 2)
		return cmds_fail("usage: msbvm cp [--state-dir DIR] SRC DST, one of "
				 "them NAME:/guest/path");
	put = cmds_split(argv[i + 1], &name, &gpath);
	if (!put && !cmds_split(argv[i], &name, &gpath))
		return cmds_fail("cp: one side must be NAME:/absolute/path");
	host = put ? argv[i] : argv[i + 1];
	if (put) {
		fd = open(host, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			return cmds_fail("cp: %s: %s", host, fd < 0 ? strerror(errno) :
					 "not a regular file");
	} else {
		fd = open(host, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return cmds_fail("cp: %s: %s", host, strerror(errno));
	}
	if ((rc = cmds_connect(state, name, &cl))) {
		close(fd);
		return rc;
	}
	rc = put ? ctl_put(&cl, fd, gpath, st.st_mode & 07777) : ctl_get(&cl, gpath, fd);
	if (rc < 0)
		cmds_fail("cp: %s:%s: %s", name, gpath, cl.err);
	ctl_close(&cl);
	if (close(fd) < 0 && rc == 0)
		return cmds_fail("cp: %s: %s", host, strerror(errno));
	return rc < 0 ? 1 : 0;
}

static int cmds_ls(int argc, char **argv)
{
	char root[PATH_MAX / 4];
	struct dirent *de;
	DIR *d;

	state_root(argc > 2 && !strcmp(argv[1], "--state-dir") ? argv[2] : NULL,
		   root, sizeof(root));
	printf("%-24s %-8s %s\n", "NAME", "PID", "STATE");
	if (!(d = opendir(root)))
		return errno == ENOENT ? 0 : cmds_fail("ls: %s: %s", root, strerror(errno));
	while ((de = readdir(d))) {
		struct vmstate st;
		pid_t pid;

		if (de->d_name[0] == '.' || state_open(&st, root, de->d_name) < 0) {
			/* a directory whose VMM is gone: say so once */
			if (de->d_name[0] != '.' && state_name_ok(de->d_name))
				printf("%-24s %-8s %s\n", de->d_name, "-", "stale");
			continue;
		}
		pid = state_pid(&st);
		printf("%-24s %-8d %s\n", de->d_name, (int)pid, "running");
	}
	closedir(d);
	return 0;
}

static int cmds_stop(int argc, char **argv)
{
	const char *state = NULL;
	char root[PATH_MAX / 4];
	long timeout = 30;
	struct vmstate st;
	struct ctl cl;
	int i = 1;
	pid_t pid;

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
	state_root(state, root, sizeof(root));
	if (state_open(&st, root, argv[i]) < 0) {
		struct stat sb;
		/* a VM that died on its own left its state (and kernel.log) */
		if (state_name_ok(argv[i]) && stat(st.dir, &sb) == 0) {
			state_remove(&st);
			fprintf(stderr, "msbvm: %s was not running; removed its stale "
				"state %s\n", argv[i], st.dir);
			return 0;
		}
		return cmds_fail("%s", err_msg());
	}
	pid = state_pid(&st);
	/* ask the agent (it ends sessions, syncs, powers off) ... */
	if (cmds_connect_state(&st, &cl) == 0) {
		if (ctl_call(&cl, P_SHUTDOWN, NULL, 0, NULL, NULL, 5000) < 0)
			fprintf(stderr, "msbvm: stop: %s\n", cl.err);
		ctl_close(&cl);
	}
	/* ... and make sure: the VMM stops a guest that does not comply */
	for (long ms = 0; state_pid(&st) == pid && pid; ms += 50) {
		if (ms == timeout * 1000) {
			fprintf(stderr, "msbvm: %s did not power off within %ld s; "
				"stopping its VMM\n", argv[i], timeout);
			kill(pid, SIGTERM);
		}
		if (ms == timeout * 1000 + 5000)
			kill(pid, SIGKILL);
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
	}
	state_remove(&st); /* after a SIGKILL nobody else will */
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
