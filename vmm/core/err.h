/* err: the one place a host/config error message is kept on its way up to
 * main. Functions that fail for a reason the user must see call err_set()
 * and return -errno; main prints err_msg() once and exits with code 2. */
#ifndef MSBVM_ERR_H
#define MSBVM_ERR_H

#include <stdarg.h>

/* Records the message (printf-style) and returns -errnum (errnum > 0). */
int err_set(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *err_msg(void);
void err_clear(void);

/* Guest-caused problems never exit: log at most `burst` lines per key. */
void log_guest(const char *key, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

extern int log_verbose;
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
