/* Distribution API v2 client (OCI distribution spec, "Pulling manifests")
 * with the token dance of distribution's docs/spec/auth/token.md: a 401
 * carries WWW-Authenticate; for Bearer we GET realm?service=&scope= (with
 * basic credentials if the docker config has some) and retry with the
 * token; for Basic we retry with the credentials. */
#include "oci.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REG_ACCEPT "Accept: application/vnd.oci.image.index.v1+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json, " \
	"application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.docker.distribution.manifest.v2+json, " \
	"application/vnd.docker.distribution.manifest.v1+prettyjws"

void oci_sha256(const void *data, size_t len, char out[OCI_DIGEST_LEN + 1])
{
	unsigned char md[32];
	unsigned int n = 0;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	strcpy(out, "sha256:");
	for (unsigned i = 0; i < 32; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

void oci_buf_free(struct oci_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static size_t reg_write(char *p, size_t sz, size_t n, void *opaque)
{
	struct oci_buf *b = opaque;
	size_t k = sz * n;
	char *d;

	if (b->len + k > b->max)
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	if (b->len + k + 1 > b->cap) {
		size_t cap = (b->len + k + 1) * 2;
		if (!(d = realloc(b->data, cap)))
			return 0;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, k);
	b->len += k;
	b->data[b->len] = 0;
	return k;
}

struct reg_hdrs {
	char www_auth[1024], ctype[256];
	long long clen;
	size_t max;
	bool too_big;
};

static size_t reg_header(char *p, size_t sz, size_t n, void *opaque)
{
	struct reg_hdrs *h = opaque;
	size_t k = sz * n, m = k;

	const char *v = memchr(p, ':', k);
	int vl;

	while (m && (p[m - 1] == '\r' || p[m - 1] == '\n'))
		m--;
	for (v = v ? v + 1 : p + m; v < p + m && (*v == ' ' || *v == '\t'); v++)
		;
	vl = (int)(p + m - v);
	if (m > 17 && !strncasecmp(p, "WWW-Authenticate:", 17))
		snprintf(h->www_auth, sizeof(h->www_auth), "%.*s", vl, v);
	else if (m > 13 && !strncasecmp(p, "Content-Type:", 13))
		snprintf(h->ctype, sizeof(h->ctype), "%.*s", vl, v);
	else if (m > 15 && !strncasecmp(p, "Content-Length:", 15)) {
		h->clen = strtoll(p + 15, NULL, 10);
		/* refuse before reading: a claimed size over the bound */
		if (h->max && h->clen > (long long)h->max) {
			h->too_big = true;
			return 0;
		}
	} else if (!strncasecmp(p, "HTTP/", 5))
		h->www_auth[0] = h->ctype[0] = 0; /* a new response (redirect) */
	return k;
}

void oci_client_setup(struct oci_client *c, void *curl, void *hdrs_out)
{
	struct curl_slist **hl = hdrs_out;
	const char *ca = c->o->ca_cert ? c->o->ca_cert : getenv("SSL_CERT_FILE");

	if (ca && *ca)
		curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled registry: under 1 KB/s for 60 s fails the transfer */
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "msbvm/0.2");
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	if (c->auth[0])
		*hl = curl_slist_append(*hl, c->auth);
}

static size_t reg_discard(char *p, size_t sz, size_t n, void *opaque)
{
	(void)p;
	(void)opaque;
	return sz * n;
}

/* Does HOST answer a TLS handshake on GET /v2/? A plain-HTTP server
 * fails the handshake (CURLE_SSL_CONNECT_ERROR: it answered in clear);
 * a TLS server with a certificate we cannot verify still speaks TLS, and
 * the pull then fails on that, not on a confusing plain-HTTP reply. */
static bool reg_speaks_tls(struct oci_client *c, const char *host)
{
	struct curl_slist *hl = NULL;
	char url[300];
	CURL *cu = curl_easy_init();
	CURLcode cc;

	if (!cu)
		return false;
	snprintf(url, sizeof(url), "https://%s/v2/", host);
	oci_client_setup(c, cu, &hl);
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, reg_discard);
	cc = curl_easy_perform(cu);
	curl_easy_cleanup(cu);
	curl_slist_free_all(hl);
	return cc == CURLE_OK || cc == CURLE_PEER_FAILED_VERIFICATION;
}

int oci_client_init(struct oci_client *c, const struct oci_ref *r,
		    const struct oci_opts *o, struct oci_err *e)
{
	const char *host = oci_ref_registry_host(r);
	char cfg[4096];
	bool http;

	memset(c, 0, sizeof(*c));
	c->ref = *r;
	c->o = o;
	/* plain HTTP only where the user cannot be fooled by it (docker's
	 * rule: loopback, or --insecure-registry), and even there HTTPS
	 * first, as docker does: a registry that speaks TLS gets TLS */
	http = oci_host_insecure_ok(r->domain, o->insecure, o->n_insecure) &&
	       !reg_speaks_tls(c, host);
	if ((size_t)snprintf(c->base, sizeof(c->base), "%s://%s/v2/%s",
			     http ? "http" : "https", host, r->path) >=
	    sizeof(c->base))
		return oci_errf(e, ENAMETOOLONG, "reference too long");
	if (o->docker_config)
		snprintf(cfg, sizeof(cfg), "%s", o->docker_config);
	else
		oci_docker_config_path(cfg, sizeof(cfg));
	if (oci_creds_lookup(cfg, r->domain, c->creds, sizeof(c->creds)) < 0)
		c->creds[0] = 0;
	return 0;
}

/* "code: message" of a registry's error body (distribution spec, "Error
 * Codes"), or "" */
static void reg_errbody(const struct oci_buf *b, char *out, size_t len)
{
	json_t *j = b->data ? json_loadb(b->data, b->len, 0, NULL) : NULL;
	json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
	const char *code = json_string_value(json_object_get(e0, "code"));
	const char *msg = json_string_value(json_object_get(e0, "message"));

	snprintf(out, len, "%s%s%s", code ? code : "", code && msg ? ": " : "",
		 msg ? msg : "");
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z' && (p == out || p[-1] != ':'))
			*p = (char)(*p - 'A' + 'a');
	json_decref(j);
}

/* One GET of URL with this client's TLS and auth settings into b;
 * *status set; CURLcode returned. */
static CURLcode reg_perform(struct oci_client *c, const char *url,
			    const char *accept, struct oci_buf *b,
			    struct reg_hdrs *h, long *status)
{
	CURL *cu = curl_easy_init();
	struct curl_slist *hl = NULL;
	CURLcode cc;

	if (!cu)
		return CURLE_OUT_OF_MEMORY;
	b->len = 0;
	h->www_auth[0] = h->ctype[0] = 0;
	oci_client_setup(c, cu, &hl);
	if (accept)
		hl = curl_slist_append(hl, accept);
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, reg_write);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, reg_header);
	curl_easy_setopt(cu, CURLOPT_HEADERDATA, h);
	cc = curl_easy_perform(cu);
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(cu);
	curl_slist_free_all(hl);
	return cc;
}

static int reg_token(struct oci_client *c, const struct oci_challenge *ch,
		     struct oci_err *e);

/* One GET into b (bounded by b->max), answering one 401 challenge. */
static int reg_get(struct oci_client *c, const char *url, const char *accept,
		   struct oci_buf *b, struct reg_hdrs *h, long *status,
		   struct oci_err *e)
{
	for (int round = 0; round < 2; round++) {
		struct oci_challenge ch;
		CURLcode cc = reg_perform(c, url, accept, b, h, status);
		int rc;

		if (h->too_big)
			return oci_errf(e, EFBIG, "%s: the registry claims %lld "
					"bytes; more than the %zu-byte limit", url,
					h->clen, h->max);
		if (cc == CURLE_WRITE_ERROR && b->len + CURL_MAX_WRITE_SIZE > b->max)
			return oci_errf(e, EFBIG, "%s: larger than the %zu-byte "
					"limit", url, b->max);
		if (cc != CURLE_OK)
			return oci_errf(e, EIO, "%s: %s", url, curl_easy_strerror(cc));
		if (*status != 401 || round || !h->www_auth[0])
			return 0;
		if (oci_challenge_parse(h->www_auth, &ch) < 0)
			return oci_errf(e, EACCES, "unauthorized: cannot parse the "
					"registry's challenge '%.200s'", h->www_auth);
		if ((rc = reg_token(c, &ch, e)) < 0)
			return rc;
	}
	return 0;
}

static int reg_token_url(struct oci_client *c, const struct oci_challenge *ch,
			 char *url, size_t len)
{
	char scope[600];
	CURL *cu = curl_easy_init();
	char *sv, *sc;
	int n;

	if (!cu)
		return -ENOMEM;
	/* the registry's scope if it named one, else pull on our repository */
	if (ch->scope[0])
		snprintf(scope, sizeof(scope), "%s", ch->scope);
	else
		snprintf(scope, sizeof(scope), "repository:%s:pull", c->ref.path);
	sv = curl_easy_escape(cu, ch->service, 0);
	sc = curl_easy_escape(cu, scope, 0);
	n = snprintf(url, len, "%s%s%s%s&scope=%s", ch->realm,
		     strchr(ch->realm, '?') ? "&" : "?", ch->service[0] ? "service=" : "",
		     sv ? sv : "", sc ? sc : "");
	curl_free(sv);
	curl_free(sc);
	curl_easy_cleanup(cu);
	return (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static int reg_basic(struct oci_client *c, struct oci_err *e)
{
	char b64[820];

	if (!c->creds[0])
		return oci_errf(e, EACCES, "unauthorized: authentication "
				"required (msbvm login %s)", c->ref.domain);
	oci_base64_encode(c->creds, strlen(c->creds), b64, sizeof(b64));
	snprintf(c->auth, sizeof(c->auth), "Authorization: Basic %s", b64);
	c->tried_auth = true;
	return 0;
}

/* The bearer token for this repository (token.md, "Requesting a
 * Token"), with the docker config's credentials if there are any. */
static int reg_token(struct oci_client *c, const struct oci_challenge *ch,
		     struct oci_err *e)
{
	struct oci_buf b = { .max = 1 << 20 };
	struct reg_hdrs h = { .max = 1 << 20 };
	const char *tok;
	char url[2048];
	CURLcode cc;
	json_t *j;
	long st = 0;
	int rc = 0;

	if (!strcasecmp(ch->scheme, "Basic"))
		return reg_basic(c, e);
	if (reg_token_url(c, ch, url, sizeof(url)) < 0)
		return oci_errf(e, EINVAL, "token realm too long");
	c->auth[0] = 0;
	if (c->creds[0])
		reg_basic(c, e); /* the token server gets basic auth */
	cc = reg_perform(c, url, NULL, &b, &h, &st);
	c->tried_auth = true;
	if (cc != CURLE_OK)
		rc = oci_errf(e, EIO, "token server %.200s: %s", ch->realm,
			      curl_easy_strerror(cc));
	else if (st == 401 || st == 403)
		rc = oci_errf(e, EACCES, "unauthorized: %s", c->creds[0] ?
			      "incorrect username or password" :
			      "authentication required");
	j = !rc && b.data ? json_loadb(b.data, b.len, 0, NULL) : NULL;
	tok = json_string_value(json_object_get(j, "token"));
	if (!tok) /* the OAuth2 name (token.md, "Token Response Fields") */
		tok = json_string_value(json_object_get(j, "access_token"));
	if (!rc && (st != 200 || !tok || strlen(tok) > sizeof(c->auth) - 40))
		rc = oci_errf(e, EACCES, "token server %.200s: HTTP %ld, no token",
			      ch->realm, st);
	else if (!rc)
		snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", tok);
	json_decref(j);
	oci_buf_free(&b);
	return rc;
}

/* An HTTP failure as docker words it. */
int oci_client_status_err(struct oci_client *c, long st, const char *what,
			  const struct oci_buf *b, struct oci_err *e)
{
	char name[700], reg[300];

	oci_ref_format(&c->ref, name, sizeof(name));
	reg_errbody(b, reg, sizeof(reg));
	if (st == 401 || st == 403)
		return oci_errf(e, EACCES, "unauthorized: %s", c->tried_auth &&
				c->creds[0] ? "incorrect username or password" :
				reg[0] ? reg : "authentication required");
	if (st == 404)
		return oci_errf(e, ENOENT, "%s for %s not found%s%s", what, name,
				reg[0] ? ": " : "", reg);
	return oci_errf(e, EIO, "%s for %s: HTTP %ld%s%s", what, name, st,
			reg[0] ? ": " : "", reg);
}

int oci_client_manifest(struct oci_client *c, const char *reference,
			struct oci_buf *b, enum oci_media *media,
			struct oci_err *e)
{
	struct reg_hdrs h = { .max = OCI_MANIFEST_MAX };
	char url[600];
	long st = 0;
	int rc;

	b->max = OCI_MANIFEST_MAX;
	snprintf(url, sizeof(url), "%s/manifests/%s", c->base, reference);
	if ((rc = reg_get(c, url, REG_ACCEPT, b, &h, &st, e)) < 0)
		return rc;
	if (st != 200)
		return oci_client_status_err(c, st, "manifest", b, e);
	*media = oci_media_of(h.ctype, b->data, b->len);
	return 0;
}
