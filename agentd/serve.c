/* The control-channel server: vsock listener, HELLO handshake, request
 * dispatch, SIGCHLD reaping, and the shutdown sequence. */
#include "agentd.h"

#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

const char *agent_errno_kind(int e)
{
	switch (e) {
	case ENOENT: return "not_found";
	case EACCES: case EPERM: return "permission";
	case EEXIST: return "exists";
	case ENOTDIR: return "not_dir";
	case EISDIR: return "is_dir";
	case ENOTEMPTY: return "not_empty";
	case ENOSPC: return "no_space";
	default: return "io";
	}
}

bool agent_reply_error(struct aconn *c, uint32_t id, const char *kind,
		       const char *fmt, ...)
{
	static struct kvbuf kv;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kv_init(&kv);
	kv_add(&kv, "kind", kind);
	kv_add(&kv, "msg", msg);
	return pconn_send(&c->pc, P_ERROR, 0, id, kv.buf, kv.len);
}

static int agent_listen(void)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				  .svm_port = PROTO_AGENT_PORT };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0) {
		agent_log("vsock port %d: %s", PROTO_AGENT_PORT, strerror(errno));
		return -1;
	}
	return fd;
}

/* Tells the host we serve: one READY frame to host port PROTO_READY_PORT
 * carrying the guest's own boot timestamps. */
static void agent_ready(struct agent *a)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST,
				  .svm_port = PROTO_READY_PORT };
	static struct kvbuf kv;
	struct pconn pc;
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a->t_ready_ms = agent_now_ms();
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		agent_log("ready: no host listener on port %d (%s); serving anyway",
			  PROTO_READY_PORT, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (pconn_init(&pc, fd) < 0)
		return;
	kv_init(&kv);
	kv_addf(&kv, "version", "%d", PROTO_VERSION);
	kv_addf(&kv, "agent_start_ms", "%lld", (long long)a->t_start_ms);
	kv_addf(&kv, "root_ms", "%lld", (long long)a->t_root_ms);
	kv_addf(&kv, "ready_ms", "%lld", (long long)a->t_ready_ms);
	pconn_send(&pc, P_READY, 0, 0, kv.buf, kv.len);
	/* blocking socket: flush writes it all or fails */
	pconn_flush(&pc);
	pconn_free(&pc);
}

static void agent_accept(struct agent *a)
{
	int fd;

	while ((fd = accept4(a->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct aconn *c = NULL;

		for (unsigned i = 0; i < AGENT_MAX_CONNS && !c; i++)
			if (!a->conns[i].used)
				c = &a->conns[i];
		if (!c || a->shutting_down || pconn_init(&c->pc, fd) < 0) {
			close(fd);
			continue;
		}
		c->used = true;
		c->hello = false;
		c->op = OP_NONE;
		c->file_fd = -1;
		c->s.in_fd = c->s.out_fd = c->s.err_fd = -1;
	}
}

/* A command still running is hung up (leftover.c); one that exited
 * while its output drained leaves what it started running. */
void agent_drop(struct agent *a, struct aconn *c)
{
	if (c->op == OP_EXEC && !c->s.exited)
		leftover_hangup(a, c->s.pid);
	if (c->op == OP_EXEC && c->s.exited)
		exec_leave(a, c);
	exec_release(c);
	files_release(c);
	pconn_free(&c->pc);
	c->used = false;
}

/* A refused token, logged at most once per AGENT_AUTH_LOG_MS with the
 * count of the ones in between: a local attacker hammering vsock.sock
 * must not flood the console (kernel.log) or slow the agent down. */
static void agent_auth_refused(struct agent *a)
{
	int64_t now = agent_now_ms();

	a->auth_unlogged++;
	if (a->auth_log_ms && now - a->auth_log_ms < AGENT_AUTH_LOG_MS)
		return;
	agent_log("refused %llu connection(s) without the VM's control token",
		  (unsigned long long)a->auth_unlogged);
	a->auth_unlogged = 0;
	a->auth_log_ms = now ? now : 1;
}

void agent_hello(struct agent *a, struct aconn *c, const struct proto_frame *f)
{
	static struct kvbuf kv;
	long long ver;

	c->pc.failed = true; /* until the HELLO is accepted below */
	if (f->type != P_HELLO || !kv_valid(f->data, f->len) ||
	    !agent_keys_fit(f->data, f->len) ||
	    !kv_num(kv_get(f->data, f->len, "version"), 1, 1000000, &ver)) {
		agent_reply_error(c, f->id, "bad_request", "expected HELLO with "
				  "a version first");
		return;
	}
	if (ver != PROTO_VERSION) {
		agent_reply_error(c, f->id, "version", "protocol version %lld "
				  "not supported (agent speaks %d)", ver, PROTO_VERSION);
		return;
	}
	/* same answer for a missing and a wrong token: nothing to learn */
	if (!proto_token_eq(kv_get(f->data, f->len, "token"), a->token)) {
		agent_reply_error(c, f->id, "auth", "missing or wrong control token");
		agent_auth_refused(a);
		return;
	}
	c->pc.failed = false;
	c->hello = true;
	kv_init(&kv);
	kv_addf(&kv, "version", "%d", PROTO_VERSION);
	kv_add(&kv, "agent", "msbvm-agentd");
	pconn_send(&c->pc, P_HELLO, 0, f->id, kv.buf, kv.len);
}

bool agent_keys_fit(const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i += strlen((const char *)data + i) + 1)
		if (strcspn((const char *)data + i, "=") >= AGENT_KEY_MAX)
			return false;
	return true;
}

/* PID 1 without a handoff: every process in the guest is ours to end
 * (kill(-1) from anything else would reach far more than the guest's). */
static bool agent_is_init(const struct agent *a)
{
	return !a->handoff && getpid() == 1;
}

/* Some process still runs under us (as PID 1: anywhere in the guest). */
static bool agent_has_children(void)
{
	siginfo_t si;

	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

static void agent_dispatch(struct agent *a, struct aconn *c,
			   const struct proto_frame *f)
{
	if (!c->hello) {
		agent_hello(a, c, f);
		return;
	}
	if (c->op == OP_EXEC) {
		exec_frame(c, f);
		return;
	}
	if (c->op == OP_PUT) {
		files_frame(c, f);
		return;
	}
	if (c->op != OP_NONE) {
		agent_reply_error(c, f->id, "busy", "%s while a request is in "
				  "progress on this connection",
				  proto_type_name(f->type));
		return;
	}
	if (f->type != P_DATA && f->type != P_STDIN && !kv_valid(f->data, f->len)) {
		agent_reply_error(c, f->id, "bad_request", "%s payload is not a "
				  "key=value list", proto_type_name(f->type));
		return;
	}
	if (!agent_keys_fit(f->data, f->len)) {
		agent_reply_error(c, f->id, "bad_request", "%s: a key is over %d "
				  "bytes", proto_type_name(f->type), AGENT_KEY_MAX - 1);
		return;
	}
	switch (f->type) {
	case P_EXEC:
		exec_start(a, c, f);
		break;
	case P_PUT: case P_GET: case P_STAT: case P_LIST: case P_MKDIR: case P_REMOVE:
		files_request(c, f);
		break;
	case P_PING:
		pconn_send(&c->pc, P_OK, 0, f->id, NULL, 0);
		break;
	case P_SHUTDOWN:
		pconn_send(&c->pc, P_OK, 0, f->id, NULL, 0);
		agent_log("shutdown requested");
		a->shutting_down = true;
		a->shutdown_deadline_ms = agent_now_ms() + AGENT_TERM_GRACE_MS;
		/* as PID 1: everything (detached commands, what sessions left
		 * running); under a real init, only our sessions */
		if (agent_is_init(a))
			kill(-1, SIGTERM);
		for (unsigned i = 0; i < AGENT_MAX_CONNS; i++)
			if (a->conns[i].used && a->conns[i].op == OP_EXEC)
				exec_kill(&a->conns[i], SIGTERM);
		break;
	default:
		agent_reply_error(c, f->id, "bad_request", "unknown request type %u",
				  f->type);
	}
}

/* Reads and handles frames. A STDIN frame is only taken once the previous
 * one reached the process: that is the stdin backpressure. */
static void agent_input(struct agent *a, struct aconn *c)
{
	struct proto_frame f;
	int r;

	if (pconn_fill(&c->pc) < 0 && !c->pc.in_len)
		return;
	while (!c->pc.failed && (c->op != OP_EXEC || !c->s.stdin_len) &&
	       pconn_can_send(&c->pc) && (r = pconn_next(&c->pc, &f)) != 0) {
		if (r < 0) {
			agent_log("connection dropped: %s", c->pc.why);
			return;
		}
		agent_dispatch(a, c, &f);
	}
}

static void agent_reap(struct agent *a)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(a->sig_fd, &si, sizeof(si)) == sizeof(si))
		;
	/* exec_reaped looks the pid up among the sessions itself */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (!exec_reaped(a, pid, status))
			a->reaped++;
}

#define AGENT_POLL_MAX (2 + AGENT_MAX_CONNS * 4 + AGENT_MAX_LEFTOVER)
struct agent_poll {
	struct pollfd fds[AGENT_POLL_MAX];
	struct aconn *owner[AGENT_POLL_MAX];
	/* with an owner: 0 conn, 1 stdin, 2 out, 3 err; without: 0 listener,
	 * 1 signalfd, 2 + i leftover stream i */
	int which[AGENT_POLL_MAX];
	nfds_t n;
};

static void agent_poll_add(struct agent_poll *p, int fd, short ev,
			   struct aconn *c, int which)
{
	if (fd < 0)
		return;
	p->fds[p->n] = (struct pollfd){ .fd = fd, .events = ev };
	p->owner[p->n] = c;
	p->which[p->n++] = which;
}

static void agent_poll_build(struct agent *a, struct agent_poll *p)
{
	p->n = 0;
	agent_poll_add(p, a->listen_fd, POLLIN, NULL, 0);
	agent_poll_add(p, a->sig_fd, POLLIN, NULL, 1);
	for (unsigned i = 0; i < AGENT_MAX_LEFTOVER; i++)
		agent_poll_add(p, a->leftover[i], POLLIN, NULL, 2 + (int)i);
	for (unsigned i = 0; i < AGENT_MAX_CONNS; i++) {
		struct aconn *c = &a->conns[i];
		bool room = pconn_can_send(&c->pc);

		if (!c->used)
			continue;
		agent_poll_add(p, c->pc.fd, (short)((c->op != OP_EXEC || !c->s.stdin_len ?
			       POLLIN : 0) | (pconn_pending(&c->pc) ? POLLOUT : 0)), c, 0);
		if (c->op != OP_EXEC)
			continue;
		if (c->s.stdin_len)
			agent_poll_add(p, c->s.in_fd, POLLOUT, c, 1);
		if (room) {
			agent_poll_add(p, c->s.out_fd, POLLIN, c, 2);
			agent_poll_add(p, c->s.err_fd, POLLIN, c, 3);
		}
	}
}

static void agent_shutdown_tick(struct agent *a, bool *done)
{
	bool busy = false;

	for (unsigned i = 0; i < AGENT_MAX_CONNS; i++)
		busy |= a->conns[i].used && a->conns[i].op == OP_EXEC;
	/* as PID 1, the SIGTERM went to everyone: wait for them all */
	busy |= agent_is_init(a) && agent_has_children();
	if (busy && agent_now_ms() < a->shutdown_deadline_ms)
		return;
	/* PID 1's kill(-1) reaches every process but itself; under a real
	 * init only our own sessions go, the init stops the rest in order */
	if (agent_is_init(a))
		kill(-1, SIGKILL);
	for (unsigned i = 0; i < AGENT_MAX_CONNS; i++)
		if (a->conns[i].used)
			exec_kill(&a->conns[i], SIGKILL);
	for (unsigned i = 0; i < AGENT_MAX_CONNS; i++)
		if (a->conns[i].used)
			pconn_flush(&a->conns[i].pc);
	*done = true;
}

static void agent_step(struct agent *a, struct agent_poll *p)
{
	for (nfds_t i = 0; i < p->n; i++) {
		struct aconn *c = p->owner[i];
		short rev = p->fds[i].revents;

		if (!rev)
			continue;
		if (!c && p->which[i] == 0)
			agent_accept(a);
		else if (!c && p->which[i] == 1)
			agent_reap(a);
		else if (!c)
			leftover_drain(a, (unsigned)(p->which[i] - 2));
		else if (c->used && p->which[i] == 0 && (rev & POLLOUT))
			pconn_flush(&c->pc);
		if (c && c->used && p->which[i] == 0 && (rev & (POLLIN | POLLHUP | POLLERR)))
			agent_input(a, c);
		else if (c && c->used && c->op == OP_EXEC && p->which[i])
			exec_pump(c, p->which[i] == 1 ? rev : 0,
				  p->which[i] == 2 ? rev : 0, p->which[i] == 3 ? rev : 0);
	}
	for (unsigned i = 0; i < AGENT_MAX_CONNS; i++) {
		struct aconn *c = &a->conns[i];

		if (!c->used)
			continue;
		files_pump(c);
		if (c->op == OP_EXEC && exec_done(a, c))
			exec_release(c);
		if (pconn_pending(&c->pc))
			pconn_flush(&c->pc);
		if (c->pc.failed || (c->pc.eof && !pconn_pending(&c->pc) &&
				     c->pc.in_len == c->pc.in_used))
			agent_drop(a, c);
	}
	leftover_tick(a);
}

/* poll's timeout: none while a GET or LIST can stream, a tick while
 * shutting down, else until the nearest exec drain or hang-up deadline,
 * else none. */
static int agent_poll_timeout(const struct agent *a)
{
	int64_t first = -1, now = agent_now_ms();
	int t = a->shutting_down ? 100 : -1;

	for (unsigned i = 0; i < AGENT_MAX_HANGUPS; i++)
		if (a->hangups[i].pgid && (first < 0 || a->hangups[i].kill_ms < first))
			first = a->hangups[i].kill_ms;

	for (unsigned i = 0; i < AGENT_MAX_CONNS; i++) {
		const struct aconn *c = &a->conns[i];
		int64_t d;

		if (!c->used)
			continue;
		if ((c->op == OP_GET || c->op == OP_LIST) && pconn_can_send(&c->pc))
			return 0;
		if ((d = exec_deadline(c)) >= 0 && (first < 0 || d < first))
			first = d;
	}
	if (first >= 0) {
		/* +1: poll rounds down, a wake-up just short would spin */
		int64_t left = first > now ? first - now + 1 : 0;

		if (t < 0 || left < t)
			t = (int)left;
	}
	return t;
}

int agent_serve(struct agent *a)
{
	static struct agent_poll p;
	sigset_t mask;
	bool done = false;

	leftover_init(a);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	a->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->sig_fd < 0 || (a->listen_fd = agent_listen()) < 0)
		return -1;
	agent_ready(a);
	agent_log("ready in %lld ms of boot (started at %lld ms)",
		  (long long)a->t_ready_ms, (long long)a->t_start_ms);
	while (!done) {
		agent_poll_build(a, &p);
		if (poll(p.fds, p.n, agent_poll_timeout(a)) < 0 && errno != EINTR)
			return -1;
		agent_step(a, &p);
		if (a->shutting_down)
			agent_shutdown_tick(a, &done);
	}
	return 0;
}
