/* index.json: references -> manifest digests. Read whole, changed, and
 * written to a temporary file then renamed, under the store lock, so a
 * reader (`msbvm images`) never sees half a file. */
#include "oci_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static json_t *ix_load(struct oci_store *s, struct oci_err *e)
{
	char p[PATH_MAX];
	json_error_t je;
	json_t *j;

	snprintf(p, sizeof(p), "%s/index.json", s->root);
	if (access(p, F_OK) < 0)
		return json_pack("{s:{}}", "images");
	if (!(j = json_load_file(p, 0, &je)) ||
	    !json_is_object(json_object_get(j, "images"))) {
		oci_errf(e, EBADMSG, "%s: corrupt: %s", p, je.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

static int ix_save(struct oci_store *s, json_t *j, struct oci_err *e)
{
	char p[PATH_MAX], tmp[PATH_MAX];
	int fd, rc;

	snprintf(p, sizeof(p), "%s/index.json", s->root);
	snprintf(tmp, sizeof(tmp), "%s/tmp/index.json.%d", s->root, (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return oci_errf(e, errno, "%s: %s", tmp, strerror(errno));
	if (json_dumpfd(j, fd, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
		rc = oci_errf(e, EIO, "%s: write failed", tmp);
	else
		rc = oci_store_commit(tmp, fd, p, e);
	close(fd);
	if (rc)
		unlink(tmp);
	return rc;
}

int oci_store_ref_set(struct oci_store *s, const struct oci_image_entry *ie,
		      struct oci_err *e)
{
	json_t *j = ix_load(s, e);
	int rc;

	if (!j)
		return -EBADMSG;
	json_object_set_new(json_object_get(j, "images"), ie->ref,
			    json_pack("{s:s,s:I,s:s}", "digest", ie->digest,
				      "size", (json_int_t)ie->size, "created",
				      ie->created ? ie->created : ""));
	rc = ix_save(s, j, e);
	json_decref(j);
	return rc;
}

/* what the user typed -> the key index.json uses */
static int ix_key(const char *ref, char *norm, size_t len, struct oci_err *e)
{
	struct oci_ref r;
	int rc;

	if ((rc = oci_ref_parse(ref, &r, e)) < 0)
		return rc;
	oci_ref_format(&r, norm, len);
	return 0;
}

int oci_store_ref_get(struct oci_store *s, const char *ref, char *digest,
		      char *norm, size_t normlen, struct oci_err *e)
{
	json_t *j, *ent;
	const char *d;
	int rc;

	if ((rc = ix_key(ref, norm, normlen, e)) < 0)
		return rc;
	if (!(j = ix_load(s, e)))
		return -EBADMSG;
	ent = json_object_get(json_object_get(j, "images"), norm);
	d = json_string_value(json_object_get(ent, "digest"));
	rc = d && oci_digest_valid(d) ? 0 :
	     oci_errf(e, ENOENT, "image %s not found (msbvm pull %s)", norm, ref);
	if (!rc)
		snprintf(digest, OCI_DIGEST_LEN + 1, "%s", d);
	json_decref(j);
	return rc;
}

int oci_store_ref_del(struct oci_store *s, const char *ref, struct oci_err *e)
{
	char norm[700];
	json_t *j;
	int rc;

	if ((rc = ix_key(ref, norm, sizeof(norm), e)) < 0)
		return rc;
	if (!(j = ix_load(s, e)))
		return -EBADMSG;
	if (json_object_del(json_object_get(j, "images"), norm) < 0)
		rc = oci_errf(e, ENOENT, "image %s not found", norm);
	else
		rc = ix_save(s, j, e);
	json_decref(j);
	return rc;
}

int oci_store_list(struct oci_store *s, oci_list_fn fn, void *opaque,
		   struct oci_err *e)
{
	json_t *j = ix_load(s, e), *v;
	const char *k;
	int rc = 0, n = 0;

	if (!j)
		return -EBADMSG;
	json_object_foreach(json_object_get(j, "images"), k, v) {
		struct oci_image_entry ie = {
			.ref = k,
			.digest = json_string_value(json_object_get(v, "digest")),
			.created = json_string_value(json_object_get(v, "created")),
			.size = (uint64_t)json_integer_value(json_object_get(v, "size")),
		};
		if (!ie.digest)
			continue;
		if ((rc = fn(&ie, opaque)) < 0)
			break;
		n++;
	}
	json_decref(j);
	return rc < 0 ? rc : n;
}

/* the digests an image needs: its manifest, config and layers */
static void gc_mark(struct oci_store *s, const char *digest, json_t *keep)
{
	struct oci_buf b = { 0 };
	struct oci_manifest m;
	struct oci_err e;

	json_object_set_new(keep, digest, json_true());
	if (oci_store_read_blob(s, digest, OCI_MANIFEST_MAX, &b, &e) < 0)
		return;
	if (oci_manifest_parse(b.data, b.len, &m, &e) == 0) {
		json_object_set_new(keep, m.config.digest, json_true());
		for (unsigned i = 0; i < m.n_layers; i++)
			json_object_set_new(keep, m.layers[i].digest, json_true());
	}
	oci_buf_free(&b);
}

static int gc_sweep(struct oci_store *s, const char *sub, const char *suffix,
		    json_t *keep)
{
	char dir[PATH_MAX], d[OCI_DIGEST_LEN + 64], p[PATH_MAX + 300];
	struct dirent *de;
	DIR *dp;
	int n = 0;
	size_t sl = strlen(suffix);

	snprintf(dir, sizeof(dir), "%s/%s", s->root, sub);
	if (!(dp = opendir(dir)))
		return 0;
	while ((de = readdir(dp))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l != 64 + sl ||
		    strcmp(de->d_name + 64, suffix))
			continue;
		snprintf(d, sizeof(d), "sha256:%.64s", de->d_name);
		if (json_object_get(keep, d))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (unlink(p) == 0)
			n++;
	}
	closedir(dp);
	return n;
}

int oci_store_gc(struct oci_store *s, struct oci_err *e)
{
	json_t *j = ix_load(s, e), *keep = json_object(), *v;
	const char *k;
	int n;

	if (!j) {
		json_decref(keep);
		return -EBADMSG;
	}
	json_object_foreach(json_object_get(j, "images"), k, v) {
		const char *d = json_string_value(json_object_get(v, "digest"));
		if (d && oci_digest_valid(d))
			gc_mark(s, d, keep);
	}
	n = gc_sweep(s, "blobs/sha256", "", keep) +
	    gc_sweep(s, "images", ".ext4", keep);
	json_decref(j);
	json_decref(keep);
	return n;
}

static int rm_count(const struct oci_image_entry *ie, void *opaque)
{
	struct { const char *digest; int n; } *c = opaque;

	c->n += !strcmp(ie->digest, c->digest);
	return 0;
}

/* A running VM holds its read-only disks with flock(LOCK_SH)
 * (virtio/blk.c): an exclusive try-lock fails while one uses the image. */
static bool rm_busy(struct oci_store *s, const char *digest)
{
	char p[PATH_MAX];
	bool busy = false;
	int fd;

	oci_store_image_path(s, digest, p, sizeof(p));
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	busy = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

int oci_store_remove(struct oci_store *s, const char *ref, struct oci_err *e)
{
	struct { const char *digest; int n; } c = { NULL, 0 };
	char digest[OCI_DIGEST_LEN + 1], norm[700];
	int rc;

	if ((rc = oci_store_lock(s, e)) < 0)
		return rc;
	if ((rc = oci_store_ref_get(s, ref, digest, norm, sizeof(norm), e)) < 0)
		goto out;
	c.digest = digest;
	if ((rc = oci_store_list(s, rm_count, &c, e)) < 0)
		goto out;
	if (c.n == 1 && rm_busy(s, digest)) {
		rc = oci_errf(e, EBUSY, "image %s is in use by a running VM "
			      "(stop it first)", norm);
		goto out;
	}
	if ((rc = oci_store_ref_del(s, ref, e)) == 0 &&
	    (rc = oci_store_gc(s, e)) > 0)
		rc = 0;
out:
	oci_store_unlock(s);
	return rc;
}
