/* PID 1 handoff (--init): after the boot-time setup, agentd checks the
 * requested init, forks while still single-threaded and before opening any
 * channel, and the parent (PID 1) execs the init; the child carries on as
 * the agent under it. What to run comes from the boot configuration's
 * /msbvm/init node (docs/boot-config.md): path ("auto" or absolute), args,
 * env. `auto` probes INIT_AUTO_PATHS in order. A missing init fails the boot
 * with every path tried in kernel.log: no silent fallback. */
#include "init.h"
#include "agentd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static const char *const init_auto_paths[] = {
	"/sbin/init", "/lib/systemd/systemd", "/usr/lib/systemd/systemd",
};

/* exists, regular file (after symlinks), executable */
static bool init_check(const char *path, char *why, size_t len)
{
	struct stat st;

	if (path[0] != '/') {
		snprintf(why, len, "%s: not an absolute path", path);
		return false;
	}
	if (stat(path, &st) < 0)
		snprintf(why, len, "%s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(why, len, "%s: not a regular file", path);
	else if (access(path, X_OK) < 0)
		snprintf(why, len, "%s: not executable (%s)", path, strerror(errno));
	else
		return true;
	return false;
}

/* /sbin/init is usually a symlink; exec systemd by its own name so that
 * PID 1's comm reads "systemd" (as `systemctl`-era tools and users
 * expect). Other inits keep the path given: busybox picks its applet from
 * the name it was started by ("init"). */
static void init_prefer_systemd(struct init_cfg *c)
{
	char rp[PATH_MAX];
	const char *base;

	if (!realpath(c->path, rp))
		return;
	base = strrchr(rp, '/');
	if (base && !strcmp(base + 1, "systemd") && strlen(rp) < sizeof(c->path))
		strcpy(c->path, rp);
}

bool init_preflight(struct init_cfg *c, char *err, size_t len)
{
	char why[300];
	size_t n;

	if (strcmp(c->spec, "auto")) {
		if (init_check(c->spec, why, sizeof(why))) {
			snprintf(c->path, sizeof(c->path), "%s", c->spec);
			init_prefer_systemd(c);
			return true;
		}
		snprintf(err, len, "init %s", why);
		return false;
	}
	n = (size_t)snprintf(err, len, "--init auto found no init; tried:");
	for (unsigned i = 0; i < sizeof(init_auto_paths) / sizeof(init_auto_paths[0]); i++) {
		if (init_check(init_auto_paths[i], why, sizeof(why))) {
			snprintf(c->path, sizeof(c->path), "%s", init_auto_paths[i]);
			init_prefer_systemd(c);
			return true;
		}
		if (n < len)
			n += (size_t)snprintf(err + n, len - n, " %s%s", why,
					      i + 1 < 3 ? ";" : "");
	}
	return false;
}

/* PID 1 after the fork: a clean signal state, argv [init, args...], the
 * inherited environment with --init-env merged on top (later wins). */
static void init_exec(struct init_cfg *c)
{
	static char *argv[INIT_MAX_ARGS + 2];
	static const char *envp[INIT_MAX_ENV + INIT_MAX_ARGS + 1];
	unsigned n = 0;

	agent_reset_signals();
	for (char **e = environ; *e && n < INIT_MAX_ENV; e++)
		envp[n++] = *e;
	for (unsigned i = 0; i < c->envc; i++)
		n = agent_env_set(envp, n, INIT_MAX_ENV + INIT_MAX_ARGS, c->env[i]);
	envp[n] = NULL;
	argv[0] = c->path;
	for (unsigned i = 0; i < c->argc; i++)
		argv[i + 1] = c->args[i];
	argv[c->argc + 1] = NULL;
	execve(c->path, argv, (char *const *)envp);
	/* PID 1 cannot exit without a panic; nothing else to run */
	char why[320];
	snprintf(why, sizeof(why), "exec %s: %s", c->path, strerror(errno));
	agent_fatal(why);
}

void init_handoff(struct init_cfg *c)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		agent_fatal("fork for --init failed");
	if (pid > 0)
		init_exec(c);
	/* the agent: its own session, its log under /run, a name of its own
	 * (PID 1's binary may also be called init) */
	setsid();
	prctl(PR_SET_NAME, "agentd");
	fd = open(INIT_AGENT_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	agent_log("serving under %s (PID 1), agent pid %d", c->path, (int)getpid());
}

/* systemd's poweroff request is SIGRTMIN+4. Its number comes from the
 * guest's glibc, where SIGRTMIN is 34: 38. musl (which builds agentd) has
 * SIGRTMIN 35, so it must not be computed here. */
#define INIT_SIG_POWEROFF_SYSTEMD 38

void init_request_poweroff(void)
{
	char comm[32] = "";
	int fd = open("/proc/1/comm", O_RDONLY | O_CLOEXEC);
	bool systemd = false;

	if (fd >= 0) {
		ssize_t n = read(fd, comm, sizeof(comm) - 1);
		comm[n > 0 ? n : 0] = '\0';
		close(fd);
		systemd = !strncmp(comm, "systemd", 7);
	}
	sync();
	agent_log("asking PID 1 (%.*s) to power off", (int)strcspn(comm, "\n"), comm);
	kill(1, INIT_SIG_POWEROFF_SYSTEMD);
	/* inits that do not know SIGRTMIN+4 (busybox, sysvinit, runit, s6
	 * take SIGTERM as reboot or shutdown) get SIGTERM now; systemd only
	 * if it has not acted within the grace period */
	if (!systemd)
		kill(1, SIGTERM);
	for (int ms = 0; ms < INIT_POWEROFF_GRACE_MS; ms += 100)
		usleep(100000);
	agent_log("PID 1 did not power off within %d ms; sending SIGTERM",
		  INIT_POWEROFF_GRACE_MS);
	kill(1, SIGTERM);
	for (;;)
		pause(); /* the VMM hard-stops a guest that ignores both */
}
