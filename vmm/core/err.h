/* err: how a host/config error message travels up to the caller, and
 * where log lines go. Functions that fail for a reason the user must see
 * call err_set() and return -errno; the library copies err_msg() onto the
 * handle the caller holds. The buffer is per thread, so VMs in different
 * threads never overwrite each other's message.
 *
 * Logging goes to a `struct log_sink` owned by one VM; every thread the
 * library starts for that VM binds it (log_bind) first, so device code
 * calls log_guest()/log_info() without carrying a handle around. A thread
 * with nothing bound logs to stderr, info lines off. */
#ifndef MSBVM_ERR_H
#define MSBVM_ERR_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

/* Records the message (printf-style) and returns -errnum (errnum > 0). */
int err_set(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *err_msg(void);
void err_clear(void);

#define LOG_KEYS 64

struct log_sink {
	void (*fn)(void *opaque, const char *line); /* NULL: stderr */
	void *opaque;
	bool verbose;
	pthread_mutex_t lock;  /* the rate-limit table is shared by threads */
	struct {
		const char *key;
		unsigned count;
	} seen[LOG_KEYS];
	/* Called by thread_enter() on every thread started for this VM,
	 * before it handles any guest input: the library installs that
	 * thread kind's seccomp filter here (vmm/lib/seccomp.c). NULL: none. */
	void (*thread_hook)(void *opaque, const char *kind);
	void *thread_opaque;
};

void log_sink_init(struct log_sink *l);
void log_sink_destroy(struct log_sink *l);
/* This thread's sink from now on (NULL: the stderr default); returns the
 * previous one so an API call can restore it. */
struct log_sink *log_bind(struct log_sink *l);
bool log_is_verbose(void);
/* The first call of every thread the library starts for a VM: binds l
 * (log_bind) and runs its thread_hook for this kind of thread ("vcpu",
 * "io", "vsock", "console"). */
void thread_enter(struct log_sink *l, const char *kind);

/* Guest-caused problems never exit: log at most LOG_BURST lines per key. */
void log_guest(const char *key, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A host problem found after set-up (nobody to return it to): always. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only when the bound sink is verbose (-v). */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
