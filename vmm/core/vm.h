/* The monitor core: one KVM VM, its RAM, the port-I/O and MMIO buses, the
 * in-kernel irqchip, ioeventfd/irqfd plumbing and the vCPU with its run
 * loop on a thread of its own. It knows no device: device models register
 * bus ranges (vmm/hw/, virtio/) and the library (vmm/lib/) assembles them.
 *
 * Threads: vm_start() creates the vCPU thread with every signal blocked;
 * KVM_SET_SIGNAL_MASK lets only VM_KICK_SIGNAL interrupt KVM_RUN, where it
 * stays pending and is consumed with sigtimedwait: no handler exists, so
 * nothing is installed in the embedding process. */
#ifndef MSBVM_VM_H
#define MSBVM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "err.h"
#include "ioevent.h"
#include "mem.h"
#include "profile.h"

#define VM_KICK_SIGNAL (SIGRTMIN + 3)

enum vm_stop {
	VM_RUNNING = 0,
	VM_STOP_RESET,    /* guest rebooted (i8042 reset, KVM reset event) */
	VM_STOP_POWEROFF, /* guest powered off (power-off port, KVM event) */
	VM_STOP_PANIC,    /* guest kernel panic (panic port) */
	VM_STOP_ERROR,    /* triple fault, emulation failure, failed entry */
	VM_STOP_HOST,     /* the host stopped it (API, signal, timeouts) */
	VM_STOP_USER,     /* Ctrl-A x on the interactive console */
};

#define VM_EXIT_REASONS 64

struct vm {
	int kvm_fd, vm_fd, vcpu_fd;
	/* the vCPU's binary stats, opened before it runs: every vCPU ioctl
	 * waits for KVM_RUN to return, which an idle guest may never do;
	 * reading this fd does not (-1 if KVM has no stats) */
	int stats_fd;
	struct kvm_run *run;
	size_t run_size;
	struct guest_mem gm;
	struct bus pio, mmio;
	struct ioev io;
	struct log_sink *log;       /* bound on every thread of this VM */
	/* The first stop reason wins (compare-and-swap): a reset racing a
	 * host stop never overwrites the reason already reported. */
	_Atomic int stop;           /* enum vm_stop */
	char error[512];            /* why VM_STOP_ERROR/PANIC: by vm_fail's winner */
	int stopped_fd;             /* eventfd: readable once the loop ended */
	pthread_t vcpu_thread;
	/* kickable: vcpu_thread is valid and not yet being joined; read by
	 * any thread (vm_request_stop), so atomic, stored after vcpu_thread */
	_Atomic bool vcpu_started;
	bool vcpu_joinable;
	const char *profile_path;   /* --profile */
	struct profile prof;
	uint64_t exits[VM_EXIT_REASONS];
	uint64_t io_exits, mmio_exits;
};

/* Zeroes vm so vm_destroy() is safe on it whatever happens next. */
void vm_init(struct vm *vm);
/* Opens /dev/kvm, creates the VM with ram_bytes of RAM, the in-kernel
 * irqchip and PIT, the I/O-thread plumbing and one vCPU. */
int vm_create(struct vm *vm, uint64_t ram_bytes, struct log_sink *log);
/* Starts the vCPU thread (and the profiler); -errno. */
int vm_start(struct vm *vm);
/* Asks the vCPU loop to stop: thread-safe and async-signal-safe. */
void vm_request_stop(struct vm *vm, enum vm_stop why);
/* Records why (VM_STOP_ERROR/PANIC) and stops; first reason wins. */
void vm_fail(struct vm *vm, enum vm_stop why, const char *msg);
/* Joins the vCPU thread; the loop must have been asked to stop. */
void vm_join(struct vm *vm);
enum vm_stop vm_stop_reason(const struct vm *vm);
int vm_set_irq(struct vm *vm, unsigned irq, bool level);
/* Every thread must be stopped: unassigns irqfds/ioeventfds, unmaps RAM,
 * closes the fds. Safe on a vm_init()ed or half-created VM. */
void vm_destroy(struct vm *vm);

/* vcpu.c */
int vcpu_create(struct vm *vm);
/* KVM's reset state: entry_setup() overrides only what the boot needs, so
 * fields it does not model (apic_base, interrupt bitmap) stay valid. */
int vcpu_get_sregs(struct vm *vm, struct kvm_sregs *sregs);
int vcpu_set_boot_state(struct vm *vm, const struct kvm_sregs *sregs,
			const struct kvm_regs *regs);
/* The run loop (vCPU thread): until a stop reason is set. */
enum vm_stop vcpu_run(struct vm *vm);
const char *vcpu_exit_name(unsigned reason);

#endif
