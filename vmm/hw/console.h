/* The guest console as the user sees it: UART output to a file descriptor
 * (line-buffered, except when interactive), the last kernel-panic line
 * kept for the error message, and, with --console, terminal input fed to
 * the UART from a thread (raw mode; Ctrl-A x quits). */
#ifndef MSBVM_CONSOLE_H
#define MSBVM_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

struct log_sink;

struct uart;

struct console {
	int out_fd;
	bool interactive;
	char buf[512];
	size_t len;
	char line[256]; /* current line */
	size_t line_len;
	/* The last line that reads like a kernel panic, for the message
	 * once the power-off/panic port (pvport.h) said the guest panicked.
	 * Any program can print such a line: it never decides anything. */
	char panic_line[256];
	/* input side */
	int in_fd;
	bool raw;
	struct termios saved;
	struct uart *uart;
	int stop_pipe[2];
	pthread_t thread;
	bool thread_started;
	struct log_sink *log;  /* the VM's, bound by the input thread */
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
