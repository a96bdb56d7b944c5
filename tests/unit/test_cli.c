/* Command-line validation and nested-host detection. */
#include "check.h"
#include "vmm/cli/cli.h"

#include "vmm/core/nested.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse(int argc, const char **argv, struct run_opts *o)
{
	
	return cli_parse_run(argc, (char **)argv, o);
}

static void fake_root(const char *root, const char *flags, bool pvm)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/proc", root);
	mkdir(root, 0755);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/proc/cpuinfo", root);
	f = fopen(p, "w");
	fprintf(f, "processor\t: 0\nflags\t\t: %s\n", flags);
	fclose(f);
	if (pvm) {
		snprintf(p, sizeof(p), "%s/sys", root);
		mkdir(p, 0755);
		snprintf(p, sizeof(p), "%s/sys/module", root);
		mkdir(p, 0755);
		snprintf(p, sizeof(p), "%s/sys/module/kvm_pvm", root);
		mkdir(p, 0755);
	}
}

static int pexec(int argc, const char **argv, struct exec_opts *o)
{
	return cli_parse_exec(argc, (char **)argv, o);
}

/* `msbvm exec`: -d (detached), the shared -e/-w/-u/-t, NAME, -- CMD. */
static void test_parse_exec(void)
{
	struct exec_opts o;

	const char *e1[] = { "exec", "vm", "--", "ls", "-l", NULL };
	CHECK(pexec(5, e1, &o) == 0 && !strcmp(o.name, "vm") && !o.detach &&
	      !strcmp(o.cmd[0], "ls") && !strcmp(o.cmd[1], "-l") && !o.cmd[2] &&
	      o.x.tty == -1 && !o.state_dir);
	const char *e2[] = { "exec", "-d", "vm", "--", "sleep", "100", NULL };
	CHECK(pexec(6, e2, &o) == 0 && o.detach && !strcmp(o.name, "vm") &&
	      !strcmp(o.cmd[0], "sleep"));
	const char *e3[] = { "exec", "--detach", "--state-dir", "/s", "-e", "A=1",
			     "-w", "/tmp", "-u", "app", "vm", "true", NULL };
	CHECK(pexec(12, e3, &o) == 0 && o.detach && !strcmp(o.state_dir, "/s") &&
	      o.x.n_env == 1 && !strcmp(o.x.env[0], "A=1") &&
	      !strcmp(o.x.workdir, "/tmp") && !strcmp(o.x.user, "app") &&
	      !strcmp(o.cmd[0], "true"));
	/* -d after the name is the command's own option, not ours */
	const char *e4[] = { "exec", "vm", "--", "ls", "-d", NULL };
	CHECK(pexec(5, e4, &o) == 0 && !o.detach && !strcmp(o.cmd[1], "-d"));
	const char *e5[] = { "exec", "-d", "-t", "vm", "--", "sh", NULL };
	CHECK(pexec(6, e5, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "drop -t");
	const char *e6[] = { "exec", "-d", "-T", "vm", "--", "sh", NULL };
	CHECK(pexec(6, e6, &o) == 0 && o.detach && o.x.tty == 0);
	const char *e7[] = { "exec", "-d", "vm", "--", NULL };
	CHECK(pexec(4, e7, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "no command given");
	const char *e8[] = { "exec", "-d", "vm", NULL };
	CHECK(pexec(3, e8, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "usage: msbvm exec [-d]");
	const char *e9[] = { "exec", "-x", "vm", "--", "ls", NULL };
	CHECK(pexec(5, e9, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "bad option '-x'");
	const char *e10[] = { "exec", "vm", "--", "ls", "-w", NULL };
	CHECK(pexec(5, e10, &o) == 0 && !o.x.workdir);
	const char *e11[] = { "exec", "-w", NULL };
	CHECK(pexec(2, e11, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "needs a value");
	const char *e12[] = { "exec", "-e", "NOEQ", "vm", "ls", NULL };
	CHECK(pexec(5, e12, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "expected NAME=VALUE");
}

/* `msbvm run IMAGE`: options on both sides of the reference, the command
 * after `--` or docker-style without it. */
static void test_parse_image(void)
{
	struct run_opts o;

	const char *i1[] = { "run", "--memory", "256", "alpine:3.20", "--init", "auto",
			     "--", "bash", "-l", NULL };
	CHECK(parse(9, i1, &o) == 0 && o.image && !strcmp(o.image, "alpine:3.20") &&
	      o.mem_mib == 256 && o.init && !strcmp(o.init, "auto") &&
	      o.cmd && !strcmp(o.cmd[0], "bash") && !strcmp(o.cmd[1], "-l") && !o.rootfs);
	const char *i2[] = { "run", "python:3.12-slim", "python3", "-c", "print(1)", NULL };
	CHECK(parse(5, i2, &o) == 0 && !strcmp(o.image, "python:3.12-slim") &&
	      o.cmd && !strcmp(o.cmd[0], "python3") && !strcmp(o.cmd[2], "print(1)"));
	const char *i3[] = { "run", "img", NULL };
	CHECK(parse(2, i3, &o) == 0 && !strcmp(o.image, "img") && !o.cmd);
	const char *i4[] = { "run", "img", "--entrypoint", "/bin/echo", "--tmpfs-upper",
			     "--", "hi", NULL };
	CHECK(parse(7, i4, &o) == 0 && !strcmp(o.entrypoint, "/bin/echo") &&
	      !strcmp(o.overlay, "tmpfs") && !strcmp(o.cmd[0], "hi"));
	const char *i5[] = { "run", "-d", "--name", "w", "img", NULL };
	CHECK(parse(5, i5, &o) == 0 && o.detach && !strcmp(o.image, "img"));
	/* with --rootfs, a word after the options stays the command */
	const char *i6[] = { "run", "--rootfs", "r.ext4", "ls", NULL };
	CHECK(parse(4, i6, &o) == 0 && !o.image && !strcmp(o.cmd[0], "ls"));
	const char *i7[] = { "run", "--rootfs", "r", "--entrypoint", "x", NULL };
	CHECK(parse(5, i7, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "--entrypoint needs an IMAGE");
	const char *i8[] = { "run", "img", "--bogus", NULL };
	CHECK(parse(3, i8, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "--bogus");
}

/* -v (volumes), --verbose, --script, --spec, --upper-size, --rootfs DIR */
static void test_parse_fs(void)
{
	struct run_opts o;
	char host[64], guest[64], buf[128];
	const char *name, *file;
	bool ro;

	const char *a1[] = { "run", "--rootfs", "/srv/root", "-v", "/h:/g:ro",
			     "--volume", "./d:/data", "--verbose", "--script",
			     "setup=./s.sh", "--upper-size", "512", "--", "ls", NULL };
	CHECK(parse(14, a1, &o) == 0 && o.n_vols == 2 && o.verbose &&
	      !strcmp(o.vols[1], "./d:/data") && o.n_scripts == 1 &&
	      o.upper_mib == 512 && !strcmp(o.cmd[0], "ls"));
	/* -v takes a value now: the old -v (verbose) is --verbose */
	const char *a2[] = { "run", "--rootfs", "r", "-v", NULL };
	CHECK(parse(4, a2, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "option -v needs a value");
	/* a spec stands in for the root; what follows is the command */
	const char *a3[] = { "run", "--spec", "s.json", "--memory", "256", "echo", "hi", NULL };
	CHECK(parse(7, a3, &o) == 0 && !strcmp(o.spec, "s.json") && !o.image &&
	      o.mem_given && o.cmd && !strcmp(o.cmd[0], "echo"));
	/* ... unless a later "--" makes the first word an image */
	const char *a3b[] = { "run", "--spec", "s.json", "alpine", "--", "echo", "hi", NULL };
	CHECK(parse(7, a3b, &o) == 0 && o.image && !strcmp(o.image, "alpine") &&
	      o.cmd && !strcmp(o.cmd[0], "echo"));
	const char *a3c[] = { "run", "--spec", "s.json", "--", "echo", "--", NULL };
	CHECK(parse(6, a3c, &o) == 0 && !o.image && o.cmd && !strcmp(o.cmd[0], "echo"));
	const char *a4[] = { "run", "--rootfs", "r", "--upper-size", "10", NULL };
	CHECK(parse(5, a4, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "--upper-size '10'");
	const char *a5[] = { "run", "--initrd", "i", "-v", "/a:/b", NULL };
	CHECK(parse(5, a5, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "need the agent");
	const char *a6[] = { "run", "--rootfs", "r", "-v", "/a:/1", "-v", "/a:/2", "-v",
			     "/a:/3", "-v", "/a:/4", "-v", "/a:/5", "-v", "/a:/6", "-v",
			     "/a:/7", "-v", "/a:/8", "-v", "/a:/9", NULL };
	CHECK(parse(21, a6, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "at most 8 -v options");

	CHECK(cli_parse_volume("/h:/g", host, guest, sizeof(host), &ro) == 0 &&
	      !strcmp(host, "/h") && !strcmp(guest, "/g") && !ro);
	CHECK(cli_parse_volume("rel/dir:/g:ro", host, guest, sizeof(host), &ro) == 0 &&
	      !strcmp(host, "rel/dir") && ro);
	CHECK(cli_parse_volume("/h:/g:rw", host, guest, sizeof(host), &ro) == 0 && !ro);
	static const char *const bad[] = { "/h", ":/g", "/h:", "/h:/g:rx", "/h:/g:ro:x" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(cli_parse_volume(bad[i], host, guest, sizeof(host), &ro) == -EINVAL);
		CHECK_STR_CONTAINS(cli_errmsg(), "expected HOSTDIR:GUESTDIR");
	}
	CHECK(cli_parse_volume("/h:g", host, guest, sizeof(host), &ro) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "the guest path g is not absolute");
	CHECK(cli_parse_script("go=/x/go.sh", buf, sizeof(buf), &name, &file) == 0 &&
	      !strcmp(name, "go") && !strcmp(file, "/x/go.sh"));
	CHECK(cli_parse_script("go", buf, sizeof(buf), &name, &file) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "--script 'go': expected NAME=HOSTFILE");
	CHECK(cli_parse_script("=x", buf, sizeof(buf), &name, &file) == -EINVAL);
	CHECK(cli_parse_script("go=", buf, sizeof(buf), &name, &file) == -EINVAL);
}

int main(void)
{
	struct run_opts o;
	uint64_t v;
	char why[160], dir[] = "/tmp/msbvm-cli-XXXXXX", root[300];

	CHECK(cli_parse_mib("128", 32, 1024, &v) == 0 && v == 128);
	CHECK(cli_parse_mib("32", 32, 1024, &v) == 0);
	CHECK(cli_parse_mib("31", 32, 1024, &v) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "between 32 and 1024");
	CHECK(cli_parse_mib("0", 32, 1024, &v) == -EINVAL);
	CHECK(cli_parse_mib("-128", 32, 1024, &v) == -EINVAL);
	CHECK(cli_parse_mib("12x", 32, 1024, &v) == -EINVAL);
	CHECK(cli_parse_mib("", 32, 1024, &v) == -EINVAL);
	CHECK(cli_parse_mib("99999999999999999999999", 32, 1024, &v) == -EINVAL);
	CHECK(cli_parse_mib("1025", 32, 1024, &v) == -EINVAL);

	const char *a1[] = { "run", "--kernel", "k", "--initrd", "i", "--memory",
			     "256", "--append", "x=1", "--console", NULL };
	CHECK(parse(10, a1, &o) == 0);
	CHECK(!strcmp(o.kernel, "k") && !strcmp(o.initrd, "i") && o.mem_mib == 256);
	CHECK(o.console && !strcmp(o.append, "x=1") && o.nested == MSBVM_NESTED_AUTO);
	const char *a2[] = { "run", "--bogus", NULL };
	CHECK(parse(2, a2, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "--bogus");
	const char *a3[] = { "run", "--kernel", NULL };
	CHECK(parse(2, a3, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "needs a value");
	const char *a4[] = { "run", "--memory", "1000000000", NULL };
	CHECK(parse(3, a4, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "--memory");
	const char *a5[] = { "run", "--nested-workarounds", "maybe", NULL };
	CHECK(parse(3, a5, &o) == -EINVAL);
	/* agent mode: words after the options are the command */
	const char *a6[] = { "run", "--rootfs", "r.img", "--", "ls", "-l", NULL };
	CHECK(parse(6, a6, &o) == 0 && !o.no_agent && o.cmd &&
	      !strcmp(o.cmd[0], "ls") && !strcmp(o.cmd[1], "-l") && o.x.tty == -1);
	const char *a7[] = { "run", "--nested-workarounds", "on", "--initrd", "i", NULL };
	CHECK(parse(5, a7, &o) == 0 && o.nested == MSBVM_NESTED_ON && o.no_agent);
	const char *a8[] = { "run", "--initrd", "i", "--", "ls", NULL };
	CHECK(parse(5, a8, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "need the agent");
	const char *a9[] = { "run", "--", "ls", NULL };
	CHECK(parse(3, a9, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "an IMAGE reference or --rootfs ROOT.ext4 is needed");
	const char *a10[] = { "run", "-d", "--rootfs", "r", NULL };
	CHECK(parse(4, a10, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "-d needs --name");
	const char *a11[] = { "run", "-d", "--name", "n", "--rootfs", "r", "--", "ls", NULL };
	CHECK(parse(8, a11, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "-d runs no command");
	const char *a12[] = { "run", "--rootfs", "r", "-e", "NOEQUALS", NULL };
	CHECK(parse(5, a12, &o) == -EINVAL);
	CHECK_STR_CONTAINS(cli_errmsg(), "expected NAME=VALUE");
	const char *a13[] = { "run", "--rootfs", "r", "-e", "A=1", "-w", "/tmp", "-u",
			      "app", "-T", "--name", "x", NULL };
	CHECK(parse(12, a13, &o) == 0 && o.x.n_env == 1 && !strcmp(o.x.workdir, "/tmp") &&
	      !strcmp(o.x.user, "app") && o.x.tty == 0 && !strcmp(o.name, "x") && !o.cmd);

	test_parse_exec();
	test_parse_image();
	test_parse_fs();

	char p[64];
	bool ro;
	CHECK(cli_parse_disk("a.img,ro", p, sizeof(p), &ro) == 0 && ro && !strcmp(p, "a.img"));
	CHECK(cli_parse_disk("a.img", p, sizeof(p), &ro) == 0 && !ro);
	CHECK(cli_parse_disk("a.img,rw", p, sizeof(p), &ro) == 0 && !ro);
	CHECK(cli_parse_disk("a.img,rx", p, sizeof(p), &ro) < 0);
	CHECK_STR_CONTAINS(cli_errmsg(), "unknown option 'rx'");
	CHECK(cli_parse_disk(",ro", p, sizeof(p), &ro) < 0);

	CHECK(mkdtemp(dir) != NULL);
	snprintf(root, sizeof(root), "%s/pvm", dir);
	fake_root(root, "fpu sse2 hypervisor rdrand", true);
	CHECK(nested_detect(root, why, sizeof(why)));
	CHECK_STR_CONTAINS(why, "kvm_pvm");
	snprintf(root, sizeof(root), "%s/novmx", dir);
	fake_root(root, "fpu hypervisor sse2", false);
	CHECK(nested_detect(root, why, sizeof(why)));
	snprintf(root, sizeof(root), "%s/hw", dir);
	fake_root(root, "fpu vmx sse2", false);
	CHECK(!nested_detect(root, why, sizeof(why)));
	snprintf(root, sizeof(root), "%s/nestedvmx", dir);
	fake_root(root, "fpu vmx hypervisor", false);
	CHECK(!nested_detect(root, why, sizeof(why))); /* real nested VMX */
	snprintf(root, sizeof(root), "rm -rf %s", dir);
	CHECK(system(root) == 0);
	CHECK(strstr(nested_cmdline(), "clearcpuid=") != NULL);
	return check_result("test_cli");
}
