/* The library's threads against each other, for ThreadSanitizer (`make
 * tsan`) and ASan (`make unit`) to watch:
 *
 *  1. virtio-vsock with its real backend thread (vsock_start), host
 *     programs on their own threads streaming data into the guest, and the
 *     main thread as the guest driver (posting rx buffers, kicking through
 *     the notify register and vmmio_kick, acking interrupts, consuming
 *     used entries, granting credit). Each round ends mid-traffic with the
 *     library's teardown order (vmm/lib/machine.c: machine_stop_threads,
 *     then vm_destroy): vsock_close joins the thread, and only then does
 *     the fake guest RAM go away. Rounds vary: stop right after start,
 *     thread started before or after DRIVER_OK, a driver reset (status 0)
 *     while the thread moves data (then traffic again), a reset followed
 *     at once by the teardown. Checks: every byte arrives in order, no
 *     interrupt after vsock_close, no connection or listener left, host
 *     programs see their connections end, and log lines from the backend
 *     thread reach the sink bound by the thread that started it.
 *     MSBVM_TEST_BAD_TEARDOWN=1 frees the RAM before vsock_close in one
 *     round: the old bug; TSan or ASan must then report a use after free
 *     (a way to see that this test would catch it; the run fails).
 *  2. One per-VM log sink (log_bind, log_guest's rate limit) shared by
 *     several threads, two sinks side by side: each key is emitted exactly
 *     LOG_BURST (3) times per sink, the last with the suppression note;
 *     err_set's buffer stays per thread.
 *  3. vm_request_stop / vm_fail racing on a vm_init()ed struct vm (no KVM:
 *     vm->run is NULL, no vCPU thread): exactly one reason wins, and
 *     vm->error is the winner's message when vm_fail won, empty otherwise.
 */
#include "check.h"
#include "vdrv.h"
#include "virtio/mmio.h"
#include "virtio/vsock.h"
#include "vmm/core/err.h"
#include "vmm/core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- vsock */

#define RAM_SIZE (1u << 20)
#define QSZ 32
#define QBASE(q) VDRV_QBASE(q)
#define RXBUF(i) (0x40000u + 0x1100u * (i))
#define RXLEN 0x1100u
#define TXBUF(i) (0x80000u + 0x100u * (i))
#define HSZ ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define NCLIENTS 4
#define PORT0 5000u
#define GBUF (64u * 1024) /* the guest's buf_alloc per connection */
#define VSOCK_PASSES 6    /* times through the list of rounds */

static uint8_t *ram;
static struct guest_mem gm;
static struct vmmio t;
static struct vsock v;
static char dir[] = "/tmp/msbvm-threads-XXXXXX", path[108];

/* Interrupts: the backend thread raises them under the transport lock. */
static int irq_efd = -1;
static atomic_uint irqs, late_irqs;
static atomic_bool torn_down;

/* Host programs. */
static pthread_t clients[NCLIENTS];
static atomic_bool clients_stop;
static atomic_uint client_sessions, client_errors;

/* The backend thread's log lines, through the sink of its starter. */
static atomic_uint sink_lines, sink_bad_connect;

/* The guest driver (main thread only). Ring memory is touched with the
 * transport lock held: the device side does all its ring work under it,
 * so the driver's accesses are ordered with the thread's for TSan, as a
 * real guest's are by the hardware (which TSan does not see). */
struct gconn {
	bool open, need_resp, need_credit, need_rst;
	uint32_t hp;
	uint64_t got, fwd_sent;
};
static struct {
	uint16_t avail[3], used_seen[3];
	uint16_t tx_free[QSZ];
	unsigned n_tx_free, kicks;
	struct gconn c[NCLIENTS];
	uint64_t bytes, requests, bad_data, bad_pkt, stale;
} drv;

/* Each host program streams its own pattern, a table of a prime period
 * with a tail, so any packet's worth at any offset is one contiguous
 * slice (sent and compared without per-byte loops, which are slow under
 * TSan). */
#define PERIOD 65521u
static uint8_t ptab[NCLIENTS][PERIOD + RXLEN];

static const uint8_t *pat(unsigned client, uint64_t off)
{
	return ptab[client] + off % PERIOD;
}

static void pat_init(void)
{
	for (unsigned i = 0; i < NCLIENTS; i++)
		for (uint32_t k = 0; k < PERIOD + RXLEN; k++)
			ptab[i][k] = (uint8_t)((k % PERIOD) * 131 + (k % PERIOD >> 9) +
					       i * 17);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void irq_cb(void *o, unsigned n, bool level)
{
	uint64_t one = 1;

	(void)o;
	(void)n;
	if (atomic_load(&torn_down))
		atomic_fetch_add(&late_irqs, 1);
	if (level) {
		atomic_fetch_add(&irqs, 1);
		if (write(irq_efd, &one, sizeof(one)) < 0)
			(void)0; /* counter saturated: already readable */
	}
}

static void sink_fn(void *opaque, const char *line)
{
	(void)opaque;
	atomic_fetch_add(&sink_lines, 1);
	if (strstr(line, "bad CONNECT line"))
		atomic_fetch_add(&sink_bad_connect, 1);
}

/* the transport's registers, through this test's one device */
static uint32_t rd(uint64_t off) { return vdrv_rd(&t, off); }
static void wr(uint64_t off, uint32_t x) { vdrv_wr(&t, off, x); }

/* Both ways a guest notifies: the trapped register and an ioeventfd
 * (the I/O thread calls vmmio_kick). */
static void kick(unsigned q)
{
	if (drv.kicks++ & 1)
		vmmio_kick(&t, q);
	else
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static void ring_lock(void)
{
	pthread_mutex_lock(&t.lock);
}

static void ring_unlock(void)
{
	pthread_mutex_unlock(&t.lock);
}

static void set_desc(unsigned q, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags)
{
	struct vring_desc d = { addr, len, flags, 0 };

	memcpy(ram + QBASE(q) + 16 * i, &d, 16);
}

static void put_avail(unsigned q, uint16_t head)
{
	memcpy(ram + QBASE(q) + 0x1000 + 4 + 2 * (drv.avail[q] % QSZ), &head, 2);
	drv.avail[q]++;
	memcpy(ram + QBASE(q) + 0x1000 + 2, &drv.avail[q], 2);
}

/* Next used entry of q; false if none. */
static bool get_used(unsigned q, uint16_t *id, uint32_t *len)
{
	uint16_t idx;
	uint32_t e[2];

	memcpy(&idx, ram + QBASE(q) + 0x2000 + 2, 2);
	if (idx == drv.used_seen[q])
		return false;
	memcpy(e, ram + QBASE(q) + 0x2000 + 4 + 8 * (drv.used_seen[q] % QSZ), 8);
	drv.used_seen[q]++;
	*id = (uint16_t)e[0];
	*len = e[1];
	return true;
}

static void drv_init(void)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	ring_lock();
	memset(ram, 0, RAM_SIZE);
	ring_unlock();
	memset(drv.avail, 0, sizeof(drv.avail));
	memset(drv.used_seen, 0, sizeof(drv.used_seen));
	memset(drv.c, 0, sizeof(drv.c));
	drv.n_tx_free = 0;
	for (unsigned i = 0; i < QSZ; i++)
		drv.tx_free[drv.n_tx_free++] = (uint16_t)(QSZ - 1 - i);
	vdrv_bringup(&t, 3, QSZ);
	CHECK(rd(VIRTIO_MMIO_STATUS) == (VIRTIO_CONFIG_S_ACKNOWLEDGE |
					 VIRTIO_CONFIG_S_DRIVER |
					 VIRTIO_CONFIG_S_FEATURES_OK |
					 VIRTIO_CONFIG_S_DRIVER_OK));
	ring_lock();
	for (unsigned i = 0; i < QSZ; i++) {
		set_desc(0, i, RXBUF(i), RXLEN, VRING_DESC_F_WRITE);
		put_avail(0, (uint16_t)i);
	}
	ring_unlock();
	kick(0);
}

/* A control packet from guest port PORT0 + i to the host; false if no
 * tx descriptor is free (the flags stay set and it goes out later). */
static bool tx_post(unsigned i, uint16_t op)
{
	struct virtio_vsock_hdr h = {
		.src_cid = VSOCK_GUEST_CID, .dst_cid = VSOCK_HOST_CID,
		.src_port = PORT0 + i, .dst_port = drv.c[i].hp,
		.type = VIRTIO_VSOCK_TYPE_STREAM, .op = op, .buf_alloc = GBUF,
		.fwd_cnt = (uint32_t)drv.c[i].got,
	};
	uint16_t slot;

	if (!drv.n_tx_free)
		return false;
	slot = drv.tx_free[--drv.n_tx_free];
	memcpy(ram + TXBUF(slot), &h, HSZ);
	set_desc(1, slot, TXBUF(slot), HSZ, 0);
	put_avail(1, slot);
	return true;
}

/* What the guest owes each connection, as descriptors allow; the number
 * of packets posted. */
static unsigned tx_flush(void)
{
	unsigned n = 0;
	uint16_t id;
	uint32_t len;

	while (get_used(1, &id, &len))
		if (id < QSZ)
			drv.tx_free[drv.n_tx_free++] = id;
	for (unsigned i = 0; i < NCLIENTS; i++) {
		struct gconn *c = &drv.c[i];

		if (c->need_resp && tx_post(i, VIRTIO_VSOCK_OP_RESPONSE)) {
			c->need_resp = false;
			n++;
		}
		if (c->need_resp)
			continue;
		if (c->need_rst && tx_post(i, VIRTIO_VSOCK_OP_RST)) {
			memset(c, 0, sizeof(*c));
			n++;
			continue;
		}
		if (c->need_credit && tx_post(i, VIRTIO_VSOCK_OP_CREDIT_UPDATE)) {
			c->need_credit = false;
			c->fwd_sent = c->got;
			n++;
		}
	}
	return n;
}

static struct gconn *conn_of(const struct virtio_vsock_hdr *h, unsigned *i)
{
	*i = h->dst_port - PORT0;
	if (*i >= NCLIENTS || !drv.c[*i].open || drv.c[*i].hp != h->src_port)
		return NULL;
	return &drv.c[*i];
}

static void rx_packet(const struct virtio_vsock_hdr *h, const uint8_t *data)
{
	struct gconn *c;
	unsigned i;

	if (h->src_cid != VSOCK_HOST_CID || h->dst_cid != VSOCK_GUEST_CID ||
	    h->type != VIRTIO_VSOCK_TYPE_STREAM) {
		drv.bad_pkt++;
		return;
	}
	if (h->op == VIRTIO_VSOCK_OP_REQUEST) {
		i = h->dst_port - PORT0;
		if (i >= NCLIENTS) {
			drv.bad_pkt++;
			return;
		}
		drv.c[i] = (struct gconn){ .open = true, .need_resp = true,
					   .hp = h->src_port };
		drv.requests++;
		return;
	}
	if (!(c = conn_of(h, &i))) {
		drv.stale++; /* a connection the guest already dropped */
		return;
	}
	switch (h->op) {
	case VIRTIO_VSOCK_OP_RW:
		if (memcmp(data, pat(i, c->got), h->len))
			drv.bad_data++;
		c->got += h->len;
		drv.bytes += h->len;
		if (c->got - c->fwd_sent >= GBUF / 4)
			c->need_credit = true;
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c->need_rst = true; /* the guest closes its end too */
		break;
	case VIRTIO_VSOCK_OP_RST:
		memset(c, 0, sizeof(*c));
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->need_credit = true;
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;
	default:
		drv.bad_pkt++;
	}
}

/* Consumes the used rx entries and puts the buffers back; under the lock. */
static unsigned rx_drain(void)
{
	static uint8_t data[RXLEN];
	struct virtio_vsock_hdr h;
	unsigned n = 0;
	uint16_t id;
	uint32_t len;

	while (get_used(0, &id, &len)) {
		if (id >= QSZ) {
			drv.bad_pkt++;
			continue;
		}
		memcpy(&h, ram + RXBUF(id), HSZ);
		if (len < HSZ || h.len > RXLEN - HSZ || len != HSZ + h.len) {
			drv.bad_pkt++;
		} else {
			memcpy(data, ram + RXBUF(id) + HSZ, h.len);
			rx_packet(&h, data);
		}
		put_avail(0, id);
		n++;
	}
	return n;
}

/* One round of the guest driver: wait for an interrupt (or timeout_ms),
 * ack it, take what the device used, answer, kick. */
static void drv_step(int timeout_ms)
{
	struct pollfd p = { .fd = irq_efd, .events = POLLIN };
	uint64_t cnt;
	uint32_t isr;
	unsigned rx, tx;

	if (poll(&p, 1, timeout_ms) > 0 && read(irq_efd, &cnt, sizeof(cnt)) < 0)
		(void)0;
	if ((isr = rd(VIRTIO_MMIO_INTERRUPT_STATUS)))
		wr(VIRTIO_MMIO_INTERRUPT_ACK, isr);
	ring_lock();
	rx = rx_drain();
	tx = tx_flush();
	ring_unlock();
	if (rx)
		kick(0);
	if (tx)
		kick(1);
}

static bool all_streaming(void)
{
	for (unsigned i = 0; i < NCLIENTS; i++)
		if (!drv.c[i].open || drv.c[i].got < 4096)
			return false;
	return true;
}

/* Drives until target more bytes reached the guest and every host
 * program streams at once; false on timeout. */
static bool drv_run(uint64_t target, unsigned max_ms)
{
	uint64_t start = drv.bytes, end = now_ms() + max_ms;

	while (drv.bytes - start < target || !all_streaming())
		if (now_ms() > end)
			return false;
		else
			drv_step(5);
	return true;
}

static int host_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { 0, 20000 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	strcpy(sa.sun_path, path);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool again(ssize_t r)
{
	return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

/* A host program: connect, "CONNECT <port>", wait for "OK <hostport>",
 * then stream its pattern until the connection ends (driver reset,
 * teardown); over again until told to stop. */
static void *client_main(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;

	while (!atomic_load(&clients_stop)) {
		char line[32];
		size_t got = 0;
		bool ok = false;
		uint64_t off = 0;
		int fd = host_connect(), n;
		ssize_t r;

		if (fd < 0) {
			usleep(1000); /* the listener is gone or not there yet */
			continue;
		}
		n = snprintf(line, sizeof(line), "CONNECT %u\n", PORT0 + i);
		if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
			close(fd);
			continue;
		}
		while (!atomic_load(&clients_stop)) {
			r = recv(fd, line + got, 1, 0);
			if (again(r))
				continue;
			if (r <= 0)
				break;
			if (line[got] == '\n') {
				line[got] = '\0';
				ok = true;
				break;
			}
			if (++got == sizeof(line) - 1)
				break;
		}
		if (ok) {
			if (strncmp(line, "OK ", 3))
				atomic_fetch_add(&client_errors, 1);
			atomic_fetch_add(&client_sessions, 1);
		}
		while (ok && !atomic_load(&clients_stop)) {
			r = send(fd, pat(i, off), 4096, MSG_NOSIGNAL);
			if (again(r))
				continue;
			if (r <= 0)
				break; /* EPIPE / ECONNRESET: the device closed it */
			off += (uint64_t)r;
		}
		close(fd);
	}
	return NULL;
}

static bool fd_closed(int fd)
{
	char b[8];
	ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

enum round_mode {
	R_IMMEDIATE,   /* start the thread and stop it at once */
	R_TRAFFIC,     /* stream, tear down mid-traffic */
	R_RESET,       /* stream, driver reset, re-init, stream, tear down */
	R_RESET_CLOSE, /* stream, driver reset, tear down at once */
};

static struct {
	uint64_t bytes, conns, irqs, slowest_ms;
} tot;

static void vsock_round(int r, enum round_mode mode, bool start_first,
			uint64_t target, bool bad_teardown)
{
	struct log_sink sink;
	int bad_fd = -1;
	unsigned sessions0;
	uint64_t t0 = now_ms();

	ram = aligned_alloc(4096, RAM_SIZE);
	memset(ram, 0, RAM_SIZE);
	gm.host = ram;
	gm_layout(&gm, RAM_SIZE);
	memset(&drv, 0, sizeof(drv));
	atomic_store(&torn_down, false);
	atomic_store(&clients_stop, false);
	atomic_store(&sink_lines, 0);
	atomic_store(&sink_bad_connect, 0);
	atomic_store(&irqs, 0);
	/* the sink the library binds on the thread that starts the device */
	log_sink_init(&sink);
	sink.fn = sink_fn;
	log_bind(&sink);

	CHECK(vsock_open(&v, path) == 0);
	vmmio_init(&t, &vsock_ops, &v, &gm, VMMIO_BASE, 5, irq_cb, NULL);
	if (start_first) {
		CHECK(vsock_start(&v, &t.dev) == 0);
		drv_init();
	} else {
		drv_init();
		CHECK(vsock_start(&v, &t.dev) == 0);
	}
	/* a host program with a bad CONNECT line: the backend thread logs it */
	if ((bad_fd = host_connect()) >= 0)
		CHECK(send(bad_fd, "HELLO 1\n", 8, MSG_NOSIGNAL) == 8);
	CHECK(bad_fd >= 0);
	for (unsigned i = 0; i < NCLIENTS; i++)
		CHECK(pthread_create(&clients[i], NULL, client_main,
				     (void *)(uintptr_t)i) == 0);

	if (mode != R_IMMEDIATE) {
		CHECK(drv_run(target, 5000));
		/* the bad line was read and logged by now, or soon */
		for (uint64_t end = now_ms() + 2000; !fd_closed(bad_fd) &&
		     now_ms() < end;)
			drv_step(2);
		CHECK(fd_closed(bad_fd));
		CHECK(atomic_load(&sink_bad_connect) == 1);
		CHECK(atomic_load(&irqs) > 0);
		CHECK(drv.requests >= NCLIENTS);
	}
	if (mode == R_RESET || mode == R_RESET_CLOSE) {
		/* a driver reset while the thread moves data: every guest
		 * connection ends (5.10.6.7), host programs see EOF */
		sessions0 = atomic_load(&client_sessions);
		wr(VIRTIO_MMIO_STATUS, 0);
		CHECK(rd(VIRTIO_MMIO_STATUS) == 0);
		ring_lock();
		for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
			CHECK(v.conns[i].state != VSCONN_ESTABLISHED);
		ring_unlock();
		if (mode == R_RESET) {
			usleep(20000); /* host programs reconnect meanwhile */
			uint64_t before = drv.bytes;
			drv_init();
			CHECK(drv_run(target, 5000));
			CHECK(drv.bytes > before);
			CHECK(atomic_load(&client_sessions) >= sessions0 + NCLIENTS);
		}
	}
	if (mode != R_IMMEDIATE && mode != R_RESET_CLOSE) {
		/* the thread has work in hand when the teardown comes */
		ring_lock();
		rx_drain();
		tx_flush();
		ring_unlock();
		kick(0);
		kick(1);
		CHECK(!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	}

	if (bad_teardown) {
		/* the old order: RAM gone while the thread still serves the
		 * queues; TSan / ASan report it on the backend thread */
		fprintf(stderr, "round %d: freeing guest RAM before vsock_close "
			"(MSBVM_TEST_BAD_TEARDOWN): a report must follow\n", r);
		free(ram);
		usleep(200000);
		vsock_close(&v);
		ram = NULL;
	} else {
		/* the library's order: stop the thread, then free its memory */
		vsock_close(&v);
	}
	atomic_store(&torn_down, true);
	CHECK(!v.running);
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		CHECK(v.conns[i].state == VSCONN_FREE && v.conns[i].fd == -1 &&
		      !v.conns[i].buf);
	CHECK(v.listen_fd == -1 && v.epfd == -1 && v.kick_fd == -1);
	CHECK(access(path, F_OK) != 0);
	free(ram);
	ram = NULL;
	gm.host = NULL;
	pthread_mutex_destroy(&t.lock);

	/* host programs: their connections are gone, they stop */
	atomic_store(&clients_stop, true);
	for (unsigned i = 0; i < NCLIENTS; i++)
		pthread_join(clients[i], NULL);
	if (bad_fd >= 0)
		close(bad_fd);
	CHECK(atomic_load(&late_irqs) == 0);
	CHECK(atomic_load(&client_errors) == 0);
	CHECK(drv.bad_data == 0 && drv.bad_pkt == 0);
	CHECK(atomic_load(&sink_bad_connect) <= 1);
	log_bind(NULL);
	log_sink_destroy(&sink);
	tot.bytes += drv.bytes;
	tot.conns += drv.requests;
	tot.irqs += atomic_load(&irqs);
	if (now_ms() - t0 > tot.slowest_ms)
		tot.slowest_ms = now_ms() - t0;
}

static void test_vsock_threads(void)
{
	const char *bad = getenv("MSBVM_TEST_BAD_TEARDOWN");
	static const struct {
		enum round_mode mode;
		bool start_first;
		uint64_t target;
	} rounds[] = {
		{ R_IMMEDIATE, true, 0 },
		{ R_IMMEDIATE, false, 0 },
		{ R_TRAFFIC, false, 64 * 1024 },
		{ R_TRAFFIC, true, 32 * 1024 },
		{ R_TRAFFIC, false, 1024 * 1024 },
		{ R_TRAFFIC, true, 256 * 1024 },
		{ R_RESET, false, 64 * 1024 },
		{ R_RESET, true, 512 * 1024 },
		{ R_RESET_CLOSE, false, 64 * 1024 },
		{ R_RESET_CLOSE, true, 16 * 1024 },
		{ R_TRAFFIC, true, 4096 * 1024 },
	};

	pat_init();
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	irq_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(irq_efd >= 0);
	unsigned n = sizeof(rounds) / sizeof(rounds[0]);
	uint64_t t0 = now_ms();

	for (unsigned r = 0; r < VSOCK_PASSES * n; r++)
		vsock_round((int)r, rounds[r % n].mode, rounds[r % n].start_first,
			    rounds[r % n].target, bad && !strcmp(bad, "1") && r == 3);
	close(irq_efd);
	rmdir(dir);
	printf("vsock: %u rounds in %llu ms (slowest %llu ms): %llu KiB to the "
	       "guest over %llu connections, %llu interrupts\n", VSOCK_PASSES * n,
	       (unsigned long long)(now_ms() - t0),
	       (unsigned long long)tot.slowest_ms,
	       (unsigned long long)tot.bytes >> 10, (unsigned long long)tot.conns,
	       (unsigned long long)tot.irqs);
}

/* ------------------------------------------------------------ log sink */

#define LOG_THREADS 8
#define LOG_ITERS 2000
#define NKEYS 4

static const char *const log_keys[NKEYS] = { "thr-a", "thr-b", "thr-c", "thr-d" };
static struct log_sink sinks[2];
static atomic_uint key_lines[2][NKEYS], key_suppressed[2][NKEYS], info_lines[2],
	odd_lines, err_mixups;
static pthread_barrier_t log_barrier;

static void count_line(void *opaque, const char *line)
{
	unsigned s = (unsigned)(uintptr_t)opaque;
	int k;

	if (!strncmp(line, "info ", 5)) {
		atomic_fetch_add(&info_lines[s], 1);
		return;
	}
	if (sscanf(line, "guest: [%d]", &k) != 1 || k < 0 || k >= NKEYS) {
		atomic_fetch_add(&odd_lines, 1);
		return;
	}
	atomic_fetch_add(&key_lines[s][k], 1);
	if (strstr(line, "(further messages of this kind suppressed)"))
		atomic_fetch_add(&key_suppressed[s][k], 1);
}

static void *log_thread(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	char mine[64];

	if (log_bind(&sinks[id % 2]) != NULL) /* CHECK is for main only */
		atomic_fetch_add(&err_mixups, 1);
	snprintf(mine, sizeof(mine), "error of thread %u", id);
	err_set(EIO, "%s", mine);
	pthread_barrier_wait(&log_barrier);
	for (int it = 0; it < LOG_ITERS; it++)
		for (int k = 0; k < NKEYS; k++)
			log_guest(log_keys[k], "[%d] thread %u, round %d", k, id, it);
	log_info("info from thread %u", id);
	if (strcmp(err_msg(), mine))
		atomic_fetch_add(&err_mixups, 1);
	log_bind(NULL);
	return NULL;
}

static void test_log_sink_threads(void)
{
	pthread_t th[LOG_THREADS];

	for (unsigned s = 0; s < 2; s++) {
		log_sink_init(&sinks[s]);
		sinks[s].fn = count_line;
		sinks[s].opaque = (void *)(uintptr_t)s;
	}
	sinks[1].verbose = true; /* log_info reaches sink 1 only */
	pthread_barrier_init(&log_barrier, NULL, LOG_THREADS);
	for (unsigned i = 0; i < LOG_THREADS; i++)
		CHECK(pthread_create(&th[i], NULL, log_thread,
				     (void *)(uintptr_t)i) == 0);
	for (unsigned i = 0; i < LOG_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&log_barrier);
	for (unsigned s = 0; s < 2; s++) {
		for (unsigned k = 0; k < NKEYS; k++) {
			CHECK(atomic_load(&key_lines[s][k]) == 3);
			CHECK(atomic_load(&key_suppressed[s][k]) == 1);
		}
		log_sink_destroy(&sinks[s]);
	}
	CHECK(atomic_load(&info_lines[0]) == 0);
	CHECK(atomic_load(&info_lines[1]) == LOG_THREADS / 2);
	CHECK(atomic_load(&odd_lines) == 0);
	CHECK(atomic_load(&err_mixups) == 0);
}

/* ------------------------------------------------------------ vm stop */

#define STOP_THREADS 6
#define STOP_ITERS 2000

static struct vm stop_vm;
static pthread_barrier_t stop_go, stop_done;
static const enum vm_stop stop_roles[STOP_THREADS] = {
	VM_STOP_ERROR, VM_STOP_PANIC, VM_STOP_RESET, VM_STOP_POWEROFF,
	VM_STOP_HOST, VM_STOP_USER,
};

static void stop_msg(char *buf, size_t len, unsigned thread, int it,
		     enum vm_stop why)
{
	snprintf(buf, len, "reason %d from thread %u in round %d; padding so "
		 "that the message takes a while to write ........................"
		 "...............................................................",
		 (int)why, thread, it);
}

/* Each round every thread takes another role: two fail, four stop. */
static enum vm_stop stop_role(unsigned thread, int it)
{
	return stop_roles[(thread + (unsigned)it) % STOP_THREADS];
}

static void *stop_thread(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	char msg[sizeof(stop_vm.error)];

	for (int it = 0; it < STOP_ITERS; it++) {
		enum vm_stop why = stop_role(id, it);

		stop_msg(msg, sizeof(msg), id, it, why);
		pthread_barrier_wait(&stop_go);
		if (why == VM_STOP_ERROR || why == VM_STOP_PANIC)
			vm_fail(&stop_vm, why, msg);
		else
			vm_request_stop(&stop_vm, why);
		/* a second try never changes the reason */
		vm_request_stop(&stop_vm, VM_STOP_HOST);
		pthread_barrier_wait(&stop_done);
	}
	return NULL;
}

static void test_vm_stop_threads(void)
{
	pthread_t th[STOP_THREADS];
	unsigned wins[VM_STOP_USER + 1] = { 0 };
	char want[sizeof(stop_vm.error)];

	pthread_barrier_init(&stop_go, NULL, STOP_THREADS + 1);
	pthread_barrier_init(&stop_done, NULL, STOP_THREADS + 1);
	for (unsigned i = 0; i < STOP_THREADS; i++)
		CHECK(pthread_create(&th[i], NULL, stop_thread,
				     (void *)(uintptr_t)i) == 0);
	for (int it = 0; it < STOP_ITERS; it++) {
		vm_init(&stop_vm);
		CHECK(vm_stop_reason(&stop_vm) == VM_RUNNING);
		pthread_barrier_wait(&stop_go);
		pthread_barrier_wait(&stop_done);
		enum vm_stop why = vm_stop_reason(&stop_vm);
		CHECK(why > VM_RUNNING && why <= VM_STOP_USER);
		if (why <= VM_RUNNING || why > VM_STOP_USER)
			continue;
		wins[why]++;
		if (why == VM_STOP_ERROR || why == VM_STOP_PANIC) {
			/* the winner's message, whole */
			unsigned winner = 0;
			while (stop_role(winner, it) != why)
				winner++;
			stop_msg(want, sizeof(want), winner, it, why);
			CHECK(!strcmp(stop_vm.error, want));
		} else {
			CHECK(stop_vm.error[0] == '\0');
		}
		vm_destroy(&stop_vm); /* nothing to free on a vm_init()ed VM */
	}
	for (unsigned i = 0; i < STOP_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&stop_go);
	pthread_barrier_destroy(&stop_done);
	printf("vm stop: winners error %u, panic %u, reset %u, poweroff %u, "
	       "host %u, user %u\n", wins[VM_STOP_ERROR], wins[VM_STOP_PANIC],
	       wins[VM_STOP_RESET], wins[VM_STOP_POWEROFF], wins[VM_STOP_HOST],
	       wins[VM_STOP_USER]);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_log_sink_threads();
	test_vm_stop_threads();
	test_vsock_threads();
	return check_result("threads");
}
