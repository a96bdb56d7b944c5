#include "ioevent.h"
#include "err.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

void ioev_clear(struct ioev *io)
{
	memset(io, 0, sizeof(*io));
	io->vm_fd = io->epfd = io->stop_fd = -1;
	for (unsigned i = 0; i < 32; i++)
		io->irqfd[i] = -1;
}

int ioev_init(struct ioev *io, int kvm_fd, int vm_fd)
{
	ioev_clear(io);
	io->vm_fd = vm_fd;
	io->have_ioeventfd = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0;
	io->have_irqfd = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0;
	if (!io->have_ioeventfd)
		return 0;
	io->epfd = epoll_create1(EPOLL_CLOEXEC);
	io->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io->epfd < 0 || io->stop_fd < 0)
		return err_set(errno, "I/O thread: %s", strerror(errno));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	return epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->stop_fd, &ev) < 0 ?
		       err_set(errno, "epoll_ctl: %s", strerror(errno)) : 0;
}

bool ioev_bind_irq(struct ioev *io, unsigned gsi)
{
	struct kvm_irqfd f = { .gsi = gsi };
	int fd;

	if (!io->have_irqfd || gsi >= 32)
		return false;
	if (io->irqfd[gsi] >= 0)
		return true;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return false;
	f.fd = (uint32_t)fd;
	if (ioctl(io->vm_fd, KVM_IRQFD, &f) < 0) {
		close(fd);
		return false;
	}
	io->irqfd[gsi] = fd;
	return true;
}

static struct kvm_ioeventfd ioev_kvm(const struct ioev_slot *s, uint32_t flags)
{
	return (struct kvm_ioeventfd){
		.datamatch = s->datamatch, .addr = s->addr, .len = s->len,
		.fd = s->fd, .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | flags,
	};
}

bool ioev_add(struct ioev *io, uint64_t addr, unsigned len, uint64_t datamatch,
	      void (*fn)(void *opaque, unsigned arg), void *opaque, unsigned arg)
{
	struct ioev_slot *s = &io->slot[io->n];
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
	struct kvm_ioeventfd e;

	if (!io->have_ioeventfd || io->n == IOEV_MAX)
		return false;
	*s = (struct ioev_slot){ .addr = addr, .len = len, .datamatch = datamatch,
				 .fn = fn, .opaque = opaque, .arg = arg };
	s->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->fd < 0)
		return false;
	e = ioev_kvm(s, 0);
	if (ioctl(io->vm_fd, KVM_IOEVENTFD, &e) < 0) {
		close(s->fd);
		return false;
	}
	if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		e = ioev_kvm(s, KVM_IOEVENTFD_FLAG_DEASSIGN);
		ioctl(io->vm_fd, KVM_IOEVENTFD, &e);
		close(s->fd);
		return false;
	}
	io->n++;
	return true;
}

bool ioev_irq(struct ioev *io, unsigned gsi, bool level)
{
	uint64_t one = 1;

	if (gsi >= 32 || io->irqfd[gsi] < 0)
		return false;
	/* An irqfd injects an edge; the line "lowering" needs nothing. */
	if (level && write(io->irqfd[gsi], &one, sizeof(one)) != sizeof(one))
		return false;
	return true;
}

static void *ioev_thread(void *arg)
{
	struct ioev *io = arg;
	struct epoll_event ev[16];

	thread_enter(io->log, "io");
	for (;;) {
		int n = epoll_wait(io->epfd, ev, 16, -1);

		for (int i = 0; i < n; i++) {
			struct ioev_slot *s = ev[i].data.ptr;
			uint64_t cnt;

			if (!s)
				return NULL; /* stop_fd */
			if (read(s->fd, &cnt, sizeof(cnt)) == sizeof(cnt))
				s->fn(s->opaque, s->arg);
		}
		if (n < 0 && errno != EINTR)
			return NULL;
	}
}

int ioev_start(struct ioev *io)
{
	sigset_t all, old;
	int rc;

	if (!io->n)
		return 0;
	/* The library's threads take no signal of the embedding process. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&io->thread, NULL, ioev_thread, io);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return err_set(rc, "cannot start the I/O thread");
	io->running = true;
	return 0;
}

void ioev_stop(struct ioev *io)
{
	uint64_t one = 1;

	if (io->running) {
		if (write(io->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(io->thread, NULL);
		io->running = false;
	}
	for (unsigned i = 0; i < io->n; i++) {
		struct kvm_ioeventfd e = ioev_kvm(&io->slot[i],
						  KVM_IOEVENTFD_FLAG_DEASSIGN);
		ioctl(io->vm_fd, KVM_IOEVENTFD, &e);
		close(io->slot[i].fd);
	}
	for (unsigned i = 0; i < 32; i++) {
		struct kvm_irqfd f = { .fd = (uint32_t)io->irqfd[i], .gsi = i,
				       .flags = KVM_IRQFD_FLAG_DEASSIGN };
		if (io->irqfd[i] < 0)
			continue;
		ioctl(io->vm_fd, KVM_IRQFD, &f);
		close(io->irqfd[i]);
		io->irqfd[i] = -1;
	}
	if (io->epfd >= 0)
		close(io->epfd);
	if (io->stop_fd >= 0)
		close(io->stop_fd);
	io->n = 0;
	io->epfd = io->stop_fd = -1;
}
