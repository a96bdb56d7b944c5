/* libFuzzer target: image reference parsing (oci/ref.c) and the
 * WWW-Authenticate parser on arbitrary strings, as a user or a registry
 * could send them. A parsed reference must format and parse back the same. */
#include "oci/oci.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[1024], again[1024];
	struct oci_ref r, r2;
	struct oci_challenge c;
	struct oci_err e;

	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	oci_challenge_parse(s, &c);
	if (oci_ref_parse(s, &r, &e) < 0)
		return 0;
	oci_ref_format(&r, again, sizeof(again));
	if (oci_ref_parse(again, &r2, &e) < 0 || strcmp(r.domain, r2.domain) ||
	    strcmp(r.path, r2.path) || strcmp(r.tag, r2.tag) ||
	    strcmp(r.digest, r2.digest))
		abort(); /* normalisation is idempotent */
	oci_host_insecure_ok(r.domain, NULL, 0);
	return 0;
}
