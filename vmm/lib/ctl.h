/* Host side of the control protocol (docs/protocol.md): a client of one
 * VM's agent through the VM's vsock Unix socket ("CONNECT 1024\n"). Used
 * by `msbvm run -- CMD` (in-process) and by `msbvm exec/cp/stop`. The
 * agent is untrusted here too: frames are size-checked by pconn, replies
 * are matched to requests, and a silent agent runs into timeouts. */
#ifndef MSBVM_CTL_H
#define MSBVM_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/proto.h"

struct ctl {
	struct pconn pc;
	/* scratch for one request at a time: per connection, never static,
	 * so VMs served from different threads never share it */
	struct kvbuf kv;
	uint8_t io[PROTO_MAX_PAYLOAD];
	uint32_t next_id;
	char err[512];          /* the last failure, for the user */
	char err_kind[32];      /* ERROR kind from the agent, or "" */
	bool hung_up;           /* ctl_exec gave up on a second interrupt */
};

struct ctl_exec_opts {
	const char *const *argv;      /* NULL-terminated */
	const char *const *env;       /* "NAME=VALUE", NULL-terminated, or NULL */
	const char *cwd, *user;
	bool tty;
	int in_fd, out_fd, err_fd;    /* host stdio (-1: none / on_output) */
	/* output when out_fd/err_fd is -1; stream 1 stdout, 2 stderr */
	void (*on_output)(void *opaque, int stream, const void *p, size_t n);
	void *opaque;
	int stop_fd;                  /* readable: give up (VM gone), or -1 */
	/* read end: int signals to forward, or -1. A second SIGINT (or
	 * SIGTERM) hangs up instead (the command outlived the first):
	 * ctl_exec returns -1 with hung_up set; the caller closes the
	 * connection, and the agent hangs the command up */
	int sig_fd;
};

/* Connects to the agent: CONNECT handshake + HELLO. 0 or -errno, ctl->err.
 * struct ctl is large (buffers): allocate it, ctl_new()/ctl_free(). */
struct ctl *ctl_new(void);
void ctl_free(struct ctl *c);
/* token: the VM's control token (HELLO's token=, docs/protocol.md). */
int ctl_connect(struct ctl *c, const char *sock_path, const char *token,
		int timeout_ms);
void ctl_close(struct ctl *c);
/* Runs a command; returns its exit status as a shell would (code, or
 * 128+signal; 127 not found, 126 not executable) or -1 (ctl->err). */
int ctl_exec(struct ctl *c, const struct ctl_exec_opts *o);
/* Starts a command detached (argv, env, cwd, user of o; no stdio, no
 * tty): 0 and its guest pid, 127/126/125 refused (ctl->err), -1 error. */
int ctl_exec_detached(struct ctl *c, const struct ctl_exec_opts *o, int *pid);
/* One request, one OK reply (payload copied to reply/reply_len if given). */
int ctl_call(struct ctl *c, uint16_t type, const void *kv, size_t kv_len,
	     void *reply, size_t *reply_len, int timeout_ms);
/* File transfer: local fd <-> guest path. */
int ctl_put(struct ctl *c, int fd, const char *path, unsigned mode);
int ctl_get(struct ctl *c, const char *path, int fd);
/* LIST: prints "TYPE SIZE MODE NAME" lines to fd. */
int ctl_list(struct ctl *c, const char *path, int fd);

/* write() all of p, retrying on EINTR and short writes; -1 on error. */
int ctl_write_all(int fd, const uint8_t *p, size_t n);
/* Waits for the next frame; 1 got one, 0 timeout/stop, -1 error. */
int ctl_wait(struct ctl *c, struct proto_frame *f, int timeout_ms, int stop_fd);

#endif
