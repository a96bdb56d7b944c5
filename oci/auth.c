/* Registry authentication: the WWW-Authenticate challenge (RFC 7235
 * section 4.1; the bearer flow is distribution's "Token Authentication
 * Specification", docs/spec/auth/token.md) and the credentials docker
 * keeps in ~/.docker/config.json ("auths": {HOST: {"auth": base64(user:pass)}}). */
#include "oci.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *auth_skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	return p;
}

/* One auth-param: key=token or key="quoted \" string"; 0 at the end. */
static int auth_param(const char **pp, char *key, size_t klen, char *val,
		      size_t vlen)
{
	const char *p = auth_skip_ws(*pp);
	size_t k = 0, v = 0;

	if (!*p)
		return 0;
	while (*p && *p != '=' && *p != ' ' && *p != ',')
		if (k + 1 < klen)
			key[k++] = *p++;
		else
			p++;
	key[k] = 0;
	if (*p != '=')
		return -EINVAL;
	p++;
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (v + 1 < vlen)
				val[v++] = *p;
		}
		if (*p != '"')
			return -EINVAL;
		p++;
	} else {
		while (*p && *p != ',' && *p != ' ')
			if (v + 1 < vlen)
				val[v++] = *p++;
			else
				p++;
	}
	val[v] = 0;
	*pp = p;
	return 1;
}

int oci_challenge_parse(const char *hdr, struct oci_challenge *c)
{
	const char *p = auth_skip_ws(hdr);
	char key[32], val[512];
	size_t n = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	while (*p && *p != ' ' && n + 1 < sizeof(c->scheme))
		c->scheme[n++] = *p++;
	if (!n || (*p && *p != ' '))
		return -EINVAL;
	if (strcasecmp(c->scheme, "Bearer") && strcasecmp(c->scheme, "Basic"))
		return -ENOTSUP;
	while ((rc = auth_param(&p, key, sizeof(key), val, sizeof(val))) > 0) {
		if (!strcasecmp(key, "realm"))
			snprintf(c->realm, sizeof(c->realm), "%s", val);
		else if (!strcasecmp(key, "service"))
			snprintf(c->service, sizeof(c->service), "%s", val);
		else if (!strcasecmp(key, "scope"))
			snprintf(c->scope, sizeof(c->scope), "%s", val);
	}
	if (rc < 0)
		return rc;
	/* a bearer challenge without a realm leaves nowhere to get a token */
	if (!strcasecmp(c->scheme, "Bearer") && !c->realm[0])
		return -EINVAL;
	return 0;
}

int oci_base64_encode(const char *in, size_t n, char *out, size_t len)
{
	if (len < 4 * ((n + 2) / 3) + 1)
		return -ENOSPC;
	return EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in,
			       (int)n);
}

int oci_base64_decode(const char *in, char *out, size_t len)
{
	size_t n = strlen(in);
	int k;

	if (n % 4 || len < 3 * (n / 4) + 1)
		return -EINVAL;
	k = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in,
			    (int)n);
	if (k < 0)
		return -EINVAL;
	while (n && in[n - 1] == '=') /* DecodeBlock counts the padding */
		n--, k--;
	out[k] = 0;
	return k;
}

void oci_docker_config_path(char *buf, size_t len)
{
	const char *d = getenv("DOCKER_CONFIG"), *home = getenv("HOME");

	if (d && *d)
		snprintf(buf, len, "%s/config.json", d);
	else
		snprintf(buf, len, "%s/.docker/config.json", home ? home : "/");
}

/* docker writes docker.io's entry under its v1 index URL */
static const char *auth_key(const char *host)
{
	if (!strcmp(host, "docker.io") || !strcmp(host, "registry-1.docker.io") ||
	    !strcmp(host, "index.docker.io"))
		return "https://index.docker.io/v1/";
	return host;
}

int oci_creds_lookup(const char *config_path, const char *host, char *out,
		     size_t len)
{
	json_t *root = json_load_file(config_path, 0, NULL), *auths, *ent, *a;
	const char *key = auth_key(host), *k;
	char alt[300];
	int rc = -ENOENT;

	auths = root ? json_object_get(root, "auths") : NULL;
	ent = auths ? json_object_get(auths, key) : NULL;
	for (int i = 0; !ent && auths && i < 2; i++) {
		snprintf(alt, sizeof(alt), "%s://%s", i ? "http" : "https", key);
		ent = json_object_get(auths, alt);
	}
	if (ent && (a = json_object_get(ent, "auth")) &&
	    (k = json_string_value(a)) && strlen(k) < 4 * len / 3 - 4 &&
	    oci_base64_decode(k, out, len) > 0 && strchr(out, ':'))
		rc = 0;
	json_decref(root);
	return rc;
}

static int auth_save(const char *path, json_t *root, struct oci_err *e)
{
	char tmp[4200], dir[4096], *slash;
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/'))) {
		*slash = 0;
		mkdir(dir, 0700);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return oci_errf(e, errno, "%s: %s", tmp, strerror(errno));
	if (json_dumpfd(root, fd, JSON_INDENT(1)) < 0 || fsync(fd) < 0)
		rc = oci_errf(e, EIO, "%s: write failed", tmp);
	close(fd);
	if (!rc && rename(tmp, path) < 0)
		rc = oci_errf(e, errno, "%s: %s", path, strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

int oci_creds_store(const char *config_path, const char *host,
		    const char *user, const char *pass, struct oci_err *e)
{
	json_t *root = json_load_file(config_path, 0, NULL), *auths;
	char up[600], b64[820];
	int rc;

	if (!root)
		root = json_object();
	if (!(auths = json_object_get(root, "auths"))) {
		auths = json_object();
		json_object_set_new(root, "auths", auths);
	}
	snprintf(up, sizeof(up), "%s:%s", user, pass);
	if (oci_base64_encode(up, strlen(up), b64, sizeof(b64)) < 0) {
		json_decref(root);
		return oci_errf(e, EINVAL, "credentials too long");
	}
	json_object_set_new(auths, auth_key(host),
			    json_pack("{s:s}", "auth", b64));
	rc = auth_save(config_path, root, e);
	json_decref(root);
	return rc;
}

int oci_creds_erase(const char *config_path, const char *host,
		    struct oci_err *e)
{
	json_t *root = json_load_file(config_path, 0, NULL), *auths;
	int rc;

	auths = root ? json_object_get(root, "auths") : NULL;
	if (!auths || json_object_del(auths, auth_key(host)) < 0) {
		json_decref(root);
		return oci_errf(e, ENOENT, "not logged in to %s", host);
	}
	rc = auth_save(config_path, root, e);
	json_decref(root);
	return rc;
}
