/* `msbvm run`: resolve inputs, build the VM, boot, report how it ended. */
#include "vmm/cli/cli.h"
#include "control.h"
#include "vmm/core/err.h"
#include "vmm/core/nested.h"
#include "vmm/core/vm.h"
#include "boot/boot.h"
#include "virtio/blk.h"
#include "virtio/vsock.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* quiet + no RTC/PIT probing frills: on nested hosts every console line is
 * hundreds of emulated instructions per byte. reboot=k makes a guest
 * reboot reach our i8042; panic=-1 turns a panic into a reboot at once
 * (kernels without the power-off/panic port driver). */
#define RUN_DEFAULT_CMDLINE \
	"console=ttyS0 reboot=k panic=-1 8250.nr_uarts=1 " \
	"random.trust_bootloader=on quiet"

struct run_file {
	const uint8_t *data;
	size_t len;
};

static struct vm *run_signal_vm;
static struct control *run_signal_ctl; /* agent mode, foreground command */

static void run_on_signal(int sig)
{
	if (run_signal_ctl && (sig == SIGINT || sig == SIGWINCH || sig == SIGQUIT)) {
		control_signal(run_signal_ctl, sig);
		return;
	}
	if (!run_signal_vm || sig == SIGUSR1 || sig == SIGWINCH)
		return;
	run_signal_vm->stop_signal = sig;
	vm_request_stop(run_signal_vm, VM_STOP_SIGNAL);
}

static int run_map_file(const char *what, const char *path, uint64_t ram,
			struct run_file *f)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_set(errno, "%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(EINVAL, "%s %s: not a regular file", what, path);
	}
	if (st.st_size == 0) {
		close(fd);
		return err_set(EINVAL, "%s %s: file is empty", what, path);
	}
	if ((uint64_t)st.st_size > ram) {
		close(fd);
		return err_set(EFBIG, "%s %s (%llu MiB) is larger than guest RAM "
			       "(%llu MiB)", what, path,
			       (unsigned long long)st.st_size >> 20,
			       (unsigned long long)ram >> 20);
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return err_set(errno, "%s %s: %s", what, path, strerror(errno));
	f->data = p;
	f->len = (size_t)st.st_size;
	return 0;
}

/* build/vmlinux and build/agentd.cpio sit next to build/msbvm; env
 * overrides them (MSBVM_KERNEL, MSBVM_AGENT_INITRD). */
static const char *run_default_file(const char *env, const char *name,
				    char *buf, size_t len)
{
	char exe[PATH_MAX / 2];
	ssize_t n;

	if (getenv(env))
		return getenv(env);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	/* build/<variant>/msbvm, or an installed copy beside its kernel */
	snprintf(buf, len, "%s/%s", dirname(exe), name);
	if (access(buf, F_OK) == 0)
		return buf;
	snprintf(buf, len, "%s/../%s", exe, name);
	return access(buf, F_OK) == 0 ? buf : NULL;
}

/* " key=VALUE" with every byte outside a safe set as %XX, so spaces,
 * quotes and '=' in --init-arg/--init-env survive the command line
 * (agentd/init.c decodes). false if it does not fit. */
static bool run_add_param(char *buf, size_t len, const char *key, const char *val)
{
	size_t n = strlen(buf);
	int k = snprintf(buf + n, len - n, " %s=", key);

	if (k < 0 || (size_t)k >= len - n)
		return false;
	n += (size_t)k;
	for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
		bool safe = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || strchr("/_.,:+-", *p);
		if (n + 4 >= len)
			return false;
		n += (size_t)snprintf(buf + n, len - n, safe ? "%c" : "%%%02X", *p);
	}
	return true;
}

static int run_init_params(const struct run_opts *o, char *buf, size_t len)
{
	bool ok = !o->init || run_add_param(buf, len, "msb.init", o->init);

	for (unsigned i = 0; ok && i < o->n_init_args; i++)
		ok = run_add_param(buf, len, "msb.init_arg", o->init_args[i]);
	for (unsigned i = 0; ok && i < o->n_init_env; i++)
		ok = run_add_param(buf, len, "msb.init_env", o->init_env[i]);
	return ok ? 0 : err_set(E2BIG, "kernel command line too long for the "
				"--init arguments");
}

static int run_cmdline(const struct run_opts *o, const char *name, char *buf,
		       size_t len)
{
	enum nested_mode m = o->nested;
	char why[160] = "forced on", root[128] = "";
	bool nested = m == NESTED_ON ||
		      (m == NESTED_AUTO && nested_detect("", why, sizeof(why)));

	/* the agent mounts the root itself (msb.* in agentd/main.c) */
	if (o->rootfs && o->no_agent)
		snprintf(root, sizeof(root), " root=/dev/vda rw rootfstype=ext4");
	else if (!o->no_agent)
		snprintf(root, sizeof(root), " msb.root=/dev/vda msb.hostname=%s", name);
	/* msbvm.pvport: where the guest reports power-off and panic
	 * (vmm/hw/pvport.h, kernel-config/patches/0004); part of the machine,
	 * so it is there with --cmdline too */
	int n = snprintf(buf, len, "%s msbvm.pvport=0x%x%s%s%s%s%s",
			 o->cmdline ? o->cmdline : RUN_DEFAULT_CMDLINE,
			 PVPORT_PORT, root,
			 o->append ? " " : "", o->append ? o->append : "",
			 nested ? " " : "", nested ? nested_cmdline() : "");

	if (nested)
		log_info("nested KVM work-arounds on (%s): adding '%s'", why,
			 nested_cmdline());
	else
		log_info("nested KVM work-arounds off");
	if (n < 0 || (size_t)n >= len)
		return err_set(E2BIG, "kernel command line too long");
	return run_init_params(o, buf, len);
}

static struct vblk run_blk[CLI_MAX_DISKS + 1];
static unsigned run_n_blk;

static int run_add_disk(struct vm *vm, const char *path, bool ro,
			char *cmdline, size_t cap)
{
	struct vblk *b = &run_blk[run_n_blk];
	int rc = vblk_open(b, path, ro, run_n_blk);

	if (rc < 0)
		return rc;
	run_n_blk++;
	log_info("disk vd%c: %s (%llu MiB%s)", 'a' + run_n_blk - 1, path,
		 (unsigned long long)b->sectors >> 11, ro ? ", read-only" : "");
	return vm_add_virtio(vm, &vblk_ops, b, cmdline, cap);
}

/* --rootfs first (it must be /dev/vda), then each --disk in order. */
static int run_disks(struct vm *vm, const struct run_opts *o, char *cmdline,
		     size_t cap)
{
	static char paths[CLI_MAX_DISKS][PATH_MAX];
	bool ro;
	int rc;

	if (o->rootfs && (rc = run_add_disk(vm, o->rootfs, false, cmdline, cap)) < 0)
		return rc;
	for (unsigned i = 0; i < o->n_disks; i++) {
		if ((rc = vblk_parse_spec(o->disks[i], paths[i], PATH_MAX, &ro)) < 0 ||
		    (rc = run_add_disk(vm, paths[i], ro, cmdline, cap)) < 0)
			return rc;
	}
	return 0;
}

/* What one `msbvm run` holds besides the VM (agent mode: the state
 * directory, the vsock device and the controller). */
struct run_ctx {
	const struct run_opts *o;
	const char *kpath, *initrd;
	struct vmstate st;
	bool agent, have_state;
	int console_fd;
	struct vsock vsock;
	bool have_vsock;
	struct control ctl;
	bool have_ctl;
	struct timespec t0;
	struct report rep;
};

static int run_boot(struct vm *vm, struct run_ctx *x)
{
	const struct run_opts *o = x->o;
	struct run_file k = { 0 }, ird = { 0 };
	struct kernel_info ki;
	struct kvm_sregs sregs = { 0 };
	struct kvm_regs regs;
	uint8_t seed[BOOT_RNG_SEED_LEN];
	char cmdline[BOOT_CMDLINE_MAX + 1024];
	uint64_t ram = o->mem_mib << 20;
	int rc;

	if ((rc = run_cmdline(o, x->st.name, cmdline, sizeof(cmdline))) < 0 ||
	    (rc = run_map_file("kernel", x->kpath, ram, &k)) < 0 ||
	    (x->initrd && (rc = run_map_file("initrd", x->initrd, ram, &ird)) < 0))
		return rc;
	if ((rc = vm_create(vm, ram, x->console_fd)) < 0)
		return rc;
	x->rep.vm_created_ms = report_since(&x->t0);
	if ((rc = run_disks(vm, o, cmdline, sizeof(cmdline))) < 0)
		return rc;
	if (x->have_vsock &&
	    (rc = vm_add_virtio(vm, &vsock_ops, &x->vsock, cmdline, sizeof(cmdline))) < 0)
		return rc;
	if ((rc = loader_load(&vm->gm, k.data, k.len, &ki)) < 0)
		return err_set(-rc, "kernel %s: %s", x->kpath, strdupa(err_msg()));
	if (getrandom(seed, sizeof(seed), 0) != sizeof(seed))
		return err_set(errno, "getrandom: %s", strerror(errno));
	struct boot_config bc = { cmdline, ird.data, ird.len, seed };
	if ((rc = bp_setup(&vm->gm, &ki, &bc)) < 0 ||
	    (rc = mptable_setup(&vm->gm, 1)) < 0 ||
	    (rc = vcpu_get_sregs(vm, &sregs)) < 0 ||
	    (rc = entry_setup(&vm->gm, &ki, &sregs, &regs)) < 0 ||
	    (rc = vcpu_set_boot_state(vm, &sregs, &regs)) < 0)
		return rc;
	log_info("kernel %s (%s, entry 0x%llx), %llu MiB RAM, cmdline: %s",
		 x->kpath, ki.bzimage ? "bzImage" : "ELF", (unsigned long long)ki.entry,
		 (unsigned long long)o->mem_mib, cmdline);
	munmap((void *)k.data, k.len);
	if (ird.data)
		munmap((void *)ird.data, ird.len);
	return 0;
}

static void run_stats(const struct vm *vm, double secs)
{
	if (!log_verbose)
		return;
	fprintf(stderr, "msbvm: ran %.3f s; exits:", secs);
	for (unsigned i = 0; i < VM_EXIT_REASONS; i++)
		if (vm->exits[i])
			fprintf(stderr, " %s=%llu", vcpu_exit_name(i),
				(unsigned long long)vm->exits[i]);
	fprintf(stderr, "; unclaimed port I/O %llu, MMIO %llu\n",
		(unsigned long long)vm->pio.unhandled,
		(unsigned long long)vm->mmio.unhandled);
}

/* The last lines of kernel.log: why a guest died before its agent spoke. */
static void run_log_tail(const struct run_ctx *x)
{
	char path[PATH_MAX], buf[2048];
	int fd = open(state_path(&x->st, "kernel.log", path, sizeof(path)),
		      O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t n;

	if (fd < 0)
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
static bool run_agent_fatal(const struct run_ctx *x, char *out, size_t len)
{
	char path[PATH_MAX], line[1400];
	FILE *f = fopen(state_path(&x->st, "kernel.log", path, sizeof(path)), "r");
	bool found = false;

	if (!f)
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

static int run_result(struct vm *vm, struct run_ctx *x, enum vm_stop why)
{
	struct control *c = &x->ctl;

	if (why == VM_STOP_PANIC) {
		fprintf(stderr, "msbvm: guest kernel panic: %s\n",
			vm->console.panic_line[0] ? vm->console.panic_line :
			"(no panic message on the console)");
		if (x->agent)
			run_log_tail(x);
		return 1;
	}
	if (why == VM_STOP_SIGNAL) {
		fprintf(stderr, "msbvm: stopped by signal %d\n", (int)vm->stop_signal);
		return 128 + (int)vm->stop_signal;
	}
	if (x->agent && c->have_exit) {
		/* not found / not executable: the agent's typed error */
		if (c->exit_code >= 125 && c->exit_code <= 127 && c->err[0])
			fprintf(stderr, "msbvm: %s\n", c->err);
		return c->exit_code;
	}
	if (x->agent && !(x->o->detach && c->ready)) {
		char fatal[1400];
		fprintf(stderr, "msbvm: %s\n", c->err[0] ? c->err :
			run_agent_fatal(x, fatal, sizeof(fatal)) ? fatal :
			"the VM stopped before its agent was ready");
		if (!c->ready)
			run_log_tail(x);
		return 1;
	}
	switch (why) {
	case VM_STOP_RESET:
		log_info("guest rebooted");
		return 0;
	case VM_STOP_POWEROFF:
		log_info("guest powered off");
		return 0;
	case VM_STOP_USER:
		/* the guest's cursor may sit mid-line on the raw terminal */
		fprintf(stderr, "\r\nmsbvm: quit (Ctrl-A x)\n");
		return 0;
	case VM_STOP_HOST:
		return 1;
	default:
		fprintf(stderr, "msbvm: guest failed: %s\n", vm->error);
		return 1;
	}
}

static void run_quit(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_USER);
}

/* Agent mode: state directory, kernel.log, the agent initramfs, vsock. */
static int run_agent_prepare(struct vm *vm, struct run_ctx *x)
{
	static char ibuf[PATH_MAX];
	char root[PATH_MAX / 4], name[STATE_NAME_MAX + 1], path[PATH_MAX];
	int rc;

	state_root(x->o->state_dir, root, sizeof(root));
	if (x->o->name)
		snprintf(name, sizeof(name), "%s", x->o->name);
	else
		snprintf(name, sizeof(name), "vm-%d", (int)getpid());
	if (!(x->initrd = run_default_file("MSBVM_AGENT_INITRD", "agentd.cpio", ibuf,
					   sizeof(ibuf))))
		return err_set(ENOENT, "agent initramfs not found: build it with "
			       "`make` (build/agentd.cpio) or set MSBVM_AGENT_INITRD");
	if ((rc = state_create(&x->st, root, name)) < 0)
		return rc;
	x->have_state = true;
	if ((rc = state_write_pid(&x->st, getpid())) < 0)
		return rc;
	x->console_fd = open(state_path(&x->st, "kernel.log", path, sizeof(path)),
			     O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (x->console_fd < 0)
		return err_set(errno, "%s: %s", path, strerror(errno));
	if ((rc = vsock_open(&x->vsock, state_path(&x->st, "vsock.sock", path,
						   sizeof(path)))) < 0)
		return rc;
	x->have_vsock = true;
	if ((rc = control_open(&x->ctl, vm, x->o, path, &x->t0)) < 0)
		return rc;
	x->have_ctl = true;
	if (x->o->report)
		x->ctl.rep = &x->rep;
	log_info("VM '%s': state in %s", name, x->st.dir);
	return 0;
}

/* Everything between parsing and the first KVM_RUN; -errno with err_msg(). */
static int run_start(struct vm *vm, struct run_ctx *x)
{
	const struct run_opts *o = x->o;
	int rc;

	x->console_fd = STDOUT_FILENO;
	x->initrd = o->initrd;
	if ((x->agent = !o->no_agent) && (rc = run_agent_prepare(vm, x)) < 0)
		return rc;
	if ((rc = run_boot(vm, x)) < 0 ||
	    (o->console && (rc = console_start_input(&vm->console, STDIN_FILENO,
						     &vm->uart, run_quit, vm)) < 0) ||
	    (rc = ioev_start(&vm->io)) < 0 ||
	    (x->have_vsock &&
	     (rc = vsock_start(&x->vsock, &vm->virtio[vm->n_virtio - 1].dev)) < 0) ||
	    (x->have_ctl && (rc = control_start(&x->ctl)) < 0) ||
	    (o->profile && (rc = prof_start(&vm->prof, o->profile, pthread_self())) < 0))
		return rc;
	return 0;
}

/* Stops the threads, frees the VM, closes the disk images and removes
 * the state directory -- except when a background VM died on its own
 * (panic, triple fault, emulation failure): then kernel.log stays for the
 * user and `msbvm ls` shows the VM as stale until `msbvm stop` or a new
 * VM of that name clears it. */
static void run_teardown(struct vm *vm, struct run_ctx *x, bool keep_state)
{
	run_signal_vm = NULL;
	run_signal_ctl = NULL;
	if (x->have_ctl)
		control_close(&x->ctl);
	vm_destroy(vm);
	if (x->have_vsock)
		vsock_close(&x->vsock);
	for (unsigned i = 0; i < run_n_blk; i++)
		vblk_close(&run_blk[i]);
	run_n_blk = 0;
	if (x->console_fd > STDERR_FILENO)
		close(x->console_fd);
	if (x->have_state && !keep_state)
		state_remove(&x->st);
	else if (x->have_state)
		fprintf(stderr, "msbvm: VM '%s' failed; its console log stays in %s/kernel.log\n",
			x->st.name, x->st.dir);
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

int run_vm(const struct run_opts *o, const char *self)
{
	static struct vm vm;
	static struct run_ctx x;
	struct sigaction sa = { .sa_handler = run_on_signal };
	char kbuf[PATH_MAX], path[PATH_MAX];
	int rc, notify_fd = -1;

	(void)self;
	memset(&x, 0, sizeof(x));
	x.o = o;
	clock_gettime(CLOCK_MONOTONIC, &x.t0);
	x.rep.t0 = x.t0;
	clock_gettime(CLOCK_REALTIME, &x.rep.t0_real);
	x.kpath = o->kernel ? o->kernel :
		  run_default_file("MSBVM_KERNEL", "vmlinux", kbuf, sizeof(kbuf));
	if (!x.kpath) {
		fprintf(stderr, "msbvm: no kernel: pass --kernel, set MSBVM_KERNEL, "
			"or build one with tools/build-kernel.sh\n");
		return 2;
	}
	if (o->detach && (rc = run_detach(o, &notify_fd)) >= 0)
		return rc;
	run_signal_vm = &vm;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	if (run_start(&vm, &x) < 0) {
		fprintf(stderr, "msbvm: %s\n", err_msg());
		run_teardown(&vm, &x, false);
		return 2;
	}
	if (x.have_ctl && notify_fd >= 0) {
		x.ctl.notify_fd = notify_fd;
		x.ctl.log_fd = open(state_path(&x.st, "vmm.log", path, sizeof(path)),
				    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	}
	if (x.have_ctl && !o->detach)
		run_signal_ctl = &x.ctl;
	x.rep.first_entry_ms = report_since(&x.t0);
	log_info("setup took %.2f ms (run start to first vCPU entry)",
		 report_since(&x.t0));
	enum vm_stop why = vcpu_run(&vm);
	if (x.have_ctl && x.ctl.shutdown_at.tv_sec)
		log_info("guest stopped %.0f ms after the SHUTDOWN request",
			 report_since(&x.ctl.shutdown_at));
	if (x.have_ctl)
		control_finish(&x.ctl);
	if (prof_finish(&vm.prof) < 0)
		fprintf(stderr, "msbvm: %s\n", err_msg());
	console_stop(&vm.console);
	run_stats(&vm, report_since(&x.t0) / 1e3);
	rc = run_result(&vm, &x, why);
	x.rep.exit_code = rc;
	x.rep.exit_ms = report_since(&x.t0);
	if (o->report && report_write(&x.rep, &vm, o->report) < 0)
		fprintf(stderr, "msbvm: %s\n", err_msg());
	run_teardown(&vm, &x, o->detach && (why == VM_STOP_PANIC || why == VM_STOP_ERROR));
	return rc;
}
