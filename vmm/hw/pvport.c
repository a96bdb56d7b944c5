#include "pvport.h"
#include "vmm/core/err.h"

#include <string.h>

void pvport_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	       bool is_write)
{
	struct pvport *p = opaque;

	(void)off;
	if (!is_write) {
		memset(data, PVPORT_SIGNATURE, len);
		return;
	}
	if (len == 1 && (data[0] == PVPORT_POWEROFF || data[0] == PVPORT_HALT)) {
		log_info("power-off/panic port: guest %s",
			 data[0] == PVPORT_HALT ? "halted" : "powered off");
		if (p->poweroff)
			p->poweroff(p->opaque);
		return;
	}
	if (len == 1 && data[0] == PVPORT_PANIC) {
		log_info("power-off/panic port: guest kernel panicked");
		if (p->panic)
			p->panic(p->opaque);
		return;
	}
	log_guest("pvport", "power-off/panic port: ignored %u-byte write 0x%x",
		  len, data[0]);
}
