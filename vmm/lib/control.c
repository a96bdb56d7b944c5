/* Agent-mode controller thread (see control.h). */
#include "control.h"
#include "ctl.h"
#include "vmm/core/err.h"
#include "vmm/core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_READY_TIMEOUT_S 600

int control_open(struct control *c, struct vm *vm, const struct run_opts *o,
		 const char *sock, const struct timespec *t0)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	c->vm = vm;
	c->o = o;
	c->t0 = *t0;
	c->notify_fd = c->log_fd = -1;
	c->stop_pipe[0] = c->stop_pipe[1] = c->sig_pipe[0] = c->sig_pipe[1] = -1;
	snprintf(c->sock, sizeof(c->sock), "%s", sock);
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%d", sock,
		     PROTO_READY_PORT) >= (int)sizeof(sa.sun_path))
		return err_set(ENAMETOOLONG, "%s: path too long", sock);
	unlink(sa.sun_path);
	c->ready_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->ready_fd < 0 || bind(c->ready_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(c->ready_fd, 4) < 0 || pipe2(c->stop_pipe, O_CLOEXEC) < 0 ||
	    pipe2(c->sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return err_set(errno, "%s: %s", sa.sun_path, strerror(errno));
	return 0;
}

/* Accepts agentd's READY connection and reads its one frame. */
static int control_wait_ready(struct control *c)
{
	struct pollfd p[2] = { { .fd = c->ready_fd, .events = POLLIN },
			       { .fd = c->stop_pipe[0], .events = POLLIN } };
	struct ctl cl = { 0 };
	struct proto_frame f;
	const char *t = getenv("MSBVM_READY_TIMEOUT");
	int secs = t && atoi(t) > 0 ? atoi(t) : CONTROL_READY_TIMEOUT_S, fd, r;

	if (poll(p, 2, secs * 1000) <= 0 || p[1].revents) {
		if (!p[1].revents)
			snprintf(c->err, sizeof(c->err), "the guest agent was not ready "
				 "within %d s (MSBVM_READY_TIMEOUT)", secs);
		return -1;
	}
	if ((fd = accept4(c->ready_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0 ||
	    pconn_init(&cl.pc, fd) < 0)
		return -1;
	r = ctl_wait(&cl, &f, 10000, c->stop_pipe[0]);
	if (r > 0 && f.type == P_READY && kv_valid(f.data, f.len)) {
		long long v;
		c->ready = true;
		c->ready_s = report_since(&c->t0) / 1e3;
		if (kv_num(kv_get(f.data, f.len, "agent_start_ms"), 0, 1LL << 40, &v))
			c->agent_start_ms = v;
		if (kv_num(kv_get(f.data, f.len, "root_ms"), 0, 1LL << 40, &v))
			c->root_ms = v;
		if (kv_num(kv_get(f.data, f.len, "ready_ms"), 0, 1LL << 40, &v))
			c->ready_ms = v;
	}
	ctl_close(&cl);
	if (c->ready && c->rep) {
		report_at_ready(c->rep, c->vm);
		c->rep->guest_agent_start_ms = c->agent_start_ms;
		c->rep->guest_root_ms = c->root_ms;
		c->rep->guest_ready_ms = c->ready_ms;
	}
	if (!c->ready)
		snprintf(c->err, sizeof(c->err), "the guest agent sent no READY frame");
	return c->ready ? 0 : -1;
}

static void control_run_cmd(struct control *c)
{
	static const char *const shell[] = { "/bin/sh", NULL };
	const char *env[CLI_MAX_ENV + 1] = { 0 };
	struct ctl cl;
	int rc;

	for (unsigned i = 0; i < c->o->n_env; i++)
		env[i] = c->o->env[i];
	if (ctl_connect(&cl, c->sock, 30000) < 0) {
		snprintf(c->err, sizeof(c->err), "%s", cl.err);
		ctl_close(&cl);
		return;
	}
	struct ctl_exec_opts eo = {
		.argv = c->o->cmd ? (const char *const *)c->o->cmd : shell,
		.env = env, .cwd = c->o->workdir, .user = c->o->user,
		.tty = c->o->tty < 0 ? isatty(0) && isatty(1) : c->o->tty,
		.in_fd = 0, .out_fd = 1, .err_fd = 2,
		.stop_fd = c->stop_pipe[0], .sig_fd = c->sig_pipe[0],
	};
	rc = ctl_exec(&cl, &eo);
	if (c->rep)
		c->rep->exec_done_ms = report_since(&c->rep->t0);
	if (rc >= 0) {
		c->have_exit = true;
		c->exit_code = rc;
	}
	if (cl.err[0])
		snprintf(c->err, sizeof(c->err), "%s", cl.err);
	/* the agent powers the guest off; the vCPU loop sees it */
	clock_gettime(CLOCK_MONOTONIC, &c->shutdown_at);
	if (c->rep)
		c->rep->shutdown_sent_ms = report_since(&c->rep->t0);
	ctl_call(&cl, P_SHUTDOWN, NULL, 0, NULL, NULL, 5000);
	ctl_close(&cl);
}

static void *control_thread(void *arg)
{
	struct control *c = arg;
	struct pollfd p = { .fd = -1, .events = POLLIN };

	if (control_wait_ready(c) == 0) {
		log_info("agent ready %.3f s after start (guest clock: agent "
			 "started at %lld ms, root mounted %lld ms, ready %lld ms)",
			 c->ready_s, c->agent_start_ms, c->root_ms, c->ready_ms);
		if (c->notify_fd >= 0) {
			/* -d: the parent prints the name and exits */
			if (c->log_fd >= 0)
				dup2(c->log_fd, STDERR_FILENO);
			if (write(c->notify_fd, "R", 1) < 0)
				log_info("ready notice: %s", strerror(errno));
			close(c->notify_fd);
			c->notify_fd = -1;
		} else {
			control_run_cmd(c);
		}
	}
	/* a real init takes its time to stop services (systemd: seconds on
	 * hardware, minutes where the guest kernel is emulated) */
	const char *e = getenv("MSBVM_POWEROFF_TIMEOUT");
	int secs = e && atoi(e) > 0 ? atoi(e) : c->o->init ? CONTROL_INIT_POWEROFF_TIMEOUT_S :
		   CONTROL_POWEROFF_TIMEOUT_S;
	p.fd = c->stop_pipe[0];
	if (poll(&p, 1, c->ready ? secs * 1000 : 0) == 0) {
		if (c->ready && c->notify_fd < 0 && !c->o->detach)
			fprintf(stderr, "msbvm: the guest did not power off within %d "
				"s; stopping it\n", secs);
		if (!c->o->detach || !c->ready)
			vm_request_stop(c->vm, VM_STOP_HOST);
	}
	return NULL;
}

int control_start(struct control *c)
{
	int rc = pthread_create(&c->thread, NULL, control_thread, c);

	if (rc)
		return err_set(rc, "control thread: %s", strerror(rc));
	c->started = true;
	return 0;
}

void control_finish(struct control *c)
{
	if (c->stop_pipe[1] >= 0 && write(c->stop_pipe[1], "x", 1) < 0)
		log_info("control: %s", strerror(errno));
	if (c->started)
		pthread_join(c->thread, NULL);
	c->started = false;
}

void control_signal(struct control *c, int sig)
{
	if (c->sig_pipe[1] >= 0 && write(c->sig_pipe[1], &sig, sizeof(sig)) < 0)
		return; /* full: the command gets the next one */
}

void control_close(struct control *c)
{
	int *fds[] = { &c->ready_fd, &c->stop_pipe[0], &c->stop_pipe[1],
		       &c->sig_pipe[0], &c->sig_pipe[1], &c->notify_fd, &c->log_fd };

	control_finish(c);
	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}
