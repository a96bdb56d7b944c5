/* The file system side of patches (agentd/patch.c validated them):
 * each operation of the seed on paths of the root, with content from
 * the archive's BCFG_FILES (x->files_fd). Files are written under a
 * temporary name and renamed into place, so a reader never sees half a
 * file. */
#include "patch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool patch_fail(struct patch_ctx *x, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(x->err, x->errlen, "%s: ", x->what);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < x->errlen)
		vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* mkdir -p path (the last component with mode); errno on failure */
static bool patch_mkdirs(const char *path, unsigned mode)
{
	char p[PATH_MAX];
	struct stat st;
	size_t n = strlen(path);

	if (n >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return false;
	}
	memcpy(p, path, n + 1);
	for (char *s = p + 1;; s++) {
		bool last = !*s;
		if (*s != '/' && !last)
			continue;
		*s = '\0';
		if (mkdir(p, last ? mode : 0755) < 0 &&
		    (errno != EEXIST || stat(p, &st) < 0 || !S_ISDIR(st.st_mode))) {
			if (errno == EEXIST)
				errno = ENOTDIR;
			return false;
		}
		if (last)
			return true;
		*s = '/';
	}
}

bool patch_mkparents(const char *path)
{
	char p[PATH_MAX];
	char *slash;

	snprintf(p, sizeof(p), "%s", path);
	slash = strrchr(p, '/');
	if (!slash || slash == p)
		return true;
	*slash = '\0';
	return patch_mkdirs(p, 0755);
}

/* the entries of directory fd (closed here), recursively, staying on
 * its file system */
static int patch_rm_in(int fd, dev_t dev, unsigned depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	struct stat st;
	int rc = 0;

	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int sub = st.st_dev != dev || depth > 256 ? -1 :
				  openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY |
					 O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				patch_rm_in(sub, dev, depth + 1);
			if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) < 0)
				rc = -errno;
		} else if (unlinkat(dirfd(d), e->d_name, 0) < 0) {
			rc = -errno;
		}
	}
	closedir(d);
	return rc;
}

int patch_rm_rf(const char *path)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	patch_rm_in(fd, st.st_dev, 0);
	return rmdir(path) < 0 ? -errno : 0;
}

void patch_cleanup(int files_fd)
{
	struct stat st;
	int fd;

	if (files_fd < 0)
		return;
	if (fstat(files_fd, &st) == 0 && (fd = dup(files_fd)) >= 0)
		patch_rm_in(fd, st.st_dev, 0);
	close(files_fd);
}

/* src to dst until EOF; errno on failure */
static bool patch_copy(int src, int dst)
{
	static char buf[65536];

	for (;;) {
		ssize_t n = read(src, buf, sizeof(buf)), w;
		if (n == 0)
			return true;
		if (n < 0)
			return false;
		for (ssize_t off = 0; off < n; off += w)
			if ((w = write(dst, buf + off, (size_t)(n - off))) < 0)
				return false;
	}
}

bool patch_write(struct patch_ctx *x, const char *path, int src, unsigned mode)
{
	char tmp[PATH_MAX];
	struct stat st;
	int fd;

	if (!patch_mkparents(path))
		return patch_fail(x, "cannot create the directories above %s: %s",
				  path, strerror(errno));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.msbvm-XXXXXX", path) >= sizeof(tmp))
		return patch_fail(x, "path too long");
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return patch_fail(x, "cannot create %s: %s", tmp, strerror(errno));
	if (!patch_copy(src, fd) || fchmod(fd, mode) < 0 || close(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return patch_fail(x, "writing %s: %s", path, strerror(e));
	}
	/* replace: a directory in the way goes first (rename cannot) */
	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
		patch_rm_rf(path);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return patch_fail(x, "cannot move the new file to %s: %s", path,
				  strerror(e));
	}
	return true;
}

/* copyDir: the archive's tree at sfd (closed here) as dst */
static bool patch_tree(struct patch_ctx *x, int sfd, const char *dst,
		       unsigned depth)
{
	char p[PATH_MAX], target[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;
	bool ok = true;

	if (fstat(sfd, &st) < 0 || (mkdir(dst, 0700) < 0 && errno != EEXIST) ||
	    !(d = fdopendir(sfd))) {
		int err = errno;
		close(sfd);
		return patch_fail(x, "cannot create %s: %s", dst, strerror(err));
	}
	unsigned mode = st.st_mode & 07777;
	while (ok && (e = readdir(d))) {
		int fd;
		ssize_t n;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dst, e->d_name);
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			n = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
			target[n > 0 ? n : 0] = '\0';
			if (n <= 0 || symlink(target, p) < 0)
				ok = patch_fail(x, "symlink %s: %s", p, strerror(errno));
			continue;
		}
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
			    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
		if (fd < 0)
			ok = patch_fail(x, "%s: %s", e->d_name, strerror(errno));
		else if (S_ISDIR(st.st_mode))
			ok = depth < 128 && patch_tree(x, fd, p, depth + 1);
		else {
			ok = patch_write(x, p, fd, st.st_mode & 0777);
			close(fd);
		}
	}
	closedir(d);
	if (ok && chmod(dst, mode) < 0)
		return patch_fail(x, "chmod %s: %s", dst, strerror(errno));
	return ok;
}

/* the archive's member for this patch */
static int patch_src(struct patch_ctx *x, int flags)
{
	char name[32];
	int fd;

	snprintf(name, sizeof(name), "p%u", x->idx);
	fd = openat(x->files_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | flags);
	if (fd < 0)
		patch_fail(x, "its content (%s/%s) is missing: %s", BCFG_FILES, name,
			   strerror(errno));
	return fd;
}

static bool patch_content(struct patch_ctx *x, unsigned dflt)
{
	const struct agent_patch *p = x->p;
	struct stat st;
	int src = patch_src(x, 0);
	bool ok;

	if (src < 0)
		return false;
	if (p->op == AP_APPEND) {
		int dst = open(p->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
		ok = dst >= 0 && patch_copy(src, dst);
		if (!ok)
			patch_fail(x, "%s: %s", p->path, strerror(errno));
		if (dst >= 0)
			close(dst);
	} else {
		if (p->op == AP_COPY_FILE && fstat(src, &st) == 0)
			dflt = st.st_mode & 0777; /* the host file's */
		ok = patch_write(x, p->path, src, p->mode >= 0 ? (unsigned)p->mode : dflt);
	}
	close(src);
	return ok;
}

bool patch_op(struct patch_ctx *x)
{
	const struct agent_patch *p = x->p;
	int fd, rc;

	switch (p->op) {
	case AP_TEXT: case AP_FILE: case AP_APPEND: case AP_COPY_FILE:
		return patch_content(x, 0644);
	case AP_MKDIR:
		if (!patch_mkdirs(p->path, p->mode >= 0 ? (unsigned)p->mode : 0755))
			return patch_fail(x, "mkdir %s: %s", p->path, strerror(errno));
		return true;
	case AP_COPY_DIR:
		if ((fd = patch_src(x, O_DIRECTORY)) < 0)
			return false;
		if (p->replace)
			patch_rm_rf(p->path);
		if (!patch_mkparents(p->path)) {
			close(fd);
			return patch_fail(x, "cannot create the directories above %s: %s",
					  p->path, strerror(errno));
		}
		return patch_tree(x, fd, p->path, 0);
	case AP_SYMLINK:
		if (p->replace)
			patch_rm_rf(p->path);
		if (!patch_mkparents(p->path) || symlink(p->target, p->path) < 0)
			return patch_fail(x, "symlink %s -> %s: %s", p->path, p->target,
					  strerror(errno));
		return true;
	case AP_REMOVE:
		if ((rc = patch_rm_rf(p->path)) < 0)
			return patch_fail(x, "%s: %s", p->path, strerror(-rc));
		return true;
	default:
		return patch_fail(x, "unknown operation");
	}
}
