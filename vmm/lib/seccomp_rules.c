/* The allowed system calls of each VMM thread kind (docs/security.md),
 * one entry per syscall and kind list, with who needs it. Everything
 * else kills the process (SECCOMP_RET_KILL_PROCESS), or is logged with
 * --seccomp log. Kinds: "vcpu" (the run loop: KVM_RUN and the exits it
 * handles inline: UART, i8042, power-off port, MMIO of virtio devices
 * without ioeventfd), "io" (ioeventfd thread: virtqueue notifications of
 * virtio-blk and virtio-vsock, interrupts via irqfd), "vsock" (the vsock
 * backend: host Unix sockets), "console" (interactive console input), "fs"
 * (a virtio-fs worker: the FUSE server over its share, virtio/fs*.c; no
 * socket, no exec, no KVM ioctl but KVM_IRQ_LINE).
 * Found by reading the thread functions (vmm/core/vcpu.c, ioevent.c,
 * virtio/blk.c, vsock*.c, vmm/hw/console.c) and by running the
 * integration tests with --seccomp log (audit lines in dmesg). */
#include "seccomp.h"

#include <linux/kvm.h>
#include <sys/socket.h>
#include <sys/prctl.h>

#define ALL "vcpu io vsock console fs"
#define NOARG -1

const struct sc_rule sc_rules[] = {
	/* glibc and the thread runtime, on every thread */
	{ ALL, "futex", NOARG, 0 },          /* mutexes: log sink, device locks */
	{ ALL, "mmap", NOARG, 0 },           /* malloc arenas (per-thread heaps) */
	{ ALL, "munmap", NOARG, 0 },         /* free of large blocks, arena trim */
	{ ALL, "mprotect", NOARG, 0 },       /* malloc growing a thread arena */
	{ ALL, "madvise", NOARG, 0 },        /* free(), and glibc's stack reuse at thread exit */
	{ ALL, "brk", NOARG, 0 },            /* malloc in the main arena */
	{ ALL, "rt_sigprocmask", NOARG, 0 }, /* pthread internals */
	{ ALL, "rt_sigreturn", NOARG, 0 },   /* return from the SIGSYS reporter / profiler */
	{ ALL, "restart_syscall", NOARG, 0 },/* kernel restarts after a signal */
	{ ALL, "exit", NOARG, 0 },           /* the thread ends (machine stop) */
	{ ALL, "sigaltstack", NOARG, 0 },    /* ASan/TSan runtimes at thread exit (unit tests) */
	{ ALL, "exit_group", NOARG, 0 },     /* the SIGSYS reporter's _exit */
	{ ALL, "clock_gettime", NOARG, 0 },  /* vDSO fallback (nested: no stable TSC) */
	{ ALL, "gettimeofday", NOARG, 0 },   /* vDSO fallback */
	{ ALL, "time", NOARG, 0 },           /* vsock connect deadlines, vDSO fallback */
	{ ALL, "nanosleep", NOARG, 0 },      /* short back-offs */
	{ ALL, "clock_nanosleep", NOARG, 0 },/* glibc's nanosleep */
	{ ALL, "sched_yield", NOARG, 0 },    /* spin back-off in glibc locks */
	{ ALL, "getpid", NOARG, 0 },         /* pthread_kill (vm_request_stop) */
	{ ALL, "gettid", NOARG, 0 },         /* pthread_kill, logging */
	{ ALL, "tgkill", NOARG, 0 },         /* vm_request_stop kicks the vCPU thread */
	{ ALL, "write", NOARG, 0 },          /* log lines, eventfds (irqfd, kick, stopped_fd), console output */
	{ ALL, "writev", NOARG, 0 },         /* stdio of an embedder's log callback */
	{ ALL, "newfstatat", NOARG, 0 },     /* stdio's first use of a stream (log callback) */
	{ ALL, "fstat", NOARG, 0 },          /* the same, older glibc */
	{ ALL, "prctl", 0, PR_GET_NAME },    /* the msbvm command's SIGSYS reporter names the thread */

	/* vCPU: the run loop (vcpu.c), devices it runs inline */
	{ "vcpu", "ioctl", 1, KVM_RUN },             /* the guest runs */
	{ "vcpu", "ioctl", 1, KVM_SET_SIGNAL_MASK }, /* vcpu_run: kick signal only in KVM_RUN */
	{ "vcpu", "ioctl", 1, KVM_GET_REGS },        /* failure report, profiler sample */
	{ "vcpu", "ioctl", 1, KVM_GET_SREGS },       /* failure report */
	{ "vcpu", "ioctl", 1, KVM_IRQ_LINE },        /* UART/i8042 interrupts (vm_set_irq) */
	{ "vcpu", "rt_sigtimedwait", NOARG, 0 },     /* consume the kick signal after KVM_RUN */
	{ "vcpu", "rt_sigpending", NOARG, 0 },       /* the same */
	{ "vcpu", "read", NOARG, 0 },                /* stats fd (exit counts at stop) */
	{ "vcpu", "pread64", NOARG, 0 },             /* the same */
	{ "vcpu", "preadv", NOARG, 0 },              /* virtio-blk read, without ioeventfd */
	{ "vcpu", "pwritev", NOARG, 0 },             /* virtio-blk write, without ioeventfd */
	{ "vcpu", "fdatasync", NOARG, 0 },           /* virtio-blk flush, without ioeventfd */
	{ "vcpu", "fallocate", NOARG, 0 },           /* virtio-blk discard/write-zeroes, same */
	{ "vcpu", "close", NOARG, 0 },               /* vsock driver reset (status 0 at power-off) ends host connections */
	{ "vcpu", "epoll_ctl", NOARG, 0 },           /* the same: connections leave the backend's loop */

	/* io: the ioeventfd thread (ioevent.c) and what notifications run */
	{ "io", "epoll_wait", NOARG, 0 },            /* wait for queue notifications */
	{ "io", "epoll_pwait", NOARG, 0 },           /* glibc's epoll_wait on some arches */
	{ "io", "read", NOARG, 0 },                  /* ioeventfd counters */
	{ "io", "ioctl", 1, KVM_IRQ_LINE },          /* interrupts without irqfd */
	{ "io", "preadv", NOARG, 0 },                /* virtio-blk read */
	{ "io", "pwritev", NOARG, 0 },               /* virtio-blk write */
	{ "io", "fdatasync", NOARG, 0 },             /* virtio-blk flush */
	{ "io", "fallocate", NOARG, 0 },             /* virtio-blk discard, write-zeroes */

	/* vsock: the backend thread (vsock.c, vsock_conn.c) */
	{ "vsock", "epoll_wait", NOARG, 0 },         /* its event loop */
	{ "vsock", "epoll_pwait", NOARG, 0 },        /* the same */
	{ "vsock", "epoll_ctl", NOARG, 0 },          /* connections in and out of the loop */
	{ "vsock", "read", NOARG, 0 },               /* kick eventfd */
	{ "vsock", "readv", NOARG, 0 },              /* host socket -> guest RX buffers */
	{ "vsock", "recvfrom", NOARG, 0 },           /* recv(): "CONNECT port" lines */
	{ "vsock", "sendto", NOARG, 0 },             /* send(): "OK port" replies */
	{ "vsock", "sendmsg", NOARG, 0 },            /* guest TX -> host socket */
	{ "vsock", "accept4", NOARG, 0 },            /* host clients on vsock.sock */
	{ "vsock", "socket", 0, AF_UNIX },           /* guest-initiated: vsock.sock_PORT */
	{ "vsock", "connect", NOARG, 0 },            /* the same */
	{ "vsock", "shutdown", NOARG, 0 },           /* half-close (VIRTIO_VSOCK_SHUTDOWN) */
	{ "vsock", "close", NOARG, 0 },              /* connection ends */
	{ "vsock", "getsockopt", NOARG, 0 },         /* SO_ERROR of a non-blocking connect */
	{ "vsock", "ioctl", 1, KVM_IRQ_LINE },       /* interrupts without irqfd */

	/* fs: a virtio-fs worker (virtio/fs.c, fs_ops.c, fs_ns.c, fs_io.c,
	 * fs_dir.c, fs_inode.c). Paths are only ever one component under an
	 * fd of the share, or "N" under /proc/self/fd: the filter cannot see
	 * that (pointers), the code does (docs/virtio-fs.md). */
	{ "fs", "read", NOARG, 0 },                  /* kick eventfd */
	{ "fs", "openat", NOARG, 0 },                /* LOOKUP (O_PATH), re-open via /proc/self/fd, CREATE */
	{ "fs", "close", NOARG, 0 },                 /* FORGET, RELEASE, lookups of known inodes */
	{ "fs", "readlinkat", NOARG, 0 },            /* READLINK */
	{ "fs", "mkdirat", NOARG, 0 },               /* MKDIR */
	{ "fs", "mknodat", NOARG, 0 },               /* MKNOD: regular files and FIFOs only */
	{ "fs", "symlinkat", NOARG, 0 },             /* SYMLINK */
	{ "fs", "unlinkat", NOARG, 0 },              /* UNLINK, RMDIR */
	{ "fs", "renameat2", NOARG, 0 },             /* RENAME, RENAME2 */
	{ "fs", "linkat", NOARG, 0 },                /* LINK */
	{ "fs", "fchmodat", NOARG, 0 },              /* SETATTR mode */
	{ "fs", "utimensat", NOARG, 0 },             /* SETATTR times */
	{ "fs", "faccessat", NOARG, 0 },             /* ACCESS */
	{ "fs", "faccessat2", NOARG, 0 },            /* glibc's faccessat */
	{ "fs", "fstatfs", NOARG, 0 },               /* STATFS */
	{ "fs", "ftruncate", NOARG, 0 },             /* SETATTR size */
	{ "fs", "fallocate", NOARG, 0 },             /* FALLOCATE */
	{ "fs", "preadv", NOARG, 0 },                /* READ into the guest's buffers */
	{ "fs", "pwritev", NOARG, 0 },               /* WRITE from the guest's buffers */
	{ "fs", "lseek", NOARG, 0 },                 /* READDIR cookies, LSEEK */
	{ "fs", "getdents64", NOARG, 0 },            /* READDIR, READDIRPLUS */
	{ "fs", "fsync", NOARG, 0 },                 /* FSYNC, FSYNCDIR */
	{ "fs", "fdatasync", NOARG, 0 },             /* FSYNC with FUSE_FSYNC_FDATASYNC */
	{ "fs", "ioctl", 1, KVM_IRQ_LINE },          /* interrupts without irqfd */

	/* console: the interactive input thread (console.c) */
	{ "console", "poll", NOARG, 0 },             /* stdin + stop pipe */
	{ "console", "ppoll", NOARG, 0 },            /* glibc's poll */
	{ "console", "read", NOARG, 0 },             /* keystrokes */
	{ "console", "ioctl", 1, KVM_IRQ_LINE },     /* UART receive interrupt */
	{ NULL, NULL, NOARG, 0 },
};
