/* Manifests, indexes and image configs (OCI image spec: manifest.md,
 * image-index.md, config.md; Docker "Image Manifest V2, Schema 2" and its
 * manifest list, which have the same shape). Everything here parses bytes
 * a registry sent, so nothing is trusted: types are checked, sizes bounded,
 * digests validated before they name a file. */
#include "oci.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MT_DOCKER_V2 "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"

static bool mt_prefix(const char *ct, const char *mt)
{
	size_t n = strlen(mt);

	return !strncmp(ct, mt, n) && (!ct[n] || ct[n] == ';' || ct[n] == '+');
}

static enum oci_media mt_classify(const char *mt)
{
	if (mt_prefix(mt, MT_DOCKER_V2) || mt_prefix(mt, MT_OCI_MANIFEST))
		return OCI_MT_MANIFEST;
	if (mt_prefix(mt, MT_DOCKER_LIST) || mt_prefix(mt, MT_OCI_INDEX))
		return OCI_MT_INDEX;
	if (mt_prefix(mt, MT_DOCKER_V1))
		return OCI_MT_SCHEMA1;
	return OCI_MT_UNKNOWN;
}

/* The Content-Type first; if it says nothing useful (some registries send
 * application/json), the body's own mediaType / shape (image-index.md:
 * mediaType SHOULD be set). */
enum oci_media oci_media_of(const char *ct, const char *body, size_t len)
{
	enum oci_media m = ct ? mt_classify(ct) : OCI_MT_UNKNOWN;
	json_t *j, *v;

	if (m != OCI_MT_UNKNOWN)
		return m;
	if (!(j = json_loadb(body, len, 0, NULL)))
		return OCI_MT_UNKNOWN;
	if ((v = json_object_get(j, "mediaType")) && json_is_string(v))
		m = mt_classify(json_string_value(v));
	if (m == OCI_MT_UNKNOWN) {
		if (json_integer_value(json_object_get(j, "schemaVersion")) == 1)
			m = OCI_MT_SCHEMA1;
		else if (json_is_array(json_object_get(j, "manifests")))
			m = OCI_MT_INDEX;
		else if (json_is_array(json_object_get(j, "layers")))
			m = OCI_MT_MANIFEST;
	}
	json_decref(j);
	return m;
}

static enum oci_comp mt_comp(const char *mt)
{
	size_t n = strlen(mt);

	if ((n > 4 && !strcmp(mt + n - 4, "gzip")))
		return OCI_COMP_GZIP;
	if ((n > 4 && !strcmp(mt + n - 4, "zstd")))
		return OCI_COMP_ZSTD;
	return OCI_COMP_NONE;
}

static int desc_parse(json_t *d, struct oci_desc *out, const char *what,
		      struct oci_err *e)
{
	json_t *dg = json_object_get(d, "digest"), *sz = json_object_get(d, "size");
	json_t *mt = json_object_get(d, "mediaType");

	if (!json_is_object(d) || !json_is_string(dg) || !json_is_integer(sz) ||
	    json_integer_value(sz) < 0)
		return oci_errf(e, EBADMSG, "bad manifest: %s descriptor lacks "
				"digest or size", what);
	if (!oci_digest_valid(json_string_value(dg)))
		return oci_errf(e, EBADMSG, "bad manifest: %s digest '%.80s' is "
				"not sha256:<64 hex>", what, json_string_value(dg));
	snprintf(out->digest, sizeof(out->digest), "%s", json_string_value(dg));
	out->size = (uint64_t)json_integer_value(sz);
	out->comp = json_is_string(mt) ? mt_comp(json_string_value(mt)) :
					 OCI_COMP_NONE;
	return 0;
}

static json_t *mf_load(const char *body, size_t len, struct oci_err *e)
{
	json_error_t je;
	json_t *j;

	if (len > OCI_MANIFEST_MAX) {
		oci_errf(e, EFBIG, "manifest of %zu bytes is larger than the "
			 "%u-byte limit", len, OCI_MANIFEST_MAX);
		return NULL;
	}
	if (!(j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)))
		oci_errf(e, EBADMSG, "malformed manifest JSON: %s (line %d)",
			 je.text, je.line);
	else if (!json_is_object(j)) {
		oci_errf(e, EBADMSG, "malformed manifest: not a JSON object");
		json_decref(j);
		j = NULL;
	}
	return j;
}

int oci_manifest_parse(const char *body, size_t len, struct oci_manifest *m,
		       struct oci_err *e)
{
	json_t *j = mf_load(body, len, e), *layers, *l;
	size_t i;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (!j)
		return len > OCI_MANIFEST_MAX ? -EFBIG : -EBADMSG;
	if (json_integer_value(json_object_get(j, "schemaVersion")) != 2) {
		rc = oci_errf(e, ENOTSUP, "manifest schema version 1 is not "
			      "supported (deprecated by docker; push the image "
			      "again with a current client)");
		goto out;
	}
	layers = json_object_get(j, "layers");
	if (!json_is_array(layers)) {
		rc = oci_errf(e, EBADMSG, "bad manifest: no \"layers\" array");
		goto out;
	}
	if (json_array_size(layers) > OCI_MAX_LAYERS) {
		rc = oci_errf(e, E2BIG, "image has %zu layers; at most %d",
			      json_array_size(layers), OCI_MAX_LAYERS);
		goto out;
	}
	if ((rc = desc_parse(json_object_get(j, "config"), &m->config,
			     "config", e)) < 0)
		goto out;
	json_array_foreach(layers, i, l)
		if ((rc = desc_parse(l, &m->layers[m->n_layers++], "layer", e)) < 0)
			goto out;
out:
	json_decref(j);
	return rc;
}

static bool plat_match(json_t *p, const char *os, const char *arch,
		       const char *variant)
{
	const char *pos = json_string_value(json_object_get(p, "os"));
	const char *parch = json_string_value(json_object_get(p, "architecture"));
	const char *pvar = json_string_value(json_object_get(p, "variant"));

	if (!pos || !parch || strcmp(pos, os) || strcmp(parch, arch))
		return false;
	/* no variant asked: any (amd64 images rarely carry one) */
	return !*variant || (pvar && !strcmp(pvar, variant));
}

static void plat_list(json_t *ms, char *buf, size_t len)
{
	size_t i, n = 0;
	json_t *d, *p;

	buf[0] = 0;
	json_array_foreach(ms, i, d) {
		const char *os, *arch, *var;

		p = json_object_get(d, "platform");
		os = json_string_value(json_object_get(p, "os"));
		arch = json_string_value(json_object_get(p, "architecture"));
		var = json_string_value(json_object_get(p, "variant"));
		if (!os || !arch || n + 2 >= len)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s/%s%s%s",
				      n ? ", " : "", os, arch, var ? "/" : "",
				      var ? var : "");
		if (n >= len)
			n = len - 1;
	}
}

int oci_index_select(const char *body, size_t len, const char *platform,
		     struct oci_desc *out, struct oci_err *e)
{
	char os[32] = "", arch[32] = "", variant[32] = "", avail[300];
	json_t *j = mf_load(body, len, e), *ms, *d;
	size_t i;
	int rc;

	if (!j)
		return len > OCI_MANIFEST_MAX ? -EFBIG : -EBADMSG;
	if (sscanf(platform, "%31[^/]/%31[^/]/%31s", os, arch, variant) < 2) {
		json_decref(j);
		return oci_errf(e, EINVAL, "bad platform '%s' (want os/arch"
				"[/variant], e.g. linux/amd64)", platform);
	}
	ms = json_object_get(j, "manifests");
	if (!json_is_array(ms)) {
		json_decref(j);
		return oci_errf(e, EBADMSG, "bad index: no \"manifests\" array");
	}
	json_array_foreach(ms, i, d) {
		if (!plat_match(json_object_get(d, "platform"), os, arch, variant))
			continue;
		rc = desc_parse(d, out, "index entry", e);
		json_decref(j);
		return rc;
	}
	plat_list(ms, avail, sizeof(avail));
	json_decref(j);
	return oci_errf(e, ENOENT, "no %s in this image index (it has: %s)",
			platform, avail[0] ? avail : "nothing");
}
