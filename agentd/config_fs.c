/* The boot configuration's lists (docs/boot-config.md): volumes, patches
 * and scripts, each a container node of ITEM@0, ITEM@1, ... in order.
 * Parsed as strictly as the rest (config.c): names in sequence, known
 * properties only, each checked for type, length and the operation it
 * belongs to; paths absolute without "." or ".." components. */
#include "config.h"
#include "config_int.h"
#include "proto/bootcfg.h"

#include <libfdt.h>
#include <stdio.h>
#include <string.h>

static const char *const acfg_ops[AP_N_OPS] = {
	[AP_TEXT] = "text", [AP_FILE] = "file", [AP_MKDIR] = "mkdir",
	[AP_APPEND] = "append", [AP_COPY_FILE] = "copyFile",
	[AP_COPY_DIR] = "copyDir", [AP_SYMLINK] = "symlink", [AP_REMOVE] = "remove",
};

const char *acfg_patch_name(enum agent_patch_op op)
{
	return (unsigned)op < AP_N_OPS ? acfg_ops[op] : "?";
}

typedef bool acfg_item_fn(struct acfg_ctx *x, int node, const char *path,
			  struct agent_cfg *c, unsigned i);

/* /msbvm/CNAME: no properties; subnodes ITEM@0.. in order, at most max */
static bool acfg_items(struct acfg_ctx *x, int parent, const char *cname,
		       const char *item, unsigned max, acfg_item_fn *fn,
		       struct agent_cfg *c, unsigned *n)
{
	char path[40], ipath[80], want[40];
	int node = fdt_subnode_offset(x->fdt, parent, cname), off;

	*n = 0;
	if (node < 0)
		return true;
	snprintf(path, sizeof(path), "/%s/%s", BCFG_NODE, cname);
	fdt_for_each_property_offset(off, x->fdt, node) {
		const char *name = NULL;
		fdt_getprop_by_offset(x->fdt, off, &name, NULL);
		return acfg_fail(x, "unknown property %s/%s", path, name ? name : "?");
	}
	fdt_for_each_subnode(off, x->fdt, node) {
		const char *name = fdt_get_name(x->fdt, off, NULL);

		if (*n == max)
			return acfg_fail(x, "%s: more than %u entries", path, max);
		snprintf(want, sizeof(want), "%s@%u", item, *n);
		if (!name || strcmp(name, want))
			return acfg_fail(x, "unknown node %s/%s (expected %s)", path,
					 name ? name : "?", want);
		snprintf(ipath, sizeof(ipath), "%s/%s", path, want);
		if (!fn(x, off, ipath, c, *n))
			return false;
		(*n)++;
	}
	return true;
}

/* absolute, not "/", no empty, "." or ".." component */
static bool acfg_path_ok(const char *p)
{
	if (p[0] != '/' || !p[1])
		return false;
	for (const char *s = p + 1;;) {
		size_t l = strcspn(s, "/");
		if (!l || (l == 1 && s[0] == '.') ||
		    (l == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!s[l])
			return true;
		s += l + 1;
	}
}

static bool acfg_path(struct acfg_ctx *x, int node, const char *path,
		      size_t max, char **out)
{
	if (!acfg_str(x, node, path, BCFG_P_PATH, max, true, out))
		return false;
	if (!acfg_path_ok(*out))
		return acfg_fail(x, "property %s/%s: %s is not an absolute path "
				 "without . or .. components", path, BCFG_P_PATH, *out);
	return true;
}

/* an empty property: *on tells whether it is there */
static bool acfg_flag(struct acfg_ctx *x, int node, const char *path,
		      const char *prop, bool *on)
{
	int len;

	*on = fdt_getprop(x->fdt, node, prop, &len) != NULL;
	if (*on && len != 0)
		return acfg_fail(x, "property %s/%s: a flag, expected 0 bytes, found %d",
				 path, prop, len);
	return true;
}

static bool acfg_volume(struct acfg_ctx *x, int node, const char *path,
			struct agent_cfg *c, unsigned i)
{
	static const char *const props[] = { BCFG_P_TAG, BCFG_P_PATH,
					     BCFG_P_READONLY, NULL };
	static const char *const none[] = { NULL };
	struct agent_vol *v = &c->vols[i];

	if (!acfg_known(x, node, path, props, none) ||
	    !acfg_str(x, node, path, BCFG_P_TAG, BCFG_MAX_TAG, true, &v->tag) ||
	    !acfg_path(x, node, path, BCFG_MAX_PATH, &v->path) ||
	    !acfg_flag(x, node, path, BCFG_P_READONLY, &v->ro))
		return false;
	for (unsigned j = 0; j < i; j++)
		if (!strcmp(c->vols[j].path, v->path))
			return acfg_fail(x, "%s: a second volume on %s", path, v->path);
	return true;
}

bool acfg_volumes(struct acfg_ctx *x, int parent, struct agent_cfg *c)
{
	return acfg_items(x, parent, BCFG_N_VOLUMES, BCFG_N_VOLUME,
			  BCFG_MAX_VOLUMES, acfg_volume, c, &c->n_vols);
}

/* the seed's options: mode for text/file/mkdir/copyFile, replace for
 * all but mkdir/append/remove, a target for symlink only */
static bool acfg_patch_opts(struct acfg_ctx *x, int node, const char *path,
			    struct agent_patch *p)
{
	enum agent_patch_op o = p->op;
	bool takes_mode = o == AP_TEXT || o == AP_FILE || o == AP_MKDIR ||
			  o == AP_COPY_FILE;
	bool takes_replace = o != AP_MKDIR && o != AP_APPEND && o != AP_REMOVE;
	uint32_t mode;

	p->mode = -1;
	if (fdt_getprop(x->fdt, node, BCFG_P_MODE, NULL)) {
		if (!takes_mode)
			return acfg_fail(x, "property %s/%s: %s takes no mode", path,
					 BCFG_P_MODE, acfg_ops[o]);
		if (!acfg_u32(x, node, path, BCFG_P_MODE, 0, 07777, &mode))
			return false;
		p->mode = (int)mode;
	}
	if (!acfg_flag(x, node, path, BCFG_P_REPLACE, &p->replace))
		return false;
	if (p->replace && !takes_replace)
		return acfg_fail(x, "property %s/%s: %s takes no replace", path,
				 BCFG_P_REPLACE, acfg_ops[o]);
	if (!acfg_str(x, node, path, BCFG_P_TARGET, BCFG_MAX_WORKDIR,
		      o == AP_SYMLINK, &p->target))
		return false;
	if (p->target && o != AP_SYMLINK)
		return acfg_fail(x, "property %s/%s: %s takes no target", path,
				 BCFG_P_TARGET, acfg_ops[o]);
	return true;
}

static bool acfg_patch(struct acfg_ctx *x, int node, const char *path,
		       struct agent_cfg *c, unsigned i)
{
	static const char *const props[] = { BCFG_P_OP, BCFG_P_PATH, BCFG_P_MODE,
					     BCFG_P_REPLACE, BCFG_P_TARGET, NULL };
	static const char *const none[] = { NULL };
	struct agent_patch *p = &c->patches[i];
	char *op;
	unsigned k;

	if (!acfg_known(x, node, path, props, none) ||
	    !acfg_str(x, node, path, BCFG_P_OP, 16, true, &op))
		return false;
	for (k = 0; k < AP_N_OPS && strcmp(acfg_ops[k], op); k++)
		;
	if (k == AP_N_OPS)
		return acfg_fail(x, "property %s/%s: unknown operation %s", path,
				 BCFG_P_OP, op);
	p->op = (enum agent_patch_op)k;
	return acfg_path(x, node, path, BCFG_MAX_WORKDIR, &p->path) &&
	       acfg_patch_opts(x, node, path, p);
}

bool acfg_patches(struct acfg_ctx *x, int parent, struct agent_cfg *c)
{
	return acfg_items(x, parent, BCFG_N_PATCHES, BCFG_N_PATCH,
			  BCFG_MAX_PATCHES, acfg_patch, c, &c->n_patches);
}

static bool acfg_script(struct acfg_ctx *x, int node, const char *path,
			struct agent_cfg *c, unsigned i)
{
	static const char *const props[] = { BCFG_P_NAME, NULL };
	static const char *const none[] = { NULL };
	char *n;

	if (!acfg_known(x, node, path, props, none) ||
	    !acfg_str(x, node, path, BCFG_P_NAME, BCFG_MAX_SCRIPT_NAME, true, &n))
		return false;
	if (strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789_.-") != strlen(n) || !strcmp(n, ".") || !strcmp(n, ".."))
		return acfg_fail(x, "property %s/%s: '%s' is not one name of "
				 "[A-Za-z0-9_.-]", path, BCFG_P_NAME, n);
	for (unsigned j = 0; j < i; j++)
		if (!strcmp(c->scripts[j], n))
			return acfg_fail(x, "%s: script %s given twice", path, n);
	c->scripts[i] = n;
	return true;
}

bool acfg_scripts(struct acfg_ctx *x, int parent, struct agent_cfg *c)
{
	return acfg_items(x, parent, BCFG_N_SCRIPTS, BCFG_N_SCRIPT,
			  BCFG_MAX_SCRIPTS, acfg_script, c, &c->n_scripts);
}
