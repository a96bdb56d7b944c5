/* An I/O bus (port I/O or MMIO): sorted, non-overlapping ranges, looked up
 * by binary search on every exit. */
#ifndef MSBVM_BUS_H
#define MSBVM_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* offset is relative to the range base; data holds len bytes (1..8). */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data,
			  uint32_t len, bool is_write);

struct bus_range {
	uint64_t base, len;
	bus_io_fn fn;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name;
	struct bus_range *r;
	size_t n, cap;
	uint64_t unhandled; /* accesses nobody claimed */
};

/* -EINVAL for an empty or wrapping range, -EEXIST on overlap. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn,
		 void *opaque, const char *name);
/* The range that holds all of [addr, addr+len), or NULL. */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr,
				 uint32_t len);
/* Runs the handler. Unclaimed reads return all-ones; false if unclaimed. */
bool bus_dispatch(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		  bool is_write);
void bus_free(struct bus *bus);

#endif
