/* CMOS RTC register values and the i8042 reset command. */
#include "check.h"
#include "vmm/hw/legacy.h"

static int resets;
static void on_reset(void *o) { (void)o; resets++; }

int main(void)
{
	/* 2026-11-22 15:51:24 UTC, a Sunday */
	long long t = 1795362684;
	struct i8042 k = { on_reset, NULL };
	struct rtc r = { 0 };
	uint8_t v;

	CHECK(rtc_reg(0x00, t) == 0x24);
	CHECK(rtc_reg(0x02, t) == 0x51);
	CHECK(rtc_reg(0x04, t) == 0x15);
	CHECK(rtc_reg(0x06, t) == 0x01);
	CHECK(rtc_reg(0x07, t) == 0x22);
	CHECK(rtc_reg(0x08, t) == 0x11);
	CHECK(rtc_reg(0x09, t) == 0x26);
	CHECK(rtc_reg(0x32, t) == 0x20);
	CHECK((rtc_reg(0x0a, t) & 0x80) == 0); /* no update in progress */
	CHECK(rtc_reg(0x0b, t) & 0x02);        /* 24-hour mode */

	v = 0x80 | 0x0b; /* NMI-disable bit is not part of the index */
	rtc_io(&r, 0, &v, 1, true);
	CHECK(r.index == 0x0b);
	rtc_io(&r, 1, &v, 1, false);
	CHECK(v == 0x02);

	v = 0;
	i8042_io(&k, 4, &v, 1, false);
	CHECK(v == 0); /* idle controller */
	v = 0xd1;
	i8042_io(&k, 4, &v, 1, true);
	CHECK(resets == 0);
	v = I8042_CMD_RESET;
	i8042_io(&k, 0, &v, 1, true); /* data port: not a reset */
	CHECK(resets == 0);
	i8042_io(&k, 4, &v, 1, true);
	CHECK(resets == 1);
	return check_result("test_legacy");
}
