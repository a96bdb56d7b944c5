#include "console.h"
#include "vmm/core/err.h"
#include "uart.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* Only for the error message: whether the guest panicked is the power-off/
 * panic port's to say (pvport.h), never the console text's. */
#define CONSOLE_PANIC_MARK "Kernel panic - not syncing"
#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

void console_init(struct console *c, int out_fd)
{
	memset(c, 0, sizeof(*c));
	c->out_fd = out_fd;
	c->in_fd = -1;
	c->stop_pipe[0] = c->stop_pipe[1] = -1;
}

void console_flush(struct console *c)
{
	size_t off = 0;

	while (off < c->len) {
		ssize_t n = write(c->out_fd, c->buf + off, c->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* output closed: drop it, the guest runs on */
		off += (size_t)n;
	}
	c->len = 0;
}

static void console_end_line(struct console *c)
{
	c->line[c->line_len] = '\0';
	/* the latest wins: the kernel's own comes right before it reports */
	if (strstr(c->line, CONSOLE_PANIC_MARK))
		memcpy(c->panic_line, c->line, c->line_len + 1);
	c->line_len = 0;
}

void console_putc(void *opaque, uint8_t byte)
{
	struct console *c = opaque;

	c->buf[c->len++] = (char)byte;
	/* Lines end at '\n' (the kernel sends "\r\n"). */
	if (byte == '\n') {
		if (c->line_len)
			console_end_line(c);
	} else if (byte != '\r' && c->line_len < sizeof(c->line) - 1) {
		c->line[c->line_len++] = (char)byte;
	}
	if (c->interactive || byte == '\n' || c->len == sizeof(c->buf))
		console_flush(c);
}

static void *console_thread(void *arg)
{
	struct console *c = arg;
	struct pollfd p[2] = { { c->in_fd, POLLIN, 0 },
			       { c->stop_pipe[0], POLLIN, 0 } };
	uint8_t buf[128];
	bool escape = false;

	thread_enter(c->log, "console");
	for (;;) {
		unsigned room = uart_rx_room(c->uart);

		/* Guest not draining input: wait for room, still honouring
		 * the stop pipe. */
		p[0].events = room ? POLLIN : 0;
		if (poll(p, 2, room ? -1 : 10) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!room || !(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t n = read(c->in_fd, buf,
				 room < sizeof(buf) ? room : sizeof(buf));
		if (n <= 0)
			break; /* EOF: the guest simply gets no more input */
		for (ssize_t i = 0; i < n; i++) {
			if (escape && buf[i] == 'x' && c->quit) {
				c->quit(c->quit_opaque);
				return NULL;
			}
			escape = c->raw && buf[i] == CONSOLE_ESCAPE;
		}
		uart_push_input(c->uart, buf, (unsigned)n);
	}
	return NULL;
}

int console_start_input(struct console *c, int in_fd, struct uart *u,
			void (*quit)(void *), void *opaque)
{
	c->in_fd = in_fd;
	c->uart = u;
	c->quit = quit;
	c->quit_opaque = opaque;
	c->interactive = true;
	c->log = log_bind(NULL); /* the caller's sink (the VM's) ... */
	log_bind(c->log);        /* ... left bound */
	if (pipe2(c->stop_pipe, O_CLOEXEC) < 0)
		return err_set(errno, "console: pipe: %s", strerror(errno));
	if (isatty(in_fd) && tcgetattr(in_fd, &c->saved) == 0) {
		struct termios t = c->saved;

		cfmakeraw(&t);
		t.c_oflag |= OPOST | ONLCR; /* keep host-side output sane */
		if (tcsetattr(in_fd, TCSANOW, &t) == 0)
			c->raw = true;
	}
	if (pthread_create(&c->thread, NULL, console_thread, c) != 0) {
		console_stop(c);
		return err_set(EAGAIN, "console: cannot start input thread");
	}
	c->thread_started = true;
	return 0;
}

void console_stop(struct console *c)
{
	console_flush(c);
	if (c->thread_started) {
		if (write(c->stop_pipe[1], "x", 1) < 0) {
			/* the thread also ends on input EOF */
		}
		pthread_join(c->thread, NULL);
		c->thread_started = false;
	}
	if (c->raw) {
		tcsetattr(c->in_fd, TCSANOW, &c->saved);
		c->raw = false;
	}
	for (int i = 0; i < 2; i++) {
		if (c->stop_pipe[i] >= 0)
			close(c->stop_pipe[i]);
		c->stop_pipe[i] = -1;
	}
}
