/* EXEC sessions: preflight (command, cwd, user) before fork so failures
 * are typed errors rather than exit codes, then fork + exec with pipes or a
 * pty, and stream stdio as frames. EXIT follows the process's exit, once
 * what it wrote is sent and its stdout/stderr reached EOF or, if something
 * it started still holds them (a daemon), after AGENT_EXIT_DRAIN_MS; what
 * it started keeps running (leftover.c keeps its streams drained).
 * detach=1: the command starts with stdin /dev/null and stdout/stderr in
 * AGENT_DETACH_LOG, STARTED is the whole reply, nothing streams. */
#include "agentd.h"
#include "proto/bootcfg.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define EXEC_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Adds or replaces NAME=... in the environment (later wins). */
unsigned agent_env_set(const char **envp, unsigned n, unsigned cap,
		       const char *entry)
{
	size_t nl = strcspn(entry, "=");

	for (unsigned i = 0; i < n; i++)
		if (!strncmp(envp[i], entry, nl) && envp[i][nl] == '=') {
			envp[i] = entry;
			return n;
		}
	if (n < cap)
		envp[n++] = entry;
	return n;
}

static void exec_setenv(struct exec_req *r, const char *entry)
{
	r->envc = agent_env_set(r->envp, r->envc,
				sizeof(r->envp) / sizeof(r->envp[0]) - 1, entry);
}

static const struct exec_defaults *exec_dflt;

void exec_set_defaults(const struct exec_defaults *d)
{
	exec_dflt = d;
}

static bool exec_scripts;

void exec_scripts_on_path(void)
{
	static char path[8192];
	const char *old = getenv("PATH");

	exec_scripts = true;
	snprintf(path, sizeof(path), "PATH=%s:" BCFG_SCRIPTS_DIR,
		 old && *old ? old : EXEC_DEFAULT_PATH);
	putenv(path);
}

static const char *exec_getenv(const struct exec_req *r, const char *name)
{
	size_t nl = strlen(name);

	for (unsigned i = 0; i < r->envc; i++)
		if (!strncmp(r->envp[i], name, nl) && r->envp[i][nl] == '=')
			return r->envp[i] + nl + 1;
	return NULL;
}

/* One entry into the request; NULL, or why it is refused. */
static const char *exec_entry(struct exec_req *r, const char *key,
			      const char *val)
{
	if (!strcmp(key, "arg")) {
		if (r->argc == AGENT_MAX_ARGS)
			return "too many arg entries";
		r->argv[r->argc++] = val;
	} else if (!strcmp(key, "env")) {
		if (val[0] == '=' || !strchr(val, '='))
			return "env entries are NAME=VALUE";
		if (r->nreqenv == AGENT_MAX_ARGS)
			return "too many env entries";
		r->reqenv[r->nreqenv++] = val;
	} else if (!strcmp(key, "cwd")) {
		if (!*val)
			return "empty";
		r->cwd = val;
	} else if (!strcmp(key, "user")) {
		if (!*val)
			return "empty";
		r->user = val;
	} else if (!strcmp(key, "tty")) {
		r->tty = !strcmp(val, "1");
	} else if (!strcmp(key, "detach")) {
		r->detach = !strcmp(val, "1");
	} else if (!strcmp(key, "rows") || !strcmp(key, "cols")) {
		if (!kv_num(val, 1, 65535, key[0] == 'r' ? &r->rows : &r->cols))
			return "not a number in 1-65535";
	} else {
		return "unknown key (known: arg env cwd user tty rows cols detach)";
	}
	return NULL;
}

/* All or nothing: one bad entry refuses the whole request, since running
 * what parsed so far (a partial argv) would be a different command. */
bool exec_parse(struct exec_req *r, const uint8_t *data, size_t len,
		char *why, size_t whylen)
{
	char key[AGENT_KEY_MAX];
	const char *val, *bad;
	size_t pos = 0;

	memset(r, 0, sizeof(*r));
	r->cwd = exec_dflt && exec_dflt->workdir ? exec_dflt->workdir : "/";
	r->user = exec_dflt ? exec_dflt->user : NULL;
	r->rows = 24;
	r->cols = 80;
	/* kv_next trusts the shape (it runs strlen) */
	if (!kv_valid(data, len)) {
		snprintf(why, whylen, "EXEC payload is not a key=value list");
		return false;
	}
	/* kv_next also returns false on a key too long for key[]: only the
	 * payload's end may end this loop */
	while (pos < len) {
		const char *entry = (const char *)data + pos;

		if (!kv_next(data, len, &pos, key, sizeof(key), &val)) {
			snprintf(why, whylen, "EXEC key '%.*s...' is over %d bytes",
				 AGENT_KEY_MAX - 1, entry, AGENT_KEY_MAX - 1);
			return false;
		}
		if ((bad = exec_entry(r, key, val))) {
			snprintf(why, whylen, "EXEC %s=%.64s: %s", key, val, bad);
			return false;
		}
	}
	if (!r->argc || !*r->argv[0]) {
		snprintf(why, whylen, "EXEC needs arg= entries, the first not empty");
		return false;
	}
	if (r->detach && r->tty) {
		snprintf(why, whylen, "EXEC detach=1 with tty=1: a detached command "
			 "has no terminal");
		return false;
	}
	return true;
}

/* user = NAME or UID[:GID], looked up in the guest's /etc/passwd. */
static bool exec_user(struct exec_req *r)
{
	long long uid, gid;
	const char *colon = r->user ? strchr(r->user, ':') : NULL;
	struct passwd *pw;
	char name[64];

	r->uid = 0;
	r->gid = 0;
	snprintf(r->home, sizeof(r->home), "/root");
	if (!r->user)
		return true;
	snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - r->user) : 63,
		 r->user);
	if (kv_num(name, 0, 0x7fffffff, &uid)) {
		pw = getpwuid((uid_t)uid);
		r->uid = (uid_t)uid;
		r->gid = pw ? pw->pw_gid : (gid_t)uid;
	} else if ((pw = getpwnam(name))) {
		r->uid = pw->pw_uid;
		r->gid = pw->pw_gid;
	} else {
		return false;
	}
	if (pw && pw->pw_dir)
		snprintf(r->home, sizeof(r->home), "%s", pw->pw_dir);
	if (colon) {
		if (!kv_num(colon + 1, 0, 0x7fffffff, &gid))
			return false;
		r->gid = (gid_t)gid;
	}
	return true;
}

/* PATH lookup as execvp would do it, but in the agent, before fork. */
static int exec_resolve(struct exec_req *r)
{
	const char *cmd = r->argv[0], *p = exec_getenv(r, "PATH");
	struct stat st;
	int first_err = ENOENT;

	if (strchr(cmd, '/')) {
		snprintf(r->path, sizeof(r->path), "%s", cmd);
		if (stat(r->path, &st) < 0)
			return errno;
		return S_ISDIR(st.st_mode) ? EISDIR :
		       access(r->path, X_OK) < 0 ? EACCES : 0;
	}
	for (; p && *p; p += *p == ':') {
		size_t n = strcspn(p, ":");

		snprintf(r->path, sizeof(r->path), "%.*s/%s", (int)n, n ? p : ".", cmd);
		p += n;
		if (stat(r->path, &st) < 0 || S_ISDIR(st.st_mode))
			continue;
		if (access(r->path, X_OK) == 0)
			return 0;
		first_err = EACCES;
	}
	return first_err;
}

/* The agent blocks SIGCHLD (for its signalfd) and ignores SIGPIPE; both
 * survive execve, and a program started with them would misbehave (a
 * shell's `wait` never woken, a pipeline writer never killed). */
void agent_reset_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
}

/* A detached child's stdio: stdin /dev/null, stdout and stderr the log
 * (opened as root in root's /run/msbvm, then given to the user). */
static int exec_detached_stdio(const struct exec_req *r)
{
	char log[64];
	int in, out;

	snprintf(log, sizeof(log), AGENT_DETACH_LOG, (int)getpid());
	mkdir("/run/msbvm", 0755);
	in = open("/dev/null", O_RDONLY);
	out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0640);
	if (in < 0 || out < 0 || fchown(out, r->uid, r->gid) < 0)
		return -1;
	dup2(in, 0);
	dup2(out, 1);
	dup2(out, 2);
	if (in > 2)
		close(in);
	if (out > 2)
		close(out);
	return 0;
}

static void exec_child(const struct exec_req *r, int in[2], int out[2],
		       int err[2], int pty, const char *slave, int report)
{
	char log[64];
	int e;

	agent_reset_signals();
	setsid();
	if (r->detach) {
		if (exec_detached_stdio(r) < 0)
			goto fail;
	} else if (pty >= 0) {
		int fd = open(slave, O_RDWR);
		if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0)
			goto fail;
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	} else {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
	}
	if (chdir(r->cwd) < 0 || setgroups(0, NULL) < 0 || setgid(r->gid) < 0 ||
	    setuid(r->uid) < 0)
		goto fail;
	execve(r->path, (char *const *)r->argv, (char *const *)r->envp);
fail:
	e = errno;
	if (r->detach) {
		/* nothing ran: nothing to read there */
		snprintf(log, sizeof(log), AGENT_DETACH_LOG, (int)getpid());
		unlink(log);
	}
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

static int exec_pipes(int in[2], int out[2], int err[2])
{
	in[0] = in[1] = out[0] = out[1] = err[0] = err[1] = -1;
	return pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	       pipe2(err, O_CLOEXEC) < 0 ? -1 : 0;
}

static void exec_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Fork + exec; the child's exec failure comes back through a CLOEXEC pipe
 * (it closes on success). Returns 0 or an errno. */
static int exec_spawn(struct exec_req *r, struct session *s)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int rep[2] = { -1, -1 }, pty = -1, e = 0;
	char *slave = NULL;

	if (r->detach) {
		/* the child opens its own stdio */
	} else if (r->tty) {
		struct winsize ws = { .ws_row = (unsigned short)r->rows,
				      .ws_col = (unsigned short)r->cols };
		pty = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (pty < 0 || grantpt(pty) < 0 || unlockpt(pty) < 0 ||
		    !(slave = ptsname(pty))) {
			e = errno ? errno : EIO;
			goto out; /* closes the pty */
		}
		ioctl(pty, TIOCSWINSZ, &ws);
	} else if (exec_pipes(in, out, err) < 0) {
		e = errno;
		goto out;
	}
	if (pipe2(rep, O_CLOEXEC) < 0 || (s->pid = fork()) < 0) {
		e = errno;
		goto out;
	}
	if (s->pid == 0)
		exec_child(r, in, out, err, pty, slave, rep[1]);
	exec_close(&rep[1]);
	if (read(rep[0], &e, sizeof(e)) != sizeof(e))
		e = 0;
	if (r->detach) {
		goto out;
	} else if (pty >= 0) {
		s->out_fd = pty;
		s->in_fd = fcntl(pty, F_DUPFD_CLOEXEC, 3);
		pty = -1;
	} else {
		s->in_fd = in[1], in[1] = -1;
		s->out_fd = out[0], out[0] = -1;
		s->err_fd = err[0], err[0] = -1;
	}
	fcntl(s->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(s->out_fd, F_SETFL, O_NONBLOCK);
	if (s->err_fd >= 0)
		fcntl(s->err_fd, F_SETFL, O_NONBLOCK);
out:
	for (int i = 0; i < 2; i++) {
		exec_close(&in[i]);
		exec_close(&out[i]);
		exec_close(&err[i]);
		exec_close(&rep[i]);
	}
	exec_close(&pty);
	return e;
}

/* Preflight: the request's user, environment, cwd and command; false
 * once an ERROR reply is queued. */
static bool exec_prepare(struct exec_req *r, struct aconn *c,
			 const struct proto_frame *f)
{
	static char home[300];
	struct stat st;
	char why[160];
	int e;

	if (!exec_parse(r, f->data, f->len, why, sizeof(why))) {
		agent_reply_error(c, f->id, "bad_request", "%s", why);
		return false;
	}
	if (!exec_user(r)) {
		agent_reply_error(c, f->id, "bad_user", "user '%s' not found in "
				  "/etc/passwd", r->user);
		return false;
	}
	/* defaults, then the request's env= entries (later wins) */
	snprintf(home, sizeof(home), "HOME=%s", r->home);
	exec_setenv(r, "PATH=" EXEC_DEFAULT_PATH);
	exec_setenv(r, home);
	if (r->tty)
		exec_setenv(r, "TERM=xterm");
	for (unsigned i = 0; exec_dflt && i < exec_dflt->envc; i++)
		exec_setenv(r, exec_dflt->env[i]);
	for (unsigned i = 0; i < r->nreqenv; i++)
		exec_setenv(r, r->reqenv[i]);
	/* scripts callable by name, after everything else on PATH */
	static char path[8192];
	const char *p = exec_getenv(r, "PATH");
	if (exec_scripts && (size_t)snprintf(path, sizeof(path), "PATH=%s%s"
					     BCFG_SCRIPTS_DIR, p ? p : "",
					     p && *p ? ":" : "") < sizeof(path))
		exec_setenv(r, path);
	r->envp[r->envc] = NULL;
	r->argv[r->argc] = NULL;
	if (stat(r->cwd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		agent_reply_error(c, f->id, "bad_cwd", "working directory %s: %s",
				  r->cwd, stat(r->cwd, &st) < 0 ? strerror(errno) :
				  "not a directory");
		return false;
	}
	if ((e = exec_resolve(r))) {
		agent_reply_error(c, f->id, e == ENOENT ? "not_found" : "not_executable",
				  "%s: %s", r->argv[0], e == ENOENT ? "not found" :
				  strerror(e));
		return false;
	}
	return true;
}

/* A spawn that failed: the child (if any) exits 127 and the SIGCHLD loop
 * reaps it like any orphan. */
static void exec_refuse(struct aconn *c, uint32_t id, const struct exec_req *r,
			int e)
{
	agent_reply_error(c, id, e == ENOENT ? "not_found" : "exec_failed",
			  "%s: %s", r->argv[0], strerror(e));
}

void exec_start(struct agent *a, struct aconn *c, const struct proto_frame *f)
{
	static struct exec_req r;
	static struct kvbuf kv;
	struct session d = { .in_fd = -1, .out_fd = -1, .err_fd = -1 };
	int e;

	if (a->shutting_down) {
		agent_reply_error(c, f->id, "shutting_down", "the VM is shutting down");
		return;
	}
	if (!exec_prepare(&r, c, f))
		return;
	kv_init(&kv);
	if (r.detach) {
		/* nobody owns it: it is reaped as an orphan when it exits */
		if ((e = exec_spawn(&r, &d))) {
			exec_refuse(c, f->id, &r, e);
			return;
		}
		kv_addf(&kv, "pid", "%d", (int)d.pid);
		kv_addf(&kv, "log", AGENT_DETACH_LOG, (int)d.pid);
		pconn_send(&c->pc, P_STARTED, 0, f->id, kv.buf, kv.len);
		return;
	}
	memset(&c->s, 0, sizeof(c->s));
	c->s.in_fd = c->s.out_fd = c->s.err_fd = -1;
	c->s.tty = r.tty;
	if ((e = exec_spawn(&r, &c->s))) {
		exec_release(c);
		exec_refuse(c, f->id, &r, e);
		return;
	}
	c->op = OP_EXEC;
	c->op_id = f->id;
	kv_addf(&kv, "pid", "%d", (int)c->s.pid);
	pconn_send(&c->pc, P_STARTED, 0, f->id, kv.buf, kv.len);
}

void exec_frame(struct aconn *c, const struct proto_frame *f)
{
	struct session *s = &c->s;
	long long v, rows, cols;

	if (f->id != c->op_id) {
		agent_reply_error(c, f->id, "busy", "an exec is running on this "
				  "connection");
		return;
	}
	switch (f->type) {
	case P_STDIN:
		if (s->stdin_eof || s->in_fd < 0)
			return; /* the process closed its stdin: drop */
		if (f->len) {
			if (!s->stdin_buf && !(s->stdin_buf = malloc(PROTO_MAX_PAYLOAD)))
				return;
			memcpy(s->stdin_buf, f->data, f->len);
			s->stdin_off = 0;
			s->stdin_len = f->len;
		}
		s->stdin_eof = f->flags & P_FLAG_EOF;
		exec_pump(c, 1, 0, 0); /* try at once; poll waits if full */
		return;
	case P_SIGNAL:
		if (kv_valid(f->data, f->len) &&
		    kv_num(kv_get(f->data, f->len, "sig"), 1, NSIG - 1, &v))
			exec_kill(c, (int)v);
		return;
	case P_RESIZE:
		if (s->tty && kv_valid(f->data, f->len) &&
		    kv_num(kv_get(f->data, f->len, "rows"), 1, 65535, &rows) &&
		    kv_num(kv_get(f->data, f->len, "cols"), 1, 65535, &cols)) {
			struct winsize ws = { .ws_row = (unsigned short)rows,
					      .ws_col = (unsigned short)cols };
			ioctl(s->out_fd, TIOCSWINSZ, &ws);
		}
		return;
	default:
		agent_reply_error(c, f->id, "bad_request", "%s during an exec",
				  proto_type_name(f->type));
	}
}

/* One read from a process output into a STDOUT/STDERR frame. */
static void exec_output(struct aconn *c, int *fd, uint16_t type)
{
	static uint8_t buf[PROTO_MAX_PAYLOAD];
	ssize_t n;

	if (*fd < 0 || !pconn_can_send(&c->pc))
		return;
	n = read(*fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		size_t *owed = fd == &c->s.out_fd ? &c->s.owed_out : &c->s.owed_err;

		pconn_send(&c->pc, type, 0, c->op_id, buf, (size_t)n);
		*owed -= *owed < (size_t)n ? *owed : (size_t)n;
		return;
	}
	/* EOF, or EIO from a pty master whose last slave closed */
	pconn_send(&c->pc, type, P_FLAG_EOF, c->op_id, NULL, 0);
	exec_close(fd);
	if (c->s.tty)
		exec_close(&c->s.in_fd);
}

void exec_pump(struct aconn *c, short in_rev, short out_rev, short err_rev)
{
	struct session *s = &c->s;

	if (in_rev && s->in_fd >= 0 && s->stdin_len) {
		ssize_t n = write(s->in_fd, s->stdin_buf + s->stdin_off, s->stdin_len);

		if (n > 0) {
			s->stdin_off += (size_t)n;
			s->stdin_len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			s->stdin_len = 0; /* EPIPE: the process stopped reading */
			s->stdin_eof = true;
		}
	}
	if (s->stdin_eof && !s->stdin_len && s->in_fd >= 0 && !s->tty)
		exec_close(&s->in_fd);
	if (out_rev)
		exec_output(c, &s->out_fd, P_STDOUT);
	if (err_rev)
		exec_output(c, &s->err_fd, P_STDERR);
}

/* Bytes waiting in a pipe or pty master (0 when closed or unknown). */
static size_t exec_pending(int fd)
{
	int n = 0;

	return fd >= 0 && ioctl(fd, FIONREAD, &n) == 0 && n > 0 ? (size_t)n : 0;
}

bool exec_reaped(struct agent *a, pid_t pid, int status)
{
	for (unsigned i = 0; i < AGENT_MAX_CONNS; i++) {
		struct session *s = &a->conns[i].s;

		if (a->conns[i].used && a->conns[i].op == OP_EXEC && s->pid == pid &&
		    !s->exited) {
			s->exited = true;
			s->status = status;
			s->exit_ms = agent_now_ms();
			/* the leader wrote these before it exited: never cut */
			s->owed_out = exec_pending(s->out_fd);
			s->owed_err = exec_pending(s->err_fd);
			return true;
		}
	}
	return false;
}

/* A stream that is done: closed, or still held open by something the
 * leader left behind, with the leader's own bytes sent and the grace over. */
static bool exec_drained(const struct session *s, int fd, size_t owed)
{
	return fd < 0 || (!owed && agent_now_ms() >= s->exit_ms + AGENT_EXIT_DRAIN_MS);
}

/* Ends a stream still held open after the grace: EOF to the host; what
 * writes there later is read and discarded (leftover.c). */
static void exec_cut(struct agent *a, struct aconn *c, int *fd, uint16_t type)
{
	if (*fd < 0)
		return;
	pconn_send(&c->pc, type, P_FLAG_EOF, c->op_id, NULL, 0);
	leftover_keep(a, *fd);
	*fd = -1;
}

bool exec_done(struct agent *a, struct aconn *c)
{
	static struct kvbuf kv;
	struct session *s = &c->s;

	if (!s->exited || !pconn_can_send(&c->pc) ||
	    !exec_drained(s, s->out_fd, s->owed_out) ||
	    !exec_drained(s, s->err_fd, s->owed_err))
		return false;
	exec_cut(a, c, &s->out_fd, P_STDOUT);
	exec_cut(a, c, &s->err_fd, P_STDERR);
	kv_init(&kv);
	if (WIFSIGNALED(s->status))
		kv_addf(&kv, "signal", "%d", WTERMSIG(s->status));
	else
		kv_addf(&kv, "code", "%d", WEXITSTATUS(s->status));
	pconn_send(&c->pc, P_EXIT, 0, c->op_id, kv.buf, kv.len);
	return true;
}

int64_t exec_deadline(const struct aconn *c)
{
	const struct session *s = &c->s;

	/* owed bytes and a full connection wake poll through fds; so does
	 * EOF */
	if (c->op != OP_EXEC || !s->exited || !pconn_can_send(&c->pc) ||
	    (s->out_fd >= 0 && s->owed_out) || (s->err_fd >= 0 && s->owed_err) ||
	    (s->out_fd < 0 && s->err_fd < 0))
		return -1;
	return s->exit_ms + AGENT_EXIT_DRAIN_MS;
}

/* The process group outlives its leader (a pgid is not reused while a
 * member lives), so a SIGNAL still reaches what the command left running
 * until the session ends with EXIT. */
void exec_kill(struct aconn *c, int sig)
{
	if (c->op == OP_EXEC && c->s.pid > 0)
		kill(-c->s.pid, sig);
}

void exec_leave(struct agent *a, struct aconn *c)
{
	leftover_keep(a, c->s.out_fd);
	leftover_keep(a, c->s.err_fd);
	c->s.out_fd = c->s.err_fd = -1;
	exec_release(c);
}

void exec_release(struct aconn *c)
{
	struct session *s = &c->s;

	exec_close(&s->in_fd);
	exec_close(&s->out_fd);
	exec_close(&s->err_fd);
	free(s->stdin_buf);
	memset(s, 0, sizeof(*s));
	s->in_fd = s->out_fd = s->err_fd = -1;
	if (c->op == OP_EXEC)
		c->op = OP_NONE;
}
