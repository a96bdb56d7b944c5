/* Guest RIP sampler (`msbvm run --profile FILE`): a timer thread kicks the
 * vCPU out of KVM_RUN every interval; the vCPU thread records RIP and the
 * time. tools/profile-report.sh turns FILE into per-phase hot functions
 * with the kernel's System.map. A development tool for boot-time work. */
#ifndef MSBVM_PROFILE_H
#define MSBVM_PROFILE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define PROF_MAX_SAMPLES (1u << 20)

struct prof_sample {
	uint64_t ns, rip;
};

struct profile {
	const char *path;
	pthread_t timer, target;
	_Atomic bool stop;
	int sig;
	bool started;
	struct prof_sample *s;
	uint32_t n;
	uint64_t t0;
};

/* Kicks target with sig every interval (the vCPU thread's kick signal). */
int prof_start(struct profile *p, const char *path, pthread_t target, int sig);
/* Stops the timer thread (before the target thread exits). */
void prof_stop(struct profile *p);
/* On the vCPU thread after a kick: record the current RIP. */
void prof_sample(struct profile *p, int vcpu_fd);
/* Writes "seconds rip" lines (after prof_stop and the target is gone). */
int prof_finish(struct profile *p);

#endif
