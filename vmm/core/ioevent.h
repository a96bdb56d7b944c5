/* ioeventfd + irqfd for virtio-mmio devices: a guest QueueNotify write is
 * completed inside KVM (no exit to user space) and wakes the I/O thread,
 * which runs the queue; interrupts are injected through an irqfd. Where
 * KVM lacks either, or an ioctl fails, the device stays on the trapped
 * MMIO path (synchronous, in the vCPU thread) and KVM_IRQ_LINE. */
#ifndef MSBVM_IOEVENT_H
#define MSBVM_IOEVENT_H

#include <pthread.h>
#include <stdbool.h>

#include "virtio/mmio.h"

#define IOEV_MAX 64

struct ioev {
	int vm_fd, epfd, stop_fd;
	pthread_t thread;
	bool running;
	unsigned n;
	struct ioev_slot {
		int fd;
		struct vmmio *t;
		unsigned queue;
	} slot[IOEV_MAX];
	int irqfd[32]; /* by GSI; -1 if none */
	bool have_ioeventfd, have_irqfd;
};

/* No fds, nothing running: safe to ioev_stop() (vm_create calls it first). */
void ioev_clear(struct ioev *io);
int ioev_init(struct ioev *io, int kvm_fd, int vm_fd);
/* Binds each queue's notify to an eventfd (datamatch on the queue index)
 * and the device's GSI to an irqfd; false if it stays on the slow path. */
bool ioev_attach(struct ioev *io, struct vmmio *t);
/* Raises (level true) or lowers the line for gsi; true if an irqfd did it. */
bool ioev_irq(struct ioev *io, unsigned gsi, bool level);
int ioev_start(struct ioev *io);
void ioev_stop(struct ioev *io);

#endif
