/* Per-thread seccomp filters of a VM (libseccomp; docs/security.md).
 * Each kind of VMM thread gets its own allow-list (seccomp_rules.c),
 * compiled to BPF once per VM by the creating thread (sc_prepare: errors
 * reach the caller), and installed by the thread itself as its first act
 * (sc_thread_enter, through log_sink.thread_hook): per thread, never
 * TSYNC, so an embedding process's own threads are never filtered. */
#ifndef MSBVM_LIB_SECCOMP_H
#define MSBVM_LIB_SECCOMP_H

#include <linux/filter.h>
#include <stdbool.h>

#include "include/msbvm.h"

#define SC_KINDS 5

struct sc_rule {
	const char *kinds;   /* space-separated thread kinds */
	const char *name;    /* syscall */
	int arg;             /* index of the argument that must equal val, or -1 */
	unsigned long val;
};
extern const struct sc_rule sc_rules[];

struct sc_set {
	enum msbvm_seccomp mode;
	struct sock_fprog prog[SC_KINDS];   /* filter of sc_kinds[i] */
};

extern const char *const sc_kinds[SC_KINDS];

/* Compiles every kind's filter for mode; -errno with err_msg(). */
int sc_prepare(struct sc_set *s, enum msbvm_seccomp mode);
void sc_free(struct sc_set *s);
/* How many syscalls (rules) kind allows; -1 for an unknown kind. */
int sc_count(const char *kind);
/* Names the thread and installs its kind's filter: 0 or -errno (with
 * err_msg); a kind without a filter (none prepared) is left alone. */
int sc_install(const struct sc_set *s, const char *kind);

#endif
