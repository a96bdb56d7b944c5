/* Volumes: host directories shared over virtio-fs (virtio/fs.c) and
 * mounted by agentd; and a host directory as the root. The setter checks
 * what it can see alone (the host directory exists, the guest path's
 * shape); cfg_validate_volumes checks them against each other and the
 * rest of the config. */
#include "lib.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int vol_bad(struct msbvm_config *c, int e, const char *fmt,
		   const char *v)
{
	snprintf(c->err, sizeof(c->err), fmt, v);
	return -e;
}

/* Absolute, no "." or ".." component, no empty component (so no "//"),
 * not "/" itself; a trailing '/' is dropped. agentd mounts there and
 * creates it if missing: ".." could climb out of a volume mounted earlier
 * into the root (agentd checks again). */
static bool vol_guest_ok(char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/' || n > BCFG_MAX_PATH)
		return false;
	while (n > 1 && p[n - 1] == '/')
		p[--n] = 0;
	if (n == 1)
		return false;
	for (const char *s = p + 1; *s;) {
		size_t l = strcspn(s, "/");
		if (!l || (l == 1 && s[0] == '.') ||
		    (l == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += l + (s[l] == '/');
	}
	return true;
}

int msbvm_config_add_volume(msbvm_config *c, const char *host,
			    const char *guest, bool ro)
{
	char real[PATH_MAX], *g;
	struct stat st;

	if (c->n_vols == MSBVM_MAX_VOLUMES) {
		snprintf(c->err, sizeof(c->err), "at most %d volumes",
			 MSBVM_MAX_VOLUMES);
		return -E2BIG;
	}
	if (!host || !*host)
		return vol_bad(c, EINVAL, "volume: empty host directory%s", "");
	if (!realpath(host, real) || stat(real, &st) < 0)
		return vol_bad(c, ENOENT, "volume %s: no such host directory", host);
	if (!S_ISDIR(st.st_mode))
		return vol_bad(c, ENOTDIR, "volume %s: not a directory", host);
	if (!guest || !(g = strdup(guest)))
		return vol_bad(c, guest ? ENOMEM : EINVAL, "volume %s: no guest path",
			       host);
	if (!vol_guest_ok(g)) {
		free(g);
		return vol_bad(c, EINVAL, "volume guest path '%s': must be absolute, "
			       "not /, without . or .. components", guest);
	}
	for (unsigned i = 0; i < c->n_vols; i++)
		if (!strcmp(c->vols[i].guest, g)) {
			free(g);
			return vol_bad(c, EEXIST, "two volumes on one guest path %s",
				       guest);
		}
	if (!(c->vols[c->n_vols].host = strdup(real))) {
		free(g);
		return vol_bad(c, ENOMEM, "out of memory%s", "");
	}
	c->vols[c->n_vols].guest = g;
	c->vols[c->n_vols++].ro = ro;
	return 0;
}

bool cfg_rootfs_dir(const struct msbvm_config *c)
{
	struct stat st;

	return c->rootfs && !c->image && stat(c->rootfs, &st) == 0 &&
	       S_ISDIR(st.st_mode);
}

int msbvm_config_set_upper_size(msbvm_config *c, uint64_t mib)
{
	if (mib < 64 || mib > (1u << 20)) {
		snprintf(c->err, sizeof(c->err), "upper size %llu MiB: expected 64 "
			 "to 1048576", (unsigned long long)mib);
		return -EINVAL;
	}
	c->upper_mib = mib;
	return msbvm_config_set_overlay(c, "scratch");
}

int cfg_validate_volumes(const struct msbvm_config *c)
{
	/* the seed: patches are "not supported with disk image roots" (a
	 * read-write disk has no writable layer to put them in) */
	if (c->n_patches && c->rootfs && !cfg_overlay(c) && !cfg_rootfs_dir(c))
		return err_set(EINVAL, "patches are not supported with disk image "
			       "roots (--rootfs %s is mounted read-write): use an "
			       "image, a directory root or --overlay", c->rootfs);
	if ((c->n_patches || c->n_scripts) && !c->agent)
		return err_set(EINVAL, "patches and scripts need the agent (it "
			       "applies them)");
	if (c->n_vols && !c->agent)
		return err_set(EINVAL, "volumes (-v) need the agent (it mounts them)");
	if (cfg_rootfs_dir(c) && !c->agent)
		return err_set(EINVAL, "a directory root (--rootfs %s) needs the "
			       "agent (it mounts the share)", c->rootfs);
	return 0;
}
