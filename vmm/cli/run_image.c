/* `msbvm run IMAGE`: the image from the store (pulled on first use, as
 * `docker run` does), its base image and defaults into the config, and
 * the command docker would run: Entrypoint + Cmd, where a CMD given on
 * the command line replaces Cmd and --entrypoint replaces Entrypoint
 * (and drops Cmd). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t run_image_len(char *const *l)
{
	size_t n = 0;

	while (l && l[n])
		n++;
	return n;
}

/* ep + cmd, NULL-terminated, copied (they outlive the image's config;
 * the command is the process's until it exits). */
static char **run_image_argv(char *const *ep, char *const *cmd)
{
	size_t ne = run_image_len(ep), nc = run_image_len(cmd);
	char **v = calloc(ne + nc + 1, sizeof(*v));

	for (size_t i = 0; v && i < ne + nc; i++)
		if (!(v[i] = strdup(i < ne ? ep[i] : cmd[i - ne])))
			return NULL;
	return v;
}

static int run_image_fail(msbvm_image_store *s, const char *what)
{
	fprintf(stderr, "msbvm: %s%s\n", what, msbvm_image_errmsg(s));
	msbvm_image_store_close(s);
	return -1;
}

int run_image(const struct run_opts *o, msbvm_config *c, char ***argv)
{
	struct msbvm_image_rootfs r = { 0 };
	msbvm_image_store *s;
	int rc;

	if ((rc = msbvm_image_store_open(NULL, &s)) < 0) {
		fprintf(stderr, "msbvm: image store: %s\n", s ? msbvm_image_errmsg(s) :
			"cannot open it");
		msbvm_image_store_close(s);
		return -1;
	}
	rc = msbvm_image_rootfs(s, o->image, &r);
	if (rc == -ENOENT) {
		/* not pulled yet: pull it, with the progress on stderr */
		msbvm_image_set_progress_fd(s, isatty(2) ? 2 : -1);
		if (msbvm_image_pull(s, o->image, NULL) < 0)
			return run_image_fail(s, "");
		rc = msbvm_image_rootfs(s, o->image, &r);
	}
	if (rc < 0)
		return run_image_fail(s, "");
	char *one[] = { (char *)o->entrypoint, NULL };
	char **ep = o->entrypoint ? one : r.entrypoint;
	char **cmd = o->cmd ? o->cmd : o->entrypoint ? NULL : r.cmd;
	*argv = NULL;
	if (!o->detach && !(*argv = run_image_argv(ep, cmd))) {
		msbvm_image_rootfs_free(&r);
		msbvm_image_store_close(s);
		fprintf(stderr, "msbvm: out of memory\n");
		return -1;
	}
	if (*argv && !**argv) {
		fprintf(stderr, "msbvm: %s has no Entrypoint or Cmd: give a command "
			"(msbvm run %s -- CMD)\n", o->image, o->image);
		rc = -1;
	} else if ((rc = msbvm_config_set_image(c, &r)) < 0) {
		fprintf(stderr, "msbvm: %s\n", msbvm_config_errmsg(c));
	}
	msbvm_image_rootfs_free(&r);
	msbvm_image_store_close(s);
	return rc < 0 ? -1 : 0;
}
