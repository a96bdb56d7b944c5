/* A virtual machine: the KVM VM, its RAM, the buses, the legacy devices and
 * the single vCPU that runs in the calling thread. */
#ifndef MSBVM_VM_H
#define MSBVM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "vmm/hw/console.h"
#include "vmm/hw/legacy.h"
#include "vmm/hw/pvport.h"
#include "mem.h"
#include "profile.h"
#include "ioevent.h"
#include "vmm/hw/uart.h"
#include "virtio/mmio.h"

enum vm_stop {
	VM_RUNNING = 0,
	VM_STOP_RESET,    /* guest rebooted (i8042 reset, KVM reset event) */
	VM_STOP_POWEROFF, /* guest powered off (power-off port, KVM shutdown event) */
	VM_STOP_PANIC,    /* guest kernel panicked (power-off/panic port) */
	VM_STOP_ERROR,    /* triple fault, emulation failure, failed entry */
	VM_STOP_SIGNAL,   /* SIGINT/SIGTERM to the VMM */
	VM_STOP_USER,     /* Ctrl-A x on the interactive console */
	VM_STOP_HOST,     /* the VMM gave up on the guest (agent timeouts) */
};

#define VM_EXIT_REASONS 64
#define VM_MAX_VIRTIO 16

struct vm {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	struct guest_mem gm;
	struct bus pio, mmio;
	struct uart uart;
	struct console console;
	struct i8042 kbd;
	struct rtc rtc;
	struct pvport pv;
	pthread_t vcpu_thread;
	volatile sig_atomic_t stop; /* enum vm_stop */
	volatile sig_atomic_t stop_signal;
	char error[512];            /* why VM_STOP_ERROR */
	uint64_t exits[VM_EXIT_REASONS];
	uint64_t io_exits, mmio_exits;
	struct profile prof;
	struct vmmio virtio[VM_MAX_VIRTIO];
	unsigned n_virtio;
	struct ioev io;
};

/* Opens /dev/kvm, creates the VM with ram_bytes of RAM, the in-kernel
 * irqchip and PIT, the legacy devices and one vCPU. out_fd: console. */
int vm_create(struct vm *vm, uint64_t ram_bytes, int console_fd);
void vm_destroy(struct vm *vm);
/* Asks the vCPU loop to stop (thread- and signal-safe). */
void vm_request_stop(struct vm *vm, enum vm_stop why);
int vm_set_irq(struct vm *vm, unsigned irq, bool level);
/* Adds a virtio-mmio device: next 4 KiB slot from VMMIO_BASE, next free
 * IRQ; appends its virtio_mmio.device= word to cmdline (of cap bytes). */
int vm_add_virtio(struct vm *vm, const struct vdev_ops *ops, void *priv,
		  char *cmdline, size_t cap);

/* vcpu.c */
int vcpu_create(struct vm *vm);
/* KVM's reset state: entry_setup() overrides only what the boot needs, so
 * fields it does not model (apic_base, interrupt bitmap) stay valid. */
int vcpu_get_sregs(struct vm *vm, struct kvm_sregs *sregs);
int vcpu_set_boot_state(struct vm *vm, const struct kvm_sregs *sregs,
			const struct kvm_regs *regs);
/* Runs until a stop reason is set; returns it. */
enum vm_stop vcpu_run(struct vm *vm);
const char *vcpu_exit_name(unsigned reason);

#endif
