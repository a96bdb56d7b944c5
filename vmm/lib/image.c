/* msbvm_image_*: the public face of oci/ (include/msbvm.h, "images"). */
#ifndef MSBVM_NO_IMAGES /* else image_none.c */
#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int msbvm_image_store_open(const char *root, msbvm_image_store **out)
{
	msbvm_image_store *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->o.progress_fd = -1;
	s->o.insecure = (const char *const *)s->insecure;
	rc = oci_store_open(&s->st, root, &s->err);
	*out = s; /* even on failure: the message is on it */
	return rc;
}

void msbvm_image_store_close(msbvm_image_store *s)
{
	if (!s)
		return;
	oci_store_close(&s->st);
	for (size_t i = 0; i < s->o.n_insecure; i++)
		free(s->insecure[i]);
	free(s->platform);
	free(s->ca_cert);
	free(s);
}

const char *msbvm_image_errmsg(const msbvm_image_store *s)
{
	return s ? s->err.msg : "out of memory";
}

const char *msbvm_image_store_root(const msbvm_image_store *s)
{
	return s->st.root;
}

static int img_strset(char **dst, const char *v)
{
	char *d = v ? strdup(v) : NULL;

	if (v && !d)
		return -ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

int msbvm_image_set_platform(msbvm_image_store *s, const char *platform)
{
	int rc = img_strset(&s->platform, platform);

	s->o.platform = s->platform;
	return rc;
}

int msbvm_image_add_insecure_registry(msbvm_image_store *s, const char *host)
{
	if (s->o.n_insecure >= IMG_MAX_INSECURE)
		return oci_errf(&s->err, E2BIG, "at most %d insecure registries",
				IMG_MAX_INSECURE);
	if (!(s->insecure[s->o.n_insecure] = strdup(host)))
		return -ENOMEM;
	s->o.n_insecure++;
	return 0;
}

int msbvm_image_set_ca_cert(msbvm_image_store *s, const char *path)
{
	int rc = img_strset(&s->ca_cert, path);

	s->o.ca_cert = s->ca_cert;
	return rc;
}

int msbvm_image_set_progress_fd(msbvm_image_store *s, int fd)
{
	s->o.progress_fd = fd;
	s->o.progress_fd_tty = fd >= 0 && isatty(fd);
	return 0;
}

int msbvm_image_pull(msbvm_image_store *s, const char *ref, char *digest)
{
	return oci_pull(&s->st, ref, &s->o, digest, &s->err);
}

struct img_list {
	msbvm_image_list_fn fn;
	void *opaque;
};

static int img_list_one(const struct oci_image_entry *ie, void *opaque)
{
	struct img_list *l = opaque;
	struct msbvm_image_info ii = {
		.ref = ie->ref, .digest = ie->digest,
		.created = ie->created ? ie->created : "", .size = ie->size,
	};

	return l->fn(&ii, l->opaque);
}

int msbvm_image_list(msbvm_image_store *s, msbvm_image_list_fn fn,
		     void *opaque)
{
	struct img_list l = { fn, opaque };

	return oci_store_list(&s->st, img_list_one, &l, &s->err);
}

int msbvm_image_remove(msbvm_image_store *s, const char *ref)
{
	return oci_store_remove(&s->st, ref, &s->err);
}

/* REF -> its manifest, parsed */
static int img_manifest(msbvm_image_store *s, const char *ref, char *digest,
			struct oci_manifest *m)
{
	struct oci_buf b = { 0 };
	char norm[700];
	int rc;

	if ((rc = oci_store_ref_get(&s->st, ref, digest, norm, sizeof(norm),
				    &s->err)) < 0 ||
	    (rc = oci_store_read_blob(&s->st, digest, OCI_MANIFEST_MAX, &b,
				      &s->err)) < 0)
		return rc;
	rc = oci_manifest_parse(b.data, b.len, m, &s->err);
	oci_buf_free(&b);
	return rc;
}

int msbvm_image_config_json(msbvm_image_store *s, const char *ref,
			    char **json)
{
	char digest[OCI_DIGEST_LEN + 1];
	struct oci_buf b = { 0 };
	struct oci_manifest m;
	int rc;

	*json = NULL;
	if ((rc = img_manifest(s, ref, digest, &m)) < 0 ||
	    (rc = oci_store_read_blob(&s->st, m.config.digest, OCI_CONFIG_MAX,
				      &b, &s->err)) < 0)
		return rc;
	*json = b.data;
	return 0;
}
#endif
