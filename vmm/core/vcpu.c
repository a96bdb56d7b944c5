/* The vCPU: creation, CPUID, boot state and the run loop that dispatches
 * exits to the buses and turns fatal exits into one readable message. */
#include "vm.h"
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#define VCPU_CPUID_MAX 256

static int vcpu_cpuid(struct vm *vm)
{
	struct kvm_cpuid2 *c;
	int rc = 0;

	c = calloc(1, sizeof(*c) + VCPU_CPUID_MAX * sizeof(c->entries[0]));
	if (!c)
		return err_set(ENOMEM, "out of memory");
	c->nent = VCPU_CPUID_MAX;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0)
		rc = err_set(errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	else if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, c) < 0)
		rc = err_set(errno, "KVM_SET_CPUID2: %s", strerror(errno));
	free(c);
	return rc;
}

int vcpu_create(struct vm *vm)
{
	int sz;

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		return err_set(errno, "KVM_CREATE_VCPU: %s", strerror(errno));
	sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run))
		return err_set(EINVAL, "KVM_GET_VCPU_MMAP_SIZE: bad size %d", sz);
	vm->run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		return err_set(errno, "mmap of kvm_run: %s", strerror(errno));
	}
	vm->run_size = (size_t)sz;
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) > 0)
		vm->stats_fd = ioctl(vm->vcpu_fd, KVM_GET_STATS_FD, NULL);
	return vcpu_cpuid(vm);
}

int vcpu_get_sregs(struct vm *vm, struct kvm_sregs *sregs)
{
	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, sregs) < 0)
		return err_set(errno, "KVM_GET_SREGS: %s", strerror(errno));
	return 0;
}

int vcpu_set_boot_state(struct vm *vm, const struct kvm_sregs *sregs,
			const struct kvm_regs *regs)
{
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, sregs) < 0)
		return err_set(errno, "KVM_SET_SREGS: %s", strerror(errno));
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, regs) < 0)
		return err_set(errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

const char *vcpu_exit_name(unsigned reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "unknown", [KVM_EXIT_IO] = "io",
		[KVM_EXIT_HLT] = "hlt", [KVM_EXIT_MMIO] = "mmio",
		[KVM_EXIT_SHUTDOWN] = "shutdown",
		[KVM_EXIT_FAIL_ENTRY] = "fail_entry", [KVM_EXIT_INTR] = "intr",
		[KVM_EXIT_INTERNAL_ERROR] = "internal_error",
		[KVM_EXIT_SYSTEM_EVENT] = "system_event",
	};

	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "other";
}

static void vcpu_fail(struct vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void vcpu_fail(struct vm *vm, const char *fmt, ...)
{
	char msg[sizeof(vm->error)];
	struct kvm_regs r;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	n = (size_t)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < sizeof(msg) && ioctl(vm->vcpu_fd, KVM_GET_REGS, &r) == 0)
		snprintf(msg + n, sizeof(msg) - n, " (rip 0x%llx, rsp 0x%llx)",
			 (unsigned long long)r.rip, (unsigned long long)r.rsp);
	vm_fail(vm, VM_STOP_ERROR, msg);
}

/* KVM_EXIT_INTERNAL_ERROR: for an emulation failure, print the instruction
 * bytes, the quickest way to name an instruction the host cannot emulate
 * (docs/nested-kvm.md). */
static void vcpu_internal_error(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	char bytes[3 * 16 + 1] = "";
	size_t off = 0;

	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags &
	     KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		unsigned len = run->emulation_failure.insn_size;

		if (len > 15)
			len = 15;
		for (unsigned i = 0; i < len; i++)
			off += (size_t)snprintf(bytes + off, sizeof(bytes) - off,
						"%02x ", run->emulation_failure.insn_bytes[i]);
	} else {
		unsigned nd = run->internal.ndata < 4 ? run->internal.ndata : 4;

		for (unsigned i = 0; i < nd && off < sizeof(bytes); i++)
			off += (size_t)snprintf(bytes + off, sizeof(bytes) - off,
						"%llx ", (unsigned long long)run->internal.data[i]);
	}
	vcpu_fail(vm, "KVM internal error, suberror %u%s: %s%s",
		  run->internal.suberror,
		  run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
			  " (instruction emulation failed)" : "",
		  run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
			  "instruction bytes " : "data ", bytes);
}

static void vcpu_io(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	uint8_t *p = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;

	vm->io_exits++;
	/* String I/O: count items of size bytes each, all in the page. */
	for (uint32_t i = 0; i < run->io.count; i++, p += run->io.size)
		bus_dispatch(&vm->pio, run->io.port, p, run->io.size, out);
}

static void vcpu_system_event(struct vm *vm)
{
	switch (vm->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vm, VM_STOP_POWEROFF);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vm, VM_STOP_RESET);
		break;
	default:
		vcpu_fail(vm, "guest crashed (system event %u)",
			  vm->run->system_event.type);
	}
}

static void vcpu_exit(struct vm *vm)
{
	struct kvm_run *run = vm->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_io(vm);
		break;
	case KVM_EXIT_MMIO:
		vm->mmio_exits++;
		bus_dispatch(&vm->mmio, run->mmio.phys_addr, run->mmio.data,
			     run->mmio.len > 8 ? 8 : run->mmio.len,
			     run->mmio.is_write);
		break;
	case KVM_EXIT_INTR:
		break;
	case KVM_EXIT_HLT:
		vcpu_fail(vm, "guest halted with interrupts off");
		break;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(vm, "guest triple-faulted (KVM_EXIT_SHUTDOWN)");
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		vcpu_system_event(vm);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_fail(vm, "VM entry failed, hardware reason 0x%llx",
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_internal_error(vm);
		break;
	default:
		vcpu_fail(vm, "unexpected KVM exit reason %u", run->exit_reason);
	}
}

/* While in KVM_RUN only the kick signal is unblocked: it makes KVM_RUN
 * return EINTR and, blocked again on the way out, stays pending until
 * vcpu_drain_kicks() takes it. So no handler is ever needed. */
static int vcpu_signal_mask(struct vm *vm)
{
	struct kvm_signal_mask *m;
	uint64_t mask = ~0ULL & ~(1ULL << (VM_KICK_SIGNAL - 1));
	int rc = 0;

	m = calloc(1, sizeof(*m) + sizeof(mask));
	if (!m)
		return -ENOMEM;
	m->len = sizeof(mask); /* the kernel's sigset_t is 64 bits on x86-64 */
	memcpy(m->sigset, &mask, sizeof(mask));
	if (ioctl(vm->vcpu_fd, KVM_SET_SIGNAL_MASK, m) < 0)
		rc = -errno;
	free(m);
	return rc;
}

static void vcpu_drain_kicks(void)
{
	sigset_t kick;
	struct timespec zero = { 0, 0 };

	sigemptyset(&kick);
	sigaddset(&kick, VM_KICK_SIGNAL);
	while (sigtimedwait(&kick, NULL, &zero) > 0)
		;
}

enum vm_stop vcpu_run(struct vm *vm)
{
	int rc = vcpu_signal_mask(vm);

	if (rc < 0)
		vcpu_fail(vm, "KVM_SET_SIGNAL_MASK: %s", strerror(-rc));
	while (vm_stop_reason(vm) == VM_RUNNING) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu_drain_kicks();
				vm->run->immediate_exit = 0;
				prof_sample(&vm->prof, vm->vcpu_fd);
				continue;
			}
			vcpu_fail(vm, "KVM_RUN: %s", strerror(errno));
			break;
		}
		if (vm->run->exit_reason < VM_EXIT_REASONS)
			vm->exits[vm->run->exit_reason]++;
		vcpu_exit(vm);
	}
	return vm_stop_reason(vm);
}
