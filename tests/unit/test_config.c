/* libmsbvm's configuration through the public API: every setter rejects
 * bad input with a message naming it, msbvm_create refuses incomplete or
 * contradictory configs (message on the config, nothing left behind), and
 * a missing kernel fails before /dev/kvm is touched. No KVM needed. */
#include "check.h"
#include "include/msbvm.h"
#include "vmm/lib/lib.h" /* to look into what a spec set */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_setters(void)
{
	msbvm_config *c = msbvm_config_new();

	CHECK(c != NULL);
	CHECK(msbvm_config_set_memory_mib(c, 31) == -EINVAL);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "memory 31 MiB");
	CHECK(msbvm_config_set_memory_mib(c, 1ULL << 40) == -EINVAL);
	CHECK(msbvm_config_set_memory_mib(c, 64) == 0);
	CHECK(msbvm_config_set_cpus(c, 2) == -ENOTSUP);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "only 1 vCPU");
	CHECK(msbvm_config_set_cpus(c, 1) == 0);
	CHECK(msbvm_config_set_name(c, "-bad") == -EINVAL);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "bad VM name '-bad'");
	CHECK(msbvm_config_set_name(c, "a/b") == -EINVAL);
	CHECK(msbvm_config_set_name(c, "good.name-1") == 0);
	CHECK(msbvm_config_set_init(c, "sbin/init") == -EINVAL);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "sbin/init");
	CHECK(msbvm_config_set_init(c, "auto") == 0);
	CHECK(msbvm_config_set_init(c, "/sbin/init") == 0);
	CHECK(msbvm_config_add_init_env(c, "NOEQ") == -EINVAL);
	CHECK(msbvm_config_add_init_env(c, "=x") == -EINVAL);
	CHECK(msbvm_config_add_init_env(c, "A=1") == 0);
	CHECK(msbvm_config_set_kernel(c, "") == -EINVAL);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "empty");
	for (int i = 0; i < 8; i++)
		CHECK(msbvm_config_add_disk(c, "/d", i & 1) == 0);
	CHECK(msbvm_config_add_disk(c, "/d", false) == -E2BIG);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "at most 8");
	for (int i = 0; i < 64; i++)
		CHECK(msbvm_config_add_init_arg(c, "x") == 0);
	CHECK(msbvm_config_add_init_arg(c, "x") == -E2BIG);
	CHECK(msbvm_config_set_nested(c, (enum msbvm_nested)7) == -EINVAL);
	msbvm_config_free(c);
	msbvm_config_free(NULL);
}

static int create_fails(msbvm_config *c, const char *want)
{
	msbvm *vm = (msbvm *)1;
	int rc = msbvm_create(c, &vm);

	CHECK(rc < 0 && vm == NULL);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), want);
	return rc;
}

static void test_create_validation(const char *dir)
{
	msbvm_config *c = msbvm_config_new();
	char sub[512];

	snprintf(sub, sizeof(sub), "%s/state", dir);
	msbvm_config_set_state_dir(c, sub);
	CHECK(create_fails(c, "no kernel") == -EINVAL);
	msbvm_config_set_kernel(c, "/nonexistent/vmlinux");
	CHECK(create_fails(c, "agent initramfs not set") == -ENOENT);
	msbvm_config_set_agent_initrd(c, "/nonexistent/agentd.cpio");
	CHECK(create_fails(c, "--rootfs") == -EINVAL);
	msbvm_config_set_rootfs(c, "/nonexistent/root.ext4");
	msbvm_config_set_name(c, "t1");
	/* the kernel is opened before /dev/kvm, and the state goes again */
	CHECK(create_fails(c, "kernel /nonexistent/vmlinux") == -ENOENT);
	snprintf(sub, sizeof(sub), "%s/state/t1", dir);
	CHECK(access(sub, F_OK) != 0);
	msbvm_config_set_agent(c, false);
	msbvm_config_set_initrd(c, "/i");
	msbvm_config_set_init(c, "auto");
	CHECK(create_fails(c, "--init needs the agent") == -EINVAL);
	msbvm_config_set_init(c, NULL);
	msbvm_config_set_agent(c, true);
	CHECK(create_fails(c, "replaces the agent") == -EINVAL);
	/* patches need a writable layer: not on a read-write root disk */
	msbvm_config_set_initrd(c, NULL);
	struct msbvm_patch p = { MSBVM_PATCH_MKDIR, "/app", NULL, 0, NULL, -1, false };
	CHECK(msbvm_config_add_patch(c, &p) == 0);
	CHECK(create_fails(c, "patches are not supported with disk image roots") == -EINVAL);
	CHECK(msbvm_config_set_overlay(c, "tmpfs") == 0);
	CHECK(create_fails(c, "kernel /nonexistent/vmlinux") == -ENOENT);
	msbvm_config_free(c);
}

static void spec_write(const char *path, const char *json)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f) {
		fputs(json, f);
		fclose(f);
	}
}

/* a spec applied through the setters; relative host paths from its folder */
static void test_spec_good(const char *dir)
{
	char path[600], sub[600];
	msbvm_config *c = msbvm_config_new();

	snprintf(sub, sizeof(sub), "%s/vol", dir);
	mkdir(sub, 0755);
	snprintf(path, sizeof(path), "%s/b.sh", dir);
	spec_write(path, "#!/bin/sh\necho b\n");
	snprintf(path, sizeof(path), "%s/good.json", dir);
	spec_write(path, "{\"rootfs\": \"root.ext4\", \"memory\": 256, \"cpus\": 1,\n"
		   " \"init\": \"auto\", \"init_args\": [\"--x\"], \"init_env\": {\"K\": \"V\"},\n"
		   " \"env\": [\"A=1\"], \"workdir\": \"/w\", \"volumes\": [\"vol:/data:ro\"],\n"
		   " \"scripts\": {\"a\": \"#!/bin/sh\\necho a\\n\", \"b\": {\"file\": \"b.sh\"}},\n"
		   " \"patches\": [\n"
		   "  {\"op\": \"text\", \"path\": \"/etc/x\", \"content\": \"hi\\n\", \"mode\": 420},\n"
		   "  {\"op\": \"file\", \"path\": \"/b\", \"content\": \"\", \"replace\": true},\n"
		   "  {\"op\": \"mkdir\", \"path\": \"/app\", \"mode\": 448},\n"
		   "  {\"op\": \"append\", \"path\": \"/etc/hosts\", \"content\": \"1.2.3.4 x\\n\"},\n"
		   "  {\"op\": \"copyFile\", \"src\": \"b.sh\", \"path\": \"/c\"},\n"
		   "  {\"op\": \"copyDir\", \"src\": \"vol\", \"path\": \"/d\", \"replace\": false},\n"
		   "  {\"op\": \"symlink\", \"target\": \"/etc/x\", \"path\": \"/y\"},\n"
		   "  {\"op\": \"remove\", \"path\": \"/etc/motd\"}]}\n");
	CHECK(msbvm_config_load_spec(c, path) == 0);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "");
	snprintf(path, sizeof(path), "%s/root.ext4", dir);
	CHECK(c->rootfs && !strcmp(c->rootfs, path));
	CHECK(c->mem_mib == 256 && c->init && !strcmp(c->init, "auto"));
	CHECK(c->n_init_args == 1 && c->n_init_env == 1 && !strcmp(c->init_env[0], "K=V"));
	CHECK(c->n_spec_env == 1 && !strcmp(c->spec_workdir, "/w"));
	CHECK(c->n_vols == 1 && c->vols[0].ro && !strcmp(c->vols[0].guest, "/data") &&
	      strstr(c->vols[0].host, "/vol"));
	CHECK(c->n_scripts == 2 && !strcmp(c->scripts[0].text, "#!/bin/sh\necho a\n") &&
	      strstr(c->scripts[1].host, "/b.sh") && !c->scripts[1].text);
	CHECK(c->n_patches == 8 && c->patches[0].mode == 0644 && c->patches[0].len == 3);
	CHECK(c->patches[1].replace && c->patches[1].len == 0 && c->patches[2].mode == 0700);
	CHECK(c->patches[4].op == MSBVM_PATCH_COPY_FILE && c->patches[4].src[0] == '/');
	CHECK(c->patches[6].op == MSBVM_PATCH_SYMLINK && !strcmp(c->patches[6].src, "/etc/x"));
	CHECK(msbvm_config_spec_image(c) == NULL);
	/* a second spec adds to lists; the image is recorded, not pulled */
	snprintf(path, sizeof(path), "%s/img.json", dir);
	spec_write(path, "{\"image\": \"alpine:3.20\", \"env\": {\"B\": \"2\"}}");
	CHECK(msbvm_config_load_spec(c, path) == 0);
	CHECK(msbvm_config_spec_image(c) && !strcmp(msbvm_config_spec_image(c), "alpine:3.20"));
	CHECK(c->n_spec_env == 2 && !strcmp(c->spec_env[1], "B=2"));
	/* a clone carries it all (msbvm_create copies the config) */
	msbvm_config *d = cfg_clone(c);
	CHECK(d && d->n_patches == 8 && d->scripts[0].text != c->scripts[0].text &&
	      !strcmp(d->scripts[0].text, c->scripts[0].text) && d->n_spec_env == 2);
	msbvm_config_free(d);
	msbvm_config_free(c);
}

/* each kind of bad field, named with its JSON path */
static void test_spec_bad(const char *dir)
{
	static const char *const cases[][2] = {
		{ "{\"memory\": \"256\"}", "bad.json: memory: expected an integer" },
		{ "{\"memory\": 8}", "memory: 8 is out of range" },
		{ "{\"patches\": [{\"op\":\"remove\",\"path\":\"/a\"}, {\"op\":\"mkdir\","
		  "\"path\":\"/b\"}, {\"op\":\"text\",\"path\":\"/c\",\"content\":\"x\","
		  "\"mode\":\"644\"}]}", "patches[2].mode: expected an integer" },
		{ "{\"colour\": 1}", "colour: unknown field" },
		{ "{\"patches\": {}}", "patches: expected an array" },
		{ "{\"patches\": [1]}", "patches[0]: expected an object" },
		{ "{\"patches\": [{\"op\":\"chmod\",\"path\":\"/x\"}]}",
		  "patches[0].op: unknown operation 'chmod'" },
		{ "{\"patches\": [{\"path\":\"/x\"}]}", "patches[0].op: missing" },
		{ "{\"patches\": [{\"op\":\"append\",\"path\":\"/x\",\"content\":\"a\","
		  "\"mode\":420}]}", "patches[0].mode: unknown field for append" },
		{ "{\"patches\": [{\"op\":\"copyFile\",\"path\":\"/x\"}]}",
		  "patches[0].src: missing (copyFile needs it)" },
		{ "{\"patches\": [{\"op\":\"symlink\",\"path\":\"/x\"}]}",
		  "patches[0].target: missing (symlink needs it)" },
		{ "{\"patches\": [{\"op\":\"text\",\"content\":\"x\"}]}", "patches[0].path: missing" },
		{ "{\"patches\": [{\"op\":\"text\",\"path\":\"rel\",\"content\":\"x\"}]}",
		  "patches[0]: patch 0 (text): path must be absolute" },
		{ "{\"patches\": [{\"op\":\"text\",\"path\":\"/x\",\"content\":\"x\","
		  "\"replace\":\"yes\"}]}", "patches[0].replace: expected true or false" },
		{ "{\"patches\": [{\"op\":\"mkdir\",\"path\":\"/x\",\"mode\":4096}]}",
		  "patches[0].mode: 4096 is out of range" },
		{ "{\"volumes\": [\"nohost\"]}", "volumes[0]: 'nohost': expected HOSTDIR:GUESTDIR[:ro]" },
		{ "{\"volumes\": [\"/nonexistent:/d\"]}", "volumes[0]: volume /nonexistent: no such host directory" },
		{ "{\"volumes\": [\".:rel\"]}", "volumes[0]: volume guest path 'rel': must be absolute" },
		{ "{\"volumes\": [\".:/d\", \".:/d/\"]}", "volumes[1]: two volumes on one guest path" },
		{ "{\"volumes\": [\".:/d:rx\"]}", "volumes[0]: '.:/d:rx': unknown option 'rx'" },
		{ "{\"volumes\": \".:/d\"}", "volumes: expected an array of strings" },
		{ "{\"scripts\": {\"../x\": \"y\"}}", "scripts.../x: script name '../x'" },
		{ "{\"scripts\": {\"a\": 1}}", "scripts.a: expected a string (the content) or" },
		{ "{\"scripts\": {\"a\": {\"path\": \"x\"}}}", "scripts.a: expected a string" },
		{ "{\"scripts\": [\"a\"]}", "scripts: expected an object" },
		{ "{\"env\": [\"NOEQ\"]}", "env[0]: 'NOEQ' is not NAME=VALUE" },
		{ "{\"env\": [1]}", "env[0]: expected a string" },
		{ "{\"init_env\": {\"K\": 1}}", "init_env.K: expected a string" },
		{ "{\"init\": \"sbin/init\"}", "init: " },
		{ "{\"workdir\": \"rel\"}", "workdir: 'rel': not an absolute path" },
		{ "{\"cpus\": 2}", "cpus: " },
		{ "{\"image\": \"alpine\", \"rootfs\": \"x\"}", "image and rootfs: give one" },
		{ "{\"image\": 3}", "image: expected a string" },
		{ "[1]", "expected a JSON object" },
		{ "{\"memory\": 256,}", "bad.json: line 1 column" },
		{ "{\"memory\": 256, \"memory\": 128}", "duplicate object key" },
	};
	char path[600];

	snprintf(path, sizeof(path), "%s/bad.json", dir);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		msbvm_config *c = msbvm_config_new();
		spec_write(path, cases[i][0]);
		CHECK(msbvm_config_load_spec(c, path) < 0);
		CHECK_STR_CONTAINS(msbvm_config_errmsg(c), cases[i][1]);
		msbvm_config_free(c);
	}
	msbvm_config *c = msbvm_config_new();
	CHECK(msbvm_config_load_spec(c, "/nonexistent/spec.json") == -ENOENT);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "spec /nonexistent/spec.json: ");
	CHECK(msbvm_config_load_spec(c, NULL) == -EINVAL);
	/* the new setters */
	CHECK(msbvm_config_add_script_text(c, "x", NULL) == -EINVAL);
	CHECK(msbvm_config_add_script_text(c, "x", "echo") == 0);
	CHECK(msbvm_config_add_script(c, "x", "/h") == -EINVAL);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "script x given twice");
	CHECK(msbvm_config_set_upper_size(c, 63) == -EINVAL);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "upper size 63 MiB");
	CHECK(msbvm_config_set_upper_size(c, 1024) == 0 && c->upper_mib == 1024 &&
	      !strcmp(c->overlay, "scratch"));
	msbvm_config_free(c);
}

/* -p specs as docker run takes them, the library's parser */
static void test_ports(void)
{
	static const char *const good[] = { "8080:80", "127.0.0.1:1:65535",
					    "0.0.0.0:5353:53/udp", "9000:9000/tcp" };
	static const char *const bad[] = { "", "80", "0:80", "80:0", "65536:80",
					   "80:80/sctp", "1.2.3:80:80", "a:b",
					   "::80:80", "80:80/", "host:80:80",
					   "127.0.0.1:80", "1:2:3:4", "+80:80",
					   "999999:80" };
	msbvm_config *c = msbvm_config_new();

	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(msbvm_config_add_port(c, good[i]) == 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(msbvm_config_add_port(c, bad[i]) == -EINVAL);
		CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "expected [HOSTIP:]HOSTPORT");
	}
	CHECK(msbvm_config_add_port(c, NULL) == -EINVAL);
	/* the same host port twice (same protocol) */
	CHECK(msbvm_config_add_port(c, "8080:81") == -EINVAL);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "8080/tcp is already published");
	CHECK(msbvm_config_add_port(c, "8080:81/udp") == 0);
	for (unsigned i = 5; i < 32; i++) {
		char s[32];
		snprintf(s, sizeof(s), "%u:80", 10000 + i);
		CHECK(msbvm_config_add_port(c, s) == 0);
	}
	CHECK(msbvm_config_add_port(c, "20000:80") == -E2BIG);
	CHECK(msbvm_config_set_dns(c, "10.0.2.300") == -EINVAL);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "not an IPv4 address");
	CHECK(msbvm_config_set_dns(c, "1.1.1.1") == 0);
	CHECK(msbvm_config_set_net(c, (enum msbvm_net)7) == -EINVAL);
	CHECK(msbvm_config_set_net(c, MSBVM_NET_NONE) == 0);
	msbvm_config_free(c);
}

static void test_open_missing(const char *dir)
{
	msbvm_config *c = msbvm_config_new();
	msbvm *vm = (msbvm *)1;

	msbvm_config_set_state_dir(c, dir);
	CHECK(msbvm_open(c, "nobody", &vm) == -ENOENT && vm == NULL);
	CHECK_STR_CONTAINS(msbvm_config_errmsg(c), "no running VM named 'nobody'");
	CHECK(msbvm_remove_stale(c, "nobody") == -ENOENT);
	msbvm_config_free(c);
}

int main(void)
{
	char dir[] = "/tmp/msbvm-test-config-XXXXXX";

	CHECK(mkdtemp(dir) != NULL);
	CHECK(msbvm_api_version() == MSBVM_API_VERSION);
	test_setters();
	test_ports();
	test_create_validation(dir);
	test_open_missing(dir);
	test_spec_good(dir);
	test_spec_bad(dir);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return check_result("test_config");
}
