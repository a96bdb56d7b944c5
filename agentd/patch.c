/* Patches (the seed's eight operations), scripts and volumes, in the
 * order the boot needs them: patches are all validated first, against
 * the root as it is plus what the patches before each one do, and only
 * then applied, so that a refused patch (a path that exists without
 * replace, an append to nothing) leaves the root as it was; the boot
 * then stops with the patch's index, operation and path. */
#include "patch.h"
#include "agentd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* q is p or lies below it */
static bool patch_under(const char *q, const char *p)
{
	size_t n = strlen(p);

	return !strncmp(q, p, n) && (q[n] == '\0' || q[n] == '/');
}

/* Whether path exists once patches 0..i-1 have run: the latest of them
 * that decides it, else the root as it is; *dir: it is a directory. */
static bool patch_exists(const struct agent_cfg *c, int files_fd, unsigned i,
			 const char *path, bool *dir)
{
	char rel[PATH_MAX];
	struct stat st;

	*dir = false;
	for (unsigned j = i; j-- > 0;) {
		const struct agent_patch *q = &c->patches[j];

		if (q->op == AP_REMOVE) {
			if (patch_under(path, q->path))
				return false;
		} else if (q->op != AP_APPEND && patch_under(q->path, path)) {
			/* made by q, or one of the parents q makes */
			*dir = strcmp(q->path, path) || q->op == AP_MKDIR ||
			       q->op == AP_COPY_DIR;
			return true;
		} else if (q->op == AP_COPY_DIR && patch_under(path, q->path)) {
			snprintf(rel, sizeof(rel), "p%u%s", j, path + strlen(q->path));
			if (fstatat(files_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
				return false;
			*dir = S_ISDIR(st.st_mode);
			return true;
		}
	}
	if (lstat(path, &st) < 0)
		return false;
	*dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	return true;
}

static bool patch_check(const struct agent_cfg *c, struct patch_ctx *x)
{
	const struct agent_patch *p = x->p;
	bool dir, exists = patch_exists(c, x->files_fd, x->idx, p->path, &dir);

	switch (p->op) {
	case AP_MKDIR:
		if (exists && !dir)
			return patch_fail(x, "%s exists and is not a directory", p->path);
		return true;
	case AP_APPEND:
		if (!exists)
			return patch_fail(x, "%s does not exist: append needs an "
					  "existing file", p->path);
		if (dir)
			return patch_fail(x, "%s is a directory", p->path);
		return true;
	case AP_REMOVE:
		return true;
	default:
		if (exists && !p->replace)
			return patch_fail(x, "%s already exists (set replace to "
					  "overwrite it)", p->path);
		return true;
	}
}

static void patch_ctx_init(struct patch_ctx *x, const struct agent_cfg *c,
			   unsigned i, int files_fd, char *err, size_t len)
{
	x->p = &c->patches[i];
	x->idx = i;
	x->files_fd = files_fd;
	x->err = err;
	x->errlen = len;
	snprintf(x->what, sizeof(x->what), "patch %u (%s %s)", i,
		 acfg_patch_name(x->p->op), x->p->path);
}

bool patch_apply(const struct agent_cfg *c, int files_fd, char *err, size_t len)
{
	struct patch_ctx x;

	for (unsigned i = 0; i < c->n_patches; i++) {
		patch_ctx_init(&x, c, i, files_fd, err, len);
		if (!patch_check(c, &x))
			return false;
	}
	for (unsigned i = 0; i < c->n_patches; i++) {
		patch_ctx_init(&x, c, i, files_fd, err, len);
		if (!patch_op(&x))
			return false;
	}
	if (c->n_patches)
		agent_log("applied %u patches", c->n_patches);
	return true;
}

bool patch_scripts(const struct agent_cfg *c, int files_fd, char *err, size_t len)
{
	struct patch_ctx x = { .files_fd = files_fd, .err = err, .errlen = len };
	char name[32], path[sizeof(BCFG_SCRIPTS_DIR) + BCFG_MAX_SCRIPT_NAME + 2];

	for (unsigned i = 0; i < c->n_scripts; i++) {
		snprintf(x.what, sizeof(x.what), "script %s", c->scripts[i]);
		snprintf(name, sizeof(name), "s%u", i);
		snprintf(path, sizeof(path), "%s/%s", BCFG_SCRIPTS_DIR, c->scripts[i]);
		int src = openat(files_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (src < 0)
			return patch_fail(&x, "its content (%s/%s) is missing: %s",
					  BCFG_FILES, name, strerror(errno));
		bool ok = patch_write(&x, path, src, 0755);
		close(src);
		if (!ok)
			return false;
	}
	return true;
}

bool patch_volumes(const struct agent_cfg *c, char *err, size_t len)
{
	struct patch_ctx x = { .err = err, .errlen = len };

	for (unsigned i = 0; i < c->n_vols; i++) {
		const struct agent_vol *v = &c->vols[i];

		snprintf(x.what, sizeof(x.what), "volume %s on %s", v->tag, v->path);
		/* made in the root (its writable layer) when missing */
		if (!patch_mkparents(v->path) || (mkdir(v->path, 0755) < 0 && errno != EEXIST))
			return patch_fail(&x, "cannot create %s: %s", v->path,
					  strerror(errno));
		/* virtiofs answers EINVAL for a tag no device offers */
		if (mount(v->tag, v->path, "virtiofs", v->ro ? MS_RDONLY : 0, NULL) < 0)
			return patch_fail(&x, "mount -t virtiofs: %s%s", strerror(errno),
					  errno == EINVAL ? " (no virtio-fs device with "
					  "that tag?)" : "");
	}
	return true;
}
