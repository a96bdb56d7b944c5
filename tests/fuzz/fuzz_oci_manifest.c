/* libFuzzer target: manifest, index and image config parsing (oci/
 * manifest.c, config.c) on arbitrary bytes, as a registry sends them.
 * Every digest accepted must be a valid sha256 digest (it names a file). */
#include "oci/oci.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct oci_manifest m;
	struct oci_config c;
	struct oci_desc d;
	struct oci_err e;

	oci_media_of(NULL, s, size);
	if (oci_manifest_parse(s, size, &m, &e) == 0) {
		if (!oci_digest_valid(m.config.digest) || m.n_layers > OCI_MAX_LAYERS)
			abort();
		for (unsigned i = 0; i < m.n_layers; i++)
			if (!oci_digest_valid(m.layers[i].digest))
				abort();
	}
	if (oci_index_select(s, size, "linux/amd64", &d, &e) == 0 &&
	    !oci_digest_valid(d.digest))
		abort();
	if (oci_config_parse(s, size, &c, &e) == 0)
		oci_config_free(&c);
	return 0;
}
