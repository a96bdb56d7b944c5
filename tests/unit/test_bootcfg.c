/* agentd's boot configuration: the library's builder (vmm/lib/bootcfg.c)
 * round-tripped through agentd's parser (agentd/config.c), the cpio
 * wrapper read back with libarchive, and every kind of bad blob refused
 * with a message naming what was wrong. */
#include "check.h"
#include "agentd/config.h"
#include "proto/bootcfg.h"
#include "vmm/core/err.h"
#include "vmm/lib/bootcfg.h"
#include "vmm/lib/lib.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

/* a control token as the library makes one (proto_token_valid) */
#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char big[4001];

static msbvm_config *full_config(void)
{
	msbvm_config *c = msbvm_config_new();

	memset(big, 'x', 4000);
	char *bigenv = malloc(4005);
	snprintf(bigenv, 4005, "BIG=%s", big);
	CHECK(msbvm_config_set_rootfs(c, "/tmp/root.ext4") == 0);
	CHECK(msbvm_config_set_init(c, "/sbin/init") == 0);
	CHECK(msbvm_config_add_init_arg(c, "--log-level=debug") == 0);
	CHECK(msbvm_config_add_init_arg(c, "two words") == 0);
	CHECK(msbvm_config_add_init_arg(c, "k=v \"quoted\" %41") == 0);
	CHECK(msbvm_config_add_init_env(c, "SECRETVALUE=x") == 0);
	CHECK(msbvm_config_add_init_env(c, bigenv) == 0);
	free(bigenv);
	return c;
}

static void test_round_trip(void)
{
	msbvm_config *c = full_config();
	struct bcfg_blob b;
	struct agent_cfg a;
	char err[400] = "";

	CHECK(bcfg_fdt(c, "vm-one", TOKEN, &b) == 0);
	CHECK(b.len > 0 && b.len < 8192);
	CHECK(acfg_parse(b.data, b.len, &a, err, sizeof(err)));
	CHECK(a.version == BCFG_VERSION);
	CHECK(a.name && !strcmp(a.name, "vm-one"));
	CHECK(a.token && !strcmp(a.token, TOKEN));
	CHECK(a.host_time_ms > 1700000000000ULL);
	CHECK(a.has_root && !strcmp(a.root_dev, "/dev/vda") &&
	      !strcmp(a.root_fstype, "ext4") && !a.root_ro);
	CHECK(a.init.want && !strcmp(a.init.spec, "/sbin/init"));
	CHECK(a.init.argc == 3 && a.init.envc == 2);
	CHECK(a.init.argc == 3 && !strcmp(a.init.args[1], "two words") &&
	      !strcmp(a.init.args[2], "k=v \"quoted\" %41"));
	CHECK(a.init.envc == 2 && !strcmp(a.init.env[0], "SECRETVALUE=x") &&
	      strlen(a.init.env[1]) == 4004 && !strncmp(a.init.env[1], "BIG=xx", 6));
	bcfg_free(&b);
	msbvm_config_free(c);

	/* an image: overlay upper, exec defaults */
	c = full_config();
	char *env[] = { "PATH=/usr/bin", "FOO=bar", "novalue", NULL };
	struct msbvm_image_rootfs img = { .path = "/store/images/x.ext4", .env = env,
					  .workdir = "/data", .user = "1234:5678" };
	CHECK(msbvm_config_set_image(c, &img) == 0);
	CHECK(bcfg_fdt(c, "img", TOKEN, &b) == 0);
	CHECK(acfg_parse(b.data, b.len, &a, err, sizeof(err)));
	CHECK(a.root_upper && !strcmp(a.root_upper, "/dev/vdb"));
	CHECK(a.exec.envc == 2 && !strcmp(a.exec.env[1], "FOO=bar"));
	CHECK(a.exec.workdir && !strcmp(a.exec.workdir, "/data"));
	CHECK(a.exec.user && !strcmp(a.exec.user, "1234:5678"));
	bcfg_free(&b);
	CHECK(msbvm_config_set_overlay(c, "tmpfs") == 0);
	CHECK(bcfg_fdt(c, "img", TOKEN, &b) == 0);
	CHECK(acfg_parse(b.data, b.len, &a, err, sizeof(err)));
	CHECK(a.root_upper && !strcmp(a.root_upper, "tmpfs"));
	bcfg_free(&b);
	msbvm_config_free(c);

	/* no init: no /msbvm/init node, no handoff */
	c = msbvm_config_new();
	CHECK(msbvm_config_set_rootfs(c, "/tmp/r") == 0);
	CHECK(bcfg_fdt(c, "plain", TOKEN, &b) == 0);
	CHECK(acfg_parse(b.data, b.len, &a, err, sizeof(err)));
	CHECK(!a.init.want && a.has_root && !strcmp(a.name, "plain"));
	/* --net user (the default): slirp's network, static */
	CHECK(a.net.want && !memcmp(a.net.addr, "\x0a\x00\x02\x0f", 4) &&
	      a.net.prefix == 24 && !memcmp(a.net.gateway, "\x0a\x00\x02\x02", 4) &&
	      !memcmp(a.net.dns, "\x0a\x00\x02\x03", 4) && a.net.mtu == 1500);
	bcfg_free(&b);
	CHECK(msbvm_config_set_dns(c, "192.168.7.53") == 0);
	CHECK(bcfg_fdt(c, "plain", TOKEN, &b) == 0);
	CHECK(acfg_parse(b.data, b.len, &a, err, sizeof(err)));
	CHECK(a.net.want && !memcmp(a.net.dns, "\xc0\xa8\x07\x35", 4));
	bcfg_free(&b);
	/* --net none: no node, no network setup */
	CHECK(msbvm_config_set_net(c, MSBVM_NET_NONE) == 0);
	CHECK(bcfg_fdt(c, "plain", TOKEN, &b) == 0);
	CHECK(acfg_parse(b.data, b.len, &a, err, sizeof(err)));
	CHECK(!a.net.want);
	CHECK(fdt_subnode_offset(b.data, fdt_subnode_offset(b.data, 0, "msbvm"),
				 "network") < 0);
	bcfg_free(&b);
	msbvm_config_free(c);
}

/* The archive as the kernel sees it: newc, the folder, then the blob. */
static void test_archive(void)
{
	msbvm_config *c = full_config();
	struct bcfg_blob cpio, dtb;
	struct archive *r = archive_read_new();
	struct archive_entry *e;
	char data[8192];

	CHECK(bcfg_build(c, "vm-two", TOKEN, &cpio) == 0);
	CHECK(bcfg_fdt(c, "vm-two", TOKEN, &dtb) == 0);
	CHECK(cpio.len > 6 && !memcmp(cpio.data, "070701", 6));
	archive_read_support_format_cpio(r);
	CHECK(archive_read_open_memory(r, cpio.data, cpio.len) == ARCHIVE_OK);
	CHECK(archive_read_next_header(r, &e) == ARCHIVE_OK);
	CHECK(!strcmp(archive_entry_pathname(e), BCFG_DIR));
	CHECK(archive_entry_mode(e) == (S_IFDIR | 0700));
	CHECK(archive_read_next_header(r, &e) == ARCHIVE_OK);
	CHECK(!strcmp(archive_entry_pathname(e), &BCFG_PATH[1]));
	CHECK(archive_entry_mode(e) == (S_IFREG | 0400));
	CHECK((size_t)archive_entry_size(e) == dtb.len);
	ssize_t n = archive_read_data(r, data, sizeof(data));
	CHECK(n == (ssize_t)dtb.len);
	/* same bytes but the host-time-ms stamp, which may tick between */
	struct agent_cfg a;
	char err[400];
	CHECK(n > 0 && acfg_parse(data, (size_t)n, &a, err, sizeof(err)) &&
	      !strcmp(a.name, "vm-two"));
	CHECK(archive_read_next_header(r, &e) == ARCHIVE_EOF);
	archive_read_free(r);
	bcfg_free(&cpio);
	bcfg_free(&dtb);
	msbvm_config_free(c);
}

/* Too much for the blob: refused at build time, with a message. */
static void test_too_big(void)
{
	msbvm_config *c = msbvm_config_new();
	char *v = malloc(60000);
	struct bcfg_blob b;

	memset(v, 'y', 59999);
	v[59999] = '\0';
	v[0] = 'K', v[1] = '=';
	CHECK(msbvm_config_set_init(c, "auto") == 0);
	for (int i = 0; i < BCFG_MAX_LIST; i++)
		CHECK(msbvm_config_add_init_env(c, v) == 0);
	CHECK(bcfg_fdt(c, "x", TOKEN, &b) == -E2BIG);
	CHECK_STR_CONTAINS(err_msg(), "boot configuration larger than");
	/* no valid token, no boot configuration (agentd would refuse it) */
	CHECK(bcfg_fdt(c, "x", "abc", &b) == -EINVAL);
	CHECK(bcfg_fdt(c, "x", NULL, &b) == -EINVAL);
	CHECK_STR_CONTAINS(err_msg(), "no valid token");
	free(v);
	msbvm_config_free(c);
}

/* ---- hand-made blobs: one body per case, written inside /msbvm ---- */

typedef void body_fn(void *fdt);
static char blob[1 << 16];

static size_t make(body_fn *body, bool with_node)
{
	CHECK(fdt_create(blob, sizeof(blob)) == 0);
	fdt_finish_reservemap(blob);
	fdt_begin_node(blob, "");
	if (with_node)
		fdt_begin_node(blob, BCFG_NODE);
	body(blob);
	if (with_node)
		fdt_end_node(blob);
	fdt_end_node(blob);
	CHECK(fdt_finish(blob) == 0);
	return fdt_totalsize(blob);
}

static void good_top(void *f)
{
	fdt_property_u32(f, "version", BCFG_VERSION);
	fdt_property_string(f, "name", "vm");
	fdt_property_string(f, "token", TOKEN);
}

static void b_good(void *f) { good_top(f); }
static void b_nothing(void *f) { (void)f; }
static void b_version2(void *f)
{
	fdt_property_u32(f, "version", BCFG_VERSION + 1);
	fdt_property_string(f, "name", "vm");
}
static void b_version_u16(void *f)
{
	uint16_t v = 1;
	fdt_property(f, "version", &v, 2);
}
static void b_no_name(void *f) { fdt_property_u32(f, "version", BCFG_VERSION); }
static void b_name_unterminated(void *f)
{
	fdt_property_u32(f, "version", BCFG_VERSION);
	fdt_property(f, "name", "abc", 3);
}
static void b_name_two(void *f)
{
	fdt_property_u32(f, "version", BCFG_VERSION);
	fdt_property(f, "name", "a\0b", 4);
}
static void b_name_long(void *f)
{
	char n[BCFG_MAX_NAME + 2];
	memset(n, 'n', sizeof(n) - 1);
	n[sizeof(n) - 1] = '\0';
	fdt_property_u32(f, "version", BCFG_VERSION);
	fdt_property_string(f, "name", n);
}
static void b_name_empty(void *f)
{
	fdt_property_u32(f, "version", BCFG_VERSION);
	fdt_property_string(f, "name", "");
}
static void b_unknown_prop(void *f) { good_top(f); fdt_property_u32(f, "secret", 7); }
/* the control token: required, exactly 64 lowercase hex digits */
static void b_token_top(void *f, const void *tok, int len)
{
	fdt_property_u32(f, "version", BCFG_VERSION);
	fdt_property_string(f, "name", "vm");
	if (tok)
		fdt_property(f, "token", tok, len);
}
static void b_token_none(void *f) { b_token_top(f, NULL, 0); }
static void b_token_short(void *f) { b_token_top(f, "abcdef", 7); }
static void b_token_long(void *f) { b_token_top(f, TOKEN "0", 66); }
static void b_token_upper(void *f)
{
	char t[] = TOKEN;
	t[10] = 'A';
	b_token_top(f, t, sizeof(t));
}
static void b_token_u32(void *f) { b_token_top(f, "\0\0\0\1", 4); }
static void b_dup_prop(void *f) { good_top(f); fdt_property_string(f, "name", "again"); }
static void b_time_short(void *f) { good_top(f); fdt_property_u32(f, "host-time-ms", 1); }
static void b_unknown_node(void *f)
{
	good_top(f);
	fdt_begin_node(f, "volumes");
	fdt_end_node(f);
}
static void b_init_relative(void *f)
{
	good_top(f);
	fdt_begin_node(f, "init");
	fdt_property_string(f, "path", "sbin/init");
	fdt_end_node(f);
}
static void b_init_args_open(void *f)
{
	good_top(f);
	fdt_begin_node(f, "init");
	fdt_property_string(f, "path", "auto");
	fdt_property(f, "args", "a\0b", 3);
	fdt_end_node(f);
}
static void b_init_many(void *f)
{
	static char l[2 * (BCFG_MAX_LIST + 1)];
	good_top(f);
	fdt_begin_node(f, "init");
	fdt_property_string(f, "path", "auto");
	for (int i = 0; i < BCFG_MAX_LIST + 1; i++)
		l[2 * i] = 'a', l[2 * i + 1] = '\0';
	fdt_property(f, "args", l, sizeof(l));
	fdt_end_node(f);
}
static void b_init_env(void *f)
{
	good_top(f);
	fdt_begin_node(f, "init");
	fdt_property_string(f, "path", "auto");
	fdt_property(f, "env", "A=1\0NOEQUALS", 13);
	fdt_end_node(f);
}
static void b_init_no_path(void *f)
{
	good_top(f);
	fdt_begin_node(f, "init");
	fdt_end_node(f);
}
static void b_root_flag(void *f)
{
	good_top(f);
	fdt_begin_node(f, "root");
	fdt_property_string(f, "device", "/dev/vda");
	fdt_property_string(f, "fstype", "ext4");
	fdt_property_u32(f, "read-only", 1);
	fdt_end_node(f);
}
static void b_root_ro(void *f)
{
	good_top(f);
	fdt_begin_node(f, "root");
	fdt_property_string(f, "device", "/dev/vdb");
	fdt_property_string(f, "fstype", "ext4");
	fdt_property(f, "read-only", NULL, 0);
	fdt_end_node(f);
}
static void b_root_no_dev(void *f)
{
	good_top(f);
	fdt_begin_node(f, "root");
	fdt_property_string(f, "fstype", "ext4");
	fdt_end_node(f);
}
static void b_upper_bad(void *f)
{
	good_top(f);
	fdt_begin_node(f, "root");
	fdt_property_string(f, "device", "/dev/vda");
	fdt_property_string(f, "fstype", "ext4");
	fdt_property_string(f, "overlay-upper", "vdb");
	fdt_end_node(f);
}
static void b_exec_rel(void *f)
{
	good_top(f);
	fdt_begin_node(f, "exec");
	fdt_property_string(f, "workdir", "data");
	fdt_end_node(f);
}
static void b_exec_env(void *f)
{
	good_top(f);
	fdt_begin_node(f, "exec");
	fdt_property(f, "env", "=x", 3);
	fdt_end_node(f);
}
static const uint8_t ip_a[4] = { 10, 0, 2, 15 }, ip_gw[4] = { 10, 0, 2, 2 };
static const uint8_t ip_far[4] = { 10, 0, 3, 2 };

/* a /msbvm/network node; what: which property to get wrong */
static void net_node(void *f, const char *what)
{
	good_top(f);
	fdt_begin_node(f, "network");
	if (strcmp(what, "address"))
		fdt_property(f, "address", ip_a, 4);
	else
		fdt_property(f, "address", ip_a, 3);
	fdt_property_u32(f, "prefix-len", strcmp(what, "prefix") ? 24 : 31);
	fdt_property(f, "gateway", strcmp(what, "gateway") ? ip_gw : ip_far, 4);
	if (strcmp(what, "no-dns"))
		fdt_property(f, "dns", ip_gw, 4);
	fdt_property_u32(f, "mtu", strcmp(what, "mtu") ? 1500 : 40);
	if (!strcmp(what, "extra"))
		fdt_property_string(f, "dhcp", "yes");
	fdt_end_node(f);
}
static void b_net_good(void *f) { net_node(f, ""); }
static void b_net_addr(void *f) { net_node(f, "address"); }
static void b_net_prefix(void *f) { net_node(f, "prefix"); }
static void b_net_gw(void *f) { net_node(f, "gateway"); }
static void b_net_dns(void *f) { net_node(f, "no-dns"); }
static void b_net_mtu(void *f) { net_node(f, "mtu"); }
static void b_net_extra(void *f) { net_node(f, "extra"); }
static void b_other_top(void *f)
{
	fdt_begin_node(f, "chosen");
	fdt_end_node(f);
}

static void refused(body_fn *body, bool with_node, const char *want)
{
	struct agent_cfg a;
	char err[400] = "";
	size_t n = make(body, with_node);

	CHECK(!acfg_parse(blob, n, &a, err, sizeof(err)));
	CHECK_STR_CONTAINS(err, want);
}

static void test_refused(void)
{
	struct agent_cfg a;
	char err[400] = "";
	size_t n = make(b_good, true);

	CHECK(acfg_parse(blob, n, &a, err, sizeof(err)) && !a.has_root &&
	      !a.init.want && a.host_time_ms == 0);
	n = make(b_root_ro, true);
	CHECK(acfg_parse(blob, n, &a, err, sizeof(err)) && a.root_ro &&
	      !strcmp(a.root_dev, "/dev/vdb"));
	/* the container */
	n = make(b_good, true);
	CHECK(!acfg_parse(blob, n - 1, &a, err, sizeof(err)));
	CHECK_STR_CONTAINS(err, "the header says");
	CHECK(!acfg_parse(blob, 10, &a, err, sizeof(err)));
	CHECK_STR_CONTAINS(err, "too short");
	CHECK(!acfg_parse(blob, BCFG_MAX_SIZE + 1, &a, err, sizeof(err)));
	CHECK_STR_CONTAINS(err, "more than the limit");
	blob[0] ^= 0xff;
	CHECK(!acfg_parse(blob, n, &a, err, sizeof(err)));
	CHECK_STR_CONTAINS(err, "not a valid device tree: FDT_ERR_BADMAGIC");
	n = make(b_good, true);
	memset(blob + n, 0, 64); /* a buffer longer than the tree */
	CHECK(!acfg_parse(blob, n + 64, &a, err, sizeof(err)));
	CHECK_STR_CONTAINS(err, "the header says");
	/* what Debian's libfdt 1.6.1 cannot survive on its own: a property
	 * length that wraps the offset backwards (an endless loop in
	 * fdt_next_tag) and a pre-v17 tree (a NULL name in fdt_check_full) */
	n = make(b_good, true);
	uint32_t so = fdt_off_dt_struct(blob);
	/* the first property of /msbvm: BEGIN "" BEGIN "msbvm" PROP len */
	uint8_t *len_field = (uint8_t *)blob + so + 4 + 4 + 4 + 8 + 4;
	CHECK(len_field[3] == 4); /* version: a u32 */
	memcpy(len_field, "\xff\xff\xff\xf4", 4);
	CHECK(!acfg_parse(blob, n, &a, err, sizeof(err)));
	CHECK_STR_CONTAINS(err, "bad property at offset");
	n = make(b_good, true);
	fdt_set_version(blob, 16);
	CHECK(!acfg_parse(blob, n, &a, err, sizeof(err)));
	CHECK_STR_CONTAINS(err, "format version 16, expected 17");
	/* nodes and properties */
	refused(b_nothing, false, "missing node /msbvm");
	refused(b_good, false, "unknown property /version");
	refused(b_other_top, false, "unknown node /chosen");
	refused(b_version2, true, "version 3, but this agentd reads version 2");
	refused(b_version_u16, true, "property /msbvm/version: expected 4 bytes (u32), found 2");
	refused(b_no_name, true, "missing property /msbvm/name");
	refused(b_name_unterminated, true, "property /msbvm/name: not one NUL-terminated");
	refused(b_name_two, true, "property /msbvm/name: not one NUL-terminated");
	refused(b_name_long, true, "property /msbvm/name: length 65");
	refused(b_name_empty, true, "property /msbvm/name: length 0");
	refused(b_unknown_prop, true, "unknown property /msbvm/secret");
	refused(b_token_none, true, "missing property /msbvm/token");
	refused(b_token_short, true, "/msbvm/token: not 64 lowercase hex digits");
	refused(b_token_long, true, "/msbvm/token: length 65, expected 1 to 64");
	refused(b_token_upper, true, "/msbvm/token: not 64 lowercase hex digits");
	refused(b_token_u32, true, "/msbvm/token: not one NUL-terminated string");
	refused(b_dup_prop, true, "property /msbvm/name appears twice");
	refused(b_time_short, true, "property /msbvm/host-time-ms: expected 8 bytes");
	refused(b_unknown_node, true, "unknown node /msbvm/volumes");
	refused(b_init_relative, true, "/msbvm/init/path: \"auto\" or an absolute path");
	refused(b_init_args_open, true, "/msbvm/init/args: the last string is not");
	refused(b_init_many, true, "/msbvm/init/args: more than 64 strings");
	refused(b_init_env, true, "/msbvm/init/env: string 1 is not NAME=VALUE");
	refused(b_init_no_path, true, "missing property /msbvm/init/path");
	refused(b_root_flag, true, "/msbvm/root/read-only: a flag, expected 0 bytes, found 4");
	refused(b_root_no_dev, true, "missing property /msbvm/root/device");
	refused(b_upper_bad, true, "/msbvm/root/overlay-upper: \"tmpfs\" or a /dev/ path");
	refused(b_exec_rel, true, "/msbvm/exec/workdir: not an absolute path");
	refused(b_exec_env, true, "/msbvm/exec/env: string 0 is not NAME=VALUE");
	n = make(b_net_good, true);
	CHECK(acfg_parse(blob, n, &a, err, sizeof(err)) && a.net.want &&
	      a.net.prefix == 24 && a.net.mtu == 1500);
	refused(b_net_addr, true, "property /msbvm/network/address: expected 4 bytes, found 3");
	refused(b_net_prefix, true, "property /msbvm/network/prefix-len: 31, expected 1 to 30");
	refused(b_net_gw, true, "/msbvm/network: gateway 10.0.3.2 is not another address of 10.0.2.15/24");
	refused(b_net_dns, true, "missing property /msbvm/network/dns");
	refused(b_net_mtu, true, "property /msbvm/network/mtu: 40, expected 68 to 65535");
	refused(b_net_extra, true, "unknown property /msbvm/network/dhcp");
}

int main(void)
{
	test_round_trip();
	test_archive();
	test_too_big();
	test_refused();
	return check_result("test_bootcfg");
}
