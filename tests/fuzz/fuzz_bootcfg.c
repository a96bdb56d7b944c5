/* libFuzzer target: agentd's boot configuration parser (agentd/config.c,
 * the same source the guest runs) on arbitrary bytes. Whatever it
 * accepts must satisfy what agentd then relies on: every string it hands
 * out lies inside the blob, is NUL-terminated there and within its
 * limit. */
#include "agentd/config.h"
#include "proto/bootcfg.h"
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *s, const char *blob, size_t size, size_t max)
{
	if (!s || s < blob || s >= blob + size)
		abort();
	size_t room = (size_t)(blob + size - s);
	size_t n = strnlen(s, room);
	if (n == room || n > max)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_cfg c;
	char err[400], *blob = malloc(size ? size : 1);

	if (!blob)
		return 0;
	memcpy(blob, data, size);
	if (acfg_parse(blob, size, &c, err, sizeof(err))) {
		inside(c.name, blob, size, BCFG_MAX_NAME);
		/* serve.c compares HELLO's token with this one: never a
		 * short (guessable) or malformed token */
		inside(c.token, blob, size, PROTO_TOKEN_HEX);
		if (!proto_token_valid(c.token))
			abort();
		if (c.has_root) {
			inside(c.root_dev, blob, size, BCFG_MAX_DEVICE);
			inside(c.root_fstype, blob, size, BCFG_MAX_FSTYPE);
		}
		if (c.init.want) {
			inside(c.init.spec, blob, size, BCFG_MAX_PATH);
			if (c.init.argc > BCFG_MAX_LIST || c.init.envc > BCFG_MAX_LIST)
				abort();
			for (unsigned i = 0; i < c.init.argc; i++)
				inside(c.init.args[i], blob, size, BCFG_MAX_STRING);
			for (unsigned i = 0; i < c.init.envc; i++)
				inside(c.init.env[i], blob, size, BCFG_MAX_STRING);
		}
	} else if (!err[0]) {
		abort(); /* a refusal always says why */
	}
	free(blob);
	return 0;
}
