/* msbvm_image_rootfs (what `run IMAGE` starts from) and login/logout. */
#ifndef MSBVM_NO_IMAGES /* else image_none.c */
#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void rf_free_list(char **l)
{
	for (size_t i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

void msbvm_image_rootfs_free(struct msbvm_image_rootfs *r)
{
	free(r->path);
	free(r->digest);
	rf_free_list(r->entrypoint);
	rf_free_list(r->cmd);
	rf_free_list(r->env);
	free(r->workdir);
	free(r->user);
	memset(r, 0, sizeof(*r));
}

static int rf_config(msbvm_image_store *s, const char *digest,
		     struct msbvm_image_rootfs *out)
{
	struct oci_buf b = { 0 };
	struct oci_manifest m;
	struct oci_config c;
	int rc;

	if ((rc = oci_store_read_blob(&s->st, digest, OCI_MANIFEST_MAX, &b,
				      &s->err)) < 0)
		return rc;
	rc = oci_manifest_parse(b.data, b.len, &m, &s->err);
	oci_buf_free(&b);
	if (rc < 0 || (rc = oci_store_read_blob(&s->st, m.config.digest,
						OCI_CONFIG_MAX, &b, &s->err)) < 0)
		return rc;
	rc = oci_config_parse(b.data, b.len, &c, &s->err);
	oci_buf_free(&b);
	if (rc < 0)
		return rc;
	out->entrypoint = c.entrypoint;
	out->cmd = c.cmd;
	out->env = c.env;
	out->workdir = c.workdir;
	out->user = c.user;
	free(c.created);
	return 0;
}

int msbvm_image_rootfs(msbvm_image_store *s, const char *ref,
		       struct msbvm_image_rootfs *out)
{
	char digest[OCI_DIGEST_LEN + 1], norm[700], path[PATH_MAX];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = oci_store_ref_get(&s->st, ref, digest, norm, sizeof(norm),
				    &s->err)) < 0 ||
	    (rc = rf_config(s, digest, out)) < 0 ||
	    (rc = oci_rootfs_build(&s->st, digest, path, sizeof(path),
				   &s->err)) < 0) {
		msbvm_image_rootfs_free(out);
		return rc;
	}
	if (!(out->path = strdup(path)) || !(out->digest = strdup(digest))) {
		msbvm_image_rootfs_free(out);
		return -ENOMEM;
	}
	return 0;
}

int msbvm_image_login(msbvm_image_store *s, const char *registry,
		      const char *user, const char *password)
{
	char cfg[4096];

	oci_docker_config_path(cfg, sizeof(cfg));
	return oci_creds_store(cfg, registry, user, password, &s->err);
}

int msbvm_image_logout(msbvm_image_store *s, const char *registry)
{
	char cfg[4096];

	oci_docker_config_path(cfg, sizeof(cfg));
	return oci_creds_erase(cfg, registry, &s->err);
}
#endif
