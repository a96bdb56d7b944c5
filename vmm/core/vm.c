#include "vm.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <assert.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* Intel VMX needs these two pages somewhere the guest will not use; they
 * sit at the top of the 32-bit MMIO hole, as in other VMMs. */
#define VM_TSS_ADDR 0xfffbd000ULL
#define VM_IDENTITY_MAP_ADDR 0xfffbc000ULL

static int vm_open_kvm(struct vm *vm)
{
	int v;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return err_set(errno, "cannot open /dev/kvm: %s%s", strerror(errno),
			       errno == ENOENT ? " (is KVM enabled on this host?)" :
			       errno == EACCES ? " (are you in the kvm group?)" : "");
	v = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION)
		return err_set(EINVAL, "/dev/kvm speaks API version %d, need %d",
			       v, KVM_API_VERSION);
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0 ||
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0)
		return err_set(ENOTSUP, "/dev/kvm lacks the in-kernel irqchip or "
			       "user memory");
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return err_set(errno, "KVM_CREATE_VM: %s", strerror(errno));
	return 0;
}

static int vm_map_ram(struct vm *vm, uint64_t ram_bytes)
{
	struct kvm_userspace_memory_region r = { 0 };
	void *p;

	p = mmap(NULL, ram_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return err_set(errno, "cannot reserve %llu MiB for guest RAM: %s",
			       (unsigned long long)ram_bytes >> 20, strerror(errno));
	vm->gm.host = p;
	gm_layout(&vm->gm, ram_bytes);
	r.slot = 0;
	r.guest_phys_addr = 0;
	r.memory_size = vm->gm.low_size;
	r.userspace_addr = (uintptr_t)p;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return err_set(errno, "KVM_SET_USER_MEMORY_REGION: %s",
			       strerror(errno));
	if (ram_bytes > vm->gm.low_size) {
		r.slot = 1;
		r.guest_phys_addr = GM_4G;
		r.memory_size = ram_bytes - vm->gm.low_size;
		r.userspace_addr = (uintptr_t)p + vm->gm.low_size;
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return err_set(errno, "KVM_SET_USER_MEMORY_REGION (high): "
				       "%s", strerror(errno));
	}
	return 0;
}

static int vm_irqchip(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = 0 };

	/* The ioctl succeeds on AMD, where it is not needed, too. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, VM_TSS_ADDR) < 0)
		return err_set(errno, "KVM_SET_TSS_ADDR: %s", strerror(errno));
	uint64_t idmap = VM_IDENTITY_MAP_ADDR;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		return err_set(errno, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_set(errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return err_set(errno, "KVM_CREATE_PIT2: %s", strerror(errno));
	return 0;
}

int vm_set_irq(struct vm *vm, unsigned irq, bool level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

static void vm_stopped(struct vm *vm)
{
	uint64_t one = 1;

	if (vm->stopped_fd >= 0 && write(vm->stopped_fd, &one, sizeof(one)) < 0)
		log_info("stopped notice: %s", strerror(errno));
}

static void *vm_vcpu_thread(void *arg)
{
	struct vm *vm = arg;

	thread_enter(vm->log, "vcpu");
	vcpu_run(vm);
	vm_stopped(vm);
	return NULL;
}

void vm_request_stop(struct vm *vm, enum vm_stop why)
{
	int expect = VM_RUNNING;

	atomic_compare_exchange_strong(&vm->stop, &expect, (int)why);
	if (vm->run)
		vm->run->immediate_exit = 1;
	/* Knock the vCPU out of KVM_RUN (a no-op from the vCPU itself: its
	 * loop checks the flag before the next entry). */
	if (atomic_load(&vm->vcpu_started) &&
	    !pthread_equal(pthread_self(), vm->vcpu_thread))
		pthread_kill(vm->vcpu_thread, VM_KICK_SIGNAL);
}

void vm_fail(struct vm *vm, enum vm_stop why, const char *msg)
{
	int expect = VM_RUNNING;

	/* The message belongs to the first reason only: the call whose
	 * compare-and-swap wins writes it, and no other call touches it, so
	 * two failures never write it at once nor does a stop won by
	 * vm_request_stop carry a loser's message. It is written after the
	 * reason is visible: readers look at it only once the thread that
	 * called this (the vCPU's) is joined (msbvm_wait -> sbx_status). */
	if (atomic_compare_exchange_strong(&vm->stop, &expect, (int)why))
		snprintf(vm->error, sizeof(vm->error), "%s", msg);
	if (vm->run)
		vm->run->immediate_exit = 1;
}

enum vm_stop vm_stop_reason(const struct vm *vm)
{
	return (enum vm_stop)atomic_load(&vm->stop);
}

void vm_init(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->stopped_fd = vm->stats_fd = -1;
	ioev_clear(&vm->io);
	vm->pio.name = "port I/O";
	vm->mmio.name = "MMIO";
}

int vm_create(struct vm *vm, uint64_t ram_bytes, struct log_sink *log)
{
	int rc;

	vm->log = log;
	vm->stopped_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stopped_fd < 0)
		return err_set(errno, "eventfd: %s", strerror(errno));
	if ((rc = vm_open_kvm(vm)) < 0 || (rc = vm_map_ram(vm, ram_bytes)) < 0 ||
	    (rc = vm_irqchip(vm)) < 0 ||
	    (rc = ioev_init(&vm->io, vm->kvm_fd, vm->vm_fd)) < 0 ||
	    (rc = vcpu_create(vm)) < 0)
		return rc;
	vm->io.log = log;
	return 0;
}

int vm_start(struct vm *vm)
{
	sigset_t all, old;
	int rc;

	pthread_t t;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&t, NULL, vm_vcpu_thread, vm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return err_set(rc, "cannot start the vCPU thread: %s", strerror(rc));
	vm->vcpu_thread = t;
	vm->vcpu_joinable = true;
	atomic_store(&vm->vcpu_started, true);
	if (vm->profile_path &&
	    (rc = prof_start(&vm->prof, vm->profile_path, vm->vcpu_thread,
			     VM_KICK_SIGNAL)) < 0) {
		vm_request_stop(vm, VM_STOP_HOST);
		return rc;
	}
	return 0;
}

void vm_join(struct vm *vm)
{
	if (!vm->vcpu_joinable)
		return;
	/* no kick may reach the thread once it is being joined; the stop
	 * was requested already (precondition) */
	atomic_store(&vm->vcpu_started, false);
	/* the sampler kicks the vCPU thread: stop it before that thread
	 * is gone, write its samples after */
	prof_stop(&vm->prof);
	pthread_join(vm->vcpu_thread, NULL);
	vm->vcpu_joinable = false;
	if (prof_finish(&vm->prof) < 0)
		log_error("%s", err_msg());
}

void vm_destroy(struct vm *vm)
{
	assert(!vm->vcpu_joinable);
	ioev_stop(&vm->io);
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->gm.host)
		munmap(vm->gm.host, vm->gm.ram_size);
	int *fds[] = { &vm->stats_fd, &vm->vcpu_fd, &vm->vm_fd, &vm->kvm_fd,
		       &vm->stopped_fd };
	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	vm->run = NULL;
	vm->gm.host = NULL;
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
}
