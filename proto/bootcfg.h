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
#define BCFG_VERSION 3                  /* 2: /msbvm/token required;
					 * 3: volumes, patches, scripts,
					 * virtiofs roots */

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
#define BCFG_N_VOLUMES "volumes"        /* /msbvm/volumes: optional; subnodes
					 * volume@0, volume@1, ... in order */
#define BCFG_N_VOLUME "volume"
#define BCFG_P_TAG "tag"                /* string: the virtio-fs tag */
/* BCFG_P_PATH: the guest directory; BCFG_P_READONLY: mount read-only */
#define BCFG_N_PATCHES "patches"        /* /msbvm/patches: patch@0.. */
#define BCFG_N_PATCH "patch"
#define BCFG_P_OP "op"                  /* string: text, file, mkdir,
					 * append, copyFile, copyDir,
					 * symlink, remove */
#define BCFG_P_MODE "mode"              /* u32: permission bits, <= 07777 */
#define BCFG_P_REPLACE "replace"        /* flag */
#define BCFG_P_TARGET "target"          /* string: a symlink's target */
#define BCFG_N_SCRIPTS "scripts"        /* /msbvm/scripts: script@0.. */
#define BCFG_N_SCRIPT "script"
/* BCFG_P_NAME: the script's name under /.msb/scripts */

/* Content of patches and scripts: members of the same archive, beside
 * config.dtb (docs/boot-config.md "Files"). Patch i's content (text,
 * file, append, copyFile: a regular file; copyDir: a directory tree) is
 * BCFG_FILES/p<i>, script i's BCFG_FILES/s<i>. agentd deletes them once
 * applied. They sit in guest RAM until then: BCFG_MAX_FILES in all. */
#define BCFG_FILES "/msbvm/files"
#define BCFG_MAX_FILES (16u << 20)
#define BCFG_SCRIPTS_DIR "/.msb/scripts"

/* limits (the host refuses more at configuration time) */
#define BCFG_MAX_NAME 64                /* HOST_NAME_MAX */
#define BCFG_MAX_DEVICE 127
#define BCFG_MAX_FSTYPE 31
#define BCFG_MAX_PATH 255
#define BCFG_MAX_WORKDIR 4095
#define BCFG_MAX_USER 255
#define BCFG_MAX_LIST 64                /* init args, init env */
#define BCFG_MAX_STRING 65536           /* one list element */
#define BCFG_MAX_VOLUMES 8              /* MSBVM_MAX_VOLUMES */
#define BCFG_MAX_PATCHES 256
#define BCFG_MAX_SCRIPTS 64
#define BCFG_MAX_TAG 36                 /* virtio_fs_config.tag */
#define BCFG_MAX_SCRIPT_NAME 64

#endif
