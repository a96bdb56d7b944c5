/* ioeventfd + irqfd: a guest write of a given value to a given MMIO
 * address (a virtio QueueNotify) is completed inside KVM (no exit to user
 * space) and wakes the I/O thread, which calls the device's handler;
 * interrupts are injected through an irqfd. Where KVM lacks either, or an
 * ioctl fails, the device stays on the trapped MMIO path (synchronous, in
 * the vCPU thread) and KVM_IRQ_LINE. Devices are not known here: the
 * caller passes a handler and its argument. */
#ifndef MSBVM_IOEVENT_H
#define MSBVM_IOEVENT_H

#include <pthread.h>
#include <stdbool.h>

#include <stdint.h>

struct log_sink;

#define IOEV_MAX 64

struct ioev {
	int vm_fd, epfd, stop_fd;
	pthread_t thread;
	bool running;
	unsigned n;
	struct ioev_slot {
		int fd;
		uint64_t addr, datamatch;
		unsigned len;
		void (*fn)(void *opaque, unsigned arg);
		void *opaque;
		unsigned arg;
	} slot[IOEV_MAX];
	struct log_sink *log;
	int irqfd[32]; /* by GSI; -1 if none */
	bool have_ioeventfd, have_irqfd;
};

/* No fds, nothing running: safe to ioev_stop() (vm_create calls it first). */
void ioev_clear(struct ioev *io);
int ioev_init(struct ioev *io, int kvm_fd, int vm_fd);
/* Routes a guest write of datamatch (len bytes) at MMIO addr to fn(opaque,
 * arg) on the I/O thread; false if it stays on the trapped path. */
bool ioev_add(struct ioev *io, uint64_t addr, unsigned len, uint64_t datamatch,
	      void (*fn)(void *opaque, unsigned arg), void *opaque, unsigned arg);
/* Injects gsi through an irqfd from now on; false if KVM cannot. */
bool ioev_bind_irq(struct ioev *io, unsigned gsi);
/* Raises (level true) or lowers the line for gsi; true if an irqfd did it. */
bool ioev_irq(struct ioev *io, unsigned gsi, bool level);
int ioev_start(struct ioev *io);
/* Joins the thread, unassigns every ioeventfd and irqfd from KVM (so no
 * stale eventfd is left registered), closes the fds. */
void ioev_stop(struct ioev *io);

#endif
