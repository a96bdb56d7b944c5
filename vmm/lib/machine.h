/* The machine: the core VM plus the devices a microVM gets, wired
 * together: 16550 console, i8042 (reset), CMOS RTC, POST sink, the
 * power-off/panic port, and the
 * virtio-mmio devices (disks, net, virtio-fs shares, vsock) in fixed slots. Built from a
 * validated configuration; owns every device and tears them down in the
 * order threads require (machine_stop_threads before machine_free). */
#ifndef MSBVM_MACHINE_H
#define MSBVM_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "boot/boot.h"
#include "virtio/blk.h"
#include "virtio/fs.h"
#include "virtio/mmio.h"
#include "virtio/vsock.h"
#include "vmm/core/vm.h"
#include "vmm/hw/console.h"
#include "vmm/hw/legacy.h"
#include "vmm/hw/pvport.h"
#include "vmm/hw/uart.h"
#include "net_slirp.h"

#define MACHINE_MAX_DISKS 9     /* the root disk and 8 more */
#define MACHINE_MAX_VIRTIO 16
#define MACHINE_MAX_SHARES 9    /* a directory root and 8 volumes */

struct machine_disk {
	const char *path;
	bool ro;
};

/* A host directory shared over virtio-fs; the guest mounts it by tag. */
struct machine_share {
	char tag[sizeof(((struct virtio_fs_config *)0)->tag) + 1];
	const char *host;
	bool ro;
};

/* What machine_build needs, resolved by the library (config.c). */
struct machine_spec {
	const char *kernel, *initrd;      /* initrd may be NULL */
	const uint8_t *initrd2;           /* a second archive after initrd */
	size_t initrd2_len;
	uint64_t ram_bytes;
	const char *cmdline;              /* complete, before device words */
	struct machine_disk disks[MACHINE_MAX_DISKS];
	unsigned n_disks;
	struct machine_share shares[MACHINE_MAX_SHARES];
	unsigned n_shares;
	const char *vsock_path;           /* NULL: no vsock device */
	const struct net_spec *net;       /* NULL or !on: no network */
	int console_fd;                   /* -1: discard */
};

struct machine {
	struct vm vm;
	struct uart uart;
	struct console console;
	struct i8042 kbd;
	struct rtc rtc;
	struct pvport pv;
	struct vmmio virtio[MACHINE_MAX_VIRTIO];
	unsigned n_virtio;
	struct vblk blk[MACHINE_MAX_DISKS];
	unsigned n_blk;
	struct vfs *fs[MACHINE_MAX_SHARES];   /* large: allocated each */
	unsigned fs_slot[MACHINE_MAX_SHARES]; /* its index in virtio[] */
	unsigned n_fs;
	struct vsock vsock;
	bool have_vsock, vsock_started, io_started;
	struct netslirp net;
	unsigned net_slot;                /* its index in virtio[] */
	bool have_net;
	char cmdline[BOOT_CMDLINE_MAX + 1024];
};

/* Safe to machine_free() after this, whatever happens next. */
void machine_init(struct machine *m, struct log_sink *log);
/* Creates the VM and its devices, loads the kernel and initrd and sets
 * the boot state. -errno with err_msg(). */
int machine_build(struct machine *m, const struct machine_spec *s,
		  struct log_sink *log);
/* Starts device threads, then the vCPU. */
int machine_start(struct machine *m, int console_in_fd,
		  void (*quit)(void *), void *quit_opaque);
/* Stops and joins every thread (vCPU first, then devices): afterwards no
 * thread touches guest memory. Idempotent. */
void machine_stop_threads(struct machine *m);
/* Frees memory and closes disks; threads must be stopped. */
void machine_free(struct machine *m);

#endif
