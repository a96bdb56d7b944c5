/* The per-thread seccomp filters (vmm/lib/seccomp.c): every kind compiles,
 * a thread with a filter dies on a system call outside its list (in a
 * forked child), argument filters hold (vCPU ioctl: KVM_RUN yes,
 * KVM_CREATE_VM no), LOG lets the call through, and the filter binds only
 * the thread that installed it (no TSYNC: an embedder's threads run free). */
#include "check.h"
#include "vmm/core/err.h"
#include "vmm/lib/seccomp.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum act { A_GETPPID, A_KVM_RUN, A_KVM_CREATE_VM, A_INET_SOCKET, A_UNIX_SOCKET,
	   A_EXECVE };

static void act(enum act a)
{
	char *argv[] = { "/bin/true", NULL };

	switch (a) {
	case A_GETPPID: syscall(SYS_getppid); break;
	case A_KVM_RUN: syscall(SYS_ioctl, -1, KVM_RUN, 0); break;
	case A_KVM_CREATE_VM: syscall(SYS_ioctl, -1, KVM_CREATE_VM, 0); break;
	case A_INET_SOCKET: syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); break;
	case A_UNIX_SOCKET: syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0); break;
	case A_EXECVE: syscall(SYS_execve, argv[0], argv, NULL); break;
	}
}

/* In a child: install kind's filter of s, do a, _exit(0). The status. */
static int run_child(const struct sc_set *s, const char *kind, enum act a)
{
	int st = -1;
	pid_t pid = fork();

	if (pid == 0) {
		if (sc_install(s, kind) < 0)
			_exit(3);
		act(a);
		syscall(SYS_exit_group, 0);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	return st;
}

static bool killed(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

static bool ok(int st)
{
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_counts(void)
{
	for (unsigned i = 0; i < SC_KINDS; i++) {
		int n = sc_count(sc_kinds[i]);

		printf("  seccomp: %-8s %d syscalls allowed\n", sc_kinds[i], n);
		CHECK(n >= 20 && n <= 50); /* Firecracker: about 30-50 per thread */
	}
	CHECK(sc_count("nope") == 0);
}

static void test_kill(void)
{
	struct sc_set s;

	CHECK(sc_prepare(&s, MSBVM_SECCOMP_ON) == 0);
	for (unsigned i = 0; i < SC_KINDS; i++) {
		CHECK(s.prog[i].filter && s.prog[i].len > 10);
		CHECK(killed(run_child(&s, sc_kinds[i], A_GETPPID)));
		CHECK(killed(run_child(&s, sc_kinds[i], A_EXECVE)));
		CHECK(killed(run_child(&s, sc_kinds[i], A_INET_SOCKET)));
	}
	/* argument filters: the vCPU's ioctl is KVM_RUN & co., nothing else */
	CHECK(ok(run_child(&s, "vcpu", A_KVM_RUN)));
	CHECK(killed(run_child(&s, "vcpu", A_KVM_CREATE_VM)));
	CHECK(killed(run_child(&s, "io", A_KVM_RUN)));
	/* only the vsock backend opens sockets, and only AF_UNIX */
	CHECK(ok(run_child(&s, "vsock", A_UNIX_SOCKET)));
	CHECK(killed(run_child(&s, "io", A_UNIX_SOCKET)));
	/* a kind without a filter is left alone (the profiler's timer) */
	CHECK(ok(run_child(&s, "profile", A_GETPPID)));
	sc_free(&s);
}

static void test_log_off(void)
{
	struct sc_set s;

	CHECK(sc_prepare(&s, MSBVM_SECCOMP_LOG) == 0);
	CHECK(ok(run_child(&s, "io", A_GETPPID)));
	sc_free(&s);
	CHECK(sc_prepare(&s, MSBVM_SECCOMP_OFF) == 0);
	CHECK(!s.prog[0].filter && ok(run_child(&s, "vcpu", A_KVM_CREATE_VM)));
	sc_free(&s);
}

static void *filtered_thread(void *arg)
{
	return (void *)(long)sc_install(arg, "io");
}

/* The filter binds its thread only: the process's other threads (an
 * embedder's) still make any system call. */
static void test_per_thread(void)
{
	struct sc_set s;
	int st = -1;
	pid_t pid;

	CHECK(sc_prepare(&s, MSBVM_SECCOMP_ON) == 0);
	pid = fork();
	if (pid == 0) {
		pthread_t t;
		void *rc = (void *)1;
		char buf[8];

		if (pthread_create(&t, NULL, filtered_thread, &s) ||
		    pthread_join(t, &rc) || rc)
			_exit(3);
		/* not allowed on "io" threads; fine here */
		if (syscall(SYS_getppid) <= 0 || pipe((int[2]){ 0, 0 }) < 0)
			_exit(4);
		snprintf(buf, sizeof(buf), "%d", 1);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && ok(st));
	if (!ok(st))
		fprintf(stderr, "  per-thread child: status 0x%x\n", st);
	sc_free(&s);
}

int main(void)
{
	test_counts();
	test_kill();
	test_log_off();
	test_per_thread();
	return check_result("test_seccomp");
}
