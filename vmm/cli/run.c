/* `msbvm run`: the command's side of booting a VM through libmsbvm
 * (include/msbvm.h only): default paths beside the binary, signals, -d,
 * the exit code and the messages a user reads. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_READY_TIMEOUT_S 600
#define RUN_POWEROFF_TIMEOUT_S 10
#define RUN_INIT_POWEROFF_TIMEOUT_S 300

/* Signal handlers only touch these (a process runs one `msbvm run`). */
static msbvm *run_vm_handle;
static volatile sig_atomic_t run_signal, run_in_exec;
static int run_sig_pipe[2] = { -1, -1 };

static void run_on_signal(int sig)
{
	int saved = errno;

	/* during the command, Ctrl-C and window changes are the command's */
	if (run_in_exec && (sig == SIGINT || sig == SIGQUIT || sig == SIGWINCH)) {
		if (write(run_sig_pipe[1], &sig, sizeof(sig)) < 0)
			(void)0; /* full: the command gets the next one */
	} else if (sig != SIGWINCH && run_vm_handle) {
		run_signal = sig;
		msbvm_kill(run_vm_handle);
	}
	errno = saved;
}

static void run_signals(void)
{
	struct sigaction sa = { .sa_handler = run_on_signal };

	if (pipe2(run_sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		run_sig_pipe[0] = run_sig_pipe[1] = -1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
}

/* build/vmlinux and build/agentd.cpio sit next to build/msbvm; env
 * overrides them (MSBVM_KERNEL, MSBVM_AGENT_INITRD). */
static const char *run_default_file(const char *env, const char *name,
				    char *buf, size_t len)
{
	char exe[PATH_MAX / 2];
	ssize_t n;

	if (getenv(env) && *getenv(env))
		return getenv(env);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	/* build/<variant>/msbvm, or an installed copy beside its kernel */
	char *dir = dirname(exe);
	snprintf(buf, len, "%s/%s", dir, name);
	if (access(buf, F_OK) == 0)
		return buf;
	snprintf(buf, len, "%s/../%s", dir, name);
	return access(buf, F_OK) == 0 ? buf : NULL;
}

static void run_log(void *opaque, const char *line)
{
	(void)opaque;
	fprintf(stderr, "msbvm: %s\n", line);
}

/* run IMAGE: the image's Entrypoint + Cmd (run_image.c) */
static char **run_image_argv;

/* -v, --script, --upper-size into c; -1 after printing why (exit 2) */
static int run_fs_opts(const struct run_opts *o, msbvm_config *c)
{
	char host[PATH_MAX], guest[PATH_MAX], buf[PATH_MAX + 80];
	const char *name, *file;
	bool ro;

	for (unsigned i = 0; i < o->n_vols; i++) {
		if (cli_parse_volume(o->vols[i], host, guest, sizeof(host), &ro) < 0) {
			fprintf(stderr, "msbvm: %s\n", cli_errmsg());
			return -1;
		}
		if (msbvm_config_add_volume(c, host, guest, ro) < 0)
			goto fail;
	}
	for (unsigned i = 0; i < o->n_scripts; i++) {
		if (cli_parse_script(o->scripts[i], buf, sizeof(buf), &name, &file) < 0) {
			fprintf(stderr, "msbvm: %s\n", cli_errmsg());
			return -1;
		}
		/* read at create; a typo is better told now, by its flag */
		if (access(file, R_OK) < 0) {
			fprintf(stderr, "msbvm: --script %s: cannot read %s: %s\n",
				o->scripts[i], file, strerror(errno));
			return -1;
		}
		if (msbvm_config_add_script(c, name, file) < 0)
			goto fail;
	}
	if (o->upper_mib && msbvm_config_set_upper_size(c, o->upper_mib) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "msbvm: %s\n", msbvm_config_errmsg(c));
	return -1;
}

/* The config for o; NULL after printing why. */
static msbvm_config *run_config(const struct run_opts *o)
{
	static char kbuf[PATH_MAX], ibuf[PATH_MAX];
	const char *k = o->kernel ? o->kernel :
			run_default_file("MSBVM_KERNEL", "vmlinux", kbuf, sizeof(kbuf));
	msbvm_config *c = msbvm_config_new();
	int rc = 0;

	if (!c) {
		fprintf(stderr, "msbvm: out of memory\n");
		return NULL;
	}
	if (!k) {
		fprintf(stderr, "msbvm: no kernel: pass --kernel, set MSBVM_KERNEL, "
			"or build one with tools/build-kernel.sh\n");
		msbvm_config_free(c);
		return NULL;
	}
	const char *agent = run_default_file("MSBVM_AGENT_INITRD", "agentd.cpio",
					     ibuf, sizeof(ibuf));
	msbvm_config_set_log(c, run_log, NULL, o->verbose);
	/* the spec first: every flag below overrides or adds to it */
	if (o->spec && msbvm_config_load_spec(c, o->spec) < 0) {
		fprintf(stderr, "msbvm: %s\n", msbvm_config_errmsg(c));
		msbvm_config_free(c);
		return NULL;
	}
	/* a spec's image, unless the command line names a root */
	struct run_opts so = *o;
	if (!so.image && !so.rootfs && msbvm_config_spec_image(c))
		so.image = msbvm_config_spec_image(c);
	o = &so;
	if (run_fs_opts(o, c) < 0) {
		msbvm_config_free(c);
		return NULL;
	}
	rc |= msbvm_config_set_kernel(c, k);
	rc |= msbvm_config_set_agent(c, !o->no_agent);
	if (!o->no_agent && agent)
		rc |= msbvm_config_set_agent_initrd(c, agent);
	rc |= msbvm_config_set_initrd(c, o->initrd);
	if (o->rootfs)
		rc |= msbvm_config_set_rootfs(c, o->rootfs);
	if (o->overlay)
		rc |= msbvm_config_set_overlay(c, o->overlay);
	if (o->mem_given || !o->spec)
		rc |= msbvm_config_set_memory_mib(c, o->mem_mib);
	rc |= msbvm_config_set_nested(c, o->nested);
	/* on: this process reports a violation itself (sigsys.c) */
	if (o->seccomp == MSBVM_SECCOMP_ON)
		cli_sigsys_install();
	rc |= msbvm_config_set_seccomp(c, o->seccomp == MSBVM_SECCOMP_ON ?
				       MSBVM_SECCOMP_TRAP : o->seccomp);
	rc |= msbvm_config_set_cmdline(c, o->cmdline);
	rc |= msbvm_config_append_cmdline(c, o->append);
	rc |= msbvm_config_set_profile(c, o->profile);
	rc |= msbvm_config_set_state_dir(c, o->state_dir);
	rc |= msbvm_config_set_name(c, o->name);
	if (o->init)
		rc |= msbvm_config_set_init(c, o->init);
	if (o->net_given)
		rc |= msbvm_config_set_net(c, o->net);
	rc |= msbvm_config_set_dns(c, o->dns);
	for (unsigned i = 0; i < o->n_ports && !rc; i++)
		rc |= msbvm_config_add_port(c, o->ports[i]);
	for (unsigned i = 0; i < o->n_init_args; i++)
		rc |= msbvm_config_add_init_arg(c, o->init_args[i]);
	for (unsigned i = 0; i < o->n_init_env; i++)
		rc |= msbvm_config_add_init_env(c, o->init_env[i]);
	for (unsigned i = 0; i < o->n_disks; i++) {
		char path[PATH_MAX];
		bool ro;

		if (cli_parse_disk(o->disks[i], path, sizeof(path), &ro) < 0) {
			fprintf(stderr, "msbvm: %s\n", cli_errmsg());
			msbvm_config_free(c);
			return NULL;
		}
		rc |= msbvm_config_add_disk(c, path, ro);
	}
	if (o->image && !rc && run_image(o, c, &run_image_argv) < 0) {
		msbvm_config_free(c);
		return NULL;
	}
	if (o->no_agent)
		rc |= msbvm_config_set_console_fd(c, STDOUT_FILENO);
	if (o->console)
		rc |= msbvm_config_set_console_input(c, STDIN_FILENO);
	if (rc) {
		fprintf(stderr, "msbvm: %s\n", msbvm_config_errmsg(c));
		msbvm_config_free(c);
		return NULL;
	}
	return c;
}

static int run_env_secs(const char *name, int def)
{
	const char *e = getenv(name);

	return e && atoi(e) > 0 ? atoi(e) : def;
}

/* The last lines of kernel.log: why a guest died before its agent spoke. */
static void run_log_tail(msbvm *vm)
{
	char path[PATH_MAX], buf[2048];
	const char *dir = msbvm_state_path(vm);
	int fd;
	off_t end;
	ssize_t n;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/kernel.log", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	n = pread(fd, buf, sizeof(buf) - 1, end > (off_t)sizeof(buf) - 1 ?
		  end - (off_t)sizeof(buf) + 1 : 0);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	char *start = end > (off_t)sizeof(buf) - 1 ? strchr(buf, '\n') : buf;
	fprintf(stderr, "msbvm: last lines of the guest console (kernel.log):\n%s%s",
		start ? start + (start != buf) : buf, buf[n - 1] == '\n' ? "" : "\n");
}

/* The agent's own reason for failing the boot ("agentd: fatal: ..." in
 * kernel.log), e.g. an --init that does not exist. */
static bool run_agent_fatal(msbvm *vm, char *out, size_t len)
{
	char path[PATH_MAX], line[1400];
	const char *dir = msbvm_state_path(vm);
	bool found = false;
	FILE *f;

	if (!dir)
		return false;
	snprintf(path, sizeof(path), "%s/kernel.log", dir);
	if (!(f = fopen(path, "re")))
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "agentd: fatal: ");
		if (p) {
			p[strcspn(p, "\r\n")] = '\0';
			snprintf(out, len, "guest agent: %s", p + 15);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* How the VM ended, as an exit code with one line saying why. code: the
 * command's status (agent mode) or -1 if none ran. */
static int run_result(msbvm *vm, const struct run_opts *o,
		      const struct msbvm_status *st, int code, const char *why)
{
	char fatal[1400];

	if (st->end == MSBVM_END_PANIC) {
		fprintf(stderr, "msbvm: guest kernel panic: %s\n", st->detail);
		if (!o->no_agent)
			run_log_tail(vm);
		return 1;
	}
	if (run_signal) {
		fprintf(stderr, "msbvm: stopped by signal %d\n", (int)run_signal);
		return 128 + (int)run_signal;
	}
	if (code >= 0)
		return code;
	if (!o->no_agent) {
		fprintf(stderr, "msbvm: %s\n", why && *why ? why :
			run_agent_fatal(vm, fatal, sizeof(fatal)) ? fatal :
			"the VM stopped before its agent was ready");
		run_log_tail(vm);
		return 1;
	}
	switch (st->end) {
	case MSBVM_END_REBOOT:
	case MSBVM_END_POWEROFF:
		if (o->verbose)
			fprintf(stderr, "msbvm: guest %s\n", st->end == MSBVM_END_REBOOT ?
				"rebooted" : "powered off");
		return 0;
	case MSBVM_END_USER:
		/* the guest's cursor may sit mid-line on the raw terminal */
		fprintf(stderr, "\r\nmsbvm: quit (Ctrl-A x)\n");
		return 0;
	case MSBVM_END_STOPPED:
		return 1;
	default:
		fprintf(stderr, "msbvm: guest failed: %s\n", st->detail);
		return 1;
	}
}

/* Agent mode, in the foreground: the command with our stdio. */
static int run_command(msbvm *vm, const struct run_opts *o, char *why,
		       size_t why_len)
{
	static const char *const shell[] = { "/bin/sh", NULL };
	struct msbvm_exec e = {
		.argv = run_image_argv ? (const char *const *)run_image_argv :
			o->cmd ? (const char *const *)o->cmd : shell,
		.env = o->x.env, .cwd = o->x.workdir, .user = o->x.user,
		.tty = o->x.tty < 0 ? isatty(0) && isatty(1) : o->x.tty,
		.stdin_fd = 0, .stdout_fd = 1, .stderr_fd = 2,
		.signal_fd = run_sig_pipe[0],
	};
	int code;

	run_in_exec = 1;
	code = msbvm_exec(vm, &e);
	run_in_exec = 0;
	if (code == -EINTR) {
		/* a second Ctrl-C hung the command up; the VM stops next */
		fprintf(stderr, "msbvm: %s\n", msbvm_errmsg(vm));
		return 128 + SIGINT;
	}
	if (code < 0 || (code >= 125 && code <= 127 && *msbvm_errmsg(vm)))
		snprintf(why, why_len, "%s", msbvm_errmsg(vm));
	if (code >= 125 && code <= 127 && *why)
		fprintf(stderr, "msbvm: %s\n", why);
	return code;
}

/* Boots, waits for the agent, runs the command or (-d) tells the parent
 * through notify_fd; returns the exit code. */
static int run_agent(msbvm *vm, const struct run_opts *o, int notify_fd,
		     struct msbvm_status *st)
{
	char why[600] = "";
	int code = -1, rc;

	rc = msbvm_wait_ready(vm, run_env_secs("MSBVM_READY_TIMEOUT",
					       RUN_READY_TIMEOUT_S) * 1000);
	if (rc < 0 && rc != -ECHILD)
		snprintf(why, sizeof(why), "%s%s", msbvm_errmsg(vm),
			 rc == -ETIMEDOUT ? " (MSBVM_READY_TIMEOUT)" : "");
	if (rc == 0 && notify_fd >= 0) {
		char path[PATH_MAX];
		int log;

		/* -d: stderr goes to vmm.log; the parent prints the name */
		snprintf(path, sizeof(path), "%s/vmm.log", msbvm_state_path(vm));
		log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (log >= 0) {
			dup2(log, STDERR_FILENO);
			close(log);
		}
		if (write(notify_fd, "R", 1) < 0)
			(void)0;
		close(notify_fd);
		msbvm_wait(vm, -1, st);
		return st->end == MSBVM_END_PANIC || st->end == MSBVM_END_ERROR ? 1 : 0;
	}
	if (rc == 0)
		code = run_command(vm, o, why, sizeof(why));
	int secs = run_env_secs("MSBVM_POWEROFF_TIMEOUT", o->init ?
				RUN_INIT_POWEROFF_TIMEOUT_S : RUN_POWEROFF_TIMEOUT_S);
	if (msbvm_stop(vm, rc == 0 ? secs * 1000 : 0) == -ETIMEDOUT && rc == 0)
		fprintf(stderr, "msbvm: %s\n", msbvm_errmsg(vm));
	msbvm_wait(vm, -1, st);
	return run_result(vm, o, st, code, why);
}

/* -d: the parent waits for the child's "R" (agent ready) and exits; the
 * child goes on as the VMM in its own session. Returns -1 in the child. */
static int run_detach(const struct run_opts *o, int *notify_fd)
{
	int p[2], status;
	char c;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "msbvm: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		*notify_fd = p[1];
		return -1;
	}
	close(p[1]);
	if (read(p[0], &c, 1) == 1) {
		printf("%s\n", o->name);
		return 0;
	}
	/* the child failed and said why on our stderr */
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) ? WEXITSTATUS(status) : 1;
}

int cli_run(const struct run_opts *o)
{
	struct msbvm_status st = { 0 };
	int rc, notify_fd = -1;
	msbvm_config *c = run_config(o);
	msbvm *vm;

	if (!c)
		return 2;
	if (o->detach && (rc = run_detach(o, &notify_fd)) >= 0) {
		msbvm_config_free(c);
		return rc;
	}
	rc = msbvm_create(c, &vm);
	if (rc < 0)
		fprintf(stderr, "msbvm: %s\n", msbvm_config_errmsg(c));
	msbvm_config_free(c);
	if (rc < 0)
		return 2;
	run_vm_handle = vm;
	run_signals();
	if (msbvm_start(vm) < 0) {
		fprintf(stderr, "msbvm: %s\n", msbvm_errmsg(vm));
		run_vm_handle = NULL;
		msbvm_destroy(vm);
		return 2;
	}
	if (!o->no_agent) {
		rc = run_agent(vm, o, notify_fd, &st);
	} else {
		msbvm_wait(vm, -1, &st);
		rc = run_result(vm, o, &st, -1, NULL);
	}
	if (o->report && msbvm_write_report(vm, o->report, rc) < 0)
		fprintf(stderr, "msbvm: %s\n", msbvm_errmsg(vm));
	run_vm_handle = NULL;
	/* a background VM that died on its own keeps kernel.log for the
	 * user; `msbvm ls` shows it stale until `msbvm stop` clears it */
	if (o->detach && rc == 1 && st.end != MSBVM_END_STOPPED) {
		fprintf(stderr, "msbvm: VM '%s' failed; its console log stays in "
			"%s/kernel.log\n", msbvm_name(vm), msbvm_state_path(vm));
		msbvm_destroy_keep_log(vm);
	} else {
		msbvm_destroy(vm);
	}
	return rc;
}
