/* agentd's boot configuration (proto/bootcfg.h, docs/boot-config.md):
 * parsed from the device tree blob the VMM puts at BCFG_PATH. Pure: no
 * system calls, so the host unit tests and the fuzz target run the same
 * code as the guest. */
#ifndef MSBVM_AGENTD_CONFIG_H
#define MSBVM_AGENTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentd.h"
#include "init.h"
#include "proto/bootcfg.h"

/* /msbvm/network: eth0's static IPv4 settings (network byte order) */
struct agent_net {
	bool want;
	uint8_t addr[4], gateway[4], dns[4];
	uint32_t prefix, mtu;
};

/* /msbvm/volumes: virtio-fs shares to mount (tag on path) */
struct agent_vol {
	char *tag, *path;
	bool ro;
};

/* /msbvm/patches, in the seed's terms (agentd/patch.c applies them) */
enum agent_patch_op { AP_TEXT, AP_FILE, AP_MKDIR, AP_APPEND, AP_COPY_FILE,
		      AP_COPY_DIR, AP_SYMLINK, AP_REMOVE, AP_N_OPS };
struct agent_patch {
	enum agent_patch_op op;
	char *path, *target;   /* target: SYMLINK only */
	int mode;              /* -1: the operation's default */
	bool replace;
};

struct agent_cfg {
	uint32_t version;
	char *name;            /* the hostname */
	uint64_t host_time_ms; /* host CLOCK_REALTIME when built */
	char *token;           /* HELLO's token= (proto_token_valid) */
	bool has_root;
	char *root_dev, *root_fstype;
	char *root_upper;      /* overlay upper: "tmpfs" or a device; NULL: none */
	bool root_ro;
	struct init_cfg init;  /* init.want false: no handoff */
	struct exec_defaults exec; /* all empty: none */
	struct agent_net net;      /* net.want false: no network */
	struct agent_vol vols[BCFG_MAX_VOLUMES];
	unsigned n_vols;
	struct agent_patch patches[BCFG_MAX_PATCHES];
	unsigned n_patches;
	char *scripts[BCFG_MAX_SCRIPTS];  /* names; content in BCFG_FILES */
	unsigned n_scripts;
};

/* "text", "copyFile", ... ("?" out of range) */
const char *acfg_patch_name(enum agent_patch_op op);

/* Validates and parses blob (len bytes, writable: the strings in *c point
 * into it and must outlive c). false with err naming the node or
 * property that was wrong. */
bool acfg_parse(void *blob, size_t len, struct agent_cfg *c, char *err,
		size_t errlen);

#endif
