/* The host <-> agentd control protocol (docs/protocol.md), shared by the
 * guest agent and the msbvm command. Both sides treat every frame from the
 * other as untrusted: lengths are checked against PROTO_MAX_PAYLOAD before
 * anything is buffered, key=value payloads are parsed strictly, and each
 * connection's buffers are bounded. Compiled with glibc (host) and musl
 * (guest): plain C11 + POSIX only. */
#ifndef MSBVM_PROTO_H
#define MSBVM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1
#define PROTO_AGENT_PORT 1024   /* agentd listens here (guest) */
#define PROTO_READY_PORT 1025   /* agentd reports readiness here (host) */
#define PROTO_HDR 12
#define PROTO_MAX_PAYLOAD (64u * 1024)
/* Output buffered per connection before the sender stops producing (the
 * process's stdout then blocks): backpressure, and a cap on memory. */
#define PROTO_OUT_HIGH (256u * 1024)
#define PROTO_OUT_CAP (PROTO_OUT_HIGH + PROTO_HDR + PROTO_MAX_PAYLOAD)
/* A connection closed while its EXEC's command runs is a hang-up: SIGHUP
 * to the command's process group, SIGKILL this long after. */
#define PROTO_HANGUP_GRACE_MS 5000
/* The per-VM control-channel token (docs/protocol.md "Authentication"):
 * 32 random bytes from getrandom(2), in lowercase hex in HELLO's token=. */
#define PROTO_TOKEN_BYTES 32
#define PROTO_TOKEN_HEX (2 * PROTO_TOKEN_BYTES)

enum proto_type {
	P_HELLO = 1, P_ERROR = 2, P_OK = 3,
	P_EXEC = 10, P_STARTED = 11, P_STDIN = 12, P_STDOUT = 13, P_STDERR = 14,
	P_SIGNAL = 15, P_RESIZE = 16, P_EXIT = 17,
	P_PUT = 20, P_GET = 21, P_DATA = 22, P_STAT = 23, P_LIST = 24,
	P_MKDIR = 25, P_REMOVE = 26,
	P_READY = 30, P_SHUTDOWN = 31, P_PING = 32,
};

#define P_FLAG_EOF 1u

struct proto_frame {
	uint32_t len;
	uint16_t type, flags;
	uint32_t id;
	const uint8_t *data;    /* len bytes, valid until the next read */
};

/* One end of a connection: non-blocking fd plus bounded buffers. */
struct pconn {
	int fd;
	uint8_t *in;             /* PROTO_HDR + PROTO_MAX_PAYLOAD */
	size_t in_len, in_used;  /* bytes held; bytes of the frame handed out */
	uint8_t *out;            /* PROTO_OUT_CAP */
	size_t out_off, out_len;
	bool eof, failed;
	char why[96];            /* set when failed */
};

int pconn_init(struct pconn *p, int fd);
void pconn_free(struct pconn *p);
/* Reads what is available (non-blocking). 0 ok; -1: EOF or error. */
int pconn_fill(struct pconn *p);
/* 1: *f holds the next complete frame; 0: need more bytes; -1: the peer
 * broke the protocol (p->why says how; the connection must be dropped). */
int pconn_next(struct pconn *p, struct proto_frame *f);
/* Queues a frame; false if it does not fit (p->out is full). */
bool pconn_send(struct pconn *p, uint16_t type, uint16_t flags, uint32_t id,
		const void *data, size_t len);
/* Room for one more full frame without passing the high-water mark. */
bool pconn_can_send(const struct pconn *p);
/* Writes queued bytes (non-blocking). 0 ok; -1 error. */
int pconn_flush(struct pconn *p);
bool pconn_pending(const struct pconn *p);

/* key=value\0 lists. */
struct kvbuf {
	char buf[PROTO_MAX_PAYLOAD];
	size_t len;
	bool overflow;
};
void kv_init(struct kvbuf *k);
void kv_add(struct kvbuf *k, const char *key, const char *val);
void kv_addf(struct kvbuf *k, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Checks the payload shape: empty, or entries "key=value" each ended by
 * NUL, keys [a-z0-9_]+. */
bool kv_valid(const uint8_t *data, size_t len);
/* Iterates entries: *pos starts at 0. Returns true with key/val (val is
 * NUL-terminated inside data) while entries remain. */
bool kv_next(const uint8_t *data, size_t len, size_t *pos, char *key,
	     size_t keycap, const char **val);
/* First value for key, or NULL. */
const char *kv_get(const uint8_t *data, size_t len, const char *key);
/* Strict decimal in [min, max]; false otherwise. */
bool kv_num(const char *s, long long min, long long max, long long *out);

const char *proto_type_name(uint16_t type);

/* s is exactly PROTO_TOKEN_HEX lowercase hex digits. */
bool proto_token_valid(const char *s);
/* Constant-time comparison of a presented token with the expected one:
 * the time taken depends only on PROTO_TOKEN_HEX, never on where the two
 * differ (a byte-by-byte early exit lets a client find a token one byte
 * at a time by timing: CWE-208, observable timing discrepancy). NULL or
 * a presented string of another length is simply unequal. */
bool proto_token_eq(const char *presented, const char *expected);

#endif
