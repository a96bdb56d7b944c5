/* Writes the seed corpus of fuzz_bootcfg (tests/fuzz/corpus/bootcfg/)
 * with the library's own builder, so the seeds follow the schema
 * (docs/boot-config.md) whenever it changes. Run from the repository
 * root after `make unit`:
 *   cc -std=c11 -D_GNU_SOURCE -I. -fsanitize=address,undefined \
 *     tests/fuzz/mk_bootcfg_seeds.c build/asan/libmsbvm.a \
 *     -lfdt -larchive -lcurl -ljansson -lcrypto -lext2fs -lcom_err \
 *     -pthread -o build/mk_bootcfg_seeds && build/mk_bootcfg_seeds */
#include "include/msbvm.h"
#include "vmm/lib/bootcfg.h"

#include <stdio.h>

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int seed(msbvm_config *c, const char *name)
{
	char path[256];
	struct bcfg_blob b;
	FILE *f;

	snprintf(path, sizeof(path), "tests/fuzz/corpus/bootcfg/%s.dtb", name);
	if (bcfg_fdt(c, name, TOKEN, &b) < 0 || !(f = fopen(path, "wb")) ||
	    fwrite(b.data, 1, b.len, f) != b.len || fclose(f))
		return 1;
	bcfg_free(&b);
	msbvm_config_free(c);
	return 0;
}

int main(void)
{
	msbvm_config *c;
	char *env[] = { "PATH=/usr/bin", "FOO=bar", NULL };
	struct msbvm_image_rootfs img = { .path = "/x.ext4", .env = env,
					  .workdir = "/data", .user = "1000:1000" };
	int rc = 0;

	rc |= seed(msbvm_config_new(), "minimal");
	c = msbvm_config_new();
	msbvm_config_set_rootfs(c, "/r.ext4");
	rc |= seed(c, "root");
	c = msbvm_config_new();
	msbvm_config_set_rootfs(c, "/r.ext4");
	msbvm_config_set_init(c, "/sbin/init");
	msbvm_config_add_init_arg(c, "--log-level=debug");
	msbvm_config_add_init_env(c, "A=1");
	rc |= seed(c, "full");
	c = msbvm_config_new();
	msbvm_config_set_image(c, &img);
	rc |= seed(c, "image");
	/* format 3: volumes, every patch operation, scripts, a directory root */
	c = msbvm_config_new();
	msbvm_config_set_rootfs(c, "/r.ext4");
	msbvm_config_set_overlay(c, "tmpfs");
	msbvm_config_add_volume(c, "/tmp", "/data", true);
	msbvm_config_add_volume(c, "/", "/srv/host", false);
	for (int op = MSBVM_PATCH_TEXT; op <= MSBVM_PATCH_REMOVE; op++) {
		struct msbvm_patch p = { (enum msbvm_patch_op)op, "/etc/x", "hi\n", 3,
					 NULL, op == MSBVM_PATCH_MKDIR ? 0700 : -1,
					 op != MSBVM_PATCH_APPEND };
		if (op == MSBVM_PATCH_COPY_FILE || op == MSBVM_PATCH_COPY_DIR)
			p.src = "/tmp";
		if (op == MSBVM_PATCH_SYMLINK)
			p.src = "/etc/target";
		msbvm_config_add_patch(c, &p);
	}
	msbvm_config_add_script_text(c, "setup", "#!/bin/sh\n");
	msbvm_config_add_script(c, "start.sh", "/bin/true");
	rc |= seed(c, "fs");
	c = msbvm_config_new();
	msbvm_config_set_rootfs(c, "/tmp");
	msbvm_config_set_upper_size(c, 512);
	rc |= seed(c, "dirroot");
	return rc;
}
