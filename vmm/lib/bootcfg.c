/* agentd's boot configuration: a flattened device tree with one /msbvm
 * node tree (docs/boot-config.md), built with libfdt's sequential-write
 * API, then put into a cpio "newc" archive (bcfg_archive). The kernel
 * unpacks concatenated initramfs archives in order
 * (Documentation/driver-api/early-userspace/buffer-format.rst), so this
 * one lands beside agentd's /init without a copy of the agent. */
#include "bootcfg.h"
#include "lib.h"
#include "proto/bootcfg.h"
#include "proto/proto.h"
#include "vmm/core/err.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void bcfg_free(struct bcfg_blob *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

/* A string-list property: the strings back to back, each NUL-ended. */
static int bcfg_list(void *fdt, const char *prop, char *const *v, unsigned n)
{
	size_t len = 0, off = 0;
	char *buf;
	int rc;

	for (unsigned i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	if (!(buf = malloc(len ? len : 1)))
		return -FDT_ERR_INTERNAL;
	for (unsigned i = 0; i < n; i++) {
		size_t l = strlen(v[i]) + 1;
		memcpy(buf + off, v[i], l);
		off += l;
	}
	rc = fdt_property(fdt, prop, buf, (int)len);
	free(buf);
	return rc;
}

static int bcfg_root(void *fdt, const struct msbvm_config *c)
{
	int rc;

	if (!c->rootfs)
		return 0;
	if ((rc = fdt_begin_node(fdt, BCFG_N_ROOT)) ||
	    (rc = fdt_property_string(fdt, BCFG_P_DEVICE, "/dev/vda")) ||
	    (rc = fdt_property_string(fdt, BCFG_P_FSTYPE, "ext4")))
		return rc;
	const char *upper = cfg_overlay(c);
	if (upper && (rc = fdt_property_string(fdt, BCFG_P_UPPER,
					       strcmp(upper, "tmpfs") ? "/dev/vdb" : "tmpfs")))
		return rc;
	return fdt_end_node(fdt);
}

static int bcfg_init(void *fdt, const struct msbvm_config *c)
{
	int rc;

	if (!c->init)
		return 0;
	if ((rc = fdt_begin_node(fdt, BCFG_N_INIT)) ||
	    (rc = fdt_property_string(fdt, BCFG_P_PATH, c->init)) ||
	    (rc = bcfg_list(fdt, BCFG_P_ARGS, c->init_args, c->n_init_args)) ||
	    (rc = bcfg_list(fdt, BCFG_P_ENV, c->init_env, c->n_init_env)))
		return rc;
	return fdt_end_node(fdt);
}

/* An image's Env, WorkingDir and User: agentd's defaults for every EXEC */
static int bcfg_exec(void *fdt, const struct msbvm_config *c)
{
	int rc;

	if (!c->n_exec_env && !c->exec_workdir && !c->exec_user)
		return 0;
	if ((rc = fdt_begin_node(fdt, BCFG_N_EXEC)) ||
	    (rc = bcfg_list(fdt, BCFG_P_ENV, c->exec_env, c->n_exec_env)) ||
	    (c->exec_workdir &&
	     (rc = fdt_property_string(fdt, BCFG_P_WORKDIR, c->exec_workdir))) ||
	    (c->exec_user && (rc = fdt_property_string(fdt, BCFG_P_USER, c->exec_user))))
		return rc;
	return fdt_end_node(fdt);
}

/* --net user: eth0's static settings, slirp's network (net_slirp.h) */
static int bcfg_network(void *fdt, const struct msbvm_config *c)
{
	struct in_addr a, gw, dns;
	int rc;

	if (c->net_off)
		return 0;
	inet_pton(AF_INET, NET_GUEST_IP, &a);
	inet_pton(AF_INET, NET_GATEWAY_IP, &gw);
	inet_pton(AF_INET, NET_DNS_IP, &dns);
	if (c->has_dns)
		dns = c->dns;
	if ((rc = fdt_begin_node(fdt, BCFG_N_NETWORK)) ||
	    (rc = fdt_property(fdt, BCFG_P_ADDRESS, &a, 4)) ||
	    (rc = fdt_property_u32(fdt, BCFG_P_PREFIX, NET_PREFIX)) ||
	    (rc = fdt_property(fdt, BCFG_P_GATEWAY, &gw, 4)) ||
	    (rc = fdt_property(fdt, BCFG_P_DNS, &dns, 4)) ||
	    (rc = fdt_property_u32(fdt, BCFG_P_MTU, VNET_MTU)))
		return rc;
	return fdt_end_node(fdt);
}

/* One attempt into a buffer of size len; libfdt error or 0. */
static int bcfg_write(void *fdt, int len, const struct msbvm_config *c,
		      const char *name, const char *token, uint64_t now_ms)
{
	int rc;

	if ((rc = fdt_create(fdt, len)) || (rc = fdt_finish_reservemap(fdt)) ||
	    (rc = fdt_begin_node(fdt, "")) ||
	    (rc = fdt_begin_node(fdt, BCFG_NODE)) ||
	    (rc = fdt_property_u32(fdt, BCFG_P_VERSION, BCFG_VERSION)) ||
	    (rc = fdt_property_string(fdt, BCFG_P_NAME, name)) ||
	    (rc = fdt_property_u64(fdt, BCFG_P_HOST_TIME, now_ms)) ||
	    (rc = fdt_property_string(fdt, BCFG_P_TOKEN, token)) ||
	    (rc = bcfg_root(fdt, c)) || (rc = bcfg_init(fdt, c)) ||
	    (rc = bcfg_exec(fdt, c)) || (rc = bcfg_network(fdt, c)) ||
	    (rc = fdt_end_node(fdt)) || (rc = fdt_end_node(fdt)))
		return rc;
	return fdt_finish(fdt);
}

int bcfg_fdt(const struct msbvm_config *c, const char *name,
	     const char *token, struct bcfg_blob *out)
{
	struct timespec ts;
	size_t len = 4096;
	int rc;

	if (!proto_token_valid(token))
		return err_set(EINVAL, "boot configuration: no valid token");
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	/* grow until it fits: the size is dominated by the init lists */
	for (;;) {
		void *fdt = malloc(len);
		if (!fdt)
			return err_set(ENOMEM, "boot configuration: out of memory");
		rc = bcfg_write(fdt, (int)len, c, name, token, now_ms);
		if (!rc) {
			out->data = fdt;
			out->len = fdt_totalsize(fdt);
			return 0;
		}
		free(fdt);
		if (rc != -FDT_ERR_NOSPACE)
			return err_set(EINVAL, "boot configuration: %s", fdt_strerror(rc));
		if (len >= BCFG_MAX_SIZE)
			return err_set(E2BIG, "boot configuration larger than %u KiB "
				       "(the --init arguments and environment)",
				       BCFG_MAX_SIZE >> 10);
		len *= 2;
	}
}

/* One cpio "newc" member (Documentation/driver-api/early-userspace/
 * buffer-format.rst): a 110-byte ASCII header of 13 8-digit hex fields,
 * the NUL-terminated name, padding to 4 bytes, the data, padding to 4.
 * Written here rather than with libarchive: linking libarchive (and
 * with it libxml2, ICU, lzma, zstd, ...) cost every `msbvm run` ~3 ms of
 * dynamic loading before the first vCPU entry, for two members. */
static size_t bcfg_member(uint8_t *out, unsigned ino, const char *name,
			  unsigned mode, const void *data, size_t len)
{
	size_t nl = strlen(name) + 1, n;

	n = (size_t)sprintf((char *)out, "070701%08X%08X%08X%08X%08X%08X%08zX"
			    "%08X%08X%08X%08X%08zX%08X", ino, mode, 0u, 0u,
			    S_ISDIR(mode) ? 2u : 1u, 0u, len, 0u, 0u, 0u, 0u, nl, 0u);
	memcpy(out + n, name, nl);
	n += nl;
	while (n % 4)
		out[n++] = 0;
	if (len)
		memcpy(out + n, data, len);
	n += len;
	while (n % 4)
		out[n++] = 0;
	return n;
}

int bcfg_archive(const struct bcfg_blob *dtb, struct bcfg_blob *out)
{
	/* three headers and names, the data, padding */
	size_t cap = 3 * (110 + 64 + 4) + dtb->len + 4;

	if (!(out->data = malloc(cap)))
		return err_set(ENOMEM, "boot configuration: out of memory");
	out->len = bcfg_member(out->data, 1, BCFG_DIR, S_IFDIR | 0700, NULL, 0);
	out->len += bcfg_member(out->data + out->len, 2, &BCFG_PATH[1],
				S_IFREG | 0400, dtb->data, dtb->len);
	out->len += bcfg_member(out->data + out->len, 0, "TRAILER!!!", 0, NULL, 0);
	assert(out->len <= cap);
	return 0;
}

int bcfg_build(const struct msbvm_config *c, const char *name,
	       const char *token, struct bcfg_blob *out)
{
	struct bcfg_blob dtb;
	int rc;

	if ((rc = bcfg_fdt(c, name, token, &dtb)) < 0)
		return rc;
#ifdef MSBVM_TEST_HOOKS
	/* build/hooks/msbvm only (tests/integration/init.sh): a blob agentd
	 * must refuse, to see the refusal reach the user */
	const char *hook = getenv("MSBVM_TEST_BOOTCFG");
	if (hook && !strcmp(hook, "bad-magic"))
		dtb.data[0] ^= 0xff;
#endif
	rc = bcfg_archive(&dtb, out);
	bcfg_free(&dtb);
	return rc;
}
