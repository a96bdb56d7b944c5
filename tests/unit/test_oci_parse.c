/* oci/: the WWW-Authenticate parser, docker config credentials, and the
 * manifest / index / config parsers on good, malformed and hostile input. */
#include "oci/oci.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D1 "sha256:" HEX

static void test_challenge(void)
{
	struct oci_challenge c;

	CHECK(oci_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
		"service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\"",
		&c) == 0);
	CHECK(!strcmp(c.scheme, "Bearer"));
	CHECK(!strcmp(c.realm, "https://auth.docker.io/token"));
	CHECK(!strcmp(c.service, "registry.docker.io"));
	CHECK(!strcmp(c.scope, "repository:library/alpine:pull"));
	/* case, spaces, unquoted values, escapes, unknown params */
	CHECK(oci_challenge_parse("bearer  Realm=http://x/t , service=s,"
		"error=\"invalid_token\",scope=\"a\\\"b\"", &c) == 0);
	CHECK(!strcmp(c.realm, "http://x/t"));
	CHECK(!strcmp(c.service, "s"));
	CHECK(!strcmp(c.scope, "a\"b"));
	CHECK(oci_challenge_parse("Basic realm=\"Registry Realm\"", &c) == 0);
	CHECK(!strcmp(c.scheme, "Basic") && !strcmp(c.realm, "Registry Realm"));
	CHECK(oci_challenge_parse("Bearer service=\"x\"", &c) < 0); /* no realm */
	CHECK(oci_challenge_parse("Bearer realm=\"unterminated", &c) < 0);
	CHECK(oci_challenge_parse("Negotiate abc", &c) == -ENOTSUP);
	CHECK(oci_challenge_parse("", &c) < 0);
	CHECK(oci_challenge_parse("Bearer realm", &c) < 0);
}

static void test_creds(void)
{
	char path[] = "/tmp/test_oci_cfgXXXXXX", file[64], out[600];
	struct oci_err e;
	FILE *f;

	CHECK(mkdtemp(path) != NULL);
	snprintf(file, sizeof(file), "%s/config.json", path);
	f = fopen(file, "w");
	/* "dXNlcjpwYXNz" = base64("user:pass") */
	fprintf(f, "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":"
		"\"ZG9jazpodWI=\"},\"localhost:5000\":{\"auth\":\"dXNlcjpwYXNz\"},"
		"\"bad\":{\"auth\":\"!!!\"}}}");
	fclose(f);
	CHECK(oci_creds_lookup(file, "localhost:5000", out, sizeof(out)) == 0);
	CHECK(!strcmp(out, "user:pass"));
	CHECK(oci_creds_lookup(file, "docker.io", out, sizeof(out)) == 0);
	CHECK(!strcmp(out, "dock:hub"));
	CHECK(oci_creds_lookup(file, "bad", out, sizeof(out)) < 0);
	CHECK(oci_creds_lookup(file, "nope:1", out, sizeof(out)) == -ENOENT);
	CHECK(oci_creds_store(file, "reg.example:443", "me", "p:w", &e) == 0);
	CHECK(oci_creds_lookup(file, "reg.example:443", out, sizeof(out)) == 0);
	CHECK(!strcmp(out, "me:p:w"));
	CHECK(oci_creds_lookup(file, "localhost:5000", out, sizeof(out)) == 0);
	CHECK(oci_creds_erase(file, "reg.example:443", &e) == 0);
	CHECK(oci_creds_lookup(file, "reg.example:443", out, sizeof(out)) < 0);
	CHECK(oci_creds_erase(file, "reg.example:443", &e) == -ENOENT);
	unlink(file);
	rmdir(path);
}

#define MF(layers) "{\"schemaVersion\":2,\"mediaType\":" \
	"\"application/vnd.docker.distribution.manifest.v2+json\",\"config\":" \
	"{\"mediaType\":\"x\",\"size\":7,\"digest\":\"" D1 "\"},\"layers\":[" layers "]}"
#define LAYER(mt) "{\"mediaType\":\"" mt "\",\"size\":42,\"digest\":\"" D1 "\"}"

static int mf(const char *s, struct oci_manifest *m, struct oci_err *e)
{
	return oci_manifest_parse(s, strlen(s), m, e);
}

static void test_manifest(void)
{
	struct oci_manifest m;
	struct oci_err e = { "" };

	CHECK(mf(MF(LAYER("application/vnd.docker.image.rootfs.diff.tar.gzip") ","
		    LAYER("application/vnd.oci.image.layer.v1.tar+zstd") ","
		    LAYER("application/vnd.oci.image.layer.v1.tar")), &m, &e) == 0);
	CHECK(m.n_layers == 3 && m.config.size == 7 && m.layers[0].size == 42);
	CHECK(m.layers[0].comp == OCI_COMP_GZIP && m.layers[1].comp == OCI_COMP_ZSTD &&
	      m.layers[2].comp == OCI_COMP_NONE);
	CHECK(!strcmp(m.layers[1].digest, D1));
	CHECK(mf(MF(""), &m, &e) == 0 && m.n_layers == 0);
	CHECK(mf("{\"schemaVersion\":2,", &m, &e) == -EBADMSG);
	CHECK_STR_CONTAINS(e.msg, "malformed manifest JSON");
	CHECK(mf("[1,2]", &m, &e) == -EBADMSG);
	CHECK(mf("", &m, &e) == -EBADMSG);
	CHECK(mf("{\"schemaVersion\":1,\"fsLayers\":[]}", &m, &e) == -ENOTSUP);
	CHECK_STR_CONTAINS(e.msg, "schema version 1");
	CHECK(mf("{\"schemaVersion\":2,\"config\":{}}", &m, &e) == -EBADMSG);
	CHECK(mf(MF("{\"size\":1,\"digest\":\"sha256:../../etc\"}"), &m, &e) == -EBADMSG);
	CHECK_STR_CONTAINS(e.msg, "not sha256");
	CHECK(mf(MF("{\"size\":-1,\"digest\":\"" D1 "\"}"), &m, &e) == -EBADMSG);
	CHECK(mf(MF("{\"size\":\"1\",\"digest\":\"" D1 "\"}"), &m, &e) == -EBADMSG);
	CHECK(mf("{\"a\":1,\"a\":2}", &m, &e) == -EBADMSG); /* duplicate keys */
	/* too many layers */
	{
		size_t cap = 200 * 200, n = 0;
		char *s = malloc(cap);
		n += (size_t)snprintf(s, cap, "{\"schemaVersion\":2,\"config\":"
			"{\"size\":1,\"digest\":\"%s\"},\"layers\":[", D1);
		for (int i = 0; i < OCI_MAX_LAYERS + 1; i++)
			n += (size_t)snprintf(s + n, cap - n, "%s{\"size\":1,"
				"\"digest\":\"%s\"}", i ? "," : "", D1);
		snprintf(s + n, cap - n, "]}");
		CHECK(mf(s, &m, &e) == -E2BIG);
		free(s);
	}
	/* oversize: refused before parsing */
	CHECK(oci_manifest_parse("{}", OCI_MANIFEST_MAX + 1, &m, &e) == -EFBIG);
}

#define IDX "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image." \
	"index.v1+json\",\"manifests\":[" \
	"{\"size\":10,\"digest\":\"sha256:" HEX "\",\"platform\":{\"os\":\"linux\"," \
	"\"architecture\":\"arm64\",\"variant\":\"v8\"}}," \
	"{\"size\":11,\"digest\":\"sha256:1" HEX "\"}," \
	"{\"size\":12,\"digest\":\"sha256:fedcba9876543210fedcba9876543210fedcba98" \
	"76543210fedcba9876543210\",\"platform\":{\"os\":\"linux\"," \
	"\"architecture\":\"amd64\"}}]}"

static void test_index(void)
{
	struct oci_desc d;
	struct oci_err e = { "" };

	CHECK(oci_index_select(IDX, strlen(IDX), "linux/amd64", &d, &e) == 0);
	CHECK(d.size == 12 && !strncmp(d.digest, "sha256:fedcba", 13));
	CHECK(oci_index_select(IDX, strlen(IDX), "linux/arm64", &d, &e) == 0);
	CHECK(d.size == 10);
	CHECK(oci_index_select(IDX, strlen(IDX), "linux/arm64/v8", &d, &e) == 0);
	CHECK(oci_index_select(IDX, strlen(IDX), "linux/arm64/v7", &d, &e) == -ENOENT);
	CHECK(oci_index_select(IDX, strlen(IDX), "linux/s390x", &d, &e) == -ENOENT);
	CHECK_STR_CONTAINS(e.msg, "no linux/s390x in this image index");
	CHECK_STR_CONTAINS(e.msg, "linux/arm64/v8, linux/amd64");
	CHECK(oci_index_select(IDX, strlen(IDX), "linux", &d, &e) == -EINVAL);
	CHECK(oci_index_select("{\"manifests\":3}", 15, "linux/amd64", &d, &e) < 0);
	CHECK(oci_index_select("{", 1, "linux/amd64", &d, &e) == -EBADMSG);
	CHECK(oci_media_of("application/vnd.oci.image.index.v1+json", "", 0) ==
	      OCI_MT_INDEX);
	CHECK(oci_media_of("application/vnd.docker.distribution.manifest.list.v2+json",
			   "", 0) == OCI_MT_INDEX);
	CHECK(oci_media_of("application/vnd.docker.distribution.manifest.v1+prettyjws",
			   "", 0) == OCI_MT_SCHEMA1);
	CHECK(oci_media_of("application/json", IDX, strlen(IDX)) == OCI_MT_INDEX);
	CHECK(oci_media_of(NULL, "{\"layers\":[]}", 13) == OCI_MT_MANIFEST);
	CHECK(oci_media_of(NULL, "{\"schemaVersion\":1}", 19) == OCI_MT_SCHEMA1);
	CHECK(oci_media_of(NULL, "nonsense", 8) == OCI_MT_UNKNOWN);
}

static void test_config(void)
{
	const char *s = "{\"created\":\"2024-01-02T03:04:05Z\",\"config\":{"
		"\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":[\"echo hi\"],"
		"\"Env\":[\"PATH=/bin\",\"FOO=bar\"],\"WorkingDir\":\"/data\","
		"\"User\":\"1234:5678\"}}";
	struct oci_config c;
	struct oci_err e;

	CHECK(oci_config_parse(s, strlen(s), &c, &e) == 0);
	CHECK(c.entrypoint && !strcmp(c.entrypoint[1], "-c") && !c.entrypoint[2]);
	CHECK(c.cmd && !strcmp(c.cmd[0], "echo hi"));
	CHECK(c.env && !strcmp(c.env[1], "FOO=bar"));
	CHECK(c.workdir && !strcmp(c.workdir, "/data"));
	CHECK(c.user && !strcmp(c.user, "1234:5678"));
	CHECK(c.created && !strcmp(c.created, "2024-01-02T03:04:05Z"));
	oci_config_free(&c);
	CHECK(oci_config_parse("{}", 2, &c, &e) == 0 && !c.cmd && !c.user);
	s = "{\"config\":{\"Cmd\":null}}";
	CHECK(oci_config_parse(s, strlen(s), &c, &e) == 0 && !c.cmd);
	s = "{\"config\":{\"Cmd\":[1]}}";
	CHECK(oci_config_parse(s, strlen(s), &c, &e) == -EBADMSG);
	s = "{\"config\":{\"User\":[]}}";
	CHECK(oci_config_parse(s, strlen(s), &c, &e) == -EBADMSG);
	CHECK(oci_config_parse("{", 1, &c, &e) == -EBADMSG);
}

int main(void)
{
	char b[64];

	test_challenge();
	test_creds();
	test_manifest();
	test_index();
	test_config();
	CHECK(oci_base64_decode("dXNlcjpwYXNz", b, sizeof(b)) == 9 &&
	      !strcmp(b, "user:pass"));
	CHECK(oci_base64_decode("YQ==", b, sizeof(b)) == 1 && !strcmp(b, "a"));
	CHECK(oci_base64_decode("abc", b, sizeof(b)) < 0);
	CHECK(oci_base64_encode("a", 1, b, sizeof(b)) == 4 && !strcmp(b, "YQ=="));
	return check_result("test_oci_parse");
}
