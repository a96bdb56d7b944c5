/* `msbvm pull | images | rmi | inspect | login | logout`: the image store
 * (include/msbvm.h, "images"). Exit codes: 0 done, 1 the operation failed
 * (not found, unauthorized, bad image), 2 usage. */
#include "images.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int img_fail(msbvm_image_store *s)
{
	fprintf(stderr, "msbvm: %s\n", msbvm_image_errmsg(s));
	msbvm_image_store_close(s);
	return 1;
}

static msbvm_image_store *img_open(void)
{
	msbvm_image_store *s;

	if (msbvm_image_store_open(NULL, &s) < 0) {
		img_fail(s);
		return NULL;
	}
	return s;
}

static int img_usage(const char *cmd, const char *args)
{
	fprintf(stderr, "usage: msbvm %s %s\n", cmd, args);
	return 2;
}

#define PULL_ARGS "[-q] [--platform OS/ARCH] [--insecure-registry HOST] " \
	"[--ca-cert FILE] REF"

static int img_pull(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "platform", required_argument, NULL, 'P' },
		{ "insecure-registry", required_argument, NULL, 'I' },
		{ "ca-cert", required_argument, NULL, 'C' },
		{ 0 },
	};
	char digest[80];
	msbvm_image_store *s;
	int c, q = 0, rc = 0;

	if (!(s = img_open()))
		return 1;
	opterr = 0;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "+q", lo, NULL)) != -1) {
		if (c == 'q')
			q = 1;
		else if (c == 'P')
			rc = msbvm_image_set_platform(s, optarg);
		else if (c == 'I')
			rc = msbvm_image_add_insecure_registry(s, optarg);
		else if (c == 'C')
			rc = msbvm_image_set_ca_cert(s, optarg);
		else
			rc = -EINVAL;
	}
	if (rc < 0 || optind != argc - 1) {
		msbvm_image_store_close(s);
		return img_usage("pull", PULL_ARGS);
	}
	msbvm_image_set_progress_fd(s, q ? -1 : 2);
	if (msbvm_image_pull(s, argv[optind], digest) < 0)
		return img_fail(s);
	/* pull unpacks too (as docker pull does): `run` finds it ready */
	struct msbvm_image_rootfs r;
	if (msbvm_image_rootfs(s, argv[optind], &r) < 0)
		return img_fail(s);
	if (!q)
		printf("Digest: %s\nBase image: %s\n", digest, r.path);
	printf("%s\n", argv[optind]);
	msbvm_image_rootfs_free(&r);
	msbvm_image_store_close(s);
	return 0;
}

static int img_row(const struct msbvm_image_info *ii, void *opaque)
{
	(void)opaque;
	printf("%-40s %s %8.1fMB  %.19s\n", ii->ref, ii->digest,
	       (double)ii->size / 1e6, ii->created[0] ? ii->created : "-");
	return 0;
}

static int img_list(int argc, char **argv)
{
	msbvm_image_store *s;

	(void)argv;
	if (argc != 1)
		return img_usage("images", "");
	if (!(s = img_open()))
		return 1;
	printf("%-40s %-71s %10s  %s\n", "REF", "DIGEST", "SIZE", "CREATED");
	if (msbvm_image_list(s, img_row, NULL) < 0)
		return img_fail(s);
	msbvm_image_store_close(s);
	return 0;
}

static int img_rmi(int argc, char **argv)
{
	msbvm_image_store *s;

	if (argc < 2)
		return img_usage("rmi", "REF...");
	if (!(s = img_open()))
		return 1;
	for (int i = 1; i < argc; i++) {
		if (msbvm_image_remove(s, argv[i]) < 0)
			return img_fail(s);
		printf("Untagged: %s\n", argv[i]);
	}
	msbvm_image_store_close(s);
	return 0;
}

static int img_inspect(int argc, char **argv)
{
	msbvm_image_store *s;
	char *json;

	if (argc != 2)
		return img_usage("inspect", "REF");
	if (!(s = img_open()))
		return 1;
	if (msbvm_image_config_json(s, argv[1], &json) < 0)
		return img_fail(s);
	printf("%s\n", json);
	free(json);
	msbvm_image_store_close(s);
	return 0;
}

static int img_read_password(char *buf, size_t len)
{
	size_t n;

	if (!fgets(buf, (int)len, stdin))
		return -EINVAL;
	n = strcspn(buf, "\r\n");
	buf[n] = 0;
	return n ? 0 : -EINVAL;
}

#define LOGIN_ARGS "-u USER [-p PASSWORD | --password-stdin] REGISTRY"

static int img_login(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "username", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'p' },
		{ "password-stdin", no_argument, NULL, 'S' },
		{ 0 },
	};
	const char *user = NULL, *pass = NULL;
	char pbuf[512];
	msbvm_image_store *s;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+u:p:", lo, NULL)) != -1) {
		if (c == 'u')
			user = optarg;
		else if (c == 'p')
			pass = optarg;
		else if (c != 'S')
			return img_usage("login", LOGIN_ARGS);
	}
	if (!user || optind != argc - 1)
		return img_usage("login", LOGIN_ARGS);
	if (!pass) {
		if (img_read_password(pbuf, sizeof(pbuf)) < 0)
			return img_usage("login", LOGIN_ARGS);
		pass = pbuf;
	}
	if (!(s = img_open()))
		return 1;
	if (msbvm_image_login(s, argv[optind], user, pass) < 0)
		return img_fail(s);
	printf("Login Succeeded (credentials saved; checked on the next pull)\n");
	msbvm_image_store_close(s);
	return 0;
}

static int img_logout(int argc, char **argv)
{
	msbvm_image_store *s;

	if (argc != 2)
		return img_usage("logout", "REGISTRY");
	if (!(s = img_open()))
		return 1;
	if (msbvm_image_logout(s, argv[1]) < 0)
		return img_fail(s);
	printf("Removing login credentials for %s\n", argv[1]);
	msbvm_image_store_close(s);
	return 0;
}

int images_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "pull", img_pull }, { "images", img_list }, { "rmi", img_rmi },
		{ "inspect", img_inspect }, { "login", img_login },
		{ "logout", img_logout },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[0], cmds[i].name))
			return cmds[i].fn(argc, argv);
	return -1;
}
