/* The power-off/panic port: reads give the signature, each code calls its
 * callback once, anything else is ignored. */
#include "check.h"
#include "vmm/hw/pvport.h"

static int poweroffs, panics;
static void on_poweroff(void *o) { (void)o; poweroffs++; }
static void on_panic(void *o) { (void)o; panics++; }

static void put(struct pvport *p, uint8_t v)
{
	pvport_io(p, 0, &v, 1, true);
}

int main(void)
{
	struct pvport p = { on_poweroff, on_panic, NULL };
	uint8_t b[4] = { 0 };

	pvport_io(&p, 0, b, 1, false);
	CHECK(b[0] == PVPORT_SIGNATURE && b[0] == 'M');
	pvport_io(&p, 0, b, 4, false);
	CHECK(b[0] == 'M' && b[3] == 'M');
	CHECK(poweroffs == 0 && panics == 0); /* reads have no effect */

	put(&p, PVPORT_POWEROFF);
	CHECK(poweroffs == 1 && panics == 0);
	put(&p, PVPORT_HALT); /* a halted microVM is off */
	CHECK(poweroffs == 2 && panics == 0);
	put(&p, PVPORT_PANIC);
	CHECK(poweroffs == 2 && panics == 1);

	/* unknown values and wider writes: ignored (logged, rate-limited) */
	for (int i = 0; i < 10; i++) {
		put(&p, 0);
		put(&p, 0xff);
		put(&p, 'K');
	}
	b[0] = PVPORT_PANIC;
	b[1] = 0;
	pvport_io(&p, 0, b, 2, true);
	CHECK(poweroffs == 2 && panics == 1);

	/* no callbacks wired: nothing to call, no crash */
	struct pvport none = { 0 };
	put(&none, PVPORT_POWEROFF);
	put(&none, PVPORT_PANIC);
	return check_result("test_pvport");
}
