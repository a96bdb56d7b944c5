/* oci/: OCI/Docker images — reference parsing, the distribution API v2
 * client, a content-addressed store, and a root filesystem built from the
 * layers. A layer below vmm/lib: it knows nothing of VMs. Every function
 * returns 0 (or a count) on success and -errno on failure, with a one-line
 * message in the caller's struct oci_err; there is no process-wide state. */
#ifndef MSBVM_OCI_H
#define MSBVM_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OCI_ERR_LEN 512
#define OCI_DIGEST_LEN 71          /* "sha256:" + 64 hex */
/* A manifest or index bigger than this is refused before it is read
 * (containerd uses the same 4 MiB bound); a registry claiming 1 GB is
 * hostile, not large. */
#define OCI_MANIFEST_MAX (4u << 20)
#define OCI_CONFIG_MAX (8u << 20)

struct oci_err {
	char msg[OCI_ERR_LEN];
};

int oci_errf(struct oci_err *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- references (ref.c) ---- */
struct oci_ref {
	char domain[256];   /* docker.io, localhost:5000 */
	char path[256];     /* library/alpine */
	char tag[129];      /* "" when only a digest was given */
	char digest[OCI_DIGEST_LEN + 1];
};

int oci_ref_parse(const char *s, struct oci_ref *r, struct oci_err *e);
/* docker.io/library/alpine:latest[@sha256:...] */
void oci_ref_format(const struct oci_ref *r, char *buf, size_t len);
/* The host actually contacted: docker.io -> registry-1.docker.io. */
const char *oci_ref_registry_host(const struct oci_ref *r);
/* Plain HTTP only for loopback or hosts the user named insecure. */
bool oci_host_insecure_ok(const char *host, const char *const *insecure,
			  size_t n);
bool oci_digest_valid(const char *d);

/* ---- auth (auth.c) ---- */
struct oci_challenge {
	char scheme[16];     /* "Bearer" or "Basic" */
	char realm[512], service[512], scope[512];
};
int oci_challenge_parse(const char *hdr, struct oci_challenge *c);
/* "user:pass" for HOST from $DOCKER_CONFIG/config.json or
 * ~/.docker/config.json; 0 found, -ENOENT none. */
int oci_creds_lookup(const char *config_path, const char *host, char *out,
		     size_t len);
int oci_creds_store(const char *config_path, const char *host,
		    const char *user, const char *pass, struct oci_err *e);
int oci_creds_erase(const char *config_path, const char *host,
		    struct oci_err *e);
void oci_docker_config_path(char *buf, size_t len);
int oci_base64_encode(const char *in, size_t n, char *out, size_t len);
int oci_base64_decode(const char *in, char *out, size_t len);

/* ---- manifests (manifest.c) ---- */
#define OCI_MAX_LAYERS 128
enum oci_media {
	OCI_MT_UNKNOWN, OCI_MT_MANIFEST, OCI_MT_INDEX, OCI_MT_SCHEMA1,
};
enum oci_comp { OCI_COMP_NONE, OCI_COMP_GZIP, OCI_COMP_ZSTD };
struct oci_desc {
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t size;
	enum oci_comp comp;
};
struct oci_manifest {
	struct oci_desc config;
	struct oci_desc layers[OCI_MAX_LAYERS];
	unsigned n_layers;
};
enum oci_media oci_media_of(const char *content_type, const char *body,
			    size_t len);
int oci_manifest_parse(const char *body, size_t len, struct oci_manifest *m,
		       struct oci_err *e);
/* From an index / manifest list, the manifest for PLATFORM
 * ("os/arch[/variant]"). */
int oci_index_select(const char *body, size_t len, const char *platform,
		     struct oci_desc *out, struct oci_err *e);

struct oci_config {
	char **entrypoint, **cmd, **env;   /* NULL-terminated, or NULL */
	char *workdir, *user, *created;
};
int oci_config_parse(const char *body, size_t len, struct oci_config *c,
		     struct oci_err *e);
void oci_config_free(struct oci_config *c);

/* ---- whiteouts (layer.c) ---- */
enum oci_wh { OCI_WH_NONE, OCI_WH_FILE, OCI_WH_OPAQUE };
/* For a tar entry name: is it a whiteout (OCI image spec, "Whiteouts")?
 * For OCI_WH_FILE, target gets the path it deletes; for OCI_WH_OPAQUE,
 * the directory it empties. */
enum oci_wh oci_whiteout(const char *name, char *target, size_t len);
/* Refuse "..", absolute paths and empty names (returns -EPERM). */
int oci_path_check(const char *name);
/* "./a//b/" -> "a/b" in place. */
void oci_path_clean(char *name);

/* ---- registry client (registry.c) ---- */
struct oci_opts {
	const char *platform;           /* NULL: linux/amd64 */
	const char *const *insecure;    /* --insecure-registry hosts */
	size_t n_insecure;
	const char *ca_cert;            /* NULL: $SSL_CERT_FILE or system */
	const char *docker_config;      /* NULL: $DOCKER_CONFIG or ~/.docker */
	int progress_fd;                /* -1: silent */
	bool progress_fd_tty;           /* redraw per-layer lines in place */
};
struct oci_client {
	struct oci_ref ref;
	const struct oci_opts *o;
	char base[320];                 /* http(s)://host/v2/PATH */
	char creds[600];                /* user:pass from the docker config */
	char auth[4200];                /* "Authorization: ..." or "" */
	bool tried_auth;
};
struct oci_buf {
	char *data;
	size_t len, cap, max;
};
int oci_client_init(struct oci_client *c, const struct oci_ref *r,
		    const struct oci_opts *o, struct oci_err *e);
/* GET /v2/PATH/manifests/REF into b (bounded); *media set. */
int oci_client_manifest(struct oci_client *c, const char *reference,
			struct oci_buf *b, enum oci_media *media,
			struct oci_err *e);
/* curl options every request of this client shares (TLS, auth, timeouts);
 * a struct curl_slist ** for the headers it allocated. */
void oci_client_setup(struct oci_client *c, void *curl, void *hdrs_out);
void oci_buf_free(struct oci_buf *b);
/* the message for an HTTP error status of the registry */
int oci_client_status_err(struct oci_client *c, long st, const char *what,
			  const struct oci_buf *b, struct oci_err *e);
/* sha256:<hex> of a buffer */
void oci_sha256(const void *data, size_t len, char out[OCI_DIGEST_LEN + 1]);

#endif
