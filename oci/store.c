/* The image store under one root ($MSBVM_HOME):
 *   blobs/sha256/<hex>   content-addressed, complete and verified only
 *                        (written to tmp/, fsync'd, renamed: OCI image
 *                        layout's blobs/ naming)
 *   images/<hex>.ext4    the read-only base image of a manifest digest
 *   index.json           {"images": {REF: {digest, size, created, ...}}},
 *                        replaced atomically
 *   tmp/                 partial downloads and builds
 *   lock                 flock: one writer (pull, rmi, build) at a time,
 *                        so two pulls of one image download each blob once */
#include "oci_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int st_mkdir(const char *root, const char *sub, struct oci_err *e)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s%s%s", root, *sub ? "/" : "", sub);
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return oci_errf(e, errno, "%s: %s", p, strerror(errno));
	return 0;
}

static int st_mkdir_p(const char *path, struct oci_err *e)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return oci_errf(e, errno, "%s: %s", p, strerror(errno));
		*s = '/';
	}
	return st_mkdir(p, "", e);
}

void oci_store_default_root(char *buf, size_t len)
{
	const char *h = getenv("MSBVM_HOME"), *home = getenv("HOME");
	const char *xdg = getenv("XDG_DATA_HOME");

	if (h && *h)
		snprintf(buf, len, "%s", h);
	else if (geteuid() == 0)
		snprintf(buf, len, "/var/lib/msbvm");
	else if (xdg && *xdg)
		snprintf(buf, len, "%s/msbvm", xdg);
	else
		snprintf(buf, len, "%s/.local/share/msbvm", home ? home : "/tmp");
}

int oci_store_open(struct oci_store *s, const char *root, struct oci_err *e)
{
	char p[PATH_MAX];
	int rc;

	memset(s, 0, sizeof(*s));
	s->lock_fd = -1;
	if (root)
		snprintf(s->root, sizeof(s->root), "%s", root);
	else
		oci_store_default_root(s->root, sizeof(s->root));
	if ((rc = st_mkdir_p(s->root, e)) < 0 ||
	    (rc = st_mkdir(s->root, "blobs", e)) < 0 ||
	    (rc = st_mkdir(s->root, "blobs/sha256", e)) < 0 ||
	    (rc = st_mkdir(s->root, "images", e)) < 0 ||
	    (rc = st_mkdir(s->root, "tmp", e)) < 0)
		return rc;
	snprintf(p, sizeof(p), "%s/lock", s->root);
	s->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0)
		return oci_errf(e, errno, "%s: %s", p, strerror(errno));
	return 0;
}

void oci_store_close(struct oci_store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}

void oci_rmtree(const char *path, bool children_only)
{
	char p[PATH_MAX];
	char *const argv[] = { p, NULL };
	FTSENT *f;
	FTS *t;

	snprintf(p, sizeof(p), "%s", path);
	if (!(t = fts_open(argv, FTS_PHYSICAL | FTS_NOCHDIR, NULL)))
		return;
	while ((f = fts_read(t))) {
		if (children_only && f->fts_level == 0)
			continue;
		if (f->fts_info == FTS_D)
			chmod(f->fts_path, 0700); /* a 0555 dir from a layer */
		else if (f->fts_info == FTS_DP)
			rmdir(f->fts_path);
		else
			unlink(f->fts_path);
	}
	fts_close(t);
}

int oci_store_lock(struct oci_store *s, struct oci_err *e)
{
	char tmp[PATH_MAX];

	while (flock(s->lock_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return oci_errf(e, errno, "%s/lock: %s", s->root,
					strerror(errno));
	/* only a lock holder writes tmp/: what is there now was left by a
	 * pull that was killed (Ctrl-C, a crash) */
	snprintf(tmp, sizeof(tmp), "%s/tmp", s->root);
	oci_rmtree(tmp, true);
	return 0;
}

void oci_store_unlock(struct oci_store *s)
{
	flock(s->lock_fd, LOCK_UN);
}

void oci_store_blob_path(const struct oci_store *s, const char *digest,
			 char *buf, size_t len)
{
	/* digest validated by the caller: sha256:<hex> -> blobs/sha256/<hex> */
	snprintf(buf, len, "%s/blobs/sha256/%s", s->root, digest + 7);
}

void oci_store_image_path(const struct oci_store *s, const char *digest,
			  char *buf, size_t len)
{
	snprintf(buf, len, "%s/images/%s.ext4", s->root, digest + 7);
}

bool oci_store_has_blob(const struct oci_store *s, const char *digest,
			uint64_t size)
{
	char p[PATH_MAX];
	struct stat st;

	oci_store_blob_path(s, digest, p, sizeof(p));
	return !stat(p, &st) && (uint64_t)st.st_size == size;
}

int oci_store_read_blob(const struct oci_store *s, const char *digest,
			size_t max, struct oci_buf *b, struct oci_err *e)
{
	char p[PATH_MAX];
	struct stat st;
	int fd;
	ssize_t n;

	oci_store_blob_path(s, digest, p, sizeof(p));
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return oci_errf(e, errno, "blob %s: %s", digest, strerror(errno));
	if (fstat(fd, &st) < 0 || (size_t)st.st_size > max ||
	    !(b->data = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return oci_errf(e, EFBIG, "blob %s: too big or unreadable", digest);
	}
	n = read(fd, b->data, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		oci_buf_free(b);
		return oci_errf(e, EIO, "blob %s: short read", digest);
	}
	b->len = (size_t)n;
	b->data[n] = 0;
	return 0;
}

/* fsync the file, rename it into place, fsync the directory: after a
 * crash the name exists only with its complete contents */
int oci_store_commit(const char *tmp, int fd, const char *dst,
		     struct oci_err *e)
{
	char dir[PATH_MAX], *slash;
	int dfd;

	if (fsync(fd) < 0 || rename(tmp, dst) < 0)
		return oci_errf(e, errno, "%s: %s", dst, strerror(errno));
	snprintf(dir, sizeof(dir), "%s", dst);
	if ((slash = strrchr(dir, '/')))
		*slash = 0;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int oci_store_put_blob(const struct oci_store *s, const char *digest,
		       const void *data, size_t len, struct oci_err *e)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd, rc;

	oci_store_blob_path(s, digest, dst, sizeof(dst));
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s.%d", s->root, digest + 7,
		 (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return oci_errf(e, errno, "%s: %s", tmp, strerror(errno));
	if (write(fd, data, len) != (ssize_t)len)
		rc = oci_errf(e, EIO, "%s: short write", tmp);
	else
		rc = oci_store_commit(tmp, fd, dst, e);
	close(fd);
	if (rc)
		unlink(tmp);
	return rc;
}
