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

struct msbvm_config {
	char *kernel, *agent_initrd, *initrd, *rootfs, *cmdline, *append;
	char *name, *state_dir, *init, *profile, *overlay;
	struct machine_disk disks[CFG_MAX_DISKS];
	unsigned n_disks;
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
