/* `pull`: reference -> manifest (through an index if need be) -> config
 * and layers into the store -> the reference recorded. All of it under
 * the store lock; on failure the blobs this pull added are taken out
 * again, so a failed pull leaves the store as it found it. */
#include "oci_store.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The manifest for our platform; body left in b, its digest in digest. */
static int pull_manifest(struct oci_client *c, const struct oci_opts *o,
			 struct oci_buf *b, char *digest, struct oci_err *e)
{
	const char *want = c->ref.digest[0] ? c->ref.digest : c->ref.tag;
	const char *plat = o->platform ? o->platform : "linux/amd64";
	enum oci_media mt;
	struct oci_desc d;
	int rc;

	for (int depth = 0; depth < 2; depth++) {
		if ((rc = oci_client_manifest(c, want, b, &mt, e)) < 0)
			return rc;
		oci_sha256(b->data, b->len, digest);
		/* by digest: the bytes must be what was asked for
		 * (distribution spec, "Pulling manifests") */
		if (oci_digest_valid(want) && strcmp(want, digest))
			return oci_errf(e, EBADMSG, "manifest %s: digest mismatch: "
					"the bytes have %s", want, digest);
		if (mt == OCI_MT_SCHEMA1)
			return oci_errf(e, ENOTSUP, "image uses manifest schema 1, "
					"which is not supported (deprecated by "
					"docker; push it again with a current client)");
		if (mt != OCI_MT_INDEX || depth)
			break;
		if ((rc = oci_index_select(b->data, b->len, plat, &d, e)) < 0)
			return rc;
		if (d.size > OCI_MANIFEST_MAX)
			return oci_errf(e, EFBIG, "manifest %s: %llu bytes is more "
					"than the %u-byte limit", d.digest,
					(unsigned long long)d.size, OCI_MANIFEST_MAX);
		oci_buf_free(b);
		/* the platform manifest is fetched by digest, and checked */
		memcpy(c->ref.digest, d.digest, sizeof(d.digest));
		want = c->ref.digest;
	}
	if (mt != OCI_MT_MANIFEST)
		return oci_errf(e, EBADMSG, "%s is not an image manifest", want);
	return 0;
}

static void pull_undo(struct oci_store *s, const struct oci_desc *d,
		      unsigned n, const bool *added)
{
	char p[PATH_MAX];

	for (unsigned i = 0; i < n; i++) {
		if (!added[i])
			continue;
		oci_store_blob_path(s, d[i].digest, p, sizeof(p));
		unlink(p);
	}
}

static int pull_record(struct oci_store *s, const char *name,
		       const char *digest, const struct oci_manifest *m,
		       struct oci_err *e)
{
	struct oci_buf cb = { 0 };
	struct oci_config cfg = { 0 };
	uint64_t size = m->config.size;
	int rc;

	for (unsigned i = 0; i < m->n_layers; i++)
		size += m->layers[i].size;
	if ((rc = oci_store_read_blob(s, m->config.digest, OCI_CONFIG_MAX, &cb,
				      e)) < 0)
		return rc;
	rc = oci_config_parse(cb.data, cb.len, &cfg, e);
	oci_buf_free(&cb);
	if (rc < 0)
		return rc;
	rc = oci_store_ref_set(s, &(struct oci_image_entry){
		.ref = name, .digest = digest, .created = cfg.created,
		.size = size }, e);
	oci_config_free(&cfg);
	return rc;
}

static int pull_locked(struct oci_store *s, struct oci_client *c,
		       const struct oci_opts *o, const char *name,
		       char *digest, struct oci_err *e)
{
	struct oci_desc all[OCI_MAX_LAYERS + 1];
	const char *names[OCI_MAX_LAYERS + 1];
	bool added[OCI_MAX_LAYERS + 1] = { 0 };
	struct oci_buf b = { 0 };
	struct oci_manifest m;
	char img[PATH_MAX];
	bool had_manifest, had_img;
	int rc;

	if ((rc = pull_manifest(c, o, &b, digest, e)) < 0 ||
	    (rc = oci_manifest_parse(b.data, b.len, &m, e)) < 0)
		goto out;
	if (m.config.size > OCI_CONFIG_MAX) {
		rc = oci_errf(e, EFBIG, "image config of %llu bytes is more than "
			      "the %u-byte limit",
			      (unsigned long long)m.config.size, OCI_CONFIG_MAX);
		goto out;
	}
	all[0] = m.config;
	names[0] = "config";
	for (unsigned i = 0; i < m.n_layers; i++) {
		all[i + 1] = m.layers[i];
		names[i + 1] = "layer";
	}
	if ((rc = oci_fetch_blobs(c, s, all, m.n_layers + 1, names, added, e)) < 0)
		goto undo;
	had_manifest = oci_store_has_blob(s, digest, b.len);
	oci_store_image_path(s, digest, img, sizeof(img));
	had_img = access(img, F_OK) == 0;
	if ((rc = oci_store_put_blob(s, digest, b.data, b.len, e)) < 0)
		goto undo;
	/* unpacked now, as docker pull does: a layer that cannot be applied
	 * (an escape, a broken tar) fails the pull, not a later run */
	if ((rc = oci_rootfs_build_locked(s, digest, img, sizeof(img), e)) < 0 ||
	    (rc = pull_record(s, name, digest, &m, e)) < 0) {
		if (!had_img)
			unlink(img);
		if (!had_manifest) {
			char p[PATH_MAX];
			oci_store_blob_path(s, digest, p, sizeof(p));
			unlink(p);
		}
		goto undo;
	}
	goto out;
undo:
	pull_undo(s, all, m.n_layers + 1, added);
out:
	oci_buf_free(&b);
	return rc;
}

int oci_pull(struct oci_store *s, const char *ref, const struct oci_opts *o,
	     char *digest_out, struct oci_err *e)
{
	struct oci_client c;
	struct oci_ref r;
	char name[700], digest[OCI_DIGEST_LEN + 1];
	int rc;

	if ((rc = oci_ref_parse(ref, &r, e)) < 0 ||
	    (rc = oci_client_init(&c, &r, o, e)) < 0)
		return rc;
	oci_ref_format(&r, name, sizeof(name));
	if ((rc = oci_store_lock(s, e)) < 0)
		return rc;
	rc = pull_locked(s, &c, o, name, digest, e);
	oci_store_unlock(s);
	if (!rc && digest_out)
		snprintf(digest_out, OCI_DIGEST_LEN + 1, "%s", digest);
	return rc;
}
