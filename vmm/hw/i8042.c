#include "legacy.h"

#include <string.h>

void i8042_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	      bool is_write)
{
	struct i8042 *k = opaque;

	if (!is_write) {
		/* Status 0: output buffer empty, input buffer empty, so the
		 * kernel's kb_wait() returns at once and no keyboard is seen. */
		memset(data, 0, len);
		return;
	}
	if (off == I8042_CMD_PORT - I8042_DATA_PORT && len == 1 &&
	    data[0] == I8042_CMD_RESET)
		k->reset(k->opaque);
}

void sink_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	     bool is_write)
{
	(void)opaque;
	(void)off;
	if (!is_write)
		memset(data, 0, len);
}
