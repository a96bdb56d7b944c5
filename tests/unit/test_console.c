/* Console output scanning: the panic line is kept, the power-off line
 * stops the VM, partial lines and CR/LF mixes are handled. */
#include "check.h"
#include "vmm/hw/console.h"

#include <fcntl.h>
#include <unistd.h>

static int poweroffs;
static void on_poweroff(void *o) { (void)o; poweroffs++; }

static void feed(struct console *c, const char *s)
{
	while (*s)
		console_putc(c, (uint8_t)*s++);
}

int main(void)
{
	struct console c;
	int fd = open("/dev/null", O_WRONLY);

	console_init(&c, fd);
	c.poweroff = on_poweroff;
	feed(&c, "[    1.0] hello\r\n[    2.0] reboot: Power dow");
	CHECK(poweroffs == 0); /* line not complete yet */
	feed(&c, "n\r\n");
	CHECK(poweroffs == 1 && !c.panicked);
	feed(&c, "[   28.0] reboot: System halted\r\n"); /* power-off without ACPI */
	CHECK(poweroffs == 2);

	console_init(&c, fd);
	c.poweroff = on_poweroff;
	feed(&c, "[   44.6] Kernel panic - not syncing: Attempted to kill init!\r\n");
	CHECK(c.panicked);
	CHECK_STR_CONTAINS(c.panic_line, "Attempted to kill init");
	feed(&c, "reboot: Power down\n"); /* after a panic it is not a clean stop */
	CHECK(poweroffs == 2);

	/* a line longer than the scan buffer is cut, never overflows */
	console_init(&c, fd);
	for (int i = 0; i < 2000; i++)
		console_putc(&c, 'x');
	feed(&c, "Kernel panic - not syncing\n");
	CHECK(!c.panicked); /* beyond the kept prefix: not recognised */
	feed(&c, "Kernel panic - not syncing: late\n");
	CHECK(c.panicked);
	console_flush(&c);
	close(fd);
	return check_result("test_console");
}
