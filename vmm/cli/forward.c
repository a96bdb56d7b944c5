/* Two builds of the command (Makefile): `msbvm`, which leaves the image
 * stack out (-DMSBVM_CLI_LEAN: no oci/, so none of libcurl, libarchive,
 * jansson, libext2fs and their ~40 shared libraries are loaded), and
 * `msbvm-full` beside it, which has everything. Loading that stack cost
 * every start ~14 ms before the first vCPU entry here (15 -> 2.7 ms for
 * `msbvm version`, README "Boot time"), so the lean command runs
 * --rootfs VMs and everything else itself and hands image commands
 * (pull, images, rmi, inspect, login, logout, run IMAGE) to msbvm-full
 * with the same arguments. */
#include "cli.h"
#include "images.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char **cli_argv;

void cli_forward_init(char **argv)
{
	cli_argv = argv;
}

#ifdef MSBVM_CLI_LEAN
/* execs msbvm-full from this binary's folder; returns only on failure */
static int cli_forward(void)
{
	char self[PATH_MAX], full[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0 || !cli_argv) {
		fprintf(stderr, "msbvm: cannot find msbvm-full: %s\n", strerror(errno));
		return 2;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	snprintf(full, sizeof(full), "%.*s/msbvm-full", (int)(slash - self), self);
	execv(full, cli_argv);
	fprintf(stderr, "msbvm: images need %s: %s\n", full, strerror(errno));
	return 2;
}

int images_main(int argc, char **argv)
{
	static const char *const cmds[] = { "pull", "images", "rmi", "inspect",
					    "login", "logout", NULL };

	(void)argc;
	for (unsigned i = 0; cmds[i]; i++)
		if (!strcmp(argv[0], cmds[i]))
			return cli_forward();
	return -1;
}

int run_image(const struct run_opts *o, msbvm_config *c, char ***argv)
{
	(void)o, (void)c, (void)argv;
	return cli_forward() ? -1 : 0;
}
#endif
