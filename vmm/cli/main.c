/* msbvm: command-line entry point. Exit codes: 0 the guest rebooted or
 * powered off; 1 the guest failed (panic, triple fault, emulation error);
 * 2 bad usage or host/config error; 128+N the VMM got signal N. In agent
 * mode `run` and `exec` return the command's status instead. */
#include "cli.h"
#include "cmds.h"
#include "images.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* Each live inode of a virtio-fs share is an O_PATH fd (up to 65,536 per
 * share, docs/virtio-fs.md); the usual soft limit of 1,024 would make a
 * guest's big `find` fail with EMFILE long before that. The command owns
 * its process, so it raises the soft limit to the hard one (the library
 * leaves process-wide limits to its caller). */
static void main_raise_nofile(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static void main_usage(FILE *f)
{
	fprintf(f,
		"usage: msbvm <command> [options]\n"
		"\n"
		"A microVM monitor on /dev/kvm.\n"
		"\n"
		"commands:\n"
		"  run        boot a microVM; run a command in it (agent mode)\n"
		"  exec       run a command in a running VM: exec NAME -- CMD...\n"
		"             (-d: start it detached, print its guest PID)\n"
		"  cp         copy a file: cp SRC NAME:/path, cp NAME:/path DST\n"
		"  ls         list running VMs\n"
		"  stop       power a VM off: stop NAME\n"
		"  pull       fetch an image from a registry: pull REF\n"
		"  images     list pulled images\n"
		"  rmi        remove an image: rmi REF\n"
		"  inspect    print an image's config (JSON): inspect REF\n"
		"  login      save registry credentials: login -u USER REGISTRY\n"
		"  logout     forget them: logout REGISTRY\n"
		"  version    print the version\n"
		"  help       this text; `msbvm run --help` for a command\n"
		"\n"
		"exit codes: run/exec with a command: the command's status\n"
		"(128+N for signal N, 127 not found, 126 not executable);\n"
		"otherwise 0 guest rebooted or powered off, 1 guest failed,\n"
		"2 usage or host error, 128+N stopped by signal N.\n");
}

int main(int argc, char **argv)
{
	struct run_opts o;
	int rc;

	cli_forward_init(argv);
	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		main_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("msbvm %s\n", msbvm_version());
		return 0;
	}
	if ((rc = cmds_main(argc - 1, argv + 1)) >= 0)
		return rc;
	if ((rc = images_main(argc - 1, argv + 1)) >= 0)
		return rc;
	if (strcmp(argv[1], "run")) {
		fprintf(stderr, "msbvm: unknown command '%s' (try msbvm --help)\n",
			argv[1]);
		return 2;
	}
	rc = cli_parse_run(argc - 1, argv + 1, &o);
	if (rc == 1)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "msbvm: %s\n", cli_errmsg());
		return 2;
	}
	main_raise_nofile();
	return cli_run(&o);
}
