/* The boot configuration the VMM hands agentd: a flattened device tree
 * (devicetree specification v0.4, chapter 5 "Flattened Devicetree (DTB)
 * Format") at BCFG_PATH in a small per-VM initramfs archive that the VMM
 * appends to agentd's. Names and limits shared by the builder
 * (vmm/lib/bootcfg.c) and the parser (agentd/config.c); the schema is
 * documented in docs/boot-config.md.
 *
 * Why not the kernel command line: it holds 2,048 bytes on x86 and every
 * guest user reads it in /proc/cmdline; the archive is unpacked into the
 * initramfs, read once by agentd, deleted, and gone with the initramfs
 * after the switch to the root file system. */
#ifndef MSBVM_PROTO_BOOTCFG_H
#define MSBVM_PROTO_BOOTCFG_H

/* Bumped when a property changes meaning; agentd refuses other versions
 * (the host and agentd ship together: a mismatch is a packaging error). */
#define BCFG_VERSION 2                  /* 2: /msbvm/token required */

#define BCFG_DIR "msbvm"                /* in the initramfs, mode 0700 */
#define BCFG_PATH "/msbvm/config.dtb"   /* mode 0400 */
#define BCFG_MAX_SIZE (1u << 20)        /* the whole blob */

/* nodes and properties (docs/boot-config.md) */
#define BCFG_NODE "msbvm"               /* /msbvm */
#define BCFG_P_VERSION "version"        /* u32 */
#define BCFG_P_NAME "name"              /* string: VM name = hostname */
#define BCFG_P_HOST_TIME "host-time-ms" /* u64: host CLOCK_REALTIME, ms */
#define BCFG_P_TOKEN "token"            /* string: the control channel's
					 * token, PROTO_TOKEN_HEX hex digits */
#define BCFG_N_ROOT "root"              /* /msbvm/root: optional */
#define BCFG_P_DEVICE "device"          /* string: block device */
#define BCFG_P_FSTYPE "fstype"          /* string */
#define BCFG_P_READONLY "read-only"     /* empty: flag */
#define BCFG_P_UPPER "overlay-upper"    /* string: "tmpfs" or a device */
#define BCFG_N_INIT "init"              /* /msbvm/init: optional */
#define BCFG_P_PATH "path"              /* string: "auto" or absolute */
#define BCFG_P_ARGS "args"              /* string list */
#define BCFG_P_ENV "env"                /* string list of KEY=VALUE */
#define BCFG_N_EXEC "exec"              /* /msbvm/exec: optional; defaults
					 * for every EXEC (an image's config) */
#define BCFG_P_WORKDIR "workdir"        /* string: absolute path */
#define BCFG_P_USER "user"              /* string: NAME, UID or UID:GID */
#define BCFG_N_NETWORK "network"        /* /msbvm/network: optional; eth0,
					 * static (virtio-net, --net user) */
#define BCFG_P_ADDRESS "address"        /* 4 bytes: IPv4, network order */
#define BCFG_P_PREFIX "prefix-len"      /* u32: 1..30 */
#define BCFG_P_GATEWAY "gateway"        /* 4 bytes: in the subnet; also
					 * host.msbvm.internal in /etc/hosts */
#define BCFG_P_DNS "dns"                /* 4 bytes: /etc/resolv.conf */
#define BCFG_P_MTU "mtu"                /* u32: 68..65535 */

/* limits (the host refuses more at configuration time) */
#define BCFG_MAX_NAME 64                /* HOST_NAME_MAX */
#define BCFG_MAX_DEVICE 127
#define BCFG_MAX_FSTYPE 31
#define BCFG_MAX_PATH 255
#define BCFG_MAX_WORKDIR 4095
#define BCFG_MAX_USER 255
#define BCFG_MAX_LIST 64                /* init args, init env */
#define BCFG_MAX_STRING 65536           /* one list element */

#endif
