/* The guest side of --net user (/msbvm/network, docs/boot-config.md):
 * eth0 gets its static address, netmask and MTU and goes up, the default
 * route goes through the gateway (plain ioctls: agentd is a static musl
 * binary, there is no `ip` at this point, and the ioctls take fewer
 * emulated syscalls than a netlink conversation), then /etc/resolv.conf
 * and /etc/hosts. Where those files go:
 *   - an overlay root (images, --overlay) or no root disk: written into
 *     /etc, i.e. the VM's own writable layer;
 *   - a raw --rootfs disk (the user's image, writable or not): never
 *     written; our copies in /run/msbvm are bind-mounted over the image's
 *     own files, and a file the image lacks is left out (said on the
 *     console). */
#include "net.h"
#include "agentd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NET_IF "eth0"

static void net_sin(struct sockaddr *sa, const uint8_t ip[4])
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;

	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	memcpy(&in->sin_addr, ip, 4);
}

static bool net_ioctl(int fd, unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg) == 0)
		return true;
	agent_log("network: %s %s: %s", NET_IF, what, strerror(errno));
	return false;
}

/* eth0: address, netmask, MTU, up; then the default route. */
static bool net_link(int fd, const struct agent_net *n)
{
	struct ifreq ifr = { 0 };
	struct rtentry rt = { 0 };
	uint32_t mask = htonl(~0u << (32 - n->prefix));
	uint8_t zero[4] = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", NET_IF);
	net_sin(&ifr.ifr_addr, n->addr);
	if (!net_ioctl(fd, SIOCSIFADDR, &ifr, "address"))
		return false;
	net_sin(&ifr.ifr_netmask, (const uint8_t *)&mask);
	if (!net_ioctl(fd, SIOCSIFNETMASK, &ifr, "netmask"))
		return false;
	ifr.ifr_mtu = (int)n->mtu;
	if (!net_ioctl(fd, SIOCSIFMTU, &ifr, "mtu") ||
	    !net_ioctl(fd, SIOCGIFFLAGS, &ifr, "flags"))
		return false;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (!net_ioctl(fd, SIOCSIFFLAGS, &ifr, "up"))
		return false;
	net_sin(&rt.rt_dst, zero);
	net_sin(&rt.rt_genmask, zero);
	net_sin(&rt.rt_gateway, n->gateway);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = (char *)NET_IF;
	return net_ioctl(fd, SIOCADDRT, &rt, "default route");
}

static bool net_write(const char *path, const char *text)
{
	char tmp[64];
	int fd;
	size_t len = strlen(text);

	snprintf(tmp, sizeof(tmp), "%s.msbvm-new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	if (!ok || rename(tmp, path) < 0) {
		agent_log("network: writing %s: %s", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
		return false;
	}
	return true;
}

/* /run/msbvm/NAME bind-mounted over /etc/NAME, if the image has one */
static void net_bind(const char *name, const char *text)
{
	char src[64], dst[64];
	struct stat st;

	snprintf(src, sizeof(src), "/run/msbvm/%s", name);
	snprintf(dst, sizeof(dst), "/etc/%s", name);
	if (!net_write(src, text))
		return;
	if (stat(dst, &st) < 0 || !S_ISREG(st.st_mode)) {
		agent_log("network: the root disk has no file %s: not created "
			  "(a raw --rootfs is not written; see %s)", dst, src);
		return;
	}
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		agent_log("network: bind %s on %s: %s", src, dst, strerror(errno));
}

void agent_network(const struct agent_net *n, const char *hostname,
		   bool write_etc)
{
	char resolv[64], hosts[256];
	int fd;

	if (!n->want)
		return;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || !net_link(fd, n))
		agent_log("network: %s not configured", NET_IF);
	if (fd >= 0)
		close(fd);
	snprintf(resolv, sizeof(resolv), "nameserver %u.%u.%u.%u\n", n->dns[0],
		 n->dns[1], n->dns[2], n->dns[3]);
	snprintf(hosts, sizeof(hosts), "127.0.0.1\tlocalhost\n127.0.1.1\t%s\n"
		 "%u.%u.%u.%u\thost.msbvm.internal\n", hostname, n->gateway[0],
		 n->gateway[1], n->gateway[2], n->gateway[3]);
	if (write_etc) {
		mkdir("/etc", 0755);
		net_write("/etc/resolv.conf", resolv);
		net_write("/etc/hosts", hosts);
	} else {
		net_bind("resolv.conf", resolv);
		net_bind("hosts", hosts);
	}
}
