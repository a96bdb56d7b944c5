#include "err.h"

#include <stdio.h>
#include <string.h>

int log_verbose;

static char err_buf[512];

int err_set(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
	va_end(ap);
	return -errnum;
}

const char *err_msg(void)
{
	return err_buf[0] ? err_buf : "unknown error";
}

void err_clear(void)
{
	err_buf[0] = '\0';
}

/* Rate limit for guest-caused messages: a small table of keys, each allowed
 * LOG_BURST lines; a hostile guest cannot flood the host log. */
#define LOG_KEYS 64
#define LOG_BURST 3

static struct {
	const char *key;
	unsigned count;
} log_seen[LOG_KEYS];

void log_guest(const char *key, const char *fmt, ...)
{
	va_list ap;
	unsigned *count = NULL;

	for (int i = 0; i < LOG_KEYS; i++) {
		if (log_seen[i].key == key || !log_seen[i].key) {
			log_seen[i].key = key;
			count = &log_seen[i].count;
			break;
		}
	}
	if (count && (*count)++ >= LOG_BURST)
		return;
	fprintf(stderr, "msbvm: guest: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (count && *count == LOG_BURST)
		fprintf(stderr, " (further messages of this kind suppressed)");
	fputc('\n', stderr);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	fprintf(stderr, "msbvm: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
