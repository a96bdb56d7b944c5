/* Machine assembly (machine.h): which devices, at which addresses, wired
 * to which interrupt, and the boot of the kernel into guest RAM. */
#include "machine.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

struct machine_file {
	const uint8_t *data;
	size_t len;
};

static int machine_map_file(const char *what, const char *path, uint64_t ram,
			    struct machine_file *f)
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

static void machine_unmap_file(struct machine_file *f)
{
	if (f->data)
		munmap((void *)f->data, f->len);
	f->data = NULL;
}

/* ---- legacy devices ---- */

static void machine_uart_irq(void *opaque, bool level)
{
	struct machine *m = opaque;

	vm_set_irq(&m->vm, UART_COM1_IRQ, level);
}

static void machine_uart_tx(void *opaque, uint8_t byte)
{
	struct machine *m = opaque;

	console_putc(&m->console, byte);
}

static void machine_reset(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_RESET);
}

static void machine_pv_poweroff(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_POWEROFF);
}

static void machine_pv_panic(void *opaque)
{
	vm_request_stop(opaque, VM_STOP_PANIC);
}

static int machine_legacy(struct machine *m, int console_fd)
{
	struct vm *vm = &m->vm;
	int rc;

	console_init(&m->console, console_fd);
	uart_init(&m->uart, machine_uart_tx, machine_uart_irq, m);
	m->kbd.reset = machine_reset;
	m->kbd.opaque = vm;
	/* power-off and panic come from the guest kernel through this port
	 * (kernel-config/patches/0004), never from console text */
	m->pv = (struct pvport){ machine_pv_poweroff, machine_pv_panic, vm };
	if ((rc = bus_register(&vm->pio, UART_COM1_BASE, 8, uart_io, &m->uart,
			       "uart")) < 0 ||
	    (rc = bus_register(&vm->pio, I8042_DATA_PORT, 5, i8042_io, &m->kbd,
			       "i8042")) < 0 ||
	    (rc = bus_register(&vm->pio, 0x70, 2, rtc_io, &m->rtc, "rtc")) < 0 ||
	    (rc = bus_register(&vm->pio, PVPORT_PORT, 1, pvport_io, &m->pv,
			       "pvport")) < 0 ||
	    (rc = bus_register(&vm->pio, 0x80, 1, sink_io, NULL, "post")) < 0)
		return rc;
	return 0;
}

/* ---- virtio-mmio slots ---- */

static void machine_virtio_irq(void *opaque, unsigned irq, bool level)
{
	struct vm *vm = opaque;

	if (!ioev_irq(&vm->io, irq, level))
		vm_set_irq(vm, irq, level);
}

static void machine_kick(void *opaque, unsigned queue)
{
	vmmio_kick(opaque, queue);
}

/* IOAPIC pins 5..23 for virtio, skipping 8 (the RTC's). */
static unsigned machine_virtio_irq_for(unsigned i)
{
	unsigned irq = 5 + i;

	return irq >= 8 ? irq + 1 : irq;
}

/* Each queue's QueueNotify becomes an ioeventfd (datamatch on the queue
 * index) and the interrupt an irqfd, unless KVM cannot or the benchmark
 * knob MSBVM_IOEVENTFD=0 asks for the trapped path. */
static bool machine_fast_path(struct vm *vm, struct vmmio *t)
{
	const char *e = getenv("MSBVM_IOEVENTFD");
	bool ok = true;

	if (e && !strcmp(e, "0"))
		return false;
	ioev_bind_irq(&vm->io, t->irq);
	for (unsigned q = 0; ok && q < t->dev.ops->num_queues; q++)
		ok = ioev_add(&vm->io, t->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q,
			      machine_kick, t, q);
	return ok;
}

static int machine_add_virtio(struct machine *m, const struct vdev_ops *ops,
			      void *priv)
{
	struct vm *vm = &m->vm;
	size_t used = strlen(m->cmdline), cap = sizeof(m->cmdline);
	struct vmmio *t;
	int rc;

	if (m->n_virtio == MACHINE_MAX_VIRTIO)
		return err_set(ENOSPC, "too many virtio devices (at most %d)",
			       MACHINE_MAX_VIRTIO);
	t = &m->virtio[m->n_virtio];
	vmmio_init(t, ops, priv, &vm->gm, VMMIO_BASE + VMMIO_SIZE * m->n_virtio,
		   machine_virtio_irq_for(m->n_virtio), machine_virtio_irq, vm);
	if ((rc = bus_register(&vm->mmio, t->base, VMMIO_SIZE, vmmio_io, t,
			       ops->name)) < 0)
		return rc;
	/* benchmark knob (README): MSBVM_VIRTIO_EVENT_IDX=0 */
	const char *e = getenv("MSBVM_VIRTIO_EVENT_IDX");
	if (e && !strcmp(e, "0"))
		t->features_off |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	bool fast = machine_fast_path(vm, t);
	log_info("%s at 0x%llx, IRQ %u: notify via %s, interrupt via %s", ops->name,
		 (unsigned long long)t->base, t->irq,
		 fast ? "ioeventfd + I/O thread" : "trapped MMIO",
		 vm->io.irqfd[t->irq] >= 0 ? "irqfd" : "KVM_IRQ_LINE");
	if (used + 1 >= cap || vmmio_cmdline(t, m->cmdline + used + 1, cap - used - 1) < 0)
		return err_set(E2BIG, "kernel command line too long for %u devices",
			       m->n_virtio + 1);
	m->cmdline[used] = ' ';
	m->n_virtio++;
	return 0;
}

/* One virtio-fs device per share, each with its worker (vfs_start). */
static int machine_shares(struct machine *m, const struct machine_spec *s)
{
	int rc;

	for (unsigned i = 0; i < s->n_shares; i++) {
		const struct machine_share *sh = &s->shares[i];
		struct vfs *v = malloc(sizeof(*v));

		if (!v)
			return err_set(ENOMEM, "share %s: out of memory", sh->host);
		if ((rc = vfs_open(v, sh->host, sh->tag, sh->ro)) < 0) {
			free(v);
			return rc;
		}
		m->fs[m->n_fs] = v;
		m->fs_slot[m->n_fs++] = m->n_virtio;
		log_info("share %s: %s%s", sh->tag, sh->host, sh->ro ? " (read-only)" : "");
		if ((rc = machine_add_virtio(m, &vfs_ops, v)) < 0)
			return rc;
	}
	return 0;
}

static int machine_devices(struct machine *m, const struct machine_spec *s)
{
	int rc;

	for (unsigned i = 0; i < s->n_disks; i++) {
		struct vblk *b = &m->blk[i];

		if ((rc = vblk_open(b, s->disks[i].path, s->disks[i].ro, i)) < 0)
			return rc;
		m->n_blk++;
		log_info("disk vd%c: %s (%llu MiB%s)", 'a' + i, s->disks[i].path,
			 (unsigned long long)b->sectors >> 11,
			 s->disks[i].ro ? ", read-only" : "");
		if ((rc = machine_add_virtio(m, &vblk_ops, b)) < 0)
			return rc;
	}
	if ((rc = machine_shares(m, s)) < 0)
		return rc;
	if (s->net && s->net->on) {
		m->have_net = true; /* netslirp_close on a partial open too */
		if ((rc = netslirp_open(&m->net, s->net)) < 0)
			return rc;
		m->net_slot = m->n_virtio;
		if ((rc = machine_add_virtio(m, &vnet_ops, &m->net.dev)) < 0)
			return rc;
	}
	if (!s->vsock_path)
		return 0;
	if ((rc = vsock_open(&m->vsock, s->vsock_path)) < 0)
		return rc;
	m->have_vsock = true;
	return machine_add_virtio(m, &vsock_ops, &m->vsock);
}

/* Kernel, initrd, zero page, MP table and the vCPU's entry state. */
static int machine_boot(struct machine *m, const struct machine_spec *s,
			const struct machine_file *k, const struct machine_file *ird)
{
	struct kernel_info ki;
	struct kvm_sregs sregs = { 0 };
	struct kvm_regs regs;
	uint8_t seed[BOOT_RNG_SEED_LEN];
	int rc;

	if ((rc = loader_load(&m->vm.gm, k->data, k->len, &ki)) < 0)
		return err_set(-rc, "kernel %s: %s", s->kernel, strdupa(err_msg()));
	if (getrandom(seed, sizeof(seed), 0) != sizeof(seed))
		return err_set(errno, "getrandom: %s", strerror(errno));
	struct boot_config bc = { .cmdline = m->cmdline, .initrd = ird->data,
				  .initrd_len = ird->len, .initrd2 = s->initrd2,
				  .initrd2_len = s->initrd2_len, .rng_seed = seed };
	if ((rc = bp_setup(&m->vm.gm, &ki, &bc)) < 0 ||
	    (rc = mptable_setup(&m->vm.gm, 1)) < 0 ||
	    (rc = vcpu_get_sregs(&m->vm, &sregs)) < 0 ||
	    (rc = entry_setup(&m->vm.gm, &ki, &sregs, &regs)) < 0 ||
	    (rc = vcpu_set_boot_state(&m->vm, &sregs, &regs)) < 0)
		return rc;
	log_info("kernel %s (%s, entry 0x%llx), %llu MiB RAM, cmdline: %s",
		 s->kernel, ki.bzimage ? "bzImage" : "ELF", (unsigned long long)ki.entry,
		 (unsigned long long)(s->ram_bytes >> 20), m->cmdline);
	return 0;
}

void machine_init(struct machine *m, struct log_sink *log)
{
	memset(m, 0, sizeof(*m));
	vm_init(&m->vm);
	m->vm.log = log;
	console_init(&m->console, -1);
}

int machine_build(struct machine *m, const struct machine_spec *s,
		  struct log_sink *log)
{
	int rc;

	struct machine_file k = { 0 }, ird = { 0 };

	if (strlen(s->cmdline) >= sizeof(m->cmdline))
		return err_set(E2BIG, "kernel command line too long");
	snprintf(m->cmdline, sizeof(m->cmdline), "%s", s->cmdline);
	/* the files first: a wrong path fails before /dev/kvm is touched */
	if ((rc = machine_map_file("kernel", s->kernel, s->ram_bytes, &k)) < 0 ||
	    (s->initrd &&
	     (rc = machine_map_file("initrd", s->initrd, s->ram_bytes, &ird)) < 0) ||
	    (rc = vm_create(&m->vm, s->ram_bytes, log)) < 0 ||
	    (rc = machine_legacy(m, s->console_fd)) < 0 ||
	    (rc = machine_devices(m, s)) < 0 ||
	    (rc = machine_boot(m, s, &k, &ird)) < 0) {
		machine_unmap_file(&k);
		machine_unmap_file(&ird);
		return rc;
	}
	machine_unmap_file(&k);
	machine_unmap_file(&ird);
	return 0;
}

static int machine_start_threads(struct machine *m, int console_in_fd,
				 void (*quit)(void *), void *quit_opaque)
{
	int rc;

	if (console_in_fd >= 0 &&
	    (rc = console_start_input(&m->console, console_in_fd, &m->uart,
				      quit, quit_opaque)) < 0)
		return rc;
	if ((rc = ioev_start(&m->vm.io)) < 0)
		return rc;
	m->io_started = true;
	if (m->have_vsock) {
		if ((rc = vsock_start(&m->vsock, &m->virtio[m->n_virtio - 1].dev)) < 0)
			return rc;
		m->vsock_started = true;
	}
	if (m->have_net &&
	    (rc = netslirp_start(&m->net, &m->virtio[m->net_slot].dev)) < 0)
		return rc;
	for (unsigned i = 0; i < m->n_fs; i++)
		if ((rc = vfs_start(m->fs[i], &m->virtio[m->fs_slot[i]].dev)) < 0)
			return rc;
	return vm_start(&m->vm);
}

int machine_start(struct machine *m, int console_in_fd,
		  void (*quit)(void *), void *quit_opaque)
{
	sigset_t all, old;
	int rc;

	/* every thread of the VM inherits a mask blocking all signals: the
	 * embedding process's handlers never run on our threads */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = machine_start_threads(m, console_in_fd, quit, quit_opaque);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

void machine_stop_threads(struct machine *m)
{
	vm_request_stop(&m->vm, VM_STOP_HOST);
	/* the console thread kicks the vCPU (Ctrl-A x): it goes first */
	console_stop(&m->console);
	vm_join(&m->vm);
	/* the vsock backend walks rings and raises interrupts: it stops
	 * before guest RAM and the VM fd go away (vm_destroy) */
	if (m->have_vsock)
		vsock_close(&m->vsock);
	m->have_vsock = m->vsock_started = false;
	/* likewise the network thread (it fills rx buffers) */
	if (m->have_net)
		netslirp_close(&m->net);
	m->have_net = false;
	/* the virtio-fs workers push used buffers: joined here too; their
	 * fds are closed in machine_free */
	for (unsigned i = 0; i < m->n_fs; i++)
		vfs_stop(m->fs[i]);
	ioev_stop(&m->vm.io);
	m->io_started = false;
}

void machine_free(struct machine *m)
{
	machine_stop_threads(m);
	vm_destroy(&m->vm);
	for (unsigned i = 0; i < m->n_blk; i++)
		vblk_close(&m->blk[i]);
	m->n_blk = 0;
	for (unsigned i = 0; i < m->n_fs; i++) {
		vfs_close(m->fs[i]);
		free(m->fs[i]);
	}
	m->n_fs = 0;
}
