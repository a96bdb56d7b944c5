/* MC146818 CMOS RTC, read-only view of host time: registers 0-9 hold the
 * time in BCD, register B says 24-hour BCD mode, A never shows an update
 * in progress, D reports valid RAM/time. Writes other than the index are
 * ignored (the guest cannot set the host clock). */
#include "legacy.h"

#include <string.h>
#include <time.h>

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

uint8_t rtc_reg(uint8_t index, long long unix_time)
{
	time_t t = (time_t)unix_time;
	struct tm tm;

	gmtime_r(&t, &tm);
	switch (index) {
	case 0x00: return bcd(tm.tm_sec);
	case 0x02: return bcd(tm.tm_min);
	case 0x04: return bcd(tm.tm_hour);
	case 0x06: return bcd(tm.tm_wday + 1);
	case 0x07: return bcd(tm.tm_mday);
	case 0x08: return bcd(tm.tm_mon + 1);
	case 0x09: return bcd(tm.tm_year % 100);
	case 0x32: return bcd((tm.tm_year + 1900) / 100); /* century */
	case 0x0a: return 0x26;       /* 32.768 kHz base, UIP clear */
	case 0x0b: return 0x02;       /* 24-hour, BCD, no interrupts */
	case 0x0d: return 0x80;       /* valid RAM and time */
	default: return 0;
	}
}

void rtc_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	    bool is_write)
{
	struct rtc *r = opaque;

	if (len != 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (off == 0) {
		if (is_write)
			r->index = data[0] & 0x7f; /* bit 7 is the NMI mask */
		else
			data[0] = 0xff;
		return;
	}
	if (!is_write)
		data[0] = rtc_reg(r->index, (long long)time(NULL) + r->offset_s);
}
