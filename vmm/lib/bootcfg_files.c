/* The per-VM initramfs archive (cpio "newc"): BCFG_DIR/, config.dtb,
 * and the content of patches and scripts as BCFG_FILES/pI and sI
 * (docs/boot-config.md "Files"). Host files (copyFile, copyDir, --script)
 * are read here, at msbvm_create, so that a missing one fails before the
 * boot with its name; the guest never sees the host's file system. The
 * content sits in guest RAM until agentd has applied it: BCFG_MAX_FILES
 * bounds it. */
#include "bootcfg.h"
#include "lib.h"
#include "proto/bootcfg.h"
#include "vmm/core/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BF_MAX_DEPTH 64 /* copyDir: deeper trees are refused */

struct bf_buf {
	uint8_t *data;
	size_t len, cap;
	size_t content;   /* bytes under BCFG_FILES so far */
	unsigned ino;
};

static int bf_reserve(struct bf_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *n;

	if (b->cap - b->len >= more)
		return 0;
	while (cap - b->len < more)
		cap *= 2;
	if (!(n = realloc(b->data, cap)))
		return err_set(ENOMEM, "boot configuration: out of memory");
	b->data = n;
	b->cap = cap;
	return 0;
}

/* One cpio "newc" member (Documentation/driver-api/early-userspace/
 * buffer-format.rst): a 110-byte ASCII header of 13 8-digit hex fields,
 * the NUL-terminated name, padding to 4 bytes, the data, padding to 4.
 * Written here rather than with libarchive: linking libarchive (and
 * with it libxml2, ICU, lzma, zstd, ...) cost every `msbvm run` ~3 ms of
 * dynamic loading before the first vCPU entry. */
static int bf_add(struct bf_buf *b, const char *name, unsigned mode,
		  const void *data, size_t len)
{
	size_t nl = strlen(name) + 1, n;
	uint8_t *out;
	int rc;

	if (!strncmp(name, &BCFG_FILES[1], sizeof(BCFG_FILES) - 2)) {
		b->content += len + nl + 110;
		if (b->content > BCFG_MAX_FILES)
			return err_set(E2BIG, "patch and script content: more than "
				       "%u MiB (it travels in the guest's initramfs, "
				       "in RAM); share big trees with a volume (-v)",
				       BCFG_MAX_FILES >> 20);
	}
	if ((rc = bf_reserve(b, 110 + nl + 3 + len + 3 + 1)) < 0)
		return rc;
	out = b->data + b->len;
	n = (size_t)sprintf((char *)out, "070701%08X%08X%08X%08X%08X%08X%08zX"
			    "%08X%08X%08X%08X%08zX%08X", mode ? ++b->ino : 0, mode,
			    0u, 0u, S_ISDIR(mode) ? 2u : 1u, 0u, len, 0u, 0u, 0u, 0u,
			    nl, 0u);
	memcpy(out + n, name, nl);
	n += nl;
	while (n % 4)
		out[n++] = 0;
	if (len)
		memcpy(out + n, data, len);
	n += len;
	while (n % 4)
		out[n++] = 0;
	b->len += n;
	return 0;
}

/* A host file's bytes (at most BCFG_MAX_FILES) into *data; its mode. */
static int bf_slurp(const char *path, const char *what, uint8_t **data,
		    size_t *len, mode_t *mode)
{
	/* O_NONBLOCK: a FIFO must not hang msbvm_create */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	size_t got = 0;

	*data = NULL;
	if (fd < 0)
		return err_set(errno, "%s: cannot read host file %s: %s", what, path,
			       strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > BCFG_MAX_FILES) {
		close(fd);
		return err_set(S_ISREG(st.st_mode) ? E2BIG : EINVAL, "%s: host file "
			       "%s: not a regular file of at most %u MiB", what, path,
			       BCFG_MAX_FILES >> 20);
	}
	if (!(*data = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return err_set(ENOMEM, "%s: out of memory", what);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *data + got, (size_t)st.st_size - got);
		if (n <= 0)
			break; /* shrank while read: take what is there */
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	*mode = st.st_mode;
	return 0;
}

static int bf_file(struct bf_buf *b, const char *name, const char *host,
		   const char *what, unsigned perm_mask)
{
	uint8_t *data;
	size_t len = 0;
	mode_t mode = 0;
	int rc;

	if ((rc = bf_slurp(host, what, &data, &len, &mode)) < 0)
		return rc;
	rc = bf_add(b, name, S_IFREG | (mode & perm_mask), data, len);
	free(data);
	return rc;
}

/* copyDir: host (a directory) as the member tree name/...: regular
 * files, directories and symlinks; anything else is refused by name. */
static int bf_tree(struct bf_buf *b, const char *host, const char *name,
		   const char *what, unsigned depth)
{
	char hp[PATH_MAX], np[PATH_MAX], target[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int rc = 0;

	if (lstat(host, &st) < 0)
		return err_set(errno, "%s: cannot read host directory %s: %s", what,
			       host, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(ENOTDIR, "%s: host path %s is not a directory", what, host);
	if (depth > BF_MAX_DEPTH)
		return err_set(ELOOP, "%s: %s: more than %d levels deep", what, host,
			       BF_MAX_DEPTH);
	if ((rc = bf_add(b, name, S_IFDIR | (st.st_mode & 01777), NULL, 0)) < 0)
		return rc;
	if (!(d = opendir(host)))
		return err_set(errno, "%s: cannot read host directory %s: %s", what,
			       host, strerror(errno));
	while (!rc && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(hp, sizeof(hp), "%s/%s", host, e->d_name) >= sizeof(hp) ||
		    (size_t)snprintf(np, sizeof(np), "%s/%s", name, e->d_name) >= sizeof(np)) {
			rc = err_set(ENAMETOOLONG, "%s: %s/%s: path too long", what, host,
				     e->d_name);
		} else if (lstat(hp, &st) < 0) {
			rc = err_set(errno, "%s: %s: %s", what, hp, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			rc = bf_tree(b, hp, np, what, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			rc = bf_file(b, np, hp, what, 0777);
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(hp, target, sizeof(target) - 1);
			rc = n < 0 ? err_set(errno, "%s: %s: %s", what, hp, strerror(errno)) :
			     bf_add(b, np, S_IFLNK | 0777, target, (size_t)n);
		} else {
			rc = err_set(EINVAL, "%s: host path %s is a device, FIFO or socket: "
				     "copyDir copies regular files, directories and "
				     "symlinks only", what, hp);
		}
	}
	closedir(d);
	return rc;
}

static bool bf_has_data(enum msbvm_patch_op op)
{
	return op == MSBVM_PATCH_TEXT || op == MSBVM_PATCH_FILE ||
	       op == MSBVM_PATCH_APPEND;
}

static int bf_patch(struct bf_buf *b, const struct cfg_patch *p, unsigned i)
{
	char name[64], what[BCFG_MAX_WORKDIR + 64];

	snprintf(name, sizeof(name), "%s/p%u", &BCFG_FILES[1], i);
	snprintf(what, sizeof(what), "patch %u (%s %s)", i, cfg_patch_name(p->op),
		 p->path);
	if (bf_has_data(p->op))
		return bf_add(b, name, S_IFREG | 0400, p->data, p->len);
	if (p->op == MSBVM_PATCH_COPY_FILE)
		return bf_file(b, name, p->src, what, 0777);
	if (p->op == MSBVM_PATCH_COPY_DIR)
		return bf_tree(b, p->src, name, what, 0);
	return 0;
}

static int bf_script(struct bf_buf *b, const struct cfg_script *s, unsigned i)
{
	char name[64], what[BCFG_MAX_SCRIPT_NAME + 16];

	snprintf(name, sizeof(name), "%s/s%u", &BCFG_FILES[1], i);
	snprintf(what, sizeof(what), "script %s", s->name);
	if (s->text)
		return bf_add(b, name, S_IFREG | 0400, s->text, strlen(s->text));
	return bf_file(b, name, s->host, what, 0400);
}

int bcfg_archive_files(const struct msbvm_config *c,
		       const struct bcfg_blob *dtb, struct bcfg_blob *out)
{
	struct bf_buf b = { 0 };
	int rc;

	if ((rc = bf_add(&b, BCFG_DIR, S_IFDIR | 0700, NULL, 0)) < 0 ||
	    (rc = bf_add(&b, &BCFG_PATH[1], S_IFREG | 0400, dtb->data, dtb->len)) < 0)
		goto fail;
	if (c && (c->n_patches || c->n_scripts) &&
	    (rc = bf_add(&b, &BCFG_FILES[1], S_IFDIR | 0700, NULL, 0)) < 0)
		goto fail;
	for (unsigned i = 0; c && i < c->n_patches; i++)
		if ((rc = bf_patch(&b, &c->patches[i], i)) < 0)
			goto fail;
	for (unsigned i = 0; c && i < c->n_scripts; i++)
		if ((rc = bf_script(&b, &c->scripts[i], i)) < 0)
			goto fail;
	if ((rc = bf_add(&b, "TRAILER!!!", 0, NULL, 0)) < 0)
		goto fail;
	out->data = b.data;
	out->len = b.len;
	return 0;
fail:
	free(b.data);
	return rc;
}

int bcfg_archive(const struct bcfg_blob *dtb, struct bcfg_blob *out)
{
	return bcfg_archive_files(NULL, dtb, out);
}
