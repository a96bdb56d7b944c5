/* Parser of the boot configuration blob (docs/boot-config.md). The blob
 * comes from the VMM, but it is parsed like hostile input anyway: a
 * packaging mix-up (an agentd from another build) or a corrupt initramfs
 * must fail the boot with a message naming what was wrong, never read
 * past the blob. fdt_check_header() and our own walk (acfg_walk) validate
 * the blocks, every tag and every offset against the buffer; then each property
 * we read is checked for its exact length and NUL termination, and an
 * unknown node or property is refused (the host and agentd ship together,
 * so one we do not know means a mismatched pair). */
#include "config.h"
#include "config_int.h"
#include "proto/bootcfg.h"
#include "proto/proto.h"

#include <libfdt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool acfg_fail(struct acfg_ctx *x, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(x->err, x->errlen, "boot configuration: ");

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < x->errlen)
		vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

static uint32_t acfg_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The structure block, tag by tag (devicetree spec v0.4, 5.4), before
 * any other libfdt call: Debian's libfdt 1.6.1 loops forever in
 * fdt_next_tag() on a property length that wraps the offset backwards,
 * and its fdt_check_full() can dereference a NULL node name (both found
 * by tests/fuzz/fuzz_bootcfg). After this walk every tag, node name,
 * property length and name offset is known to lie inside the blob, which
 * is all libfdt's read functions assume. */
static bool acfg_walk(struct acfg_ctx *x, size_t len)
{
	const uint8_t *b = x->fdt;
	size_t off = fdt_off_dt_struct(x->fdt), size = fdt_size_dt_struct(x->fdt);
	size_t soff = fdt_off_dt_strings(x->fdt), ssize = fdt_size_dt_strings(x->fdt);
	size_t end, pos;
	unsigned depth = 0;
	bool root_done = false;

	if (off > len || size > len - off || soff > len || ssize > len - soff ||
	    off % 4)
		return acfg_fail(x, "device tree blocks outside the blob");
	for (pos = off, end = off + size; end - pos >= 4;) {
		uint32_t tag = acfg_be32(b + pos);
		pos += 4;
		if (tag == FDT_BEGIN_NODE) {
			const uint8_t *nul = memchr(b + pos, 0, end - pos);
			if (!nul || root_done || ++depth > 8 || (depth == 1 && nul != b + pos))
				return acfg_fail(x, "bad node at offset %zu", pos - 4 - off);
			pos = ((size_t)(nul - b) + 1 + 3) & ~(size_t)3;
		} else if (tag == FDT_PROP) {
			if (end - pos < 8 || !depth)
				return acfg_fail(x, "bad property at offset %zu", pos - 4 - off);
			size_t plen = acfg_be32(b + pos), noff = acfg_be32(b + pos + 4);
			pos += 8;
			if (plen > end - pos || noff >= ssize ||
			    !memchr(b + soff + noff, 0, ssize - noff))
				return acfg_fail(x, "bad property at offset %zu", pos - 12 - off);
			pos = (pos + plen + 3) & ~(size_t)3;
		} else if (tag == FDT_END_NODE) {
			if (!depth)
				return acfg_fail(x, "unbalanced node end at offset %zu", pos - 4 - off);
			root_done = --depth == 0;
		} else if (tag == FDT_END) {
			if (depth || !root_done)
				return acfg_fail(x, "structure ends inside a node");
			return true;
		} else if (tag != FDT_NOP) {
			return acfg_fail(x, "unknown tag %u at offset %zu", tag, pos - 4 - off);
		}
		if (pos > end)
			break;
	}
	return acfg_fail(x, "structure block has no end tag");
}

/* Every property and subnode of node must be in the allowed lists (NULL
 * ended), and none may appear twice. */
bool acfg_known(struct acfg_ctx *x, int node, const char *path,
		       const char *const *props, const char *const *nodes)
{
	unsigned seen = 0;
	int off;

	fdt_for_each_property_offset(off, x->fdt, node) {
		const char *name;
		unsigned i;

		if (!fdt_getprop_by_offset(x->fdt, off, &name, NULL) || !name)
			return acfg_fail(x, "unreadable property in %s", path);
		for (i = 0; props[i] && strcmp(props[i], name); i++)
			;
		if (!props[i])
			return acfg_fail(x, "unknown property %s/%s", path, name);
		if (seen & (1u << i))
			return acfg_fail(x, "property %s/%s appears twice", path, name);
		seen |= 1u << i;
	}
	seen = 0;
	fdt_for_each_subnode(off, x->fdt, node) {
		const char *name = fdt_get_name(x->fdt, off, NULL);
		unsigned i;

		for (i = 0; name && nodes[i] && strcmp(nodes[i], name); i++)
			;
		if (!name || !nodes[i])
			return acfg_fail(x, "unknown node %s/%s", path, name ? name : "?");
		if (seen & (1u << i))
			return acfg_fail(x, "node %s/%s appears twice", path, name);
		seen |= 1u << i;
	}
	return true;
}

/* One NUL-terminated string of 1..max bytes; *out NULL if absent and not
 * required. */
bool acfg_str(struct acfg_ctx *x, int node, const char *path,
		     const char *prop, size_t max, bool required, char **out)
{
	int len;
	char *p = fdt_getprop_w(x->fdt, node, prop, &len);

	*out = NULL;
	if (!p)
		return required ? acfg_fail(x, "missing property %s/%s", path, prop)
				: true;
	if (len < 1 || p[len - 1] != '\0' || strlen(p) != (size_t)len - 1)
		return acfg_fail(x, "property %s/%s: not one NUL-terminated string "
				 "(%d bytes)", path, prop, len);
	if (len == 1 || (size_t)len - 1 > max)
		return acfg_fail(x, "property %s/%s: length %d, expected 1 to %zu "
				 "bytes", path, prop, len - 1, max);
	*out = p;
	return true;
}

/* A string list: strings back to back, each NUL-terminated; absent or
 * empty = no strings. */
static bool acfg_list(struct acfg_ctx *x, int node, const char *path,
		      const char *prop, char **v, unsigned *n)
{
	int len;
	char *p = fdt_getprop_w(x->fdt, node, prop, &len), *end;

	*n = 0;
	if (!p || len == 0)
		return true;
	if (p[len - 1] != '\0')
		return acfg_fail(x, "property %s/%s: the last string is not "
				 "NUL-terminated", path, prop);
	for (end = p + len; p < end; p += strlen(p) + 1) {
		if (*n == BCFG_MAX_LIST)
			return acfg_fail(x, "property %s/%s: more than %d strings",
					 path, prop, BCFG_MAX_LIST);
		if (strlen(p) > BCFG_MAX_STRING)
			return acfg_fail(x, "property %s/%s: string %u longer than "
					 "%d bytes", path, prop, *n, BCFG_MAX_STRING);
		v[(*n)++] = p;
	}
	return true;
}

/* path's env list: every string NAME=VALUE with a non-empty NAME */
static bool acfg_env_ok(struct acfg_ctx *x, const char *path, char *const *env,
			unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (env[i][0] == '=' || !strchr(env[i], '='))
			return acfg_fail(x, "property %s/%s: string %u is not "
					 "NAME=VALUE", path, BCFG_P_ENV, i);
	return true;
}

static bool acfg_root(struct acfg_ctx *x, int parent, struct agent_cfg *c)
{
	static const char *const props[] = { BCFG_P_DEVICE, BCFG_P_FSTYPE,
					     BCFG_P_READONLY, BCFG_P_UPPER, NULL };
	static const char *const none[] = { NULL };
	const char *path = "/" BCFG_NODE "/" BCFG_N_ROOT;
	int node = fdt_subnode_offset(x->fdt, parent, BCFG_N_ROOT), len;

	if (node < 0)
		return true;
	c->has_root = true;
	if (!acfg_known(x, node, path, props, none) ||
	    !acfg_str(x, node, path, BCFG_P_DEVICE, BCFG_MAX_DEVICE, true,
		      &c->root_dev) ||
	    !acfg_str(x, node, path, BCFG_P_FSTYPE, BCFG_MAX_FSTYPE, true,
		      &c->root_fstype) ||
	    !acfg_str(x, node, path, BCFG_P_UPPER, BCFG_MAX_DEVICE, false,
		      &c->root_upper))
		return false;
	if (c->root_upper && strcmp(c->root_upper, "tmpfs") &&
	    strncmp(c->root_upper, "/dev/", 5))
		return acfg_fail(x, "property %s/%s: \"tmpfs\" or a /dev/ path, not %s",
				 path, BCFG_P_UPPER, c->root_upper);
	if (fdt_getprop(x->fdt, node, BCFG_P_READONLY, &len)) {
		if (len != 0)
			return acfg_fail(x, "property %s/%s: a flag, expected 0 "
					 "bytes, found %d", path, BCFG_P_READONLY, len);
		c->root_ro = true;
	}
	return true;
}

static bool acfg_init(struct acfg_ctx *x, int parent, struct agent_cfg *c)
{
	static const char *const props[] = { BCFG_P_PATH, BCFG_P_ARGS,
					     BCFG_P_ENV, NULL };
	static const char *const none[] = { NULL };
	const char *path = "/" BCFG_NODE "/" BCFG_N_INIT;
	int node = fdt_subnode_offset(x->fdt, parent, BCFG_N_INIT);
	struct init_cfg *ic = &c->init;

	if (node < 0)
		return true;
	if (!acfg_known(x, node, path, props, none) ||
	    !acfg_str(x, node, path, BCFG_P_PATH, BCFG_MAX_PATH, true, &ic->spec) ||
	    !acfg_list(x, node, path, BCFG_P_ARGS, ic->args, &ic->argc) ||
	    !acfg_list(x, node, path, BCFG_P_ENV, ic->env, &ic->envc))
		return false;
	if (strcmp(ic->spec, "auto") && ic->spec[0] != '/')
		return acfg_fail(x, "property %s/%s: \"auto\" or an absolute path, "
				 "not %s", path, BCFG_P_PATH, ic->spec);
	if (!acfg_env_ok(x, path, ic->env, ic->envc))
		return false;
	ic->want = true;
	return true;
}

static bool acfg_exec(struct acfg_ctx *x, int parent, struct agent_cfg *c)
{
	static const char *const props[] = { BCFG_P_ENV, BCFG_P_WORKDIR,
					     BCFG_P_USER, NULL };
	static const char *const none[] = { NULL };
	const char *path = "/" BCFG_NODE "/" BCFG_N_EXEC;
	int node = fdt_subnode_offset(x->fdt, parent, BCFG_N_EXEC);
	struct exec_defaults *d = &c->exec;
	char *workdir, *user;

	if (node < 0)
		return true;
	if (!acfg_known(x, node, path, props, none) ||
	    !acfg_list(x, node, path, BCFG_P_ENV, d->env, &d->envc) ||
	    !acfg_str(x, node, path, BCFG_P_WORKDIR, BCFG_MAX_WORKDIR, false,
		      &workdir) ||
	    !acfg_str(x, node, path, BCFG_P_USER, BCFG_MAX_USER, false, &user))
		return false;
	if (workdir && workdir[0] != '/')
		return acfg_fail(x, "property %s/%s: not an absolute path: %s", path,
				 BCFG_P_WORKDIR, workdir);
	if (!acfg_env_ok(x, path, d->env, d->envc))
		return false;
	d->workdir = workdir;
	d->user = user;
	return true;
}

/* A property of exactly len bytes, copied to out. */
static bool acfg_bytes(struct acfg_ctx *x, int node, const char *path,
		       const char *prop, void *out, int want)
{
	int len;
	const void *p = fdt_getprop(x->fdt, node, prop, &len);

	if (!p)
		return acfg_fail(x, "missing property %s/%s", path, prop);
	if (len != want)
		return acfg_fail(x, "property %s/%s: expected %d bytes, found %d",
				 path, prop, want, len);
	memcpy(out, p, (size_t)want);
	return true;
}

bool acfg_u32(struct acfg_ctx *x, int node, const char *path,
		     const char *prop, uint32_t min, uint32_t max, uint32_t *out)
{
	uint8_t b[4];

	if (!acfg_bytes(x, node, path, prop, b, 4))
		return false;
	*out = acfg_be32(b);
	if (*out < min || *out > max)
		return acfg_fail(x, "property %s/%s: %u, expected %u to %u", path,
				 prop, *out, min, max);
	return true;
}

static bool acfg_network(struct acfg_ctx *x, int parent, struct agent_cfg *c)
{
	static const char *const props[] = { BCFG_P_ADDRESS, BCFG_P_PREFIX,
					     BCFG_P_GATEWAY, BCFG_P_DNS,
					     BCFG_P_MTU, NULL };
	static const char *const none[] = { NULL };
	const char *path = "/" BCFG_NODE "/" BCFG_N_NETWORK;
	int node = fdt_subnode_offset(x->fdt, parent, BCFG_N_NETWORK);
	struct agent_net *n = &c->net;

	if (node < 0)
		return true;
	if (!acfg_known(x, node, path, props, none) ||
	    !acfg_bytes(x, node, path, BCFG_P_ADDRESS, n->addr, 4) ||
	    !acfg_u32(x, node, path, BCFG_P_PREFIX, 1, 30, &n->prefix) ||
	    !acfg_bytes(x, node, path, BCFG_P_GATEWAY, n->gateway, 4) ||
	    !acfg_bytes(x, node, path, BCFG_P_DNS, n->dns, 4) ||
	    !acfg_u32(x, node, path, BCFG_P_MTU, 68, 65535, &n->mtu))
		return false;
	/* the default route goes through the gateway: it must be on-link */
	uint32_t mask = ~0u << (32 - n->prefix);
	if ((acfg_be32(n->addr) & mask) != (acfg_be32(n->gateway) & mask) ||
	    !memcmp(n->addr, n->gateway, 4))
		return acfg_fail(x, "%s: gateway %u.%u.%u.%u is not another address "
				 "of %u.%u.%u.%u/%u", path, n->gateway[0],
				 n->gateway[1], n->gateway[2], n->gateway[3],
				 n->addr[0], n->addr[1], n->addr[2], n->addr[3],
				 n->prefix);
	n->want = true;
	return true;
}

/* /msbvm's own properties: version first, so that a blob from another
 * version is reported as such rather than as its first odd property. */
static bool acfg_top(struct acfg_ctx *x, int node, struct agent_cfg *c)
{
	static const char *const props[] = { BCFG_P_VERSION, BCFG_P_NAME,
					     BCFG_P_HOST_TIME, BCFG_P_TOKEN, NULL };
	static const char *const nodes[] = { BCFG_N_ROOT, BCFG_N_INIT,
					     BCFG_N_EXEC, BCFG_N_NETWORK,
					     BCFG_N_VOLUMES, BCFG_N_PATCHES,
					     BCFG_N_SCRIPTS, NULL };
	const char *path = "/" BCFG_NODE;
	const void *p;
	int len;

	if (!(p = fdt_getprop(x->fdt, node, BCFG_P_VERSION, &len)))
		return acfg_fail(x, "missing property %s/%s", path, BCFG_P_VERSION);
	if (len != 4)
		return acfg_fail(x, "property %s/%s: expected 4 bytes (u32), found %d",
				 path, BCFG_P_VERSION, len);
	c->version = fdt32_ld(p);
	if (c->version != BCFG_VERSION)
		return acfg_fail(x, "version %u, but this agentd reads version %d "
				 "(agent initramfs and msbvm from different builds?)",
				 c->version, BCFG_VERSION);
	if (!acfg_known(x, node, path, props, nodes) ||
	    !acfg_str(x, node, path, BCFG_P_NAME, BCFG_MAX_NAME, true, &c->name) ||
	    !acfg_str(x, node, path, BCFG_P_TOKEN, PROTO_TOKEN_HEX, true, &c->token))
		return false;
	/* exactly the length and alphabet the host generates: anything else
	 * is a mismatched pair, and a short token would be guessable */
	if (!proto_token_valid(c->token))
		return acfg_fail(x, "property %s/%s: not %d lowercase hex digits",
				 path, BCFG_P_TOKEN, PROTO_TOKEN_HEX);
	if ((p = fdt_getprop(x->fdt, node, BCFG_P_HOST_TIME, &len))) {
		if (len != 8)
			return acfg_fail(x, "property %s/%s: expected 8 bytes (u64), "
					 "found %d", path, BCFG_P_HOST_TIME, len);
		c->host_time_ms = fdt64_ld(p);
	}
	return true;
}

bool acfg_parse(void *blob, size_t len, struct agent_cfg *c, char *err,
		size_t errlen)
{
	static const char *const none[] = { NULL };
	static const char *const top[] = { BCFG_NODE, NULL };
	struct acfg_ctx x = { blob, err, errlen };
	int rc, node;

	memset(c, 0, sizeof(*c));
	if (len > BCFG_MAX_SIZE)
		return acfg_fail(&x, "%zu bytes, more than the limit of %u", len,
				 BCFG_MAX_SIZE);
	if (len < FDT_V17_SIZE)
		return acfg_fail(&x, "%zu bytes, too short for a device tree", len);
	if ((rc = fdt_check_header(blob)))
		return acfg_fail(&x, "not a valid device tree: %s", fdt_strerror(rc));
	if (fdt_version(blob) < 17)
		return acfg_fail(&x, "device tree format version %u, expected 17",
				 fdt_version(blob));
	if (fdt_totalsize(blob) != len)
		return acfg_fail(&x, "the header says %u bytes, the file has %zu",
				 fdt_totalsize(blob), len);
	if (!acfg_walk(&x, len))
		return false;
	if (!acfg_known(&x, 0, "", none, top))
		return false;
	if ((node = fdt_subnode_offset(blob, 0, BCFG_NODE)) < 0)
		return acfg_fail(&x, "missing node /%s", BCFG_NODE);
	return acfg_top(&x, node, c) && acfg_root(&x, node, c) &&
	       acfg_init(&x, node, c) && acfg_exec(&x, node, c) &&
	       acfg_network(&x, node, c) && acfg_volumes(&x, node, c) &&
	       acfg_patches(&x, node, c) && acfg_scripts(&x, node, c);
}
