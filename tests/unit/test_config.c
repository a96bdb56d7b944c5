/* libmsbvm's configuration through the public API: every setter rejects
 * bad input with a message naming it, msbvm_create refuses incomplete or
 * contradictory configs (message on the config, nothing left behind), and
 * a missing kernel fails before /dev/kvm is touched. No KVM needed. */
#include "check.h"
#include "include/msbvm.h"

#include <errno.h>
#include <stdlib.h>
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
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return check_result("test_config");
}
