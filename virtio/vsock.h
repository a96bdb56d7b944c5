/* virtio-vsock (virtio 1.2, section 5.10): stream sockets between the guest
 * and host programs, backed by Unix sockets on the host. The host contract
 * is the one Firecracker and Cloud Hypervisor users already script against:
 *   - a host program connects to PATH and writes "CONNECT <port>\n"; once
 *     the guest accepts, it reads "OK <hostport>\n" and the socket is then
 *     a byte stream to the guest listener on <port>;
 *   - a guest connection to CID 2, port P is connected to the Unix socket
 *     "PATH_P" if something listens there; otherwise the guest gets a reset.
 *
 * vsock.c is the device (queues, packets, credit); vsock_conn.c the host side
 * (listener, handshake, per-connection buffers). All state is touched with
 * the transport lock held, by the backend thread or by the device ops. */
#ifndef MSBVM_VSOCK_H
#define MSBVM_VSOCK_H

#include <linux/virtio_vsock.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>
#include <time.h>

#include "virtio.h"

#define VSOCK_GUEST_CID 3
#define VSOCK_HOST_CID 2
#define VSOCK_QUEUE_SIZE 128
#define VSOCK_MAX_CONNS 64
/* Per-connection receive buffer for guest->host data that the host program
 * has not read yet; it is also the credit advertised to the guest, so a
 * guest that obeys the protocol can never overflow it (5.10.6.3). */
#define VSOCK_BUF_ALLOC (256u * 1024)
#define VSOCK_MAX_PKT (64u * 1024)
#define VSOCK_MAX_RST 64
#define VSOCK_CONNECT_TIMEOUT_S 10
#define VSOCK_CLOSE_TIMEOUT_S 10

enum vsconn_state {
	VSCONN_FREE = 0,
	VSCONN_HANDSHAKE,   /* host program connected, CONNECT line pending */
	VSCONN_CONNECTING,  /* REQUEST sent (or to send) to the guest */
	VSCONN_ESTABLISHED,
};

/* Control packets owed to the guest, sent when it posts rx buffers. */
enum {
	VSCONN_OWE_REQUEST = 1,
	VSCONN_OWE_RESPONSE = 2,
	VSCONN_OWE_CREDIT = 4,
	VSCONN_OWE_SHUTDOWN = 8, /* we will send no more (host EOF) */
	VSCONN_OWE_RST = 16,     /* then the connection is freed */
};

struct vsconn {
	enum vsconn_state state;
	int fd;
	uint32_t host_port, guest_port;
	unsigned owe;            /* VSCONN_OWE_* */
	bool in_epoll;
	uint32_t events;         /* epoll interest now registered */
	bool host_eof;           /* read 0 from fd: nothing more to send */
	bool host_gone;          /* fd hung up / failed: no more writes */
	bool guest_shut_send;    /* guest sends no more data */
	bool guest_shut_rcv;     /* guest reads no more data */
	time_t deadline;         /* CONNECTING or closing: give up after */
	/* host -> guest credit (what the guest told us) */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* guest -> host: bytes not yet written to fd, and bytes written */
	uint8_t *buf;
	uint32_t buf_off, buf_len;
	uint32_t fwd_cnt, fwd_cnt_sent;
	char line[32];           /* CONNECT line, gathered across reads */
	uint8_t line_len;        /* bytes of it taken off the socket so far */
};

struct vsock {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd, epfd, kick_fd;
	pthread_t thread;
	bool running;
	volatile bool stopping;
	struct vdev *dev;
	bool active;             /* DRIVER_OK and not reset */
	bool rx_starved;         /* rx ring ran dry: wait for a kick */
	struct vsconn conns[VSOCK_MAX_CONNS];
	bool listen_paused;      /* accept failed (EMFILE...): not polled */
	time_t listen_retry;     /* ... until then, or until a slot frees */
	unsigned rr;             /* round-robin start for rx */
	uint32_t next_port;
	struct { uint32_t host_port, guest_port; } rst[VSOCK_MAX_RST];
	unsigned n_rst;
	struct virtq_chain rx_chain, tx_chain; /* scratch, 8 KiB each */
	uint64_t pkts_tx, pkts_rx, resets, refused;
	struct virtio_vsock_config cfg;
};

/* Binds the listener at path (a stale socket there is replaced; anything
 * else is an error). Host errors -> -errno with a message. */
int vsock_open(struct vsock *v, const char *path);
/* Starts the backend thread; d is the device as registered. */
int vsock_start(struct vsock *v, struct vdev *d);
/* One round of the backend thread (tests drive it without the thread;
 * v->dev must be set): wait up to timeout_ms for sockets or kicks, then
 * process both queues under the transport lock. Returns how many ready
 * events the wait reported (0 on timeout), so tests can tell an idle loop
 * from a spinning one. */
int vsock_poll_once(struct vsock *v, int timeout_ms);
/* Stops the thread, closes every connection, removes the listener. */
void vsock_close(struct vsock *v);

extern const struct vdev_ops vsock_ops;

/* vsock_conn.c: host side; called with the transport lock held. */
void vsconn_accept(struct vsock *v);
void vsconn_event(struct vsock *v, struct vsconn *c, uint32_t events);
struct vsconn *vsconn_find(struct vsock *v, uint32_t host_port,
			   uint32_t guest_port);
/* A guest REQUEST to host port P: connect "PATH_P"; NULL -> reset. */
struct vsconn *vsconn_connect_out(struct vsock *v, uint32_t host_port,
				  uint32_t guest_port);
/* Guest data: written to fd, the rest buffered. false: credit violated. */
bool vsconn_from_guest(struct vsconn *c,
		       const struct iovec *iov, unsigned n, uint32_t len);
/* Flushes buffered guest data; owes credit / finishes closes as due. */
void vsconn_flush(struct vsconn *c);
/* Host data for the guest into iov (already cut to the credit and the
 * packet size). >0 bytes, 0 nothing now, <0 EOF or error (state updated). */
ssize_t vsconn_read(struct vsconn *c, const struct iovec *iov, unsigned n);
uint32_t vsconn_credit(const struct vsconn *c);
void vsconn_free(struct vsock *v, struct vsconn *c);
void vsconn_update_epoll(struct vsock *v, struct vsconn *c);
/* Polls the listener for connections again (on) or not (off). */
void vsconn_listen_arm(struct vsock *v, bool on);
void vsconn_sweep(struct vsock *v);

#endif
