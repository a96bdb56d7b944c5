/* Legacy PC devices the Linux boot path touches: the i8042 keyboard
 * controller (only its CPU-reset command, which is how `reboot=k` asks to
 * stop), the CMOS RTC (so the guest clock starts at host time), and the
 * port-0x80 POST sink. */
#ifndef MSBVM_LEGACY_H
#define MSBVM_LEGACY_H

#include <stdbool.h>
#include <stdint.h>

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_CMD_RESET 0xfe

struct i8042 {
	void (*reset)(void *opaque); /* guest asked for a CPU reset */
	void *opaque;
};
/* Registered over 0x60..0x64 (5 ports, only 0x60 and 0x64 decoded). */
void i8042_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	      bool is_write);

struct rtc {
	uint8_t index;
	long long offset_s; /* guest time = host time + offset (tests) */
};
/* Registered over 0x70..0x71. */
void rtc_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	    bool is_write);
/* Register contents for a given UNIX time (unit-testable). */
uint8_t rtc_reg(uint8_t index, long long unix_time);

/* Swallows writes (POST codes, port 0x80 I/O delays), reads 0. */
void sink_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
	     bool is_write);

#endif
