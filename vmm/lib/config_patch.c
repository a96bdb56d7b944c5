/* Patches and scripts: stored in the config as given (host files are read
 * when the boot configuration is built, at msbvm_create), checked for
 * shape here; applied by agentd (agentd/patch.c). */
#include "lib.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const patch_names[] = {
	[MSBVM_PATCH_TEXT] = "text", [MSBVM_PATCH_FILE] = "file",
	[MSBVM_PATCH_MKDIR] = "mkdir", [MSBVM_PATCH_APPEND] = "append",
	[MSBVM_PATCH_COPY_FILE] = "copyFile", [MSBVM_PATCH_COPY_DIR] = "copyDir",
	[MSBVM_PATCH_SYMLINK] = "symlink", [MSBVM_PATCH_REMOVE] = "remove",
};

const char *cfg_patch_name(enum msbvm_patch_op op)
{
	return (unsigned)op < sizeof(patch_names) / sizeof(patch_names[0]) ?
		       patch_names[op] : "?";
}

static void patch_free(struct cfg_patch *p)
{
	free(p->path);
	free(p->src);
	free(p->data);
	memset(p, 0, sizeof(*p));
}

/* p's strings and data duplicated into d; -ENOMEM leaves d empty */
static int patch_dup(struct cfg_patch *d, const struct msbvm_patch *p)
{
	memset(d, 0, sizeof(*d));
	d->op = p->op;
	d->mode = p->mode;
	d->replace = p->replace;
	d->len = p->len;
	if (!(d->path = strdup(p->path)) || (p->src && !(d->src = strdup(p->src))) ||
	    (p->len && !(d->data = malloc(p->len)))) {
		patch_free(d);
		return -ENOMEM;
	}
	if (p->len)
		memcpy(d->data, p->data, p->len);
	return 0;
}

static bool patch_needs_src(enum msbvm_patch_op op)
{
	return op == MSBVM_PATCH_COPY_FILE || op == MSBVM_PATCH_COPY_DIR ||
	       op == MSBVM_PATCH_SYMLINK;
}

int msbvm_config_add_patch(msbvm_config *c, const struct msbvm_patch *p)
{
	unsigned i = c->n_patches;

	if ((unsigned)p->op > MSBVM_PATCH_REMOVE) {
		snprintf(c->err, sizeof(c->err), "patch %u: unknown operation %d",
			 i, (int)p->op);
		return -EINVAL;
	}
	if (!p->path || p->path[0] != '/' || strlen(p->path) > BCFG_MAX_WORKDIR) {
		snprintf(c->err, sizeof(c->err), "patch %u (%s): path must be absolute "
			 "(at most %d bytes)", i, cfg_patch_name(p->op), BCFG_MAX_WORKDIR);
		return -EINVAL;
	}
	if (patch_needs_src(p->op) != (p->src != NULL) ||
	    (p->src && !*p->src) || (p->len && !p->data) || p->mode < -1 ||
	    p->mode > 07777) {
		snprintf(c->err, sizeof(c->err), "patch %u (%s %.200s): bad arguments%s", i,
			 cfg_patch_name(p->op), p->path,
			 patch_needs_src(p->op) ? " (a source is required)" : "");
		return -EINVAL;
	}
	if (i == CFG_MAX_PATCHES) {
		snprintf(c->err, sizeof(c->err), "at most %d patches", CFG_MAX_PATCHES);
		return -E2BIG;
	}
	if (!c->patches &&
	    !(c->patches = calloc(CFG_MAX_PATCHES, sizeof(*c->patches))))
		goto oom;
	if (patch_dup(&c->patches[i], p) < 0)
		goto oom;
	c->n_patches++;
	return 0;
oom:
	snprintf(c->err, sizeof(c->err), "out of memory");
	return -ENOMEM;
}

int cfg_patches_copy(struct msbvm_config *d, const struct msbvm_config *s)
{
	d->patches = NULL;
	d->n_patches = 0;
	if (!s->n_patches)
		return 0;
	if (!(d->patches = calloc(CFG_MAX_PATCHES, sizeof(*d->patches))))
		return -ENOMEM;
	for (unsigned i = 0; i < s->n_patches; i++) {
		const struct cfg_patch *p = &s->patches[i];
		struct msbvm_patch m = { p->op, p->path, p->data, p->len, p->src,
					 p->mode, p->replace };
		if (patch_dup(&d->patches[i], &m) < 0)
			return -ENOMEM;
		d->n_patches++;
	}
	return 0;
}

void cfg_patches_free(struct msbvm_config *c)
{
	for (unsigned i = 0; i < c->n_patches; i++)
		patch_free(&c->patches[i]);
	free(c->patches);
	c->patches = NULL;
	c->n_patches = 0;
}

static bool script_name_ok(const char *n)
{
	size_t l = strlen(n);

	if (!l || l > 64 || !strcmp(n, ".") || !strcmp(n, ".."))
		return false;
	return strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789_.-") == l;
}

/* name checked, not yet given; the slot for it, or NULL after err */
static struct cfg_script *script_slot(struct msbvm_config *c, const char *name)
{
	if (!name || !script_name_ok(name)) {
		snprintf(c->err, sizeof(c->err), "script name '%s': one name of "
			 "[A-Za-z0-9_.-], at most 64 bytes", name ? name : "");
		return NULL;
	}
	for (unsigned i = 0; i < c->n_scripts; i++)
		if (!strcmp(c->scripts[i].name, name)) {
			snprintf(c->err, sizeof(c->err), "script %s given twice", name);
			return NULL;
		}
	if (c->n_scripts == CFG_MAX_SCRIPTS) {
		snprintf(c->err, sizeof(c->err), "at most %d scripts", CFG_MAX_SCRIPTS);
		return NULL;
	}
	return &c->scripts[c->n_scripts];
}

/* host or text (the other NULL) */
static int script_add(struct msbvm_config *c, const char *name,
		      const char *host, const char *text)
{
	struct cfg_script *s = script_slot(c, name);

	if (!s)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	if (!(s->name = strdup(name)) || (host && !(s->host = strdup(host))) ||
	    (text && !(s->text = strdup(text)))) {
		free(s->name);
		free(s->host);
		memset(s, 0, sizeof(*s));
		snprintf(c->err, sizeof(c->err), "out of memory");
		return -ENOMEM;
	}
	c->n_scripts++;
	return 0;
}

int msbvm_config_add_script(msbvm_config *c, const char *name,
			    const char *host)
{
	if (!host || !*host) {
		snprintf(c->err, sizeof(c->err), "script %s: no host file",
			 name ? name : "");
		return -EINVAL;
	}
	return script_add(c, name, host, NULL);
}

int msbvm_config_add_script_text(msbvm_config *c, const char *name,
				 const char *content)
{
	if (!content) {
		snprintf(c->err, sizeof(c->err), "script %s: no content",
			 name ? name : "");
		return -EINVAL;
	}
	return script_add(c, name, NULL, content);
}
