/* `msbvm run --report FILE`: one JSON object per run for benchmark
 * harnesses (tools/bench): phase times, guest timestamps, VM exits by
 * reason up to READY and in all, VMM CPU time, and the VMM's resident
 * memory excluding guest RAM (from /proc/self/smaps). */
#ifndef MSBVM_REPORT_H
#define MSBVM_REPORT_H

#include <stdint.h>
#include <time.h>

struct vm;

#define REPORT_EXIT_REASONS 64

struct report {
	struct timespec t0;             /* run_vm entry */
	struct timespec t0_real;        /* the same moment, CLOCK_REALTIME */
	double vm_created_ms, first_entry_ms, ready_ms, exec_done_ms,
	       shutdown_sent_ms, exit_ms;
	long long guest_agent_start_ms, guest_root_ms, guest_ready_ms;
	uint64_t exits_ready[REPORT_EXIT_REASONS], exits[REPORT_EXIT_REASONS];
	long rss_kib, guest_rss_kib;    /* at READY */
	long long kvm_exits_ready;      /* KVM's count, all exits */
	int exit_code;
};

double report_since(const struct timespec *t0);
/* At READY (control thread): exit counts so far and memory. */
void report_at_ready(struct report *r, const struct vm *vm);
/* KVM's binary stats "exits" for the vCPU; -1 if unavailable. */
long long report_kvm_exits(const struct vm *vm);
/* Writes FILE; -errno with err_msg(). */
int report_write(const struct report *r, const struct vm *vm, const char *path);

#endif
