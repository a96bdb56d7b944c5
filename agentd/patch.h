/* Rootfs patches, scripts and volumes (docs/boot-config.md): applied by
 * agentd after the root switch, before the command or the init handoff.
 * Content comes from the per-VM archive's BCFG_FILES, reached through a
 * directory fd opened before the switch (the initramfs is out of sight
 * after it). Each returns false with err naming what failed. */
#ifndef MSBVM_AGENTD_PATCH_H
#define MSBVM_AGENTD_PATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Validates every patch against the root (and the patches before it),
 * then applies them in order: a refused patch changes nothing. */
bool patch_apply(const struct agent_cfg *c, int files_fd, char *err, size_t len);
/* Scripts into BCFG_SCRIPTS_DIR, mode 0755. */
bool patch_scripts(const struct agent_cfg *c, int files_fd, char *err, size_t len);
/* The content is no longer needed: remove it from the initramfs. */
void patch_cleanup(int files_fd);
/* mount -t virtiofs TAG PATH for each volume (PATH made if missing). */
bool patch_volumes(const struct agent_cfg *c, char *err, size_t len);

/* patch_ops.c: the file system side (paths absolute in the root) */
struct patch_ctx {
	const struct agent_patch *p;  /* NULL: a script */
	unsigned idx;
	int files_fd;           /* BCFG_FILES */
	char what[BCFG_MAX_WORKDIR + 64]; /* "patch 2 (text /etc/motd)" */
	char *err;
	size_t errlen;
};
/* err = "WHAT: ..."; false */
bool patch_fail(struct patch_ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Patch x->p (already validated) */
bool patch_op(struct patch_ctx *x);
/* mkdir -p of path's parent (mode 0755 for what it makes) */
bool patch_mkparents(const char *path);
/* rm -rf, not crossing mounts; ENOENT is fine */
int patch_rm_rf(const char *path);
/* src_fd's bytes into path, atomically (a temporary name, then rename) */
bool patch_write(struct patch_ctx *x, const char *path, int src_fd, unsigned mode);

#endif
