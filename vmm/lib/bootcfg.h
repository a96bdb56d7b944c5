/* The VM's boot configuration for agentd (proto/bootcfg.h,
 * docs/boot-config.md): built with libfdt, wrapped into a cpio archive
 * that is loaded right after the agent initramfs. */
#ifndef MSBVM_LIB_BOOTCFG_H
#define MSBVM_LIB_BOOTCFG_H

#include <stddef.h>
#include <stdint.h>

struct msbvm_config;

struct bcfg_blob {
	uint8_t *data;
	size_t len;
};

/* The device tree for config c, VM name and control-channel token
 * (PROTO_TOKEN_HEX hex digits); -errno with err_msg(). */
int bcfg_fdt(const struct msbvm_config *c, const char *name,
	     const char *token, struct bcfg_blob *out);
/* A cpio (newc) archive holding BCFG_DIR/ and the blob as BCFG_PATH. */
int bcfg_archive(const struct bcfg_blob *dtb, struct bcfg_blob *out);
/* The same plus the content of c's patches and scripts (host files read
 * now: -errno naming a missing one; BCFG_MAX_FILES in all). */
int bcfg_archive_files(const struct msbvm_config *c,
		       const struct bcfg_blob *dtb, struct bcfg_blob *out);
/* Both, for the agent initramfs of this VM. */
int bcfg_build(const struct msbvm_config *c, const char *name,
	       const char *token, struct bcfg_blob *out);
void bcfg_free(struct bcfg_blob *b);

#endif
