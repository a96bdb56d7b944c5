/* User-mode networking for virtio-net: libslirp (NAT, DHCP, DNS
 * forwarding, host port forwards) driven by one I/O thread per VM. The
 * guest network is QEMU's user-networking default, given to agentd as a
 * static configuration (docs/boot-config.md, /msbvm/network). */
#ifndef MSBVM_NET_SLIRP_H
#define MSBVM_NET_SLIRP_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/net.h"

#define NET_MAX_PORTS 32
/* slirp's defaults (and QEMU's): 10.0.2.0/24, host 10.0.2.2 (its
 * loopback), DNS forwarder 10.0.2.3, the guest 10.0.2.15 */
#define NET_GUEST_IP "10.0.2.15"
#define NET_GATEWAY_IP "10.0.2.2"
#define NET_DNS_IP "10.0.2.3"
#define NET_PREFIX 24

struct net_port {
	struct in_addr host;     /* the address the host side listens on */
	uint16_t host_port, guest_port;
	bool udp;
};

struct net_spec {
	bool on;
	struct net_port ports[NET_MAX_PORTS];
	unsigned n_ports;
};

struct netslirp_timer;

struct netslirp {
	void *slirp;             /* Slirp * */
	struct vnet dev;         /* the virtio-net device it feeds */
	struct vdev *vd;         /* as registered: its transport lock */
	int kick_fd;             /* eventfd: queue kicks, stop */
	pthread_t thread;
	bool running;
	bool stopping;           /* atomic */
	struct pollfd *pfd;
	unsigned npfd, cap;
	struct netslirp_timer *timers;
	uint64_t polls;          /* loop iterations (tests: no busy loop) */
};

/* Creates slirp and binds every published port: a port in use fails
 * here, before the guest boots (-EADDRINUSE naming it). */
int netslirp_open(struct netslirp *s, const struct net_spec *spec);
/* Starts the I/O thread; vd is the device as registered. */
int netslirp_start(struct netslirp *s, struct vdev *vd);
/* Stops and joins the thread, frees slirp. Safe on a zeroed struct
 * after a failed open. */
void netslirp_close(struct netslirp *s);

#endif
