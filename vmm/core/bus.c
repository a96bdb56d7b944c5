#include "bus.h"
#include "err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn,
		 void *opaque, const char *name)
{
	uint64_t end;
	size_t i;

	if (!len || __builtin_add_overflow(base, len, &end))
		return err_set(EINVAL, "%s bus: bad range for %s", bus->name,
			       name);
	for (i = 0; i < bus->n && bus->r[i].base < base; i++)
		;
	if (i > 0 && bus->r[i - 1].base + bus->r[i - 1].len > base)
		return err_set(EEXIST, "%s bus: %s overlaps %s", bus->name,
			       name, bus->r[i - 1].name);
	if (i < bus->n && bus->r[i].base < end)
		return err_set(EEXIST, "%s bus: %s overlaps %s", bus->name,
			       name, bus->r[i].name);
	if (bus->n == bus->cap) {
		size_t cap = bus->cap ? bus->cap * 2 : 8;
		struct bus_range *r = realloc(bus->r, cap * sizeof(*r));

		if (!r)
			return err_set(ENOMEM, "out of memory");
		bus->r = r;
		bus->cap = cap;
	}
	memmove(&bus->r[i + 1], &bus->r[i], (bus->n - i) * sizeof(*bus->r));
	bus->r[i] = (struct bus_range){ base, len, fn, opaque, name };
	bus->n++;
	return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr,
				 uint32_t len)
{
	size_t lo = 0, hi = bus->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->r[mid];

		if (addr < r->base) {
			hi = mid;
		} else if (addr - r->base >= r->len) {
			lo = mid + 1;
		} else {
			/* An access straddling the end is not this device's. */
			if (len > r->len - (addr - r->base))
				return NULL;
			return r;
		}
	}
	return NULL;
}

bool bus_dispatch(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		  bool is_write)
{
	const struct bus_range *r = bus_find(bus, addr, len);

	if (!r) {
		bus->unhandled++;
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	r->fn(r->opaque, addr - r->base, data, len, is_write);
	return true;
}

void bus_free(struct bus *bus)
{
	free(bus->r);
	bus->r = NULL;
	bus->n = bus->cap = 0;
}
