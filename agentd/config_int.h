/* Helpers shared by the boot configuration parser's files (config.c,
 * config_fs.c); not part of agentd's interface. */
#ifndef MSBVM_AGENTD_CONFIG_INT_H
#define MSBVM_AGENTD_CONFIG_INT_H

#include "config.h"

struct acfg_ctx {
	void *fdt;
	char *err;
	size_t errlen;
};

/* records "boot configuration: ..." in x->err; false */
bool acfg_fail(struct acfg_ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* node's properties and subnodes all in the NULL-ended lists, none twice */
bool acfg_known(struct acfg_ctx *x, int node, const char *path,
		const char *const *props, const char *const *nodes);
/* one string of 1..max bytes; *out NULL when absent and not required */
bool acfg_str(struct acfg_ctx *x, int node, const char *path,
	      const char *prop, size_t max, bool required, char **out);
/* a u32 in [min, max] (required) */
bool acfg_u32(struct acfg_ctx *x, int node, const char *path,
	      const char *prop, uint32_t min, uint32_t max, uint32_t *out);

/* config_fs.c: /msbvm/volumes, /msbvm/patches, /msbvm/scripts */
bool acfg_volumes(struct acfg_ctx *x, int parent, struct agent_cfg *c);
bool acfg_patches(struct acfg_ctx *x, int parent, struct agent_cfg *c);
bool acfg_scripts(struct acfg_ctx *x, int parent, struct agent_cfg *c);

#endif
