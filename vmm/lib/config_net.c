/* Network settings of a configuration (include/msbvm.h): the mode, the
 * guest's DNS server and published ports. Parsed and checked here, so the
 * CLI and library users get the same messages; binding the ports is
 * netslirp_open's (a port in use fails msbvm_start, before boot). */
#include "lib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 3, 4)))
static int cfgnet_bad(struct msbvm_config *c, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return -e;
}

int msbvm_config_set_net(msbvm_config *c, enum msbvm_net mode)
{
	if (mode != MSBVM_NET_USER && mode != MSBVM_NET_NONE)
		return cfgnet_bad(c, EINVAL, "network: bad mode %d", (int)mode);
#ifdef MSBVM_NO_NET
	if (mode == MSBVM_NET_USER)
		return cfgnet_bad(c, ENOTSUP, "this msbvm is built without "
				  "networking (static build: no static libslirp)");
#endif
	c->net_off = mode == MSBVM_NET_NONE;
	return 0;
}

int msbvm_config_set_dns(msbvm_config *c, const char *ip)
{
	struct in_addr a;

	if (!ip) {
		c->has_dns = false;
		return 0;
	}
	if (inet_pton(AF_INET, ip, &a) != 1)
		return cfgnet_bad(c, EINVAL, "DNS server '%s': not an IPv4 address", ip);
	c->dns = a;
	c->has_dns = true;
	return 0;
}

/* A port number 1..65535, all digits; 0 if not. */
static unsigned cfgnet_port(const char *s, size_t len)
{
	unsigned v = 0;

	if (!len || len > 5)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535 ? v : 0;
}

/* "[HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]", as docker run -p */
int msbvm_config_add_port(msbvm_config *c, const char *spec)
{
	struct net_port p = { .udp = false };
	char ip[INET_ADDRSTRLEN];
	const char *s = spec ? spec : "", *slash, *c2, *c1;

	if (c->net.n_ports == NET_MAX_PORTS)
		return cfgnet_bad(c, E2BIG, "at most %d published ports", NET_MAX_PORTS);
	slash = strchr(s, '/');
	if (slash && strcmp(slash, "/tcp") && strcmp(slash, "/udp"))
		goto bad;
	p.udp = slash && !strcmp(slash, "/udp");
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	/* the last two colon-separated fields are the ports */
	c2 = memrchr(s, ':', len);
	if (!c2)
		goto bad;
	c1 = memrchr(s, ':', (size_t)(c2 - s));
	p.host_port = (uint16_t)cfgnet_port(c1 ? c1 + 1 : s, (size_t)(c2 - (c1 ? c1 + 1 : s)));
	p.guest_port = (uint16_t)cfgnet_port(c2 + 1, len - (size_t)(c2 + 1 - s));
	if (!p.host_port || !p.guest_port)
		goto bad;
	if (!c1) {
		inet_pton(AF_INET, "127.0.0.1", &p.host);
	} else {
		if ((size_t)(c1 - s) >= sizeof(ip))
			goto bad;
		memcpy(ip, s, (size_t)(c1 - s));
		ip[c1 - s] = '\0';
		if (inet_pton(AF_INET, ip, &p.host) != 1)
			goto bad;
	}
	for (unsigned i = 0; i < c->net.n_ports; i++)
		if (c->net.ports[i].host_port == p.host_port &&
		    c->net.ports[i].udp == p.udp)
			return cfgnet_bad(c, EINVAL, "published port '%s': host port "
					  "%u/%s is already published", s, p.host_port,
					  p.udp ? "udp" : "tcp");
	c->net.ports[c->net.n_ports++] = p;
	return 0;
bad:
	return cfgnet_bad(c, EINVAL, "published port '%s': expected "
			  "[HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp] (IPv4 address, ports "
			  "1-65535)", s);
}
