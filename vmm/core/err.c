#include "err.h"

#include <stdio.h>
#include <string.h>

#define LOG_BURST 3

static _Thread_local char err_buf[512];
static _Thread_local struct log_sink *log_cur;

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

void log_sink_init(struct log_sink *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
}

void log_sink_destroy(struct log_sink *l)
{
	pthread_mutex_destroy(&l->lock);
}

struct log_sink *log_bind(struct log_sink *l)
{
	struct log_sink *old = log_cur;

	log_cur = l;
	return old;
}

void thread_enter(struct log_sink *l, const char *kind)
{
	log_bind(l);
	if (l && l->thread_hook)
		l->thread_hook(l->thread_opaque, kind);
}

bool log_is_verbose(void)
{
	return log_cur && log_cur->verbose;
}

static void log_emit(const char *line)
{
	if (log_cur && log_cur->fn)
		log_cur->fn(log_cur->opaque, line);
	else
		fprintf(stderr, "msbvm: %s\n", line);
}

/* How many lines key has had, counting this one; a small table per sink
 * so that a hostile guest cannot flood the host log. */
static unsigned log_count(const char *key)
{
	struct log_sink *l = log_cur;
	unsigned n = 0;

	if (!l)
		return 1;
	pthread_mutex_lock(&l->lock);
	for (int i = 0; i < LOG_KEYS; i++) {
		if (l->seen[i].key == key || !l->seen[i].key) {
			l->seen[i].key = key;
			n = ++l->seen[i].count;
			break;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return n ? n : 1;
}

void log_guest(const char *key, const char *fmt, ...)
{
	char line[640];
	unsigned n = log_count(key);
	int k;
	va_list ap;

	if (n > LOG_BURST)
		return;
	k = snprintf(line, sizeof(line), "guest: ");
	va_start(ap, fmt);
	vsnprintf(line + k, sizeof(line) - (size_t)k, fmt, ap);
	va_end(ap);
	if (n == LOG_BURST)
		strncat(line, " (further messages of this kind suppressed)",
			sizeof(line) - strlen(line) - 1);
	log_emit(line);
}

void log_info(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!log_is_verbose())
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_emit(line);
}

void log_error(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_emit(line);
}
