/* libmsbvm internals: the objects behind the opaque handles of
 * include/msbvm.h, shared by config.c (settings and validation),
 * sandbox.c (a VM this process runs) and client.c (commands, files, and
 * VMs found by name). */
#ifndef MSBVM_LIB_H
#define MSBVM_LIB_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "include/msbvm.h"
#include "machine.h"
#include "proto/bootcfg.h"
#include "proto/proto.h"
#include "report.h"
#include "seccomp.h"
#include "state.h"

#define CFG_MAX_DISKS 8
#define CFG_MAX_LIST BCFG_MAX_LIST /* what agentd takes */
#define CFG_MEM_MIN_MIB 32
#define CFG_MEM_DEFAULT_MIB 128
#define LIB_ERR_LEN 600
#define CFG_MAX_PATCHES 256
#define CFG_MAX_SCRIPTS 64
/* virtio-fs tags (the guest mounts by tag): volume i, a directory root */
#define CFG_VOL_TAG "msbvm-vol%u"
#define CFG_ROOT_TAG "msbvm-root"

struct cfg_volume {
	char *host;   /* absolute, resolved (realpath) */
	char *guest;  /* absolute, no trailing '/', no ".." */
	bool ro;
};

struct cfg_patch {
	enum msbvm_patch_op op;
	char *path, *src;     /* src: COPY_* host path, SYMLINK target */
	void *data;           /* TEXT/FILE/APPEND content, len bytes */
	size_t len;
	int mode;             /* -1: default */
	bool replace;
};

struct cfg_script {
	char *name, *host;    /* host: a file read at create, or NULL: */
	char *text;           /* the content given inline (a spec) */
};

struct msbvm_config {
	char *kernel, *agent_initrd, *initrd, *rootfs, *cmdline, *append;
	char *name, *state_dir, *init, *profile, *overlay;
	char *spec_image;     /* a spec's "image" (msbvm_config_spec_image) */
	/* a spec's env and workdir: every command's defaults, over an
	 * image's (bcfg_exec merges them) */
	char *spec_env[CFG_MAX_LIST], *spec_workdir;
	unsigned n_spec_env;
	uint64_t upper_mib;   /* scratch upper's size (0: MSBVM_SCRATCH_MIB) */
	struct machine_disk disks[CFG_MAX_DISKS];
	unsigned n_disks;
	/* virtio-fs shares (config_vol.c) */
	struct cfg_volume vols[MSBVM_MAX_VOLUMES];
	unsigned n_vols;
	/* patches and scripts (config_patch.c): applied by agentd */
	struct cfg_patch *patches;   /* CFG_MAX_PATCHES entries, or NULL */
	unsigned n_patches;
	struct cfg_script scripts[CFG_MAX_SCRIPTS];
	unsigned n_scripts;
	char *init_args[CFG_MAX_LIST], *init_env[CFG_MAX_LIST];
	unsigned n_init_args, n_init_env;
	/* an image's defaults for every command (msbvm_config_set_image) */
	bool image;
	char *exec_env[CFG_MAX_LIST], *exec_workdir, *exec_user;
	unsigned n_exec_env;
	uint64_t mem_mib;
	unsigned cpus;
	/* network (config_net.c): on unless net_off; ports to publish */
	bool net_off, has_dns;
	struct in_addr dns;
	struct net_spec net;
	bool agent;
	int console_fd, console_in_fd;
	enum msbvm_nested nested;
	enum msbvm_seccomp seccomp;
	msbvm_log_fn log_fn;
	void *log_opaque;
	bool verbose;
	char err[LIB_ERR_LEN];
};

struct msbvm {
	bool owner;                 /* this process runs the VM */
	struct msbvm_config *cfg;   /* a copy (owner) */
	struct log_sink log;
	struct machine *m;          /* owner only */
	struct vmstate st;
	bool have_state;
	char sock[PATH_MAX];        /* the vsock device's Unix socket */
	struct ctl *cl;             /* an idle agent connection kept for reuse */
	int ready_fd;               /* listener sock_1025 (agent READY) */
	int console_fd;             /* ours, closed at destroy */
	bool started, ready, joined;
	pid_t pid;                  /* msbvm_open: the VMM's pid */
	/* the agent's HELLO token (token.c); "" with token_err saying why
	 * when msbvm_open could not read it */
	char token[PROTO_TOKEN_HEX + 1];
	char token_err[200];
	struct sc_set sc;           /* owner: this VM's seccomp filters */
	struct timespec t0, shutdown_at;
	struct report rep;
	char err[LIB_ERR_LEN];
};

/* config.c */
int cfg_fail(struct msbvm_config *c, int rc);
struct msbvm_config *cfg_clone(const struct msbvm_config *c);
/* Everything checkable before any resource is taken; -errno, err_msg. */
int cfg_validate(const struct msbvm_config *c);
/* The full kernel command line for this config. */
int cfg_cmdline(const struct msbvm_config *c, char *buf, size_t len);
void cfg_state_root(const struct msbvm_config *c, char *out, size_t len);
/* The overlay's upper layer: "tmpfs", "scratch", a path, or NULL (none);
 * an image without --overlay gets "scratch". */
const char *cfg_overlay(const struct msbvm_config *c);

/* config_vol.c: true when the root (--rootfs) is a host directory,
 * shared read-only as CFG_ROOT_TAG under an overlay (tmpfs upper unless
 * --overlay says otherwise). */
bool cfg_rootfs_dir(const struct msbvm_config *c);
/* config_vol.c: the volumes' guest paths against each other (at create) */
int cfg_validate_volumes(const struct msbvm_config *c);
/* config_patch.c: deep copy of src's patches into d (d->patches NULL);
 * free */
int cfg_patches_copy(struct msbvm_config *d, const struct msbvm_config *src);
void cfg_patches_free(struct msbvm_config *c);
const char *cfg_patch_name(enum msbvm_patch_op op); /* "copyFile" */

/* sandbox.c / client.c: record err_msg() (or a message) on the handle */
int lib_fail(struct msbvm *vm, int rc);
int lib_failf(struct msbvm *vm, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* scratch.c: an empty sparse ext4 image "upper.ext4" in the VM's state
 * directory (MSBVM_SCRATCH_MIB), its path in path; -errno, err_msg. */
int scratch_create(struct vmstate *st, char *path, size_t len);

/* token.c: the control channel's per-VM token. token_new fills out
 * from getrandom(2); token_store writes it to the state directory's
 * "token" file (0600); token_load reads it back, refusing a file that is
 * not a regular 0600 file of ours. -errno with err_msg(). */
int token_new(char out[PROTO_TOKEN_HEX + 1]);
int token_store(const struct vmstate *s, const char *token);
int token_load(const struct vmstate *s, char out[PROTO_TOKEN_HEX + 1]);

/* sandbox.c */
int lib_shutdown(struct msbvm *vm);

/* client.c: agent connections (reused while idle), handles from msbvm_open */
struct ctl;
struct ctl *client_connect(struct msbvm *vm);
void client_release(struct msbvm *vm, struct ctl *cl, bool clean);
int client_wait_gone(struct msbvm *vm, int timeout_ms, struct msbvm_status *st);
int client_stop(struct msbvm *vm, int timeout_ms);
void client_close(struct msbvm *vm);

#endif
