/* The VMM's side of agent mode (`msbvm run` without --initrd): a thread
 * that waits for agentd's READY frame (the guest connects to host port
 * PROTO_READY_PORT, i.e. our Unix socket "vsock.sock_1025"), then runs the
 * user's command through the control channel, asks the agent to power
 * off, and stops the VM itself if the guest ignores that. With -d it
 * tells the waiting parent that the VM is ready and stays out of the way. */
#ifndef MSBVM_CONTROL_H
#define MSBVM_CONTROL_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "vmm/cli/cli.h"
#include "report.h"
#include "state.h"

struct vm;

#define CONTROL_POWEROFF_TIMEOUT_S 10
#define CONTROL_INIT_POWEROFF_TIMEOUT_S 300

struct control {
	struct vm *vm;
	const struct run_opts *o;
	char sock[PATH_MAX];        /* the VM's vsock Unix socket */
	int ready_fd;               /* listener "sock_1025" */
	int stop_pipe[2];           /* VM stopped: wakes the thread */
	int sig_pipe[2];            /* signals to forward to the command */
	int notify_fd;              /* -d: parent waiting for "ready" */
	int log_fd;                 /* -d: stderr after ready */
	pthread_t thread;
	bool started;
	struct timespec t0;         /* msbvm start */
	/* results */
	bool ready, have_exit;
	double ready_s;             /* msbvm start -> READY received */
	long long agent_start_ms, root_ms, ready_ms; /* guest CLOCK_BOOTTIME */
	int exit_code;
	struct timespec shutdown_at;
	struct report *rep;             /* filled in for --report */    /* SHUTDOWN sent (tv_sec 0: never) */
	char err[600];
};

/* Creates the READY listener beside sock. -errno with err_msg(). */
int control_open(struct control *c, struct vm *vm, const struct run_opts *o,
		 const char *sock, const struct timespec *t0);
int control_start(struct control *c);
/* The vCPU loop ended: the thread stops waiting and is joined. */
void control_finish(struct control *c);
/* Async-signal-safe: forward sig to the running command. */
void control_signal(struct control *c, int sig);
void control_close(struct control *c);

#endif
