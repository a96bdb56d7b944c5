/* Commands and files through the agent (any handle), and VMs found by
 * name under a state root (msbvm_open/list/remove_stale). */
#include "lib.h"
#include "ctl.h"
#include "vmm/core/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_CONNECT_MS 10000
#define CLIENT_KILL_GRACE_MS 5000

/* A kept connection is reused only while it is quiet: the agent sends
 * nothing unasked, so readable data or a hang-up means it is gone. */
static bool client_idle(const struct ctl *cl)
{
	struct pollfd p = { .fd = cl->pc.fd, .events = POLLIN | POLLRDHUP };

	return cl->pc.fd >= 0 && !cl->pc.eof && !cl->pc.failed &&
	       cl->pc.in_len == cl->pc.in_used && poll(&p, 1, 0) == 0;
}

/* Connects to vm's agent, or takes the connection the last request left
 * open (a vsock CONNECT + HELLO costs the guest kernel real work: on the
 * nested hosts ~150 ms); NULL with the reason on vm. */
struct ctl *client_connect(struct msbvm *vm)
{
	struct ctl *cl = vm->cl;

	vm->cl = NULL;
	if (cl && client_idle(cl))
		return cl;
	ctl_free(cl);
	if (!(cl = ctl_new())) {
		lib_failf(vm, -ENOMEM, "out of memory");
		return NULL;
	}
	if (vm->owner && (!vm->started || !vm->cfg->agent)) {
		lib_failf(vm, -EINVAL, "the VM has no agent running");
		ctl_free(cl);
		return NULL;
	}
	if (!vm->token[0]) {
		lib_failf(vm, -EACCES, "%s: %s", vm->st.name, vm->token_err[0] ?
			  vm->token_err : "no control token for this VM");
		ctl_free(cl);
		return NULL;
	}
	if (ctl_connect(cl, vm->sock, vm->token, CLIENT_CONNECT_MS) < 0) {
		lib_failf(vm, -ECONNREFUSED, "%s: %s", vm->st.name, cl->err);
		ctl_free(cl);
		return NULL;
	}
	return cl;
}

/* Keeps cl for the next request if it ended cleanly, else closes it. */
void client_release(struct msbvm *vm, struct ctl *cl, bool clean)
{
	if (clean && !vm->cl && client_idle(cl)) {
		vm->cl = cl;
		return;
	}
	ctl_free(cl);
}

int msbvm_exec(msbvm *vm, const struct msbvm_exec *e)
{
	struct ctl *cl;
	int rc;

	if (!e->argv || !e->argv[0])
		return lib_failf(vm, -EINVAL, "exec: no command given");
	if (!(cl = client_connect(vm)))
		return -ECONNREFUSED;
	struct ctl_exec_opts o = {
		.argv = e->argv, .env = e->env, .cwd = e->cwd, .user = e->user,
		.tty = e->tty, .in_fd = e->stdin_fd, .out_fd = e->stdout_fd,
		.err_fd = e->stderr_fd, .on_output = (void (*)(void *, int,
			const void *, size_t))e->on_output,
		.opaque = e->opaque, .sig_fd = e->signal_fd,
		.stop_fd = vm->owner ? vm->m->vm.stopped_fd : -1,
	};
	rc = ctl_exec(cl, &o);
	if (vm->owner)
		vm->rep.exec_done_ms = report_since(&vm->t0);
	if (rc < 0 && cl->hung_up)
		rc = lib_failf(vm, -EINTR, "%s", cl->err);
	else if (rc < 0)
		rc = lib_failf(vm, -EIO, "%s", cl->err[0] ? cl->err : "exec failed");
	else if (cl->err[0])
		lib_failf(vm, 0, "%s", cl->err); /* 126/127: the agent's reason */
	else
		vm->err[0] = '\0';
	client_release(vm, cl, rc >= 0);
	return rc;
}

int msbvm_exec_detached(msbvm *vm, const struct msbvm_exec *e, int *pid)
{
	struct ctl *cl;
	int rc;

	if (!e->argv || !e->argv[0])
		return lib_failf(vm, -EINVAL, "exec: no command given");
	if (!(cl = client_connect(vm)))
		return -ECONNREFUSED;
	struct ctl_exec_opts o = {
		.argv = e->argv, .env = e->env, .cwd = e->cwd, .user = e->user,
		.in_fd = -1, .out_fd = -1, .err_fd = -1, .sig_fd = -1,
		.stop_fd = vm->owner ? vm->m->vm.stopped_fd : -1,
	};
	rc = ctl_exec_detached(cl, &o, pid);
	if (rc < 0)
		rc = lib_failf(vm, -EIO, "%s", cl->err[0] ? cl->err : "exec failed");
	else if (rc > 0)
		lib_failf(vm, 0, "%s", cl->err); /* 125-127: the agent's reason */
	else
		vm->err[0] = '\0';
	client_release(vm, cl, rc >= 0);
	return rc;
}

int msbvm_copy_in(msbvm *vm, const char *host_path, const char *guest_path)
{
	struct ctl *cl;
	struct stat st;
	int fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), rc;

	if (fd < 0)
		return lib_failf(vm, -errno, "%s: %s", host_path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return lib_failf(vm, -EINVAL, "%s: not a regular file", host_path);
	}
	fcntl(fd, F_SETFL, 0);
	if (!(cl = client_connect(vm))) {
		close(fd);
		return -ECONNREFUSED;
	}
	rc = ctl_put(cl, fd, guest_path, st.st_mode & 07777);
	if (rc < 0)
		lib_failf(vm, rc, "%s:%s: %s", vm->st.name, guest_path, cl->err);
	client_release(vm, cl, rc == 0);
	close(fd);
	return rc < 0 ? rc : 0;
}

/* A temporary file beside dst, so a failed copy never truncates dst. */
static int client_tmpfile(const char *dst, char *tmp, size_t len)
{
	char d[PATH_MAX];
	int fd;

	snprintf(d, sizeof(d), "%s", dst);
	if ((size_t)snprintf(tmp, len, "%s/.%s.msbvm-XXXXXX", dirname(d),
			     strrchr(dst, '/') ? strrchr(dst, '/') + 1 : dst) >= len)
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	fchmod(fd, 0644);
	return fd;
}

int msbvm_copy_out(msbvm *vm, const char *guest_path, const char *host_path)
{
	char tmp[PATH_MAX];
	struct ctl *cl;
	int fd, rc;

	if ((fd = client_tmpfile(host_path, tmp, sizeof(tmp))) < 0)
		return lib_failf(vm, fd, "%s: %s", host_path, strerror(-fd));
	if (!(cl = client_connect(vm))) {
		rc = -ECONNREFUSED;
		goto out;
	}
	rc = ctl_get(cl, guest_path, fd);
	if (rc < 0)
		lib_failf(vm, rc, "%s:%s: %s", vm->st.name, guest_path, cl->err);
	client_release(vm, cl, rc == 0);
	if (rc == 0 && (fsync(fd) < 0 || rename(tmp, host_path) < 0))
		rc = lib_failf(vm, -errno, "%s: %s", host_path, strerror(errno));
out:
	close(fd);
	if (rc < 0)
		unlink(tmp);
	return rc < 0 ? rc : 0;
}

int msbvm_open(msbvm_config *c, const char *name, msbvm **out)
{
	char root[PATH_MAX / 4];
	struct msbvm *vm = calloc(1, sizeof(*vm));
	int rc;

	*out = NULL;
	if (!vm)
		return cfg_fail(c, err_set(ENOMEM, "out of memory"));
	cfg_state_root(c, root, sizeof(root));
	if ((rc = state_open(&vm->st, root, name)) < 0) {
		free(vm);
		return cfg_fail(c, rc);
	}
	vm->console_fd = vm->ready_fd = -1;
	log_sink_init(&vm->log);
	vm->pid = state_pid(&vm->st);
	state_path(&vm->st, "vsock.sock", vm->sock, sizeof(vm->sock));
	/* needed only to talk to the agent: `stop` of a VM whose token is
	 * gone still ends its VMM (client_stop), so a failure waits here */
	if (token_load(&vm->st, vm->token) < 0)
		snprintf(vm->token_err, sizeof(vm->token_err), "%s", err_msg());
	*out = vm;
	return 0;
}

void client_close(struct msbvm *vm)
{
	/* only the kept connection: the VM belongs to its own VMM process */
	ctl_free(vm->cl);
	vm->cl = NULL;
}

static void client_sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L }, NULL);
}

int client_wait_gone(struct msbvm *vm, int timeout_ms, struct msbvm_status *st)
{
	for (long ms = 0; state_running(&vm->st); ms += 50) {
		if (timeout_ms >= 0 && ms >= timeout_ms)
			return lib_failf(vm, -ETIMEDOUT, "%s is still running",
					 vm->st.name);
		client_sleep_ms(50);
	}
	if (st) {
		memset(st, 0, sizeof(*st));
		st->end = MSBVM_END_STOPPED;
	}
	return 0;
}

/* Asks the agent, then makes sure: a VMM whose guest does not comply is
 * sent SIGTERM after timeout_ms and SIGKILL 5 s later. */
int client_stop(struct msbvm *vm, int timeout_ms)
{
	pid_t pid = state_pid(&vm->st);
	int rc = 0;

	if (!state_running(&vm->st))
		goto gone;
	lib_shutdown(vm);
	if (client_wait_gone(vm, timeout_ms, NULL) == 0)
		goto gone;
	rc = lib_failf(vm, -ETIMEDOUT, "%s did not power off within %d s; "
		       "stopping its VMM", vm->st.name, timeout_ms / 1000);
	if (pid > 0)
		kill(pid, SIGTERM);
	if (client_wait_gone(vm, CLIENT_KILL_GRACE_MS, NULL) < 0 && pid > 0) {
		kill(pid, SIGKILL);
		client_wait_gone(vm, -1, NULL);
	}
gone:
	state_remove(&vm->st); /* after a SIGKILL nobody else will */
	return rc;
}

int msbvm_list(msbvm_config *c, msbvm_list_fn fn, void *opaque)
{
	char root[PATH_MAX / 4];
	struct dirent *de;
	int n = 0;
	DIR *d;

	cfg_state_root(c, root, sizeof(root));
	if (!(d = opendir(root)))
		return errno == ENOENT ? 0 :
		       cfg_fail(c, err_set(errno, "%s: %s", root, strerror(errno)));
	while ((de = readdir(d))) {
		struct vmstate st;

		if (!state_name_ok(de->d_name))
			continue;
		bool up = state_open(&st, root, de->d_name) == 0;
		fn(opaque, de->d_name, up ? (int)state_pid(&st) : 0, up);
		n++;
	}
	closedir(d);
	return n;
}

int msbvm_remove_stale(msbvm_config *c, const char *name)
{
	char root[PATH_MAX / 4];
	struct vmstate st;
	struct stat sb;

	cfg_state_root(c, root, sizeof(root));
	if (state_open(&st, root, name) == 0)
		return cfg_fail(c, err_set(EBUSY, "%s is running", name));
	if (!state_name_ok(name) || stat(st.dir, &sb) < 0)
		return cfg_fail(c, err_set(ENOENT, "no VM named '%s' (state root %s)",
					   name, root));
	state_remove(&st);
	return 0;
}
