/* Image references the way docker normalises them
 * (github.com/distribution/reference: reference.go grammar, normalize.go):
 *   [domain/]path[:tag][@digest]
 * The first component is a domain only if it has a '.' or ':', is
 * "localhost", or has an upper-case letter; otherwise the image lives on
 * docker.io, and a one-component path there gets "library/". No tag and
 * no digest means ":latest". */
#include "oci.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool ref_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*
 * separator := [_.] | __ | [-]+ */
static bool ref_component_ok(const char *s, size_t n)
{
	size_t i = 0, j;

	if (!n || !ref_alnum(s[0]))
		return false;
	while (i < n) {
		if (ref_alnum(s[i])) {
			i++;
			continue;
		}
		j = i;
		if (s[i] == '.')
			j++;
		else if (s[i] == '_')
			j += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-')
			while (j < n && s[j] == '-')
				j++;
		else
			return false;
		if (j >= n || !ref_alnum(s[j]))
			return false;
		i = j;
	}
	return true;
}

static bool ref_path_ok(const char *p)
{
	const char *s = p, *slash;

	for (;;) {
		slash = strchr(s, '/');
		if (!ref_component_ok(s, slash ? (size_t)(slash - s) : strlen(s)))
			return false;
		if (!slash)
			return true;
		s = slash + 1;
	}
}

/* domain := host[:port]; host := label(.label)* or [ipv6] */
static bool ref_domain_ok(const char *d)
{
	const char *p = d;

	if (*p == '[') {
		p = strchr(p, ']');
		if (!p || p == d + 1)
			return false;
		for (const char *q = d + 1; q < p; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				return false;
		p++;
	} else {
		bool start = true;
		for (; *p && *p != ':'; p++) {
			if (*p == '.') {
				if (start || p[-1] == '-')
					return false;
				start = true;
				continue;
			}
			if (!isalnum((unsigned char)*p) && !(*p == '-' && !start))
				return false;
			start = false;
		}
		if (start || p[-1] == '-')
			return false;
	}
	if (*p == ':') {
		if (!p[1])
			return false;
		for (p++; *p; p++)
			if (!isdigit((unsigned char)*p))
				return false;
	}
	return !*p;
}

/* tag := [\w][\w.-]{0,127} */
static bool ref_tag_ok(const char *t)
{
	size_t n = strlen(t);

	if (!n || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && !strchr("_.-", t[i]))
			return false;
	return true;
}

static bool ref_is_domain(const char *first, size_t n)
{
	if (n == 9 && !strncmp(first, "localhost", 9))
		return true;
	for (size_t i = 0; i < n; i++)
		if (first[i] == '.' || first[i] == ':' ||
		    (first[i] >= 'A' && first[i] <= 'Z'))
			return true;
	return false;
}

/* strlcpy that says whether it fit */
static bool ref_copy(char *dst, size_t len, const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	if (na + nb >= len)
		return false;
	memcpy(dst, a, na);
	memcpy(dst + na, b, nb + 1);
	return true;
}

static int ref_split_domain(char *name, struct oci_ref *r, struct oci_err *e)
{
	char *slash = strchr(name, '/');
	const char *path = name;

	ref_copy(r->domain, sizeof(r->domain), "docker.io", "");
	if (slash && ref_is_domain(name, (size_t)(slash - name))) {
		*slash = 0;
		if (!ref_copy(r->domain, sizeof(r->domain), name, "") ||
		    !ref_domain_ok(name))
			return oci_errf(e, EINVAL, "invalid reference: bad "
					"registry host '%.200s'", name);
		path = slash + 1;
	}
	if (!strcmp(r->domain, "index.docker.io"))
		ref_copy(r->domain, sizeof(r->domain), "docker.io", "");
	if (!ref_copy(r->path, sizeof(r->path),
		      !strcmp(r->domain, "docker.io") && !strchr(path, '/') ?
		      "library/" : "", path))
		return oci_errf(e, EINVAL, "invalid reference: name too long");
	return 0;
}

/* A bare 64-hex string is an image ID, never a name (normalize.go). */
static bool ref_is_id(const char *s)
{
	size_t n = strlen(s);
	bool hex = n == 64;

	for (size_t i = 0; hex && i < n; i++)
		hex = isxdigit((unsigned char)s[i]) && !isupper((unsigned char)s[i]);
	return hex;
}

static int ref_check_path(const char *path, struct oci_err *e)
{
	for (const char *p = path; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			return oci_errf(e, EINVAL, "invalid reference format: "
					"repository name (%s) must be lowercase", path);
	if (!ref_path_ok(path))
		return oci_errf(e, EINVAL, "invalid reference format: '%s'", path);
	return 0;
}

int oci_ref_parse(const char *s, struct oci_ref *r, struct oci_err *e)
{
	char buf[600], *at, *colon, *slash;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!s || !*s || strlen(s) >= sizeof(buf))
		return oci_errf(e, EINVAL, "invalid reference format: '%.200s'",
				s ? s : "");
	snprintf(buf, sizeof(buf), "%s", s);
	if (ref_is_id(buf))
		return oci_errf(e, EINVAL, "invalid reference format: repository "
				"name (%.64s) cannot be a 64-byte hexadecimal string", s);
	if ((at = strchr(buf, '@'))) {
		*at = 0;
		if (!oci_digest_valid(at + 1))
			return oci_errf(e, EINVAL, "invalid reference format: bad "
					"digest '%.200s' (want sha256:<64 hex>)", at + 1);
		ref_copy(r->digest, sizeof(r->digest), at + 1, "");
	}
	colon = strrchr(buf, ':');
	slash = strrchr(buf, '/');
	if (colon && (!slash || colon > slash)) {
		*colon = 0;
		if (!ref_tag_ok(colon + 1))
			return oci_errf(e, EINVAL, "invalid reference format: bad "
					"tag '%s'", colon + 1);
		ref_copy(r->tag, sizeof(r->tag), colon + 1, "");
	}
	if ((rc = ref_split_domain(buf, r, e)) < 0)
		return rc;
	if ((rc = ref_check_path(r->path, e)) < 0)
		return rc;
	if (strlen(r->domain) + 1 + strlen(r->path) > 255)
		return oci_errf(e, EINVAL, "invalid reference format: repository "
				"name must not be more than 255 characters");
	if (!r->tag[0] && !r->digest[0])
		ref_copy(r->tag, sizeof(r->tag), "latest", "");
	return 0;
}

void oci_ref_format(const struct oci_ref *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s%s%s%s", r->domain, r->path,
		 r->tag[0] ? ":" : "", r->tag, r->digest[0] ? "@" : "",
		 r->digest);
}

const char *oci_ref_registry_host(const struct oci_ref *r)
{
	/* docker.io is a name, not a host: the API lives elsewhere */
	return strcmp(r->domain, "docker.io") ? r->domain : "registry-1.docker.io";
}

static void ref_strip_port(const char *host, char *out, size_t len)
{
	const char *end;

	if (host[0] == '[') {
		end = strchr(host, ']');
		snprintf(out, len, "%.*s", end ? (int)(end - host - 1) : 0, host + 1);
		return;
	}
	end = strchr(host, ':');
	snprintf(out, len, "%.*s", end ? (int)(end - host) : (int)strlen(host), host);
}

bool oci_host_insecure_ok(const char *host, const char *const *insecure,
			  size_t n)
{
	char h[256];
	unsigned a, b, c, d;
	char tail;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(host, insecure[i]))
			return true;
	ref_strip_port(host, h, sizeof(h));
	for (size_t i = 0; i < n; i++)
		if (!strcmp(h, insecure[i]))
			return true;
	if (!strcmp(h, "localhost") || !strcmp(h, "::1"))
		return true;
	/* 127.0.0.0/8: docker treats all of loopback as insecure-ok */
	return sscanf(h, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 &&
	       a == 127 && b < 256 && c < 256 && d < 256;
}
