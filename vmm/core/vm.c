#include "vm.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_ring.h>
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

static void vm_uart_irq(void *opaque, bool level)
{
	struct vm *vm = opaque;

	vm_set_irq(vm, UART_COM1_IRQ, level);
}

static void vm_virtio_irq(void *opaque, unsigned irq, bool level)
{
	struct vm *vm = opaque;

	if (!ioev_irq(&vm->io, irq, level))
		vm_set_irq(vm, irq, level);
}

/* IOAPIC pins 5..23 for virtio, skipping 8 (the RTC's). */
static unsigned vm_virtio_irq_for(unsigned i)
{
	unsigned irq = 5 + i;

	return irq >= 8 ? irq + 1 : irq;
}

int vm_add_virtio(struct vm *vm, const struct vdev_ops *ops, void *priv,
		  char *cmdline, size_t cap)
{
	struct vmmio *t;
	size_t used = strlen(cmdline);
	int rc;

	if (vm->n_virtio == VM_MAX_VIRTIO)
		return err_set(ENOSPC, "too many virtio devices (at most %d)",
			       VM_MAX_VIRTIO);
	t = &vm->virtio[vm->n_virtio];
	vmmio_init(t, ops, priv, &vm->gm, VMMIO_BASE + VMMIO_SIZE * vm->n_virtio,
		   vm_virtio_irq_for(vm->n_virtio), vm_virtio_irq, vm);
	if ((rc = bus_register(&vm->mmio, t->base, VMMIO_SIZE, vmmio_io, t,
			       ops->name)) < 0)
		return rc;
	/* Benchmark knobs (README): MSBVM_VIRTIO_EVENT_IDX=0 withholds
	 * EVENT_IDX; MSBVM_IOEVENTFD=0 keeps every device on the trapped path.
	 * Otherwise use the fast path where KVM can. */
	const char *e = getenv("MSBVM_VIRTIO_EVENT_IDX");
	if (e && !strcmp(e, "0"))
		t->features_off |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	e = getenv("MSBVM_IOEVENTFD");
	bool fast = !(e && !strcmp(e, "0")) && ioev_attach(&vm->io, t);
	log_info("%s at 0x%llx, IRQ %u: notify via %s, interrupt via %s", ops->name,
		 (unsigned long long)t->base, t->irq,
		 fast ? "ioeventfd + I/O thread" : "trapped MMIO",
		 vm->io.irqfd[t->irq] >= 0 ? "irqfd" : "KVM_IRQ_LINE");
	if (used + 1 >= cap || vmmio_cmdline(t, cmdline + used + 1, cap - used - 1) < 0)
		return err_set(E2BIG, "kernel command line too long for %u devices",
			       vm->n_virtio + 1);
	cmdline[used] = ' ';
	vm->n_virtio++;
	return 0;
}

static void vm_console_tx(void *opaque, uint8_t byte)
{
	struct vm *vm = opaque;

	console_putc(&vm->console, byte);
}

static void vm_kbd_reset(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_RESET);
}

static void vm_pv_poweroff(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_POWEROFF);
}

static void vm_pv_panic(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_PANIC);
}

void vm_request_stop(struct vm *vm, enum vm_stop why)
{
	if (vm->stop == VM_RUNNING)
		vm->stop = why;
	if (vm->run)
		vm->run->immediate_exit = 1;
	/* From another thread, knock the vCPU out of KVM_RUN. */
	if (!pthread_equal(pthread_self(), vm->vcpu_thread))
		pthread_kill(vm->vcpu_thread, SIGUSR1);
}

static int vm_legacy_devices(struct vm *vm, int console_fd)
{
	int rc;

	console_init(&vm->console, console_fd);
	uart_init(&vm->uart, vm_console_tx, vm_uart_irq, vm);
	vm->kbd.reset = vm_kbd_reset;
	vm->kbd.opaque = vm;
	vm->pv.poweroff = vm_pv_poweroff;
	vm->pv.panic = vm_pv_panic;
	vm->pv.opaque = vm;
	if ((rc = bus_register(&vm->pio, UART_COM1_BASE, 8, uart_io, &vm->uart,
			       "uart")) < 0 ||
	    (rc = bus_register(&vm->pio, I8042_DATA_PORT, 5, i8042_io, &vm->kbd,
			       "i8042")) < 0 ||
	    (rc = bus_register(&vm->pio, 0x70, 2, rtc_io, &vm->rtc, "rtc")) < 0 ||
	    (rc = bus_register(&vm->pio, PVPORT_PORT, 1, pvport_io, &vm->pv,
			       "pvport")) < 0 ||
	    (rc = bus_register(&vm->pio, 0x80, 1, sink_io, NULL, "post")) < 0)
		return rc;
	return 0;
}

int vm_create(struct vm *vm, uint64_t ram_bytes, int console_fd)
{
	int rc;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = -1;
	ioev_clear(&vm->io);
	vm->vcpu_thread = pthread_self();
	vm->pio.name = "port I/O";
	vm->mmio.name = "MMIO";
	if ((rc = vm_open_kvm(vm)) < 0 || (rc = vm_map_ram(vm, ram_bytes)) < 0 ||
	    (rc = vm_irqchip(vm)) < 0 ||
	    (rc = ioev_init(&vm->io, vm->kvm_fd, vm->vm_fd)) < 0 ||
	    (rc = vm_legacy_devices(vm, console_fd)) < 0 ||
	    (rc = vcpu_create(vm)) < 0)
		return rc;
	return 0;
}

void vm_destroy(struct vm *vm)
{
	console_stop(&vm->console);
	ioev_stop(&vm->io);
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->gm.host)
		munmap(vm->gm.host, vm->gm.ram_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
}
