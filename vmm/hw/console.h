/* The guest console as the user sees it: UART output to a file descriptor
 * (line-buffered, except when interactive), kernel-panic detection on the
 * output, and, with --console, terminal input fed to the UART from a thread
 * (raw mode; Ctrl-A x quits). */
#ifndef MSBVM_CONSOLE_H
#define MSBVM_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

struct uart;

struct console {
	int out_fd;
	bool interactive;
	char buf[512];
	size_t len;
	char line[256]; /* current line, for panic detection */
	size_t line_len;
	char panic_line[256];
	bool panicked;
	/* Called (vCPU thread) when the guest kernel prints its last line
	 * before powering off: without ACPI it then halts for good, and its
	 * init would die into a panic, so this is the power-off signal. */
	void (*poweroff)(void *opaque);
	void *poweroff_opaque;
	/* input side */
	int in_fd;
	bool raw;
	struct termios saved;
	struct uart *uart;
	int stop_pipe[2];
	pthread_t thread;
	bool thread_started;
	void (*quit)(void *opaque);
	void *quit_opaque;
};

void console_init(struct console *c, int out_fd);
/* UART tx callback. */
void console_putc(void *opaque, uint8_t byte);
void console_flush(struct console *c);
/* Starts reading in_fd into the UART; raw mode if it is a terminal. */
int console_start_input(struct console *c, int in_fd, struct uart *u,
			void (*quit)(void *), void *opaque);
void console_stop(struct console *c);

#endif
