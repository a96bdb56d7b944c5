/* A VM this process runs: create -> start -> ready -> (exec, copy) ->
 * stop -> wait -> destroy (include/msbvm.h). Every thread of the VM is
 * joined before its memory goes away (machine_stop_threads). */
#include "lib.h"
#include "bootcfg.h"
#include "ctl.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SBX_READY_FRAME_MS 10000
#define SBX_SHUTDOWN_REPLY_MS 5000

const char *msbvm_version(void)
{
	return "0.2.0";
}

int msbvm_api_version(void)
{
	return MSBVM_API_VERSION;
}

int lib_fail(struct msbvm *vm, int rc)
{
	snprintf(vm->err, sizeof(vm->err), "%s", err_msg());
	return rc;
}

int lib_failf(struct msbvm *vm, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
	va_end(ap);
	return rc;
}

const char *msbvm_errmsg(const msbvm *vm)
{
	return vm ? vm->err : "";
}

const char *msbvm_name(const msbvm *vm)
{
	return vm->st.name;
}

const char *msbvm_state_path(const msbvm *vm)
{
	return vm->have_state ? vm->st.dir : NULL;
}

/* The agent reports READY by connecting to host port PROTO_READY_PORT,
 * i.e. the Unix socket "vsock.sock_1025" beside the device's socket. */
static int sbx_ready_listener(struct msbvm *vm)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%d", vm->sock,
		     PROTO_READY_PORT) >= (int)sizeof(sa.sun_path))
		return err_set(ENAMETOOLONG, "%s: path too long", vm->sock);
	unlink(sa.sun_path);
	vm->ready_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (vm->ready_fd < 0 || bind(vm->ready_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(vm->ready_fd, 4) < 0)
		return err_set(errno, "%s: %s", sa.sun_path, strerror(errno));
	return 0;
}

/* Agent mode: the locked state directory, kernel.log, the sockets. */
static int sbx_state(struct msbvm *vm, const char *name)
{
	char root[PATH_MAX / 4];
	int rc;

	cfg_state_root(vm->cfg, root, sizeof(root));
	if ((rc = state_create(&vm->st, root, name)) < 0)
		return rc;
	vm->have_state = true;
	if ((rc = state_write_pid(&vm->st, getpid())) < 0 ||
	    (rc = token_new(vm->token)) < 0 || (rc = token_store(&vm->st, vm->token)) < 0)
		return rc;
	if (vm->cfg->console_fd < 0) {
		vm->console_fd = state_open_file(&vm->st, "kernel.log", O_WRONLY |
						 O_CREAT | O_TRUNC | O_APPEND, 0600);
		if (vm->console_fd < 0)
			return vm->console_fd;
	}
	state_path(&vm->st, "vsock.sock", vm->sock, sizeof(vm->sock));
	return sbx_ready_listener(vm);
}

/* Takes the VM's resources: state, console, machine. sbx_release gives
 * back whatever part of them was taken, on failure too. */
static int sbx_build(struct msbvm *vm)
{
	struct msbvm_config *c = vm->cfg;
	struct machine_spec s = {
		.kernel = c->kernel, .initrd = c->agent ? c->agent_initrd : c->initrd,
		.ram_bytes = c->mem_mib << 20, .console_fd = -1,
	};
	char name[STATE_NAME_MAX + 1], cmdline[BOOT_CMDLINE_MAX + 1];
	struct bcfg_blob bootcfg = { 0 };
	char scratch[PATH_MAX];
	int rc;

	if (c->name)
		snprintf(name, sizeof(name), "%s", c->name);
	else
		snprintf(name, sizeof(name), "vm-%d-%x", (int)getpid(),
			 (unsigned)((uintptr_t)vm >> 4) & 0xfffff);
	snprintf(vm->st.name, sizeof(vm->st.name), "%s", name);
	if (c->agent && (rc = sbx_state(vm, name)) < 0)
		return rc;
	if (c->console_fd >= 0 &&
	    (vm->console_fd = fcntl(c->console_fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return err_set(errno, "console fd: %s", strerror(errno));
	s.console_fd = vm->console_fd;
	if ((rc = cfg_cmdline(c, cmdline, sizeof(cmdline))) < 0 ||
	    (c->agent && (rc = bcfg_build(c, name, vm->token, &bootcfg)) < 0))
		return rc;
	s.cmdline = cmdline;
	s.initrd2 = bootcfg.data;
	s.initrd2_len = bootcfg.len;
	/* an overlay's lower layer is shared read-only; its upper disk is vdb */
	const char *upper = cfg_overlay(c);
	if (upper && !strcmp(upper, "scratch")) {
		if ((rc = scratch_create(&vm->st, scratch, sizeof(scratch))) < 0) {
			bcfg_free(&bootcfg);
			return rc;
		}
		upper = scratch;
	}
	/* a directory root is a read-only virtio-fs share (the overlay's
	 * lower layer) instead of the disk vda */
	bool root_dir = cfg_rootfs_dir(c);
	if (root_dir) {
		struct machine_share *sh = &s.shares[s.n_shares++];
		snprintf(sh->tag, sizeof(sh->tag), "%s", CFG_ROOT_TAG);
		sh->host = c->rootfs;
		sh->ro = true;
	}
	for (unsigned i = 0; i < c->n_vols; i++) {
		struct machine_share *sh = &s.shares[s.n_shares++];
		snprintf(sh->tag, sizeof(sh->tag), CFG_VOL_TAG, i);
		sh->host = c->vols[i].host;
		sh->ro = c->vols[i].ro;
	}
	if (c->rootfs && !root_dir)
		s.disks[s.n_disks++] = (struct machine_disk){ c->rootfs, !!upper };
	if (upper && strcmp(upper, "tmpfs"))
		s.disks[s.n_disks++] = (struct machine_disk){ upper, false };
	for (unsigned i = 0; i < c->n_disks; i++)
		s.disks[s.n_disks++] = c->disks[i];
	s.vsock_path = c->agent ? vm->sock : NULL;
	c->net.on = !c->net_off;
	s.net = &c->net;
	if (!(vm->m = malloc(sizeof(*vm->m)))) {
		bcfg_free(&bootcfg);
		return err_set(ENOMEM, "out of memory");
	}
	machine_init(vm->m, &vm->log);
	vm->m->vm.profile_path = c->profile;
	rc = machine_build(vm->m, &s, &vm->log);
	bcfg_free(&bootcfg); /* copied into guest RAM */
	if (rc < 0)
		return rc;
	vm->rep.vm_created_ms = report_since(&vm->t0);
	return 0;
}

static void sbx_release(struct msbvm *vm, bool keep_state)
{
	ctl_free(vm->cl);
	vm->cl = NULL;
	if (vm->m) {
		machine_free(vm->m);
		free(vm->m);
		vm->m = NULL;
	}
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	if (vm->ready_fd >= 0)
		close(vm->ready_fd);
	vm->console_fd = vm->ready_fd = -1;
	if (vm->have_state && !keep_state)
		state_remove(&vm->st);
	else if (vm->have_state)
		state_close(&vm->st); /* stale now: `ls` says so, `stop` clears it */
	vm->have_state = false;
}

static struct msbvm *sbx_alloc(void)
{
	struct msbvm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	vm->console_fd = vm->ready_fd = -1;
	log_sink_init(&vm->log);
	clock_gettime(CLOCK_MONOTONIC, &vm->t0);
	vm->rep.t0 = vm->t0;
	clock_gettime(CLOCK_REALTIME, &vm->rep.t0_real);
	return vm;
}

static void sbx_free(struct msbvm *vm)
{
	sc_free(&vm->sc);
	msbvm_config_free(vm->cfg);
	log_sink_destroy(&vm->log);
	free(vm);
}

/* Every thread of the VM, first thing (thread_enter): its seccomp
 * filter. A thread that cannot be filtered stops the VM rather than run
 * unfiltered. */
static void sbx_thread_enter(void *opaque, const char *kind)
{
	struct msbvm *vm = opaque;

	if (sc_install(&vm->sc, kind) < 0) {
		log_error("%s", err_msg());
		vm_fail(&vm->m->vm, VM_STOP_ERROR, err_msg());
	}
}

int msbvm_create(msbvm_config *c, msbvm **out)
{
	struct msbvm *vm;
	struct log_sink *old;
	int rc;

	*out = NULL;
	err_clear();
	if ((rc = cfg_validate(c)) < 0)
		return cfg_fail(c, rc);
	if (!(vm = sbx_alloc()) || !(vm->cfg = cfg_clone(c))) {
		if (vm)
			sbx_free(vm);
		return cfg_fail(c, err_set(ENOMEM, "out of memory"));
	}
	vm->owner = true;
	vm->log.fn = c->log_fn;
	vm->log.opaque = c->log_opaque;
	vm->log.verbose = c->verbose;
	vm->log.thread_hook = sbx_thread_enter;
	vm->log.thread_opaque = vm;
	old = log_bind(&vm->log);
	/* compiled here, where a failure reaches the caller; installed by
	 * each thread of the VM as it starts (sbx_thread_enter) */
	rc = sc_prepare(&vm->sc, c->seccomp);
	if (rc == 0)
		rc = sbx_build(vm);
	if (rc < 0) {
		cfg_fail(c, rc);
		sbx_release(vm, false);
		sbx_free(vm);
	} else {
		if (vm->have_state)
			log_info("VM '%s': state in %s", vm->st.name, vm->st.dir);
		*out = vm;
	}
	log_bind(old);
	return rc;
}

static void sbx_quit(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_USER);
}

int msbvm_start(msbvm *vm)
{
	struct log_sink *old;
	int rc;

	if (!vm->owner || vm->started)
		return lib_failf(vm, -EINVAL, "start: the VM is not one this "
				 "process created, or it was started already");
	old = log_bind(&vm->log);
	err_clear();
	rc = machine_start(vm->m, vm->cfg->console_in_fd, sbx_quit, &vm->m->vm);
	vm->started = vm->m->vm.vcpu_joinable;
	vm->rep.first_entry_ms = report_since(&vm->t0);
	log_info("setup took %.2f ms (create to first vCPU entry)",
		 vm->rep.first_entry_ms);
	log_bind(old);
	return rc < 0 ? lib_fail(vm, rc) : 0;
}

/* Reads agentd's one READY frame: guest timestamps for the report. */
static int sbx_read_ready(struct msbvm *vm, int fd)
{
	struct ctl *cl = ctl_new();
	struct proto_frame f;
	long long v;
	int r = -1;

	if (!cl) {
		close(fd);
		return -ENOMEM;
	}
	if (pconn_init(&cl->pc, fd) < 0) { /* it closed fd */
		ctl_free(cl);
		return -ENOMEM;
	}
	if (ctl_wait(cl, &f, SBX_READY_FRAME_MS, vm->m->vm.stopped_fd) > 0 &&
	    f.type == P_READY && kv_valid(f.data, f.len)) {
		r = 0;
		if (kv_num(kv_get(f.data, f.len, "agent_start_ms"), 0, 1LL << 40, &v))
			vm->rep.guest_agent_start_ms = v;
		if (kv_num(kv_get(f.data, f.len, "root_ms"), 0, 1LL << 40, &v))
			vm->rep.guest_root_ms = v;
		if (kv_num(kv_get(f.data, f.len, "ready_ms"), 0, 1LL << 40, &v))
			vm->rep.guest_ready_ms = v;
	}
	ctl_free(cl);
	return r;
}

int msbvm_wait_ready(msbvm *vm, int timeout_ms)
{
	struct pollfd p[2];
	int fd, r;

	if (!vm->owner || !vm->started || !vm->cfg->agent)
		return lib_failf(vm, -EINVAL, "wait_ready: needs a started VM "
				 "with the agent");
	if (vm->ready)
		return 0;
	p[0] = (struct pollfd){ .fd = vm->ready_fd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = vm->m->vm.stopped_fd, .events = POLLIN };
	r = poll(p, 2, timeout_ms);
	if (r < 0)
		return lib_failf(vm, -errno, "poll: %s", strerror(errno));
	if (p[1].revents)
		return lib_failf(vm, -ECHILD, "the VM stopped before its agent was "
				 "ready");
	if (r == 0)
		return lib_failf(vm, -ETIMEDOUT, "the guest agent was not ready "
				 "within %d s", timeout_ms / 1000);
	fd = accept4(vm->ready_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0 || sbx_read_ready(vm, fd) < 0)
		return lib_failf(vm, -EPROTO, "the guest agent sent no READY frame");
	vm->ready = true;
	report_at_ready(&vm->rep, &vm->m->vm);
	return 0;
}

static void sbx_status(struct msbvm *vm, struct msbvm_status *st)
{
	struct vm *v = &vm->m->vm;
	static const enum msbvm_end map[] = {
		[VM_RUNNING] = MSBVM_RUNNING, [VM_STOP_RESET] = MSBVM_END_REBOOT,
		[VM_STOP_POWEROFF] = MSBVM_END_POWEROFF,
		[VM_STOP_PANIC] = MSBVM_END_PANIC, [VM_STOP_ERROR] = MSBVM_END_ERROR,
		[VM_STOP_HOST] = MSBVM_END_STOPPED, [VM_STOP_USER] = MSBVM_END_USER,
	};

	memset(st, 0, sizeof(*st));
	st->end = map[vm_stop_reason(v)];
	if (st->end == MSBVM_END_PANIC) {
		/* the port said so; the console line only explains it */
		snprintf(st->detail, sizeof(st->detail), "%s",
			 vm->m->console.panic_line[0] ? vm->m->console.panic_line :
			 "(no panic message on the console)");
	} else if (v->error[0]) {
		snprintf(st->detail, sizeof(st->detail), "%s", v->error);
	}
}

/* -v: how long it ran and why it left KVM_RUN, by exit reason. */
static void sbx_exit_stats(struct msbvm *vm)
{
	const struct vm *v = &vm->m->vm;
	char line[1024];
	size_t n;

	if (!log_is_verbose())
		return;
	n = (size_t)snprintf(line, sizeof(line), "ran %.3f s; exits:",
			     report_since(&vm->t0) / 1e3);
	for (unsigned i = 0; i < VM_EXIT_REASONS && n < sizeof(line); i++)
		if (v->exits[i])
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%llu",
					      vcpu_exit_name(i),
					      (unsigned long long)v->exits[i]);
	if (n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, "; unclaimed port I/O %llu, "
			 "MMIO %llu", (unsigned long long)v->pio.unhandled,
			 (unsigned long long)v->mmio.unhandled);
	log_info("%s", line);
}

static bool sbx_wait_stopped(struct msbvm *vm, int timeout_ms)
{
	struct pollfd p = { .fd = vm->m->vm.stopped_fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) > 0;
}

int msbvm_wait(msbvm *vm, int timeout_ms, struct msbvm_status *st)
{
	if (!vm->owner)
		return client_wait_gone(vm, timeout_ms, st);
	if (!vm->started)
		return lib_failf(vm, -EINVAL, "wait: the VM was not started");
	if (!vm->joined) {
		if (!sbx_wait_stopped(vm, timeout_ms))
			return lib_failf(vm, -ETIMEDOUT, "the VM is still running");
		struct log_sink *old = log_bind(&vm->log);
		machine_stop_threads(vm->m);
		sbx_exit_stats(vm);
		log_bind(old);
		vm->joined = true;
		vm->rep.exit_ms = report_since(&vm->t0);
	}
	if (st)
		sbx_status(vm, st);
	return 0;
}

void msbvm_kill(msbvm *vm)
{
	if (vm && vm->owner && vm->m)
		vm_request_stop(&vm->m->vm, VM_STOP_HOST);
}

/* Asks the agent to power the guest off (it ends its sessions, syncs,
 * and goes through the init after a handoff). */
int lib_shutdown(struct msbvm *vm)
{
	struct ctl *cl = client_connect(vm);
	int rc;

	if (!cl)
		return -ECONNREFUSED;
	rc = ctl_call(cl, P_SHUTDOWN, NULL, 0, NULL, NULL, SBX_SHUTDOWN_REPLY_MS);
	if (rc < 0)
		lib_failf(vm, rc, "stop: %s", cl->err);
	ctl_free(cl); /* the guest is going away */
	return rc;
}

int msbvm_stop(msbvm *vm, int timeout_ms)
{
	if (!vm->owner)
		return client_stop(vm, timeout_ms);
	if (!vm->started || vm->joined)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &vm->shutdown_at);
	vm->rep.shutdown_sent_ms = report_since(&vm->t0);
	if (!sbx_wait_stopped(vm, 0) && vm->cfg->agent && vm->ready)
		lib_shutdown(vm);
	if (!sbx_wait_stopped(vm, timeout_ms)) {
		vm_request_stop(&vm->m->vm, VM_STOP_HOST);
		msbvm_wait(vm, -1, NULL);
		return lib_failf(vm, -ETIMEDOUT, "the guest did not power off within "
				 "%d s; stopped it", timeout_ms / 1000);
	}
	log_info("guest stopped %.0f ms after the SHUTDOWN request",
		 report_since(&vm->shutdown_at));
	return msbvm_wait(vm, -1, NULL);
}

static void sbx_destroy(msbvm *vm, bool keep_log)
{
	struct log_sink *old;

	if (!vm)
		return;
	old = log_bind(&vm->log);
	if (vm->owner) {
		sbx_release(vm, keep_log);
	} else {
		client_close(vm);
	}
	log_bind(old);
	sbx_free(vm);
}

void msbvm_destroy(msbvm *vm)
{
	sbx_destroy(vm, false);
}

void msbvm_destroy_keep_log(msbvm *vm)
{
	sbx_destroy(vm, true);
}

int msbvm_write_report(msbvm *vm, const char *path, int exit_code)
{
	int rc;

	if (!vm->owner || !vm->m)
		return lib_failf(vm, -EINVAL, "report: only for a VM this process runs");
	vm->rep.exit_code = exit_code;
	if (!vm->rep.exit_ms)
		vm->rep.exit_ms = report_since(&vm->t0);
	rc = report_write(&vm->rep, &vm->m->vm, path);
	return rc < 0 ? lib_fail(vm, rc) : 0;
}
