/* agentd: the guest network from /msbvm/network (net.c). */
#ifndef MSBVM_AGENTD_NET_H
#define MSBVM_AGENTD_NET_H

#include <stdbool.h>

#include "config.h"

/* eth0 up with n's settings, the default route, /etc/resolv.conf and
 * /etc/hosts (hostname, host.msbvm.internal -> the gateway): written
 * into /etc when write_etc (the root is the VM's own writable layer),
 * else bind-mounted over the image's files. Failures are logged; the
 * guest boots without a network rather than not at all. */
void agent_network(const struct agent_net *n, const char *hostname,
		   bool write_etc);

#endif
