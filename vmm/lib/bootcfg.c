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

/* The root: an ext4 disk (/dev/vda), or a host directory shared over
 * virtio-fs (CFG_ROOT_TAG), always read-only under an overlay. The
 * upper's disk comes after the root's, or first when the root is a
 * directory (no root disk). */
static int bcfg_root(void *fdt, const struct msbvm_config *c)
{
	bool dir = cfg_rootfs_dir(c);
	const char *upper = cfg_overlay(c);
	int rc;

	if (!c->rootfs)
		return 0;
	if (dir && !upper)
		upper = "tmpfs";
	if ((rc = fdt_begin_node(fdt, BCFG_N_ROOT)) ||
	    (rc = fdt_property_string(fdt, BCFG_P_DEVICE, dir ? CFG_ROOT_TAG : "/dev/vda")) ||
	    (rc = fdt_property_string(fdt, BCFG_P_FSTYPE, dir ? "virtiofs" : "ext4")) ||
	    (dir && (rc = fdt_property(fdt, BCFG_P_READONLY, NULL, 0))))
		return rc;
	if (upper && (rc = fdt_property_string(fdt, BCFG_P_UPPER,
					       !strcmp(upper, "tmpfs") ? "tmpfs" :
					       dir ? "/dev/vda" : "/dev/vdb")))
		return rc;
	return fdt_end_node(fdt);
}

/* /msbvm/volumes/volume@I: tag CFG_VOL_TAG(I) on the guest path */
static int bcfg_volumes(void *fdt, const struct msbvm_config *c)
{
	char node[32], tag[BCFG_MAX_TAG + 1];
	int rc;

	if (!c->n_vols)
		return 0;
	if ((rc = fdt_begin_node(fdt, BCFG_N_VOLUMES)))
		return rc;
	for (unsigned i = 0; i < c->n_vols; i++) {
		snprintf(node, sizeof(node), "%s@%u", BCFG_N_VOLUME, i);
		snprintf(tag, sizeof(tag), CFG_VOL_TAG, i);
		if ((rc = fdt_begin_node(fdt, node)) ||
		    (rc = fdt_property_string(fdt, BCFG_P_TAG, tag)) ||
		    (rc = fdt_property_string(fdt, BCFG_P_PATH, c->vols[i].guest)) ||
		    (c->vols[i].ro && (rc = fdt_property(fdt, BCFG_P_READONLY, NULL, 0))) ||
		    (rc = fdt_end_node(fdt)))
			return rc;
	}
	return fdt_end_node(fdt);
}

/* which options an operation takes (the seed's opts) */
static bool bcfg_has_mode(enum msbvm_patch_op op)
{
	return op == MSBVM_PATCH_TEXT || op == MSBVM_PATCH_FILE ||
	       op == MSBVM_PATCH_MKDIR || op == MSBVM_PATCH_COPY_FILE;
}

static bool bcfg_has_replace(enum msbvm_patch_op op)
{
	return op != MSBVM_PATCH_MKDIR && op != MSBVM_PATCH_APPEND &&
	       op != MSBVM_PATCH_REMOVE;
}

/* /msbvm/patches/patch@I; content travels as BCFG_FILES/pI */
static int bcfg_patches(void *fdt, const struct msbvm_config *c)
{
	char node[32];
	int rc;

	if (!c->n_patches)
		return 0;
	if ((rc = fdt_begin_node(fdt, BCFG_N_PATCHES)))
		return rc;
	for (unsigned i = 0; i < c->n_patches; i++) {
		const struct cfg_patch *p = &c->patches[i];
		snprintf(node, sizeof(node), "%s@%u", BCFG_N_PATCH, i);
		if ((rc = fdt_begin_node(fdt, node)) ||
		    (rc = fdt_property_string(fdt, BCFG_P_OP, cfg_patch_name(p->op))) ||
		    (rc = fdt_property_string(fdt, BCFG_P_PATH, p->path)) ||
		    (p->mode >= 0 && bcfg_has_mode(p->op) &&
		     (rc = fdt_property_u32(fdt, BCFG_P_MODE, (uint32_t)p->mode))) ||
		    (p->replace && bcfg_has_replace(p->op) &&
		     (rc = fdt_property(fdt, BCFG_P_REPLACE, NULL, 0))) ||
		    (p->op == MSBVM_PATCH_SYMLINK &&
		     (rc = fdt_property_string(fdt, BCFG_P_TARGET, p->src))) ||
		    (rc = fdt_end_node(fdt)))
			return rc;
	}
	return fdt_end_node(fdt);
}

/* /msbvm/scripts/script@I: the name; content as BCFG_FILES/sI */
static int bcfg_scripts(void *fdt, const struct msbvm_config *c)
{
	char node[32];
	int rc;

	if (!c->n_scripts)
		return 0;
	if ((rc = fdt_begin_node(fdt, BCFG_N_SCRIPTS)))
		return rc;
	for (unsigned i = 0; i < c->n_scripts; i++) {
		snprintf(node, sizeof(node), "%s@%u", BCFG_N_SCRIPT, i);
		if ((rc = fdt_begin_node(fdt, node)) ||
		    (rc = fdt_property_string(fdt, BCFG_P_NAME, c->scripts[i].name)) ||
		    (rc = fdt_end_node(fdt)))
			return rc;
	}
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

/* An image's Env, WorkingDir and User, then a spec's env and workdir
 * over them: agentd's defaults for every EXEC */
static int bcfg_exec(void *fdt, const struct msbvm_config *c)
{
	const char *workdir = c->spec_workdir ? c->spec_workdir : c->exec_workdir;
	char *env[2 * CFG_MAX_LIST];
	unsigned n = 0;
	int rc;

	if (!c->n_exec_env && !c->n_spec_env && !workdir && !c->exec_user)
		return 0;
	for (unsigned i = 0; i < c->n_exec_env; i++)
		env[n++] = c->exec_env[i];
	for (unsigned i = 0; i < c->n_spec_env; i++)
		env[n++] = c->spec_env[i];
	if (n > BCFG_MAX_LIST)
		return -FDT_ERR_BADVALUE; /* bcfg_fdt says what */
	if ((rc = fdt_begin_node(fdt, BCFG_N_EXEC)) ||
	    (rc = bcfg_list(fdt, BCFG_P_ENV, env, n)) ||
	    (workdir && (rc = fdt_property_string(fdt, BCFG_P_WORKDIR, workdir))) ||
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
	    (rc = bcfg_volumes(fdt, c)) || (rc = bcfg_patches(fdt, c)) ||
	    (rc = bcfg_scripts(fdt, c)) ||
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
		if (rc == -FDT_ERR_BADVALUE)
			return err_set(E2BIG, "boot configuration: more than %d "
				       "environment entries (the image's Env and "
				       "the spec's env)", BCFG_MAX_LIST);
		if (rc != -FDT_ERR_NOSPACE)
			return err_set(EINVAL, "boot configuration: %s", fdt_strerror(rc));
		if (len >= BCFG_MAX_SIZE)
			return err_set(E2BIG, "boot configuration larger than %u KiB "
				       "(the --init arguments and environment, "
				       "patches, scripts)",
				       BCFG_MAX_SIZE >> 10);
		len *= 2;
	}
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
	rc = bcfg_archive_files(c, &dtb, out);
	bcfg_free(&dtb);
	return rc;
}
