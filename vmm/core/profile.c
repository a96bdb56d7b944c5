#include "profile.h"
#include "err.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define PROF_INTERVAL_NS 5000000L /* 5 ms */

static uint64_t prof_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void *prof_timer(void *arg)
{
	struct profile *p = arg;
	struct timespec d = { 0, PROF_INTERVAL_NS };

	while (!p->stop) {
		nanosleep(&d, NULL);
		pthread_kill(p->target, p->sig);
	}
	return NULL;
}

int prof_start(struct profile *p, const char *path, pthread_t target, int sig)
{
	memset(p, 0, sizeof(*p));
	p->path = path;
	p->sig = sig;
	p->target = target;
	p->t0 = prof_now();
	p->s = calloc(PROF_MAX_SAMPLES, sizeof(*p->s));
	if (!p->s)
		return err_set(ENOMEM, "profile: out of memory");
	if (pthread_create(&p->timer, NULL, prof_timer, p) != 0)
		return err_set(EAGAIN, "profile: cannot start timer thread");
	p->started = true;
	return 0;
}

void prof_sample(struct profile *p, int vcpu_fd)
{
	struct kvm_regs r;

	if (!p->started || p->n >= PROF_MAX_SAMPLES ||
	    ioctl(vcpu_fd, KVM_GET_REGS, &r) < 0)
		return;
	p->s[p->n].ns = prof_now() - p->t0;
	p->s[p->n].rip = r.rip;
	p->n++;
}

void prof_stop(struct profile *p)
{
	if (!p->started)
		return;
	p->stop = true;
	pthread_join(p->timer, NULL);
	p->started = false;
}

int prof_finish(struct profile *p)
{
	FILE *f;

	if (!p->s)
		return 0;
	prof_stop(p);
	f = fopen(p->path, "w");
	if (!f) {
		free(p->s);
		p->s = NULL;
		return err_set(errno, "profile %s: %s", p->path, strerror(errno));
	}
	for (uint32_t i = 0; i < p->n; i++)
		fprintf(f, "%.6f %llx\n", (double)p->s[i].ns / 1e9,
			(unsigned long long)p->s[i].rip);
	fclose(f);
	free(p->s);
	p->s = NULL;
	return 0;
}
