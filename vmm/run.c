/* `msbvm run`: resolve inputs, build the VM, boot, report how it ended. */
#include "cli.h"
#include "err.h"
#include "nested.h"
#include "vm.h"
#include "../boot/boot.h"
#include "../virtio/blk.h"

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
#include <time.h>
#include <unistd.h>

/* quiet + no RTC/PIT probing frills: on nested hosts every console line is
 * hundreds of emulated instructions per byte. reboot=k makes a guest
 * reboot reach our i8042; panic=-1 turns a panic into a reboot at once. */
#define RUN_DEFAULT_CMDLINE \
	"console=ttyS0 reboot=k panic=-1 8250.nr_uarts=1 " \
	"random.trust_bootloader=on quiet"

struct run_file {
	const uint8_t *data;
	size_t len;
};

static struct vm *run_signal_vm;

static void run_on_signal(int sig)
{
	if (!run_signal_vm || sig == SIGUSR1)
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

/* build/vmlinux sits next to build/msbvm. */
static const char *run_default_kernel(char *buf, size_t len)
{
	char exe[PATH_MAX / 2];
	ssize_t n;

	if (getenv("MSBVM_KERNEL"))
		return getenv("MSBVM_KERNEL");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	/* build/<variant>/msbvm, or an installed copy beside its kernel */
	snprintf(buf, len, "%s/vmlinux", dirname(exe));
	if (access(buf, F_OK) == 0)
		return buf;
	snprintf(buf, len, "%s/../vmlinux", exe);
	return access(buf, F_OK) == 0 ? buf : NULL;
}

static int run_cmdline(const struct run_opts *o, char *buf, size_t len)
{
	enum nested_mode m = o->nested;
	char why[160] = "forced on";
	bool nested = m == NESTED_ON ||
		      (m == NESTED_AUTO && nested_detect("", why, sizeof(why)));
	int n = snprintf(buf, len, "%s%s%s%s%s%s",
			 o->cmdline ? o->cmdline : RUN_DEFAULT_CMDLINE,
			 o->rootfs ? " root=/dev/vda rw rootfstype=ext4" : "",
			 o->append ? " " : "", o->append ? o->append : "",
			 nested ? " " : "", nested ? nested_cmdline() : "");

	if (nested)
		log_info("nested KVM work-arounds on (%s): adding '%s'", why,
			 nested_cmdline());
	else
		log_info("nested KVM work-arounds off");
	if (n < 0 || (size_t)n >= len)
		return err_set(E2BIG, "kernel command line too long");
	return 0;
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

static int run_boot(struct vm *vm, const struct run_opts *o, const char *kpath)
{
	struct run_file k = { 0 }, ird = { 0 };
	struct kernel_info ki;
	struct kvm_sregs sregs = { 0 };
	struct kvm_regs regs;
	uint8_t seed[BOOT_RNG_SEED_LEN];
	char cmdline[BOOT_CMDLINE_MAX + 1024];
	uint64_t ram = o->mem_mib << 20;
	int rc;

	if ((rc = run_cmdline(o, cmdline, sizeof(cmdline))) < 0 ||
	    (rc = run_map_file("kernel", kpath, ram, &k)) < 0 ||
	    (o->initrd && (rc = run_map_file("initrd", o->initrd, ram, &ird)) < 0))
		return rc;
	if ((rc = vm_create(vm, ram, STDOUT_FILENO)) < 0 ||
	    (rc = run_disks(vm, o, cmdline, sizeof(cmdline))) < 0)
		return rc;
	if ((rc = loader_load(&vm->gm, k.data, k.len, &ki)) < 0)
		return err_set(-rc, "kernel %s: %s", kpath, strdupa(err_msg()));
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
		 kpath, ki.bzimage ? "bzImage" : "ELF", (unsigned long long)ki.entry,
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

static int run_result(struct vm *vm, enum vm_stop why)
{
	if (vm->console.panicked) {
		fprintf(stderr, "msbvm: guest kernel panic: %s\n",
			vm->console.panic_line);
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
	case VM_STOP_SIGNAL:
		fprintf(stderr, "msbvm: stopped by signal %d\n", (int)vm->stop_signal);
		return 128 + (int)vm->stop_signal;
	default:
		fprintf(stderr, "msbvm: guest failed: %s\n", vm->error);
		return 1;
	}
}

static void run_quit(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_USER);
}

static double run_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Everything between parsing and the first KVM_RUN; -errno with err_msg(). */
static int run_start(struct vm *vm, const struct run_opts *o, const char *kpath)
{
	int rc;

	if ((rc = run_boot(vm, o, kpath)) < 0 ||
	    (o->console && (rc = console_start_input(&vm->console, STDIN_FILENO,
						     &vm->uart, run_quit, vm)) < 0) ||
	    (rc = ioev_start(&vm->io)) < 0 ||
	    (o->profile && (rc = prof_start(&vm->prof, o->profile, pthread_self())) < 0))
		return rc;
	return 0;
}

/* Stops the threads, frees the VM and closes the disk images. */
static void run_teardown(struct vm *vm)
{
	run_signal_vm = NULL;
	vm_destroy(vm);
	for (unsigned i = 0; i < run_n_blk; i++)
		vblk_close(&run_blk[i]);
	run_n_blk = 0;
}

int run_vm(const struct run_opts *o, const char *self)
{
	static struct vm vm;
	struct sigaction sa = { .sa_handler = run_on_signal };
	struct timespec t0;
	char kbuf[PATH_MAX];
	const char *kpath = o->kernel ? o->kernel : run_default_kernel(kbuf, sizeof(kbuf));
	int rc;

	(void)self;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!kpath) {
		fprintf(stderr, "msbvm: no kernel: pass --kernel, set MSBVM_KERNEL, "
			"or build one with tools/build-kernel.sh\n");
		return 2;
	}
	run_signal_vm = &vm;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (run_start(&vm, o, kpath) < 0) {
		fprintf(stderr, "msbvm: %s\n", err_msg());
		run_teardown(&vm);
		return 2;
	}
	log_info("setup took %.2f ms (run start to first vCPU entry)",
		 run_since(&t0) * 1e3);
	enum vm_stop why = vcpu_run(&vm);
	if (prof_finish(&vm.prof) < 0)
		fprintf(stderr, "msbvm: %s\n", err_msg());
	console_stop(&vm.console);
	run_stats(&vm, run_since(&t0));
	rc = run_result(&vm, why);
	run_teardown(&vm);
	return rc;
}
