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
#include <sys/stat.h>
#include <unistd.h>
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
	/* a spec's env and workdir go over the image's (later wins in agentd) */
	c->spec_env[c->n_spec_env++] = strdup("FOO=spec");
	c->spec_workdir = strdup("/w");
	CHECK(bcfg_fdt(c, "img", TOKEN, &b) == 0);
	CHECK(acfg_parse(b.data, b.len, &a, err, sizeof(err)));
	CHECK(a.exec.envc == 3 && !strcmp(a.exec.env[1], "FOO=bar") &&
	      !strcmp(a.exec.env[2], "FOO=spec") && !strcmp(a.exec.workdir, "/w"));
	bcfg_free(&b);
	while (c->n_spec_env < CFG_MAX_LIST)
		c->spec_env[c->n_spec_env++] = strdup("X=1");
	CHECK(bcfg_fdt(c, "img", TOKEN, &b) == -E2BIG);
	CHECK_STR_CONTAINS(err_msg(), "more than 64 environment entries");
	CHECK(msbvm_config_set_overlay(c, "tmpfs") == 0);
	for (unsigned i = 0; i < c->n_spec_env; i++)
		free(c->spec_env[i]);
	c->n_spec_env = 0;
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

/* a scratch tree for copyFile, copyDir and scripts */
static char tmpd[64];

static void mkfile(const char *rel, const char *text, mode_t mode)
{
	char p[160];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmpd, rel);
	CHECK((f = fopen(p, "w")) != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(p, mode);
}

static msbvm_config *fs_config(void)
{
	msbvm_config *c = msbvm_config_new();
	char p[160], q[160];

	CHECK(mkdtemp(strcpy(tmpd, "/tmp/test_bootcfg.XXXXXX")) != NULL);
	snprintf(p, sizeof(p), "%s/tree", tmpd);
	mkdir(p, 0750);
	snprintf(p, sizeof(p), "%s/tree/sub", tmpd);
	mkdir(p, 0755);
	mkfile("tree/sub/f", "deep\n", 0640);
	snprintf(p, sizeof(p), "%s/tree/ln", tmpd);
	CHECK(symlink("sub/f", p) == 0);
	mkfile("cert.pem", "PEM\n", 0600);
	mkfile("setup.sh", "#!/bin/sh\necho setup\n", 0644);
	CHECK(msbvm_config_set_rootfs(c, "/tmp/root.ext4") == 0);
	CHECK(msbvm_config_set_overlay(c, "tmpfs") == 0);
	CHECK(msbvm_config_add_volume(c, tmpd, "/data", true) == 0);
	CHECK(msbvm_config_add_volume(c, tmpd, "/srv/rw/", false) == 0);
	snprintf(p, sizeof(p), "%s/cert.pem", tmpd);
	snprintf(q, sizeof(q), "%s/tree", tmpd);
	const struct msbvm_patch ps[] = {
		{ MSBVM_PATCH_TEXT, "/etc/greeting.txt", "Hello\n", 6, NULL, -1, false },
		{ MSBVM_PATCH_FILE, "/bin.dat", "\0\1\2", 3, NULL, 0600, true },
		{ MSBVM_PATCH_MKDIR, "/app", NULL, 0, NULL, 0700, false },
		{ MSBVM_PATCH_APPEND, "/etc/hosts", "1.2.3.4 x\n", 10, NULL, -1, false },
		{ MSBVM_PATCH_COPY_FILE, "/etc/ssl/cert.pem", NULL, 0, p, -1, false },
		{ MSBVM_PATCH_COPY_DIR, "/opt/tree", NULL, 0, q, -1, true },
		{ MSBVM_PATCH_SYMLINK, "/usr/bin/hi", NULL, 0, "/etc/greeting.txt", -1, true },
		{ MSBVM_PATCH_REMOVE, "/etc/motd", NULL, 0, NULL, -1, false },
	};
	for (unsigned i = 0; i < 8; i++)
		CHECK(msbvm_config_add_patch(c, &ps[i]) == 0);
	snprintf(p, sizeof(p), "%s/setup.sh", tmpd);
	CHECK(msbvm_config_add_script(c, "setup", p) == 0);
	CHECK(msbvm_config_add_script_text(c, "start", "#!/bin/sh\nexec true\n") == 0);
	return c;
}

/* Volumes, patches and scripts: the tree, and their content in the
 * archive as agentd reads it. */
static void test_fs_round_trip(void)
{
	msbvm_config *c = fs_config();
	struct bcfg_blob b;
	struct agent_cfg a;
	char err[400] = "", data[256];

	CHECK(bcfg_fdt(c, "fs", TOKEN, &b) == 0);
	CHECK(acfg_parse(b.data, b.len, &a, err, sizeof(err)));
	CHECK(a.n_vols == 2 && !strcmp(a.vols[0].tag, "msbvm-vol0") && a.vols[0].ro &&
	      !strcmp(a.vols[1].path, "/srv/rw") && !a.vols[1].ro &&
	      !strcmp(a.vols[1].tag, "msbvm-vol1"));
	CHECK(a.n_patches == 8);
	CHECK(a.patches[0].op == AP_TEXT && a.patches[0].mode == -1 && !a.patches[0].replace);
	CHECK(a.patches[1].op == AP_FILE && a.patches[1].mode == 0600 && a.patches[1].replace);
	CHECK(a.patches[2].op == AP_MKDIR && a.patches[2].mode == 0700);
	CHECK(a.patches[3].op == AP_APPEND && !strcmp(a.patches[3].path, "/etc/hosts"));
	CHECK(a.patches[5].op == AP_COPY_DIR && a.patches[5].replace);
	CHECK(a.patches[6].op == AP_SYMLINK && !strcmp(a.patches[6].target, "/etc/greeting.txt"));
	CHECK(a.patches[7].op == AP_REMOVE && !strcmp(acfg_patch_name(a.patches[7].op), "remove"));
	CHECK(a.n_scripts == 2 && !strcmp(a.scripts[0], "setup") && !strcmp(a.scripts[1], "start"));
	bcfg_free(&b);

	/* the archive: content under msbvm/files */
	struct bcfg_blob cpio;
	struct archive *r = archive_read_new();
	struct archive_entry *e;
	unsigned seen = 0;
	CHECK(bcfg_build(c, "fs", TOKEN, &cpio) == 0);
	archive_read_support_format_cpio(r);
	CHECK(archive_read_open_memory(r, cpio.data, cpio.len) == ARCHIVE_OK);
	while (archive_read_next_header(r, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		ssize_t len = archive_read_data(r, data, sizeof(data) - 1);
		data[len > 0 ? len : 0] = '\0';
		if (!strcmp(n, "msbvm/files/p0")) {
			seen |= 1; CHECK(!strcmp(data, "Hello\n"));
		}
		if (!strcmp(n, "msbvm/files/p4")) {
			seen |= 2; CHECK(!strcmp(data, "PEM\n") &&
					 (archive_entry_mode(e) & 0777) == 0600);
		}
		if (!strcmp(n, "msbvm/files/p5")) {
			seen |= 4; CHECK(archive_entry_mode(e) == (S_IFDIR | 0750));
		}
		if (!strcmp(n, "msbvm/files/p5/sub/f")) {
			seen |= 8; CHECK(!strcmp(data, "deep\n"));
		}
		if (!strcmp(n, "msbvm/files/p5/ln")) {
			seen |= 16; CHECK(S_ISLNK(archive_entry_mode(e)) &&
					  !strcmp(archive_entry_symlink(e), "sub/f"));
		}
		if (!strcmp(n, "msbvm/files/s0")) {
			seen |= 32; CHECK(!strcmp(data, "#!/bin/sh\necho setup\n"));
		}
		if (!strcmp(n, "msbvm/files/s1")) {
			seen |= 64; CHECK(!strcmp(data, "#!/bin/sh\nexec true\n"));
		}
		if (!strcmp(n, "msbvm/files/p2") || !strcmp(n, "msbvm/files/p7"))
			seen |= 128; /* mkdir and remove have no content */
	}
	CHECK(seen == 127);
	archive_read_free(r);
	bcfg_free(&cpio);
	msbvm_config_free(c);
}

/* Host files are read at create: what is wrong is named. */
static void test_fs_refused(void)
{
	msbvm_config *c = msbvm_config_new();
	struct msbvm_patch p = { MSBVM_PATCH_COPY_FILE, "/x", NULL, 0,
				 "/nonexistent/cert.pem", -1, false };
	struct bcfg_blob b;
	char fifo[160];

	CHECK(msbvm_config_set_rootfs(c, "/tmp/r") == 0);
	CHECK(msbvm_config_add_patch(c, &p) == 0);
	CHECK(bcfg_build(c, "x", TOKEN, &b) == -ENOENT);
	CHECK_STR_CONTAINS(err_msg(), "patch 0 (copyFile /x): cannot read host file "
			   "/nonexistent/cert.pem");
	msbvm_config_free(c);

	c = msbvm_config_new();
	CHECK(msbvm_config_set_rootfs(c, "/tmp/r") == 0);
	snprintf(fifo, sizeof(fifo), "%s/tree/pipe", tmpd);
	CHECK(mkfifo(fifo, 0600) == 0);
	p.op = MSBVM_PATCH_COPY_DIR;
	snprintf(fifo, sizeof(fifo), "%s/tree", tmpd);
	p.src = fifo;
	CHECK(msbvm_config_add_patch(c, &p) == 0);
	CHECK(bcfg_build(c, "x", TOKEN, &b) == -EINVAL);
	CHECK_STR_CONTAINS(err_msg(), "/tree/pipe is a device, FIFO or socket");
	msbvm_config_free(c);

	c = msbvm_config_new();
	CHECK(msbvm_config_set_rootfs(c, "/tmp/r") == 0);
	CHECK(msbvm_config_add_script(c, "gone", "/nonexistent/setup.sh") == 0);
	CHECK(bcfg_build(c, "x", TOKEN, &b) == -ENOENT);
	CHECK_STR_CONTAINS(err_msg(), "script gone: cannot read host file /nonexistent/setup.sh");
	msbvm_config_free(c);

	/* the bound: content sits in guest RAM */
	c = msbvm_config_new();
	size_t big_len = BCFG_MAX_FILES + 1;
	char *bigdata = calloc(1, big_len);
	struct msbvm_patch t = { MSBVM_PATCH_FILE, "/big", bigdata, big_len, NULL, -1, false };
	CHECK(msbvm_config_set_rootfs(c, "/tmp/r") == 0);
	CHECK(msbvm_config_add_patch(c, &t) == 0);
	CHECK(bcfg_build(c, "x", TOKEN, &b) == -E2BIG);
	CHECK_STR_CONTAINS(err_msg(), "patch and script content: more than 16 MiB");
	free(bigdata);
	msbvm_config_free(c);

	/* a directory root: the share, read-only, under a tmpfs upper */
	struct agent_cfg a;
	char err[400];
	c = msbvm_config_new();
	CHECK(msbvm_config_set_rootfs(c, tmpd) == 0);
	CHECK(bcfg_fdt(c, "dir", TOKEN, &b) == 0);
	CHECK(acfg_parse(b.data, b.len, &a, err, sizeof(err)));
	CHECK(a.has_root && !strcmp(a.root_dev, "msbvm-root") &&
	      !strcmp(a.root_fstype, "virtiofs") && a.root_ro && a.root_upper &&
	      !strcmp(a.root_upper, "tmpfs"));
	bcfg_free(&b);
	CHECK(msbvm_config_set_upper_size(c, 512) == 0);
	CHECK(bcfg_fdt(c, "dir", TOKEN, &b) == 0);
	CHECK(acfg_parse(b.data, b.len, &a, err, sizeof(err)));
	CHECK(a.root_upper && !strcmp(a.root_upper, "/dev/vda"));
	bcfg_free(&b);
	msbvm_config_free(c);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpd);
	CHECK(system(cmd) == 0);
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
	fdt_begin_node(f, "secrets");
	fdt_end_node(f);
}
/* the lists: /msbvm/NAME/ITEM@I with props as "k=v" pairs ("k" alone:
 * a flag; "k#n": a u32) */
static void list_node(void *f, const char *cname, const char *item,
		      const char *const *props)
{
	fdt_begin_node(f, cname);
	fdt_begin_node(f, item);
	for (unsigned i = 0; props[i]; i++) {
		char k[32];
		const char *eq = strchr(props[i], '='), *hash = strchr(props[i], '#');
		if (eq) {
			snprintf(k, sizeof(k), "%.*s", (int)(eq - props[i]), props[i]);
			fdt_property_string(f, k, eq + 1);
		} else if (hash) {
			snprintf(k, sizeof(k), "%.*s", (int)(hash - props[i]), props[i]);
			fdt_property_u32(f, k, (uint32_t)strtoul(hash + 1, NULL, 0));
		} else {
			fdt_property(f, props[i], NULL, 0);
		}
	}
	fdt_end_node(f);
	fdt_end_node(f);
}
#define LIST(fn, cname, item, ...) \
	static void fn(void *f) \
	{ \
		static const char *const p[] = { __VA_ARGS__, NULL }; \
		good_top(f); \
		list_node(f, cname, item, p); \
	}
LIST(b_vol_good, "volumes", "volume@0", "tag=msbvm-vol0", "path=/data", "read-only")
LIST(b_vol_index, "volumes", "volume@1", "tag=msbvm-vol0", "path=/data")
LIST(b_vol_rel, "volumes", "volume@0", "tag=msbvm-vol0", "path=data")
LIST(b_vol_dotdot, "volumes", "volume@0", "tag=msbvm-vol0", "path=/a/../etc")
LIST(b_vol_root, "volumes", "volume@0", "tag=msbvm-vol0", "path=/")
LIST(b_vol_notag, "volumes", "volume@0", "path=/data")
LIST(b_vol_longtag, "volumes", "volume@0",
     "tag=0123456789012345678901234567890123456", "path=/data")
LIST(b_vol_extra, "volumes", "volume@0", "tag=t", "path=/d", "cache=always")
LIST(b_vol_roflag, "volumes", "volume@0", "tag=t", "path=/d", "read-only#1")
LIST(b_patch_good, "patches", "patch@0", "op=copyFile", "path=/etc/x", "mode#0600",
     "replace")
LIST(b_patch_op, "patches", "patch@0", "op=chmod", "path=/etc/x")
LIST(b_patch_mode, "patches", "patch@0", "op=text", "path=/etc/x", "mode#010000")
LIST(b_patch_mode_op, "patches", "patch@0", "op=append", "path=/etc/x", "mode#0644")
LIST(b_patch_replace_op, "patches", "patch@0", "op=mkdir", "path=/x", "replace")
LIST(b_patch_target, "patches", "patch@0", "op=symlink", "path=/x")
LIST(b_patch_target_op, "patches", "patch@0", "op=text", "path=/x", "target=/y")
LIST(b_patch_rel, "patches", "patch@0", "op=remove", "path=etc")
LIST(b_patch_noop, "patches", "patch@0", "path=/etc")
LIST(b_script_good, "scripts", "script@0", "name=setup.sh")
LIST(b_script_slash, "scripts", "script@0", "name=../x")
LIST(b_script_dot, "scripts", "script@0", "name=..")
static void b_list_prop(void *f)
{
	good_top(f);
	fdt_begin_node(f, "scripts");
	fdt_property_u32(f, "count", 1);
	fdt_end_node(f);
}
static void b_script_dup(void *f)
{
	good_top(f);
	fdt_begin_node(f, "scripts");
	for (int i = 0; i < 2; i++) {
		char n[32];
		snprintf(n, sizeof(n), "script@%d", i);
		fdt_begin_node(f, n);
		fdt_property_string(f, "name", "go");
		fdt_end_node(f);
	}
	fdt_end_node(f);
}
static void b_patch_many(void *f)
{
	good_top(f);
	fdt_begin_node(f, "patches");
	for (int i = 0; i <= BCFG_MAX_PATCHES; i++) {
		char n[32];
		snprintf(n, sizeof(n), "patch@%d", i);
		fdt_begin_node(f, n);
		fdt_property_string(f, "op", "remove");
		fdt_property_string(f, "path", "/x");
		fdt_end_node(f);
	}
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

static void refused(body_fn *body, bool with_node, const char *want);

static void test_refused_lists(void)
{
	struct agent_cfg a;
	char err[400] = "";
	size_t n = make(b_vol_good, true);

	CHECK(acfg_parse(blob, n, &a, err, sizeof(err)) && a.n_vols == 1 &&
	      a.vols[0].ro && !strcmp(a.vols[0].path, "/data"));
	n = make(b_patch_good, true);
	CHECK(acfg_parse(blob, n, &a, err, sizeof(err)) && a.n_patches == 1 &&
	      a.patches[0].op == AP_COPY_FILE && a.patches[0].mode == 0600 &&
	      a.patches[0].replace);
	n = make(b_script_good, true);
	CHECK(acfg_parse(blob, n, &a, err, sizeof(err)) && a.n_scripts == 1 &&
	      !strcmp(a.scripts[0], "setup.sh"));
	refused(b_vol_index, true, "unknown node /msbvm/volumes/volume@1 (expected volume@0)");
	refused(b_vol_rel, true, "/msbvm/volumes/volume@0/path: data is not an absolute path");
	refused(b_vol_dotdot, true, "volume@0/path: /a/../etc is not an absolute path without");
	refused(b_vol_root, true, "volume@0/path: / is not an absolute path");
	refused(b_vol_notag, true, "missing property /msbvm/volumes/volume@0/tag");
	refused(b_vol_longtag, true, "volume@0/tag: length 37, expected 1 to 36");
	refused(b_vol_extra, true, "unknown property /msbvm/volumes/volume@0/cache");
	refused(b_vol_roflag, true, "volume@0/read-only: a flag, expected 0 bytes, found 4");
	refused(b_patch_op, true, "/msbvm/patches/patch@0/op: unknown operation chmod");
	refused(b_patch_mode, true, "patch@0/mode: 4096, expected 0 to 4095");
	refused(b_patch_mode_op, true, "patch@0/mode: append takes no mode");
	refused(b_patch_replace_op, true, "patch@0/replace: mkdir takes no replace");
	refused(b_patch_target, true, "missing property /msbvm/patches/patch@0/target");
	refused(b_patch_target_op, true, "patch@0/target: text takes no target");
	refused(b_patch_rel, true, "patch@0/path: etc is not an absolute path");
	refused(b_patch_noop, true, "missing property /msbvm/patches/patch@0/op");
	refused(b_patch_many, true, "/msbvm/patches: more than 256 entries");
	refused(b_script_slash, true, "script@0/name: '../x' is not one name");
	refused(b_script_dot, true, "script@0/name: '..' is not one name");
	refused(b_script_dup, true, "/msbvm/scripts/script@1: script go given twice");
	refused(b_list_prop, true, "unknown property /msbvm/scripts/count");
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
	refused(b_version2, true, "version 4, but this agentd reads version 3");
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
	refused(b_unknown_node, true, "unknown node /msbvm/secrets");
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
	test_refused_lists();
}

int main(void)
{
	test_round_trip();
	test_archive();
	test_too_big();
	test_fs_round_trip();
	test_fs_refused();
	test_refused();
	return check_result("test_bootcfg");
}
