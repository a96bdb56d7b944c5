/* ctl_exec: one command in the guest with streamed stdio. Host stdin is
 * read only while the connection has room (backpressure towards the user);
 * output frames are written to the host fds as they come. With a tty the
 * local terminal is raw, so Ctrl-C travels in-band to the guest's pty;
 * without one, forwarded signals arrive on sig_fd and go out as SIGNAL. */
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* EXEC, then STARTED (0, its pid in *pid), a refusal (127/126/125) or
 * -1; detach asks for a detached command. */
static int ctl_exec_start(struct ctl *c, const struct ctl_exec_opts *o,
			  uint32_t id, bool detach, int *pid)
{
	struct kvbuf *kv = &c->kv;
	struct proto_frame f;
	struct winsize ws;
	long long v;
	int r;

	kv_init(kv);
	for (unsigned i = 0; o->argv[i]; i++)
		kv_add(kv, "arg", o->argv[i]);
	for (unsigned i = 0; o->env && o->env[i]; i++)
		kv_add(kv, "env", o->env[i]);
	if (o->cwd)
		kv_add(kv, "cwd", o->cwd);
	if (o->user)
		kv_add(kv, "user", o->user);
	if (detach)
		kv_add(kv, "detach", "1");
	else if (o->tty) {
		kv_add(kv, "tty", "1");
		if (ioctl(o->out_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
			kv_addf(kv, "rows", "%u", ws.ws_row);
			kv_addf(kv, "cols", "%u", ws.ws_col);
		}
	}
	if (kv->overflow || !pconn_send(&c->pc, P_EXEC, 0, id, kv->buf, kv->len)) {
		snprintf(c->err, sizeof(c->err), "command line and environment "
			 "exceed %u bytes", PROTO_MAX_PAYLOAD);
		return -1;
	}
	if ((r = ctl_wait(c, &f, 60000, o->stop_fd)) <= 0) {
		/* 0: the timeout or stop_fd; say which */
		struct pollfd sp = { .fd = o->stop_fd, .events = POLLIN };

		if (!r)
			snprintf(c->err, sizeof(c->err), "%s",
				 o->stop_fd >= 0 && poll(&sp, 1, 0) > 0 ?
				 "the VM stopped" : "agent: no answer to EXEC");
		return -1;
	}
	/* a reply to something else is not this EXEC's STARTED or ERROR */
	if (f.id != id) {
		snprintf(c->err, sizeof(c->err), "agent: reply for request %u, "
			 "expected %u", f.id, id);
		return -1;
	}
	if (f.type == P_STARTED) {
		if (!kv_valid(f.data, f.len) ||
		    !kv_num(kv_get(f.data, f.len, "pid"), 1, 0x7fffffff, &v)) {
			snprintf(c->err, sizeof(c->err), "agent: STARTED without a pid");
			return -1;
		}
		*pid = (int)v;
		return 0;
	}
	if (f.type == P_ERROR) {
		const char *k = kv_valid(f.data, f.len) ? kv_get(f.data, f.len, "kind") : NULL;
		const char *m = k ? kv_get(f.data, f.len, "msg") : NULL;
		snprintf(c->err_kind, sizeof(c->err_kind), "%s", k ? k : "unknown");
		snprintf(c->err, sizeof(c->err), "%s", m ? m : "exec failed");
		/* the shell's conventions: 127 not found, 126 cannot run */
		return k && !strcmp(k, "not_found") ? 127 :
		       k && !strcmp(k, "not_executable") ? 126 : 125;
	}
	snprintf(c->err, sizeof(c->err), "agent: %s in reply to EXEC",
		 proto_type_name(f.type));
	return -1;
}

/* A frame of the running command; returns the exit status once EXIT
 * arrives, -2 to go on, -1 on a protocol error. */
static int ctl_exec_frame(struct ctl *c, const struct proto_frame *f,
			  const struct ctl_exec_opts *o, uint32_t id)
{
	long long v;

	if (f->id != id) {
		snprintf(c->err, sizeof(c->err), "agent: frame for request %u", f->id);
		return -1;
	}
	switch (f->type) {
	case P_STDOUT:
	case P_STDERR:
	{
		int stream = f->type == P_STDOUT ? 1 : 2;
		int fd = stream == 1 ? o->out_fd : o->err_fd;

		/* a closed host stdout is the user's choice: keep draining */
		if (fd >= 0)
			ctl_write_all(fd, f->data, f->len);
		else if (o->on_output && f->len)
			o->on_output(o->opaque, stream, f->data, f->len);
		return -2;
	}
	case P_EXIT:
		if (kv_valid(f->data, f->len) &&
		    kv_num(kv_get(f->data, f->len, "code"), 0, 255, &v))
			return (int)v;
		if (kv_valid(f->data, f->len) &&
		    kv_num(kv_get(f->data, f->len, "signal"), 1, 127, &v))
			return 128 + (int)v;
		snprintf(c->err, sizeof(c->err), "agent: malformed EXIT");
		return -1;
	default:
		snprintf(c->err, sizeof(c->err), "agent: unexpected %s during exec",
			 proto_type_name(f->type));
		return -1;
	}
}

/* Forwarded signals: SIGWINCH becomes RESIZE, others SIGNAL. A second
 * SIGINT (or SIGTERM) means the first did not end the command: true, hang
 * up (the agent sends SIGHUP, then SIGKILL, when the connection closes).
 * *seen: bit 0 SIGINT, bit 1 SIGTERM already forwarded. */
static bool ctl_exec_signal(struct ctl *c, const struct ctl_exec_opts *o,
			    uint32_t id, unsigned *seen)
{
	unsigned bit;
	struct kvbuf *kv = &c->kv;
	struct winsize ws;
	int sig;

	if (read(o->sig_fd, &sig, sizeof(sig)) != sizeof(sig))
		return false;
	bit = sig == SIGINT ? 1 : sig == SIGTERM ? 2 : 0;
	if (*seen & bit)
		return true;
	*seen |= bit;
	kv_init(kv);
	if (sig == SIGWINCH) {
		if (!o->tty || ioctl(o->out_fd, TIOCGWINSZ, &ws) < 0)
			return false;
		kv_addf(kv, "rows", "%u", ws.ws_row);
		kv_addf(kv, "cols", "%u", ws.ws_col);
		pconn_send(&c->pc, P_RESIZE, 0, id, kv->buf, kv->len);
		return false;
	}
	kv_addf(kv, "sig", "%d", sig);
	pconn_send(&c->pc, P_SIGNAL, 0, id, kv->buf, kv->len);
	return false;
}

static int ctl_exec_loop(struct ctl *c, const struct ctl_exec_opts *o, uint32_t id)
{
	uint8_t *buf = c->io;
	bool in_open = o->in_fd >= 0;
	struct proto_frame f;
	unsigned seen = 0;
	int r;

	for (;;) {
		while ((r = pconn_next(&c->pc, &f)) > 0)
			if ((r = ctl_exec_frame(c, &f, o, id)) != -2)
				return r;
		if (r < 0 || c->pc.eof || pconn_flush(&c->pc) < 0) {
			snprintf(c->err, sizeof(c->err), "agent connection lost%s%s",
				 c->pc.why[0] ? ": " : "", c->pc.why);
			return -1;
		}
		struct pollfd p[4] = {
			{ .fd = c->pc.fd, .events = (short)(POLLIN |
				(pconn_pending(&c->pc) ? POLLOUT : 0)) },
			{ .fd = in_open && pconn_can_send(&c->pc) ? o->in_fd : -1,
			  .events = POLLIN },
			{ .fd = o->stop_fd, .events = POLLIN },
			{ .fd = o->sig_fd, .events = POLLIN },
		};
		if (poll(p, 4, -1) < 0 && errno != EINTR)
			return -1;
		if (p[2].revents) {
			snprintf(c->err, sizeof(c->err), "the VM stopped");
			return -1;
		}
		if (p[3].revents && ctl_exec_signal(c, o, id, &seen)) {
			c->hung_up = true;
			snprintf(c->err, sizeof(c->err), "interrupted again: hung up "
				 "the command (SIGHUP to its process group, SIGKILL "
				 "after %d s)", PROTO_HANGUP_GRACE_MS / 1000);
			return -1;
		}
		if (p[1].revents) {
			ssize_t n = read(o->in_fd, buf, sizeof(c->io));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			in_open = n > 0;
			pconn_send(&c->pc, P_STDIN, n > 0 ? 0 : P_FLAG_EOF, id, buf,
				   n > 0 ? (size_t)n : 0);
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			pconn_fill(&c->pc);
	}
}

int ctl_exec(struct ctl *c, const struct ctl_exec_opts *o)
{
	uint32_t id = c->next_id++;
	struct termios saved, raw;
	bool restore = false;
	int r, pid;

	c->err[0] = c->err_kind[0] = '\0';
	c->hung_up = false;
	if ((r = ctl_exec_start(c, o, id, false, &pid)) != 0)
		return r;
	/* no input: the command reads EOF at once instead of waiting */
	if (o->in_fd < 0)
		pconn_send(&c->pc, P_STDIN, P_FLAG_EOF, id, NULL, 0);
	if (o->tty && o->in_fd >= 0 && tcgetattr(o->in_fd, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		restore = tcsetattr(o->in_fd, TCSANOW, &raw) == 0;
	}
	r = ctl_exec_loop(c, o, id);
	if (restore)
		tcsetattr(o->in_fd, TCSANOW, &saved);
	return r;
}

int ctl_exec_detached(struct ctl *c, const struct ctl_exec_opts *o, int *pid)
{
	c->err[0] = c->err_kind[0] = '\0';
	c->hung_up = false;
	return ctl_exec_start(c, o, c->next_id++, true, pid);
}
