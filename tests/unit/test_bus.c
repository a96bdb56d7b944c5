/* Bus registration (sorted, non-overlapping) and dispatch. */
#include "check.h"
#include "vmm/core/bus.h"
#include "vmm/core/err.h"

#include <errno.h>

struct dev {
	uint64_t last_off;
	uint32_t last_len;
	int reads, writes;
	uint8_t value;
};

static void dev_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct dev *d = opaque;

	d->last_off = off;
	d->last_len = len;
	if (is_write) {
		d->writes++;
		d->value = data[0];
	} else {
		d->reads++;
		memset(data, d->value, len);
	}
}

int main(void)
{
	struct bus b = { .name = "test" };
	struct dev d[4] = { { 0 } };
	uint8_t buf[8];

	/* registered out of order: lookups must still find each */
	CHECK(bus_register(&b, 0x3f8, 8, dev_io, &d[0], "uart") == 0);
	CHECK(bus_register(&b, 0x60, 5, dev_io, &d[1], "i8042") == 0);
	CHECK(bus_register(&b, 0x70, 2, dev_io, &d[2], "rtc") == 0);
	CHECK(bus_register(&b, 0x80, 1, dev_io, &d[3], "post") == 0);
	CHECK(b.n == 4);
	for (size_t i = 1; i < b.n; i++)
		CHECK(b.r[i - 1].base + b.r[i - 1].len <= b.r[i].base);

	/* overlaps are refused, naming both sides */
	CHECK(bus_register(&b, 0x3fc, 8, dev_io, NULL, "bad") == -EEXIST);
	CHECK_STR_CONTAINS(err_msg(), "uart");
	CHECK(bus_register(&b, 0x5f, 2, dev_io, NULL, "bad2") == -EEXIST);
	CHECK(bus_register(&b, 0x71, 1, dev_io, NULL, "bad3") == -EEXIST);
	CHECK(bus_register(&b, 0x100, 0, dev_io, NULL, "empty") == -EINVAL);
	CHECK(bus_register(&b, UINT64_MAX - 1, 4, dev_io, NULL, "wrap") == -EINVAL);
	CHECK(b.n == 4);
	/* adjacent is fine */
	CHECK(bus_register(&b, 0x400, 8, dev_io, NULL, "next") == 0);

	buf[0] = 0x41;
	CHECK(bus_dispatch(&b, 0x3f8, buf, 1, true));
	CHECK(d[0].writes == 1 && d[0].value == 0x41 && d[0].last_off == 0);
	CHECK(bus_dispatch(&b, 0x3fd, buf, 1, false));
	CHECK(d[0].last_off == 5 && buf[0] == 0x41);
	CHECK(bus_dispatch(&b, 0x64, buf, 1, true) && d[1].last_off == 4);

	/* unclaimed: reads all-ones, counted */
	CHECK(!bus_dispatch(&b, 0x2f8, buf, 2, false));
	CHECK(buf[0] == 0xff && buf[1] == 0xff && b.unhandled == 1);
	/* an access that straddles a range end is not the device's */
	CHECK(bus_find(&b, 0x3fe, 4) == NULL);
	CHECK(bus_find(&b, 0x3fc, 4) != NULL);
	CHECK(bus_find(&b, 0x71, 1) == &b.r[1]); /* 0x60, 0x70, ... */
	CHECK(bus_find(&b, 0x72, 1) == NULL);
	bus_free(&b);
	return check_result("test_bus");
}
