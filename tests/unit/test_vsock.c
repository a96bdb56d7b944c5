/* virtio-vsock against a scripted driver over fake guest RAM and real Unix
 * sockets on the host side, with the backend loop driven by hand
 * (vsock_poll_once). Covers the CONNECT contract in both directions, data
 * both ways, credit, and hostile input from both sides: spoofed CIDs,
 * bad lengths, packets for unknown connections, credit violations, a
 * read-only rx buffer, bad or trickling CONNECT lines, too many host
 * connections, and host-side failures (accept out of fds, epoll_ctl). */
#include "check.h"
#include "vdrv.h"
#include "virtio/mmio.h"
#include "virtio/vsock.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RAM_SIZE (1u << 20)
#define QSZ 16
#define QBASE(q) VDRV_QBASE(q)
#define RXBUF(i) (0x80000u + 0x1200u * (i))
#define RXLEN 0x1100u
#define TXBUF 0xc0000u
#define HSZ ((uint32_t)sizeof(struct virtio_vsock_hdr))

static uint8_t *ram;
static struct guest_mem gm;
static struct vmmio t;
static struct vsock v;
static uint16_t avail[3], seen_used[3];
static char path[108];

static void irq(void *o, unsigned n, bool level) { (void)o; (void)n; (void)level; }

/* the transport's registers, through this test's one device */
static uint32_t rd(uint64_t off) { return vdrv_rd(&t, off); }
static void wr(uint64_t off, uint32_t x) { vdrv_wr(&t, off, x); }

static void pump(void)
{
	for (int i = 0; i < 6; i++)
		vsock_poll_once(&v, 5);
}

static void add_avail(unsigned q, uint16_t head)
{
	memcpy(ram + QBASE(q) + 0x1000 + 4 + 2 * (avail[q] % QSZ), &head, 2);
	avail[q]++;
	memcpy(ram + QBASE(q) + 0x1000 + 2, &avail[q], 2);
}

static void set_desc(unsigned q, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags)
{
	struct vring_desc d = { addr, len, flags, 0 };
	memcpy(ram + QBASE(q) + 16 * i, &d, 16);
}

static void drv_init(void)
{
	memset(ram, 0, RAM_SIZE);
	memset(avail, 0, sizeof(avail));
	memset(seen_used, 0, sizeof(seen_used));
	wr(VIRTIO_MMIO_STATUS, 0);
	vdrv_bringup(&t, 3, QSZ);
	for (unsigned i = 0; i < QSZ; i++) {
		set_desc(0, i, RXBUF(i), RXLEN, VRING_DESC_F_WRITE);
		add_avail(0, (uint16_t)i);
	}
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	pump();
}

/* Next packet the device put on rx (the buffer is re-posted); false if none. */
static bool rx_next(struct virtio_vsock_hdr *h, uint8_t *data, size_t cap)
{
	uint16_t used_idx, id;

	memcpy(&used_idx, ram + QBASE(0) + 0x2000 + 2, 2);
	if (used_idx == seen_used[0])
		return false;
	memcpy(&id, ram + QBASE(0) + 0x2000 + 4 + 8 * (seen_used[0] % QSZ), 2);
	seen_used[0]++;
	memcpy(h, ram + RXBUF(id), HSZ);
	if (data && h->len <= cap)
		memcpy(data, ram + RXBUF(id) + HSZ, h->len);
	add_avail(0, id);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	return true;
}

/* Drains rx; returns how many packets had op (or any op if op < 0). */
static int rx_count(int op, struct virtio_vsock_hdr *last)
{
	struct virtio_vsock_hdr h;
	int n = 0;

	pump();
	while (rx_next(&h, NULL, 0)) {
		if (op < 0 || h.op == op) {
			n++;
			if (last)
				*last = h;
		}
		pump();
	}
	return n;
}

static void tx(uint64_t src_cid, uint32_t src_port, uint32_t dst_port,
	       uint16_t op, const void *data, uint32_t len, uint32_t hdr_len)
{
	static unsigned slot;
	struct virtio_vsock_hdr h = {
		.src_cid = src_cid, .dst_cid = VSOCK_HOST_CID, .src_port = src_port,
		.dst_port = dst_port, .len = hdr_len, .type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = op, .buf_alloc = 65536, .fwd_cnt = 0,
	};
	memcpy(ram + TXBUF, &h, HSZ);
	if (len)
		memcpy(ram + TXBUF + HSZ, data, len);
	set_desc(1, slot % QSZ, TXBUF, HSZ + len, 0);
	add_avail(1, (uint16_t)(slot++ % QSZ));
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	pump();
}

static void gtx(uint32_t src_port, uint32_t dst_port, uint16_t op,
		const void *data, uint32_t len)
{
	tx(VSOCK_GUEST_CID, src_port, dst_port, op, data, len, len);
}

static int host_connect(const char *line)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, path);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	if (line)
		CHECK(write(fd, line, strlen(line)) == (ssize_t)strlen(line));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	pump();
	return fd;
}

static ssize_t host_read(int fd, char *buf, size_t cap)
{
	ssize_t n = read(fd, buf, cap - 1);

	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static void test_host_to_guest(void)
{
	struct virtio_vsock_hdr h;
	uint8_t data[64];
	char buf[256];
	int fd = host_connect("CONNECT 5000\n");

	CHECK(rx_next(&h, NULL, 0) && h.op == VIRTIO_VSOCK_OP_REQUEST);
	CHECK(h.dst_port == 5000 && h.dst_cid == VSOCK_GUEST_CID && h.src_cid == 2);
	uint32_t hp = h.src_port;
	gtx(5000, hp, VIRTIO_VSOCK_OP_RESPONSE, NULL, 0);
	snprintf((char *)data, sizeof(data), "OK %u\n", hp);
	CHECK(host_read(fd, buf, sizeof(buf)) > 0 && !strcmp(buf, (char *)data));
	CHECK(write(fd, "ping", 4) == 4);
	pump();
	CHECK(rx_next(&h, data, sizeof(data)) && h.op == VIRTIO_VSOCK_OP_RW &&
	      h.len == 4 && !memcmp(data, "ping", 4));
	CHECK(h.buf_alloc == VSOCK_BUF_ALLOC);
	gtx(5000, hp, VIRTIO_VSOCK_OP_RW, "pong", 4);
	CHECK(host_read(fd, buf, sizeof(buf)) == 4 && !strcmp(buf, "pong"));
	/* spoofed source CID and a len that is not the payload: dropped */
	uint64_t refused = v.refused;
	tx(7, 5000, hp, VIRTIO_VSOCK_OP_RW, "evil", 4, 4);
	tx(VSOCK_GUEST_CID, 5000, hp, VIRTIO_VSOCK_OP_RW, "evil", 4, 1000);
	CHECK(v.refused == refused + 2);
	CHECK(host_read(fd, buf, sizeof(buf)) < 0 && errno == EAGAIN);
	/* the host closes: the guest hears SHUTDOWN, answers RST, conn freed */
	close(fd);
	CHECK(rx_count(VIRTIO_VSOCK_OP_SHUTDOWN, NULL) == 1);
	gtx(5000, hp, VIRTIO_VSOCK_OP_RST, NULL, 0);
	CHECK(vsconn_find(&v, hp, 5000) == NULL);
}

static void test_guest_to_host(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct virtio_vsock_hdr h;
	char buf[64];
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0), fd;

	/* nobody listens on PATH_6000 yet: reset */
	gtx(777, 6000, VIRTIO_VSOCK_OP_REQUEST, NULL, 0);
	CHECK(rx_count(VIRTIO_VSOCK_OP_RST, NULL) == 1);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.90s_6000", path);
	CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 4) == 0);
	gtx(777, 6000, VIRTIO_VSOCK_OP_REQUEST, NULL, 0);
	CHECK(rx_count(VIRTIO_VSOCK_OP_RESPONSE, &h) == 1 && h.dst_port == 777);
	CHECK((fd = accept(lfd, NULL, NULL)) >= 0);
	gtx(777, 6000, VIRTIO_VSOCK_OP_RW, "hi host", 7);
	CHECK(host_read(fd, buf, sizeof(buf)) == 7 && !strcmp(buf, "hi host"));
	/* a second REQUEST for an open connection resets it */
	gtx(777, 6000, VIRTIO_VSOCK_OP_REQUEST, NULL, 0);
	CHECK(rx_count(VIRTIO_VSOCK_OP_RST, NULL) == 1);
	CHECK(vsconn_find(&v, 6000, 777) == NULL);
	/* data for a connection that does not exist: reset, nothing else */
	gtx(778, 6000, VIRTIO_VSOCK_OP_RW, "x", 1);
	CHECK(rx_count(VIRTIO_VSOCK_OP_RST, NULL) == 1);
	close(fd);
	close(lfd);
	unlink(sa.sun_path);
}

/* A host program that never reads: the guest may fill the credit we
 * advertised and no more; past it the connection is reset, and the
 * buffer never exceeds VSOCK_BUF_ALLOC. */
static void test_credit(void)
{
	static uint8_t chunk[VSOCK_MAX_PKT];
	struct virtio_vsock_hdr h;
	uint64_t sent = 0;
	int fd = host_connect("CONNECT 5001\n"), rst = 0;

	CHECK(rx_next(&h, NULL, 0) && h.op == VIRTIO_VSOCK_OP_REQUEST);
	uint32_t hp = h.src_port;
	gtx(5001, hp, VIRTIO_VSOCK_OP_RESPONSE, NULL, 0);
	for (int i = 0; i < 200 && !rst; i++) {
		gtx(5001, hp, VIRTIO_VSOCK_OP_RW, chunk, sizeof(chunk));
		sent += sizeof(chunk);
		struct vsconn *c = vsconn_find(&v, hp, 5001);
		CHECK(!c || c->buf_len <= VSOCK_BUF_ALLOC);
		rst = rx_count(VIRTIO_VSOCK_OP_RST, NULL);
	}
	CHECK(rst == 1);
	CHECK(sent > VSOCK_BUF_ALLOC);
	close(fd);
	pump();
}

static bool closed(int fd)
{
	char b[8];
	ssize_t n = read(fd, b, sizeof(b));

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void test_hostile_host(void)
{
	int fds[VSOCK_MAX_CONNS + 1];
	char buf[8];

	/* a bad CONNECT line: closed at once (with the line unread, a Unix
	 * socket reports ECONNRESET rather than EOF) */
	int fd = host_connect("HELLO 5000\n");
	CHECK(closed(fd));
	close(fd);
	fd = host_connect("CONNECT 99999999999\n");
	CHECK(closed(fd));
	close(fd);
	/* a line that never ends (32 bytes, no newline): closed */
	fd = host_connect("CONNECTCONNECTCONNECTCONNECTCONNECT");
	CHECK(closed(fd));
	close(fd);
	/* the cap: connection VSOCK_MAX_CONNS + 1 is closed; the rest wait */
	for (int i = 0; i <= VSOCK_MAX_CONNS; i++)
		fds[i] = host_connect(NULL);
	CHECK(read(fds[VSOCK_MAX_CONNS], buf, sizeof(buf)) == 0);
	for (int i = 0; i <= VSOCK_MAX_CONNS; i++)
		close(fds[i]);
	pump();
	rx_count(-1, NULL);
}

/* Backend loop rounds with nothing to do must block in epoll_wait: the
 * number of ready events over n idle rounds. */
static int idle_events(int n)
{
	int events = 0;

	for (int i = 0; i < n; i++)
		events += vsock_poll_once(&v, 5);
	return events;
}

/* A CONNECT line that arrives in pieces: while it is incomplete the
 * backend must not spin on the readable socket (it once peeked the same
 * bytes on every round of a level-triggered epoll until the deadline),
 * the line completes when the rest arrives, bytes after the newline stay
 * for the guest, and a line past the limit without a newline is closed
 * even when it trickles in. */
static void test_partial_connect(void)
{
	struct virtio_vsock_hdr h;
	uint8_t data[16];
	char buf[64];
	int fd = host_connect("CONN");

	CHECK(idle_events(20) <= 2);
	CHECK(rx_count(-1, NULL) == 0);
	CHECK(write(fd, "ECT 50", 6) == 6);
	CHECK(idle_events(20) <= 2);
	CHECK(write(fd, "10\nearly", 8) == 8);
	pump();
	CHECK(rx_next(&h, NULL, 0) && h.op == VIRTIO_VSOCK_OP_REQUEST &&
	      h.dst_port == 5010);
	uint32_t hp = h.src_port;
	gtx(5010, hp, VIRTIO_VSOCK_OP_RESPONSE, NULL, 0);
	snprintf((char *)data, sizeof(data), "OK %u\n", hp);
	CHECK(host_read(fd, buf, sizeof(buf)) > 0 && !strcmp(buf, (char *)data));
	pump();
	CHECK(rx_next(&h, data, sizeof(data)) && h.op == VIRTIO_VSOCK_OP_RW &&
	      h.len == 5 && !memcmp(data, "early", 5));
	gtx(5010, hp, VIRTIO_VSOCK_OP_RST, NULL, 0);
	CHECK(vsconn_find(&v, hp, 5010) == NULL);
	close(fd);
	pump();

	/* 31 bytes without a newline, in two pieces: open after the first,
	 * closed after the second */
	fd = host_connect("CONNECT 1234567890");
	CHECK(read(fd, buf, sizeof(buf)) < 0 && errno == EAGAIN);
	CHECK(idle_events(20) <= 2);
	CHECK(write(fd, "1234567890123", 13) == 13);
	pump();
	CHECK(closed(fd));
	close(fd);
	/* a NUL inside the port: the digits must run up to the newline */
	fd = host_connect(NULL);
	CHECK(write(fd, "CONNECT 5\0x\n", 12) == 12);
	pump();
	CHECK(closed(fd));
	close(fd);
	pump();
	CHECK(rx_count(-1, NULL) == 0);
}

/* accept() failing (out of fds) leaves the connection queued: the
 * listener must not wake the backend on it every round; once fds are
 * back, the connection goes through. */
static void test_accept_emfile(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct virtio_vsock_hdr h;
	struct rlimit old, low;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), spare = dup(0), events;
	bool got = false;

	close(spare); /* the lowest free fd: the next accept() would get it */
	strcpy(sa.sun_path, path);
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low = old;
	low.rlim_cur = (rlim_t)spare;
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(write(fd, "CONNECT 5030\n", 13) == 13);
	events = idle_events(20);
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	CHECK(events <= 2);
	/* polled again within about a second */
	for (int i = 0; i < 60 && !got; i++) {
		vsock_poll_once(&v, 50);
		got = rx_next(&h, NULL, 0);
	}
	CHECK(got && h.op == VIRTIO_VSOCK_OP_REQUEST && h.dst_port == 5030);
	gtx(5030, h.src_port, VIRTIO_VSOCK_OP_RST, NULL, 0);
	close(fd);
	pump();
}

/* epoll_ctl failing for one connection (here its fd is swapped for a
 * regular file, which epoll refuses) ends that connection with a reset
 * to the guest; the device goes on serving the others. */
static void test_epoll_failure(void)
{
	struct virtio_vsock_hdr h;
	char tmpl[] = "/tmp/msbvm-vsock-file-XXXXXX", buf[64];
	int fd = host_connect("CONNECT 5040\n"), file = mkstemp(tmpl), real;

	CHECK(file >= 0);
	unlink(tmpl);
	CHECK(rx_next(&h, NULL, 0) && h.op == VIRTIO_VSOCK_OP_REQUEST);
	uint32_t hp = h.src_port;
	gtx(5040, hp, VIRTIO_VSOCK_OP_RESPONSE, NULL, 0);
	CHECK(host_read(fd, buf, sizeof(buf)) > 0 && !strncmp(buf, "OK ", 3));
	struct vsconn *c = vsconn_find(&v, hp, 5040);
	CHECK(c != NULL);
	if (!c)
		return;
	real = c->fd;
	c->fd = file;        /* the device closes it with the connection */
	c->in_epoll = false; /* so the next update is an ADD, and fails */
	CHECK(rx_count(VIRTIO_VSOCK_OP_RST, NULL) == 1);
	CHECK(vsconn_find(&v, hp, 5040) == NULL);
	close(real);
	close(fd);
	fd = host_connect("CONNECT 5041\n");
	CHECK(rx_next(&h, NULL, 0) && h.op == VIRTIO_VSOCK_OP_REQUEST &&
	      h.dst_port == 5041);
	gtx(5041, h.src_port, VIRTIO_VSOCK_OP_RST, NULL, 0);
	close(fd);
	pump();
}

/* A driver that posts a device-readable rx buffer is broken: NEEDS_RESET;
 * after a reset the device works again. */
static void test_bad_rx_buffer(void)
{
	struct virtio_vsock_hdr h;
	int fd;

	drv_init();
	avail[0] = 0;
	set_desc(0, 0, RXBUF(0), RXLEN, 0); /* not WRITE */
	memset(ram + QBASE(0) + 0x1000, 0, 0x100);
	add_avail(0, 0);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	fd = host_connect("CONNECT 5002\n");
	CHECK(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	close(fd);
	drv_init();
	fd = host_connect("CONNECT 5003\n");
	CHECK(rx_next(&h, NULL, 0) && h.op == VIRTIO_VSOCK_OP_REQUEST && h.dst_port == 5003);
	/* a driver reset drops guest connections: the host sees EOF */
	wr(VIRTIO_MMIO_STATUS, 0);
	pump();
	char b[4];
	CHECK(read(fd, b, sizeof(b)) == 0);
	close(fd);
}

int main(void)
{
	char dir[] = "/tmp/msbvm-vsock-XXXXXX";

	ram = aligned_alloc(4096, RAM_SIZE);
	gm.host = ram;
	gm_layout(&gm, RAM_SIZE);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	CHECK(vsock_open(&v, path) == 0);
	vmmio_init(&t, &vsock_ops, &v, &gm, VMMIO_BASE, 5, irq, NULL);
	v.dev = &t.dev;
	CHECK(rd(VIRTIO_MMIO_DEVICE_ID) == 19);
	drv_init();
	/* config: the 64-bit guest_cid (5.10.4), nothing after it */
	uint64_t cid = 0;
	vmmio_io(&t, VIRTIO_MMIO_CONFIG, (uint8_t *)&cid, 8, false);
	CHECK(cid == VSOCK_GUEST_CID);
	CHECK(t.dev.config_len == sizeof(struct virtio_vsock_config));
	CHECK(rd(VIRTIO_MMIO_CONFIG + 4) == 0 && rd(VIRTIO_MMIO_CONFIG + 8) == 0);
	test_host_to_guest();
	test_guest_to_host();
	test_credit();
	test_hostile_host();
	test_partial_connect();
	test_accept_emfile();
	test_epoll_failure();
	test_bad_rx_buffer();
	/* an existing non-socket path is refused; a live socket too */
	struct vsock v2;
	CHECK(vsock_open(&v2, dir) == -EEXIST);
	CHECK(vsock_open(&v2, path) == -EADDRINUSE);
	vsock_close(&v);
	CHECK(access(path, F_OK) != 0);
	rmdir(dir);
	free(ram);
	return check_result("vsock");
}
