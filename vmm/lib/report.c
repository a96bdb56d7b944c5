#include "report.h"
#include "vmm/core/err.h"
#include "vmm/core/vm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

double report_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Resident KiB of the whole process and of the mapping holding guest RAM
 * (the overhead is the difference: what the VMM itself costs). */
static void report_rss(const struct vm *vm, long *total, long *guest)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in_guest = false;
	uintptr_t lo, hi, g = (uintptr_t)vm->gm.host;
	long kib;

	*total = *guest = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in_guest = g >= lo && g < hi;
		else if (sscanf(line, "Rss: %ld kB", &kib) == 1) {
			*total += kib;
			if (in_guest)
				*guest += kib;
		}
	}
	fclose(f);
}

/* KVM's own count of every VM exit of the vCPU, including the ones it
 * handles in the kernel (KVM_GET_STATS_FD, "exits"): the number QEMU's
 * query-stats reports too, so the two VMMs compare. -1 if unavailable. */
long long report_kvm_exits(const struct vm *vm)
{
	struct kvm_stats_header h;
	long long v = -1;
	int fd = vm->stats_fd;
	size_t dsz;
	char *descs = NULL;

	if (fd < 0)
		return -1;
	if (pread(fd, &h, sizeof(h), 0) != sizeof(h) || h.num_desc > 4096 ||
	    h.name_size > 4096)
		goto out;
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	if (!(descs = calloc(h.num_desc, dsz)) ||
	    pread(fd, descs, dsz * h.num_desc, h.desc_offset) != (ssize_t)(dsz * h.num_desc))
		goto out;
	for (uint32_t i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (void *)(descs + i * dsz);
		uint64_t x;

		d->name[h.name_size - 1] = '\0';
		if (!strcmp(d->name, "exits") &&
		    pread(fd, &x, sizeof(x), h.data_offset + d->offset) == sizeof(x)) {
			v = (long long)x;
			break;
		}
	}
out:
	free(descs);
	return v;
}

void report_at_ready(struct report *r, const struct vm *vm)
{
	r->kvm_exits_ready = report_kvm_exits(vm);
	r->ready_ms = report_since(&r->t0);
	memcpy(r->exits_ready, vm->exits, sizeof(r->exits_ready));
	report_rss(vm, &r->rss_kib, &r->guest_rss_kib);
}

static void report_exits(FILE *f, const char *name, const uint64_t *ex)
{
	uint64_t total = 0;
	bool first = true;

	fprintf(f, "  \"%s\": {", name);
	for (unsigned i = 0; i < REPORT_EXIT_REASONS; i++) {
		if (!ex[i])
			continue;
		fprintf(f, "%s\"%s\": %llu", first ? "" : ", ", vcpu_exit_name(i),
			(unsigned long long)ex[i]);
		first = false;
		total += ex[i];
	}
	fprintf(f, "%s\"total\": %llu},\n", first ? "" : ", ", (unsigned long long)total);
}

int report_write(const struct report *r, const struct vm *vm, const char *path)
{
	struct rusage ru;
	FILE *f = fopen(path, "w");

	if (!f)
		return err_set(errno, "--report %s: %s", path, strerror(errno));
	getrusage(RUSAGE_SELF, &ru);
	fprintf(f, "{\n  \"version\": 1,\n  \"ram_mib\": %llu,\n"
		"  \"t0_realtime_ns\": %lld%09ld,\n",
		(unsigned long long)(vm->gm.ram_size >> 20),
		(long long)r->t0_real.tv_sec, r->t0_real.tv_nsec);
	fprintf(f, "  \"host_ms\": {\"vm_created\": %.3f, \"first_vcpu_entry\": %.3f, "
		"\"ready\": %.3f, \"exec_done\": %.3f, \"shutdown_sent\": %.3f, "
		"\"exit\": %.3f},\n", r->vm_created_ms, r->first_entry_ms, r->ready_ms,
		r->exec_done_ms, r->shutdown_sent_ms, r->exit_ms);
	fprintf(f, "  \"guest_ms\": {\"agent_start\": %lld, \"root_mounted\": %lld, "
		"\"ready\": %lld},\n", r->guest_agent_start_ms, r->guest_root_ms,
		r->guest_ready_ms);
	fprintf(f, "  \"kvm_exits\": {\"to_ready\": %lld, \"total\": %lld},\n",
		r->kvm_exits_ready, report_kvm_exits(vm));
	report_exits(f, "exits_to_ready", r->exits_ready);
	report_exits(f, "exits", vm->exits);
	fprintf(f, "  \"vmm_cpu_ms\": {\"user\": %.1f, \"sys\": %.1f},\n",
		ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3,
		ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3);
	fprintf(f, "  \"rss_kib\": {\"total\": %ld, \"guest_ram\": %ld, \"vmm_overhead\": %ld},\n",
		r->rss_kib, r->guest_rss_kib, r->rss_kib - r->guest_rss_kib);
	fprintf(f, "  \"exit_code\": %d\n}\n", r->exit_code);
	if (fclose(f) != 0)
		return err_set(errno, "--report %s: %s", path, strerror(errno));
	return 0;
}
