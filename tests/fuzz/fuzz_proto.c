/* libFuzzer target: the control protocol's frame parser and key=value
 * codec on arbitrary bytes, as agentd and msbvm see them from the peer. */
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pconn p;
	struct proto_frame f;
	size_t cap = PROTO_HDR + PROTO_MAX_PAYLOAD;

	if (!p.in && pconn_init(&p, -1) < 0)
		return 0;
	p.in_used = 0;
	p.failed = false;
	p.in_len = size < cap ? size : cap;
	memcpy(p.in, data, p.in_len);
	while (pconn_next(&p, &f) > 0) {
		if (f.len > PROTO_MAX_PAYLOAD)
			abort();
		if (kv_valid(f.data, f.len)) {
			char key[32];
			const char *val;
			size_t pos = 0;
			long long n;

			while (kv_next(f.data, f.len, &pos, key, sizeof(key), &val))
				kv_num(val, -1000, 1000, &n);
			kv_get(f.data, f.len, "arg");
		}
	}
	return 0;
}
