/* Console output scanning: the last panic-looking line is kept for the
 * error message, nothing on the console stops the VM or marks it failed,
 * partial lines and CR/LF mixes are handled. */
#include "check.h"
#include "vmm/hw/console.h"

#include <fcntl.h>
#include <unistd.h>

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
	feed(&c, "[    1.0] hello\r\n[    2.0] reboot: Power down\r\n");
	feed(&c, "[   28.0] reboot: System halted\r\n");
	CHECK(c.panic_line[0] == '\0'); /* just text: the port decides */

	/* a program's fake line is kept only until the kernel's own comes */
	feed(&c, "Kernel panic - not syncing: fake, from user space\n");
	CHECK_STR_CONTAINS(c.panic_line, "fake");
	feed(&c, "[   44.6] Kernel panic - not syncing: Attempted to kill ");
	CHECK_STR_CONTAINS(c.panic_line, "fake"); /* line not complete yet */
	feed(&c, "init!\r\n");
	CHECK_STR_CONTAINS(c.panic_line, "Attempted to kill init!");
	CHECK(!strchr(c.panic_line, '\r') && !strchr(c.panic_line, '\n'));

	/* a line longer than the scan buffer is cut, never overflows */
	console_init(&c, fd);
	for (int i = 0; i < 2000; i++)
		console_putc(&c, 'x');
	feed(&c, "Kernel panic - not syncing\n");
	CHECK(c.panic_line[0] == '\0'); /* beyond the kept prefix */
	feed(&c, "Kernel panic - not syncing: late\n");
	CHECK_STR_CONTAINS(c.panic_line, "late");
	console_flush(&c);
	close(fd);
	return check_result("test_console");
}
