/* oci/ref.c: docker's normalisation cases (distribution/reference
 * normalize_test.go, TestParseNormalizedNamed / TestValidateReferenceName)
 * and the plain-HTTP rule. */
#include "oci/oci.h"
#include "check.h"

static void ref_ok(const char *in, const char *want)
{
	struct oci_ref r;
	struct oci_err e = { "" };
	char buf[700];
	int rc = oci_ref_parse(in, &r, &e);

	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "  %s: %s\n", in, e.msg);
		return;
	}
	oci_ref_format(&r, buf, sizeof(buf));
	CHECK(!strcmp(buf, want));
	if (strcmp(buf, want))
		fprintf(stderr, "  %s -> %s, want %s\n", in, buf, want);
}

static void ref_bad(const char *in, const char *msg)
{
	struct oci_ref r;
	struct oci_err e = { "" };

	CHECK(oci_ref_parse(in, &r, &e) < 0);
	CHECK_STR_CONTAINS(e.msg, msg);
}

#define D "sha256:1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"

int main(void)
{
	struct oci_ref r;
	struct oci_err e;
	const char *ins[] = { "reg.example:5000", "plain.example" };

	ref_ok("alpine", "docker.io/library/alpine:latest");
	ref_ok("alpine:3.20", "docker.io/library/alpine:3.20");
	ref_ok("docker/docker", "docker.io/docker/docker:latest");
	ref_ok("library/debian", "docker.io/library/debian:latest");
	ref_ok("docker.io/docker/docker", "docker.io/docker/docker:latest");
	ref_ok("docker.io/library/debian", "docker.io/library/debian:latest");
	ref_ok("docker.io/debian", "docker.io/library/debian:latest");
	ref_ok("index.docker.io/docker/docker", "docker.io/docker/docker:latest");
	ref_ok("index.docker.io/debian", "docker.io/library/debian:latest");
	ref_ok("localhost:5000/docker/docker", "localhost:5000/docker/docker:latest");
	ref_ok("localhost/debian", "localhost/debian:latest");
	ref_ok("localhost:5000/x", "localhost:5000/x:latest");
	ref_ok("127.0.0.1:5000/foo/bar:v1", "127.0.0.1:5000/foo/bar:v1");
	ref_ok("Foo/bar", "Foo/bar:latest"); /* upper case: a domain */
	ref_ok("[::1]:5000/x", "[::1]:5000/x:latest");
	ref_ok("python:3.12-slim", "docker.io/library/python:3.12-slim");
	ref_ok("a.b-c.d/e__f/g--h.i_j", "a.b-c.d/e__f/g--h.i_j:latest");
	ref_ok("ubuntu@" D, "docker.io/library/ubuntu@" D);
	ref_ok("ubuntu:22.04@" D, "docker.io/library/ubuntu:22.04@" D);
	ref_ok("localhost:5000/x@" D, "localhost:5000/x@" D);

	ref_bad("https://github.com/docker/docker", "invalid reference");
	ref_bad("docker/Docker", "must be lowercase");
	ref_bad("docker.io/docker/Docker", "must be lowercase");
	ref_bad("-docker", "invalid reference");
	ref_bad("-docker/docker", "invalid reference");
	ref_bad("docker///docker", "invalid reference");
	ref_bad("docker.io/docker///docker", "invalid reference");
	ref_bad("1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
		"hexadecimal");
	ref_bad("", "invalid reference");
	ref_bad("alpine:", "bad tag");
	ref_bad("alpine:-x", "bad tag");
	ref_bad("alpine@sha256:abc", "bad digest");
	ref_bad("alpine@md5:0123", "bad digest");
	ref_bad("a..b/c", "bad registry host");
	ref_bad("foo_/bar", "invalid reference");
	ref_bad("foo__/bar", "invalid reference");

	CHECK(oci_ref_parse("alpine", &r, &e) == 0);
	CHECK(!strcmp(oci_ref_registry_host(&r), "registry-1.docker.io"));
	CHECK(oci_ref_parse("localhost:5000/x", &r, &e) == 0);
	CHECK(!strcmp(oci_ref_registry_host(&r), "localhost:5000"));

	CHECK(oci_host_insecure_ok("localhost:5000", NULL, 0));
	CHECK(oci_host_insecure_ok("localhost", NULL, 0));
	CHECK(oci_host_insecure_ok("127.0.0.1:41234", NULL, 0));
	CHECK(oci_host_insecure_ok("127.9.8.7", NULL, 0));
	CHECK(oci_host_insecure_ok("[::1]:5000", NULL, 0));
	CHECK(!oci_host_insecure_ok("128.0.0.1", NULL, 0));
	CHECK(!oci_host_insecure_ok("127.0.0.1.evil.com", NULL, 0));
	CHECK(!oci_host_insecure_ok("registry-1.docker.io", NULL, 0));
	CHECK(oci_host_insecure_ok("reg.example:5000", ins, 2));
	CHECK(!oci_host_insecure_ok("reg.example:6000", ins, 2));
	CHECK(oci_host_insecure_ok("plain.example:6000", ins, 2));
	return check_result("test_oci_ref");
}
