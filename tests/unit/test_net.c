/* virtio-net against a scripted driver over fake guest RAM, the backend
 * replaced by two callbacks (frames sent are recorded, kicks counted).
 * Covers config space and features, tx and rx of good frames, and a
 * hostile driver: zero-length, header-only, oversized and device-writable
 * tx chains, rx buffers too small for a frame (nothing written past them),
 * no rx buffers at all (bounded backlog), a tx flood (bounded batches),
 * a device-readable rx buffer (NEEDS_RESET). After each the device goes
 * on working. Then the real backend (libslirp, its I/O thread): an idle
 * loop sleeps, and an ARP request for the gateway gets its answer. */
#include "check.h"
#include "vdrv.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "vmm/core/err.h"
#include "vmm/lib/net_slirp.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAM_SIZE (1u << 20)
#define QSZ 128
#define QBASE(q) VDRV_QBASE(q)
#define RXBUF(i) (0x40000u + 0x800u * (i))    /* 32 x 2 KiB */
#define RXLEN (VNET_HDR_LEN + 1518u)
#define TXBUF(i) (0x60000u + 0x800u * ((i) % 64))
#define TINY 0x5f000u
#define HSZ VNET_HDR_LEN

static uint8_t *ram;
static struct guest_mem gm;
static struct vmmio t;
static struct vnet n;
static uint16_t avail[2], seen_used[2];
static unsigned kicks, sent;
static uint8_t last[2048];
static size_t last_len;

static void irq(void *o, unsigned i, bool level) { (void)o; (void)i; (void)level; }
static void wr(uint64_t off, uint32_t x) { vdrv_wr(&t, off, x); }
static uint32_t rd(uint64_t off) { return vdrv_rd(&t, off); }

static void be_send(void *o, const uint8_t *f, size_t len)
{
	(void)o;
	sent++;
	last_len = len;
	memcpy(last, f, len < sizeof(last) ? len : sizeof(last));
}

static void be_kick(void *o) { (void)o; kicks++; }

static void add_avail(unsigned q, uint16_t head)
{
	memcpy(ram + QBASE(q) + 0x1000 + 4 + 2 * (avail[q] % QSZ), &head, 2);
	avail[q]++;
	memcpy(ram + QBASE(q) + 0x1000 + 2, &avail[q], 2);
}

static void set_desc(unsigned q, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };
	memcpy(ram + QBASE(q) + 16 * i, &d, 16);
}

/* Next used entry of q: true and its id and len, or false if none. */
static bool used_next(unsigned q, uint16_t *id, uint32_t *len)
{
	uint16_t idx;
	struct vring_used_elem e;

	memcpy(&idx, ram + QBASE(q) + 0x2000 + 2, 2);
	if (idx == seen_used[q])
		return false;
	memcpy(&e, ram + QBASE(q) + 0x2000 + 4 + 8 * (seen_used[q] % QSZ), 8);
	seen_used[q]++;
	*id = (uint16_t)e.id;
	*len = e.len;
	return true;
}

static void post_rx(uint16_t i, uint64_t addr, uint32_t len)
{
	set_desc(0, i, addr, len, VRING_DESC_F_WRITE, 0);
	add_avail(0, i);
}

/* A tx chain at descriptor slot d: header + frame of len bytes (byte
 * pattern seed), as two descriptors; hdr_len and frame len may lie. */
static void tx_chain(uint16_t d, uint32_t hdr_len, uint32_t len, uint8_t seed)
{
	memset(ram + TXBUF(d), 0, hdr_len);
	for (uint32_t i = 0; i < len && i < 0x7f0; i++)
		ram[TXBUF(d) + 0x10 + i] = (uint8_t)(seed + i);
	if (!len) {
		set_desc(1, d, TXBUF(d), hdr_len, 0, 0);
	} else {
		set_desc(1, d, TXBUF(d), hdr_len, VRING_DESC_F_NEXT, (uint16_t)(d + 1));
		set_desc(1, d + 1, TXBUF(d) + 0x10, len, 0, 0);
	}
	add_avail(1, d);
}

static void drv_init(void)
{
	uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };

	memset(ram, 0, RAM_SIZE);
	memset(avail, 0, sizeof(avail));
	memset(seen_used, 0, sizeof(seen_used));
	vnet_free(&n);
	CHECK(vnet_init(&n, mac, be_send, be_kick, NULL) == 0);
	vmmio_init(&t, &vnet_ops, &n, &gm, VMMIO_BASE, 5, irq, NULL);
	vdrv_bringup(&t, 2, QSZ);
	CHECK(n.active && n.dev == &t.dev);
}

static void test_config(void)
{
	struct virtio_net_config c;

	CHECK(rd(VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_NET);
	for (unsigned i = 0; i < sizeof(c); i++)
		vmmio_io(&t, VIRTIO_MMIO_CONFIG + i, (uint8_t *)&c + i, 1, false);
	CHECK(!memcmp(c.mac, "\x52\x54\x00\x12\x34\x56", 6));
	CHECK(c.status == VIRTIO_NET_S_LINK_UP && c.mtu == VNET_MTU);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint32_t f = rd(VIRTIO_MMIO_DEVICE_FEATURES);
	CHECK(f & (1u << VIRTIO_NET_F_MAC) && f & (1u << VIRTIO_NET_F_STATUS) &&
	      f & (1u << VIRTIO_NET_F_MTU));
	/* no offloads: the backend takes plain frames only */
	CHECK(!(f & (1u << VIRTIO_NET_F_CSUM)) && !(f & (1u << VIRTIO_NET_F_GUEST_TSO4)) &&
	      !(f & (1u << VIRTIO_NET_F_MRG_RXBUF)));
}

static void test_tx(void)
{
	uint16_t id;
	uint32_t len;

	drv_init();
	sent = 0;
	tx_chain(0, HSZ, 60, 7);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	CHECK(kicks > 0);
	vnet_process(&n);
	CHECK(sent == 1 && last_len == 60 && last[0] == 7 && last[59] == 66);
	CHECK(used_next(1, &id, &len) && id == 0 && len == 0);
	/* hostile chains: each dropped, counted, and given back */
	tx_chain(2, 0, 0, 0);                     /* zero-length */
	tx_chain(4, HSZ, 0, 0);                   /* header only */
	tx_chain(6, HSZ - 1, 0, 0);               /* shorter than a header */
	tx_chain(8, HSZ, 13, 0);                  /* shorter than Ethernet */
	tx_chain(10, HSZ, VNET_MAX_FRAME + 1, 0); /* over MTU + header */
	set_desc(1, 12, TXBUF(12), HSZ, VRING_DESC_F_NEXT, 13);
	set_desc(1, 13, TXBUF(12) + 0x10, 60, VRING_DESC_F_WRITE, 0);
	add_avail(1, 12);                         /* device-writable part */
	vnet_process(&n);
	CHECK(sent == 1 && n.st.tx_dropped == 6);
	for (uint16_t want = 2; want <= 12; want += 2)
		CHECK(used_next(1, &id, &len) && id == want && len == 0);
	CHECK(!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	/* and it keeps working: the largest frame allowed goes out */
	tx_chain(14, HSZ, VNET_MAX_FRAME, 1);
	vnet_process(&n);
	CHECK(sent == 2 && last_len == VNET_MAX_FRAME && n.st.tx_frames == 2);
	CHECK(used_next(1, &id, &len) && id == 14);
}

/* A tx flood is served in batches: the rest waits for the next round. */
static void test_tx_flood(void)
{
	uint16_t id;
	uint32_t len;
	unsigned got = 0;

	drv_init();
	sent = 0;
	for (uint16_t i = 0; i < 100; i++) {
		set_desc(1, i, TXBUF(i), 60 + HSZ, 0, 0);
		add_avail(1, i);
	}
	kicks = 0;
	vnet_process(&n);
	CHECK(sent == VNET_TX_BUDGET && kicks == 1);
	vnet_process(&n);
	CHECK(sent == 100);
	while (used_next(1, &id, &len))
		got++;
	CHECK(got == 100);
}

static void test_rx(void)
{
	uint8_t f[100];
	uint16_t id;
	uint32_t len;
	struct virtio_net_hdr_v1 h;

	drv_init();
	for (unsigned i = 0; i < sizeof(f); i++)
		f[i] = (uint8_t)(i * 3);
	/* nothing posted: backlogged, then delivered when buffers come */
	vnet_receive(&n, f, sizeof(f));
	CHECK(n.bl_count == 1 && !used_next(0, &id, &len));
	post_rx(0, RXBUF(0), RXLEN);
	vnet_process(&n);
	CHECK(n.bl_count == 0 && used_next(0, &id, &len) && id == 0 &&
	      len == HSZ + sizeof(f));
	memcpy(&h, ram + RXBUF(0), HSZ);
	CHECK(h.num_buffers == 1 && h.flags == 0 && h.gso_type == 0);
	CHECK(!memcmp(ram + RXBUF(0) + HSZ, f, sizeof(f)));
	/* a tiny buffer: the frame is dropped, nothing written past it */
	memset(ram + TINY, 0xaa, 64);
	post_rx(1, TINY, 20);
	post_rx(2, RXBUF(2), RXLEN);
	vnet_receive(&n, f, sizeof(f));
	CHECK(n.st.rx_dropped == 1 && used_next(0, &id, &len) && id == 1 && len == 0);
	for (unsigned i = 0; i < 64; i++)
		CHECK(ram[TINY + i] == 0xaa);
	vnet_receive(&n, f, sizeof(f));
	CHECK(used_next(0, &id, &len) && id == 2 && len == HSZ + sizeof(f));
	/* frames the backend should never give: refused, counted */
	vnet_receive(&n, f, 10);
	vnet_receive(&n, ram, VNET_MAX_FRAME + 1);
	CHECK(n.st.rx_dropped == 3 && n.st.rx_frames == 2);
	/* a guest that never reads: the backlog stops growing */
	for (unsigned i = 0; i < VNET_BACKLOG + 10; i++)
		vnet_receive(&n, f, sizeof(f));
	CHECK(n.bl_count == VNET_BACKLOG && n.st.rx_dropped == 13);
	/* a device-readable rx buffer is a driver bug: NEEDS_RESET */
	set_desc(0, 3, RXBUF(3), RXLEN, 0, 0);
	add_avail(0, 3);
	vnet_process(&n);
	CHECK(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(n.bl_count == 0);
	/* a reset and a new driver: all fine again */
	drv_init();
	post_rx(0, RXBUF(0), RXLEN);
	vnet_receive(&n, f, sizeof(f));
	CHECK(used_next(0, &id, &len) && id == 0 && n.st.rx_frames == 1);
}

/* ARP who-has 10.0.2.2 from the guest (RFC 826), a 42-byte frame */
static const uint8_t arp_req[42] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x56,
	0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1,
	0x52, 0x54, 0, 0x12, 0x34, 0x56, 10, 0, 2, 15,
	0, 0, 0, 0, 0, 0, 10, 0, 2, 2,
};

/* The slirp thread touches the rings under the transport lock: so does
 * the test (register accesses take it themselves). */
static bool used_next_locked(unsigned q, uint16_t *id, uint32_t *len)
{
	t.dev.lock(&t.dev);
	bool r = used_next(q, id, len);
	t.dev.unlock(&t.dev);
	return r;
}

static void test_slirp(void)
{
	static struct netslirp s;
	struct net_spec spec = { .on = true };
	uint16_t id;
	uint32_t len;
	bool got = false;

	memset(ram, 0, RAM_SIZE);
	memset(avail, 0, sizeof(avail));
	memset(seen_used, 0, sizeof(seen_used));
	CHECK(netslirp_open(&s, &spec) == 0);
	vmmio_init(&t, &vnet_ops, &s.dev, &gm, VMMIO_BASE, 5, irq, NULL);
	CHECK(netslirp_start(&s, &t.dev) == 0);
	vdrv_bringup(&t, 2, QSZ);
	t.dev.lock(&t.dev);
	for (uint16_t i = 0; i < 8; i++)
		post_rx(i, RXBUF(i), RXLEN);
	t.dev.unlock(&t.dev);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	/* idle: the thread sleeps in poll() (slirp's timers are >= 1 s then) */
	usleep(1000 * 1000);
	t.dev.lock(&t.dev);
	uint64_t polls = s.polls;
	memcpy(ram + TXBUF(0) + 0x10, arp_req, sizeof(arp_req));
	set_desc(1, 0, TXBUF(0), HSZ, VRING_DESC_F_NEXT, 1);
	set_desc(1, 1, TXBUF(0) + 0x10, sizeof(arp_req), 0, 0);
	add_avail(1, 0);
	t.dev.unlock(&t.dev);
	CHECK(polls < 20);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	for (int i = 0; i < 200 && !got; i++) {
		usleep(10 * 1000);
		got = used_next_locked(0, &id, &len);
	}
	CHECK(got && id == 0 && len >= HSZ + 42); /* slirp pads to 64 */
	t.dev.lock(&t.dev);
	const uint8_t *f = ram + RXBUF(0) + HSZ;
	/* an ARP reply (op 2) to our MAC: 10.0.2.2 is at slirp's MAC */
	CHECK(f[12] == 0x08 && f[13] == 0x06 && f[21] == 2);
	CHECK(!memcmp(f, arp_req + 6, 6) && !memcmp(f + 28, "\x0a\x00\x02\x02", 4));
	CHECK(s.dev.st.tx_frames == 1 && s.dev.st.rx_frames == 1);
	t.dev.unlock(&t.dev);
	CHECK(used_next_locked(1, &id, &len) && id == 0 && len == 0);
	netslirp_close(&s);
	/* a port that cannot be bound fails at open, before any boot */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 1) == 0 &&
	      getsockname(fd, (struct sockaddr *)&a, &al) == 0);
	spec.ports[0] = (struct net_port){ a.sin_addr, ntohs(a.sin_port), 8080, false };
	spec.n_ports = 1;
	CHECK(netslirp_open(&s, &spec) == -EADDRINUSE);
	CHECK_STR_CONTAINS(err_msg(), "cannot listen there");
	netslirp_close(&s);
	close(fd);
}

int main(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	gm.host = ram;
	gm_layout(&gm, RAM_SIZE);
	drv_init();
	test_config();
	test_tx();
	test_tx_flood();
	test_rx();
	vnet_free(&n);
	test_slirp();
	free(ram);
	return check_result("net");
}
