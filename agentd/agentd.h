/* agentd: the guest agent. PID 1 from msbvm's own initramfs: it mounts the
 * root disk and switches into it (the root filesystem is never modified to
 * hold the agent), prepares the guest, and serves the control protocol
 * (docs/protocol.md) on vsock port PROTO_AGENT_PORT. Single-threaded: one
 * poll() loop over the listener, connections, process pipes and a
 * signalfd for SIGCHLD, so every zombie is reaped in one place. */
#ifndef MSBVM_AGENTD_H
#define MSBVM_AGENTD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/bootcfg.h"
#include "proto/proto.h"

#define AGENT_MAX_CONNS 32
#define AGENT_MAX_ARGS 1024
/* Longest request key plus its NUL (kv_get's own buffer); longer keys
 * are refused, never cut or skipped. */
#define AGENT_KEY_MAX 32
#define AGENT_TERM_GRACE_MS 3000
/* After the command exits, how long EXIT waits for its stdout/stderr to
 * reach EOF; a daemon it left holding them must not hang the client. */
#define AGENT_EXIT_DRAIN_MS 250
/* A client that leaves while its command runs hangs the command up: SIGHUP
 * (and SIGCONT) to its process group, SIGKILL this long after, for what
 * ignored the SIGHUP (docs/protocol.md "Who dies when"). */
#define AGENT_HANGUP_GRACE_MS PROTO_HANGUP_GRACE_MS
/* Hung-up groups waiting for their SIGKILL; one more is killed at once. */
#define AGENT_MAX_HANGUPS 64
/* stdout/stderr still held open by what finished sessions left running:
 * read and thrown away so their writes never block or hit EPIPE; past
 * this many, one is closed (its writers get EPIPE, as before). */
#define AGENT_MAX_LEFTOVER 64
/* Where a detached command's stdout and stderr go (%d: its pid). */
#define AGENT_DETACH_LOG "/run/msbvm/exec-%d.log"

/* One exec session: a process and its stdio. */
struct session {
	pid_t pid;
	int in_fd, out_fd, err_fd; /* -1 when closed */
	bool tty;
	uint8_t *stdin_buf;        /* one STDIN frame not yet written */
	size_t stdin_off, stdin_len;
	bool stdin_eof;            /* close in_fd once the buffer drains */
	bool exited;               /* the leader (the exec'd process) was reaped */
	int status;
	int64_t exit_ms;           /* when (agent_now_ms) */
	/* bytes in out_fd / err_fd when the leader was reaped: all it wrote
	 * is sent, however slowly the host reads, before a stream is cut */
	size_t owed_out, owed_err;
};

enum aconn_op { OP_NONE, OP_EXEC, OP_PUT, OP_GET, OP_LIST };

struct aconn {
	bool used, hello;
	struct pconn pc;
	enum aconn_op op;
	uint32_t op_id;
	struct session s;          /* OP_EXEC */
	int file_fd;               /* OP_PUT / OP_GET */
	void *dir;                 /* OP_LIST (DIR *) */
};

/* A process group hung up (SIGHUP sent), SIGKILLed at kill_ms. */
struct hangup {
	pid_t pgid;                /* 0: free slot */
	int64_t kill_ms;
};

struct agent {
	int listen_fd, sig_fd;
	struct aconn conns[AGENT_MAX_CONNS];
	struct hangup hangups[AGENT_MAX_HANGUPS];
	int leftover[AGENT_MAX_LEFTOVER]; /* -1: free (leftover_init) */
	bool shutting_down;
	bool handoff;              /* not PID 1: a real init is */
	int64_t shutdown_deadline_ms;
	uint64_t reaped;           /* orphans reaped (not sessions) */
	int64_t t_start_ms, t_root_ms, t_ready_ms; /* CLOCK_BOOTTIME */
	/* HELLO's token= must equal this (boot configuration; in agentd's
	 * memory only). NULL: every HELLO is refused. */
	const char *token;
	/* refusals not yet logged, and when the last log line was written:
	 * one line per AGENT_AUTH_LOG_MS, so a flood cannot fill the log */
	uint64_t auth_unlogged;
	int64_t auth_log_ms;
};

/* main.c */
int64_t agent_now_ms(void);
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs "fatal: why", syncs and powers the guest off (PID 1 only). */
void agent_fatal(const char *why) __attribute__((noreturn));

/* serve.c */
int agent_serve(struct agent *a);
bool agent_reply_error(struct aconn *c, uint32_t id, const char *kind,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const char *agent_errno_kind(int e);
/* Every key of a (valid) key=value list is under AGENT_KEY_MAX bytes.
 * kv_get stops at a longer key as if the list ended there, so a later
 * path= or mode= would go unseen: requests with one are refused whole. */
bool agent_keys_fit(const uint8_t *data, size_t len);
/* The first frame of a connection: HELLO with the version and the VM's
 * token (constant-time compare), else ERROR (bad_request, version, auth)
 * and the connection is marked failed (closed by the caller). */
void agent_hello(struct agent *a, struct aconn *c, const struct proto_frame *f);
#define AGENT_AUTH_LOG_MS 10000
/* Ends a connection; a command still running there is hung up. */
void agent_drop(struct agent *a, struct aconn *c);

/* exec.c */
/* Defaults for every EXEC, from the boot configuration's /msbvm/exec (an
 * image's Env, WorkingDir and User): the request's own env=, cwd= and
 * user= win over them. */
struct exec_defaults {
	char *env[BCFG_MAX_LIST];
	unsigned envc;
	const char *workdir, *user;   /* NULL: "/" and root */
};
/* Set once at boot, before serving; d must outlive the agent. */
void exec_set_defaults(const struct exec_defaults *d);
/* Scripts are installed: BCFG_SCRIPTS_DIR goes at the end of every
 * command's PATH, and of agentd's own (which an init inherits). */
void exec_scripts_on_path(void);
/* An EXEC request: pointers into the frame (parsed), then what the agent
 * resolves before forking. */
struct exec_req {
	const char *argv[AGENT_MAX_ARGS + 1];
	const char *envp[AGENT_MAX_ARGS + BCFG_MAX_LIST + 8];
	const char *reqenv[AGENT_MAX_ARGS];
	unsigned argc, envc, nreqenv;
	const char *cwd, *user;
	bool tty, detach;
	long long rows, cols;
	char path[4096];
	uid_t uid;
	gid_t gid;
	char home[256];
};
/* Parses an EXEC payload into *r (defaults: cwd /, 24x80). False, with
 * why, on anything malformed: the request is then refused as a whole. */
bool exec_parse(struct exec_req *r, const uint8_t *data, size_t len,
		char *why, size_t whylen);
/* Sets NAME=VALUE in envp[0..n) (an existing NAME is replaced: later
 * wins), appending while n < cap; returns the new count. */
unsigned agent_env_set(const char **envp, unsigned n, unsigned cap,
		       const char *entry);
/* Empty signal mask, every disposition default: what a freshly exec'd
 * program (a session's command, the handed-off init) must start with. */
void agent_reset_signals(void);
void exec_start(struct agent *a, struct aconn *c, const struct proto_frame *f);
/* Frames for a running session (STDIN, SIGNAL, RESIZE). */
void exec_frame(struct aconn *c, const struct proto_frame *f);
/* Moves bytes between the session's fds and the connection. */
void exec_pump(struct aconn *c, short in_rev, short out_rev, short err_rev);
/* A child exited (from the SIGCHLD loop); false if no session owned it. */
bool exec_reaped(struct agent *a, pid_t pid, int status);
/* SIGNAL or the agent shutting down: signal the session's process group
 * (also once the leader exited, until EXIT: what it left there too). */
void exec_kill(struct aconn *c, int sig);
void exec_release(struct aconn *c);
/* The session ends with its leader gone but before EXIT (the client left
 * during the drain): its output streams go to the leftover set, since
 * what the command left running may still write there. */
void exec_leave(struct agent *a, struct aconn *c);
/* Sends EXIT once the leader exited and its output is drained (EOF, or
 * AGENT_EXIT_DRAIN_MS passed and what it wrote is sent); true if sent.
 * Streams still held open then go to a's leftover set. */
bool exec_done(struct agent *a, struct aconn *c);
/* When exec_done must be called again without an fd event (an
 * agent_now_ms time), or -1: nothing to wait for but fds. */
int64_t exec_deadline(const struct aconn *c);

/* leftover.c: what sessions leave behind. Hang-ups: SIGHUP + SIGCONT to
 * pgid now, SIGKILL AGENT_HANGUP_GRACE_MS later (at once if the table is
 * full). */
void leftover_hangup(struct agent *a, pid_t pgid);
/* SIGKILLs the hung-up groups whose grace is over (serve.c's poll wakes
 * at the nearest kill_ms). */
void leftover_tick(struct agent *a);
/* Takes a stream's read end: drained and discarded until EOF. */
void leftover_keep(struct agent *a, int fd);
/* The leftover stream in slot i is readable (or hung up). */
void leftover_drain(struct agent *a, unsigned i);
void leftover_init(struct agent *a);

/* files.c */
void files_request(struct aconn *c, const struct proto_frame *f);
void files_frame(struct aconn *c, const struct proto_frame *f);
/* Streams GET / LIST output while the connection has room. */
void files_pump(struct aconn *c);
void files_release(struct aconn *c);

#endif
