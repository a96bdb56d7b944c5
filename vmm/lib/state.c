#include "state.h"
#include "vmm/core/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void state_root(const char *opt, char *out, size_t len)
{
	const char *e = getenv("MSBVM_STATE_DIR"), *x = getenv("XDG_RUNTIME_DIR");

	if (opt)
		snprintf(out, len, "%s", opt);
	else if (e && *e)
		snprintf(out, len, "%s", e);
	else if (x && *x)
		snprintf(out, len, "%s/msbvm", x);
	else if (geteuid() == 0)
		snprintf(out, len, "/run/msbvm");
	else
		snprintf(out, len, "/tmp/msbvm-%u", (unsigned)geteuid());
}

bool state_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > STATE_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789_.-") == n;
}

const char *state_path(const struct vmstate *s, const char *file, char *out,
		       size_t len)
{
	snprintf(out, len, "%s/%s", s->dir, file);
	return out;
}

static int state_fill(struct vmstate *s, const char *root, const char *name)
{
	s->lock_fd = -1;
	if (!state_name_ok(name))
		return err_set(EINVAL, "bad VM name '%s': use 1-%d letters, digits, "
			       "'_', '.' or '-', not starting with '.' or '-'",
			       name, STATE_NAME_MAX);
	if (strlen(root) + 1 > sizeof(s->root) ||
	    strlen(root) + strlen(name) + 40 > sizeof(s->dir))
		return err_set(ENAMETOOLONG, "state directory %s: path too long", root);
	snprintf(s->root, sizeof(s->root), "%.*s", (int)sizeof(s->root) - 1, root);
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->dir, sizeof(s->dir), "%s/%s", root, name);
	return 0;
}

/* Refuses a state directory msbvm does not fully own. Each level msbvm
 * creates may already exist, made by someone else: /tmp/msbvm-UID in a
 * shared /tmp can be created in advance by any local user, who could then
 * swap ROOT/NAME, kernel.log or vsock.sock under us (read the console,
 * impersonate the agent's socket). So the directory must be ours and
 * writable by nobody else. */
static int state_check_dir(const struct stat *st, const char *path)
{
	if (!S_ISDIR(st->st_mode))
		return err_set(ENOTDIR, "state directory %s: not a directory", path);
	if (st->st_uid != geteuid())
		return err_set(EPERM, "state directory %s: owned by uid %u, not %u: "
			       "refusing to use it", path, (unsigned)st->st_uid,
			       (unsigned)geteuid());
	if (st->st_mode & 022)
		return err_set(EPERM, "state directory %s: writable by group or others "
			       "(mode %04o): refusing to use it", path,
			       (unsigned)(st->st_mode & 07777));
	return 0;
}

/* Opens the state-directory level `name` (relative to `at`; path names it
 * in messages) and checks it. O_NOFOLLOW: a symlink planted in its place
 * would send us into a directory someone else controls; the checks then
 * run on what we opened (fstat), not on a name that can change. */
static int state_opendir(int at, const char *name, const char *path)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int e = errno, rc;

	if (fd < 0) {
		if ((e == ELOOP || e == ENOTDIR) &&
		    fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			return err_set(ELOOP, "state directory %s: is a symbolic link: "
				       "refusing to use it", path);
		if (e == ENOTDIR)
			return err_set(e, "state directory %s: not a directory", path);
		return err_set(e, "state directory %s: %s", path, strerror(e));
	}
	if (fstat(fd, &st) < 0)
		rc = err_set(errno, "state directory %s: %s", path, strerror(errno));
	else
		rc = state_check_dir(&st, path);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Opens the state root, making it first (mode 0700) with create. */
static int state_open_root(const struct vmstate *s, bool create)
{
	if (create && mkdir(s->root, 0700) < 0 && errno != EEXIST)
		return err_set(errno, "state root %s: %s", s->root, strerror(errno));
	return state_opendir(AT_FDCWD, s->root, s->root);
}

/* Opens ROOT/NAME, both levels checked: a fresh open file description. */
static int state_open_dirs(const struct vmstate *s)
{
	int r = state_open_root(s, false), d;

	if (r < 0)
		return r;
	d = state_opendir(r, s->name, s->dir);
	close(r);
	return d;
}

/* The directory to work in: the locked one we hold, else a fresh one the
 * caller closes (it is not s->lock_fd). */
static int state_dirfd(const struct vmstate *s)
{
	return s->lock_fd >= 0 ? s->lock_fd : state_open_dirs(s);
}

/* Reads the pid file: the pid, or 0 when missing or not a pid. */
static pid_t state_read_pid(int d)
{
	char buf[24];
	int fd = openat(d, "pid", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	long pid;
	char *end;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return pid > 0 && pid <= INT_MAX && (*end == '\n' || !*end) ? (pid_t)pid : 0;
}

/* Empties the state directory d. Everything goes through d, never a path:
 * unlinkat removes a symlink entry itself, not its target, and a directory
 * swapped in for ROOT/NAME meanwhile is not touched. msbvm makes no
 * subdirectories; an empty one is removed, a full one stays. */
static void state_clear(int d)
{
	/* our own open file description: readdir must not move d's offset */
	int fd = openat(d, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(d, de->d_name, 0) < 0 && errno == EISDIR)
			unlinkat(d, de->d_name, AT_REMOVEDIR);
	}
	closedir(dir);
}

/* Whether another open file description holds d's lock. A VMM holds it
 * from state_create until it exits, however it exits: the kernel drops it
 * with the last fd, SIGKILL included, so unlike a pid (which lingers as a
 * zombie, then is recycled) it cannot outlive the VMM. The probe takes the
 * lock shared on a description of its own: on d itself it would convert
 * the lock d holds. */
static bool state_held(int d)
{
	int fd = openat(d, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool held;

	if (fd < 0)
		return false;
	held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd); /* drops the shared lock if we got it */
	return held;
}

/* flock(how | LOCK_NB), retried for ~10 ms: `ls` and `stop` probe the lock
 * (state_held) for an instant, which must not make a creator or remover
 * take a stale VM for a running one. 0 or -errno. */
static int state_flock(int fd, int how)
{
	for (int i = 0;; i++) {
		if (flock(fd, how | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK || i == 10)
			return -errno;
		nanosleep(&(struct timespec){ 0, 1000 * 1000 }, NULL);
	}
}

/* Whether d is still ROOT/NAME (r: the root): a remover may have taken the
 * lock and removed the directory between our open and our flock. */
static bool state_same(int r, const char *name, int d)
{
	struct stat a, b;

	return fstat(d, &a) == 0 && fstatat(r, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Opens ROOT/NAME and locks it exclusively: then it is ours to set up or
 * remove, and no VMM runs in it. The fd; -EEXIST "already running" when
 * another holds the lock; -EAGAIN when it was removed before we had it. */
static int state_lock(const struct vmstate *s, int r)
{
	int d = state_opendir(r, s->name, s->dir), rc;
	pid_t pid;

	if (d < 0)
		return d;
	if ((rc = state_flock(d, LOCK_EX)) < 0) {
		pid = rc == -EWOULDBLOCK ? state_read_pid(d) : 0;
		close(d);
		if (rc != -EWOULDBLOCK)
			return err_set(-rc, "state directory %s: flock: %s", s->dir,
				       strerror(-rc));
		if (!pid)
			return err_set(EEXIST, "a VM named '%s' is already running "
				       "(starting up)", s->name);
		return err_set(EEXIST, "a VM named '%s' is already running (pid %d)",
			       s->name, (int)pid);
	}
	if (!state_same(r, s->name, d)) {
		close(d);
		return err_set(EAGAIN, "state directory %s: removed while we opened it",
			       s->dir);
	}
	return d;
}

int state_create(struct vmstate *s, const char *root, const char *name)
{
	int rc = state_fill(s, root, name), r, d = -EAGAIN;

	/* again while a remover (`msbvm stop` of the stale VM, or a racing
	 * creator's teardown) deletes the directory under us: each retry
	 * means another party got somewhere; bounded so that something
	 * removing it in a loop cannot hang us */
	for (int i = 0; rc == 0 && d == -EAGAIN && i < 100; i++) {
		if ((r = state_open_root(s, true)) < 0)
			return r;
		if (mkdirat(r, s->name, 0700) < 0 && errno != EEXIST)
			d = err_set(errno, "state directory %s: %s", s->dir,
				    strerror(errno));
		else if ((d = state_lock(s, r)) == -ENOENT)
			d = -EAGAIN; /* removed between our mkdirat and open */
		close(r);
	}
	if (rc < 0 || d < 0)
		return rc < 0 ? rc : d;
	/* what a VMM that died left (it no longer holds the lock); holding
	 * it first means two racing creators cannot both clear, and the
	 * loser never clears the winner's files */
	state_clear(d);
	s->lock_fd = d;
	return 0;
}

int state_open(struct vmstate *s, const char *root, const char *name)
{
	int rc = state_fill(s, root, name), d;
	bool held;

	if (rc < 0)
		return rc;
	if ((d = state_open_dirs(s)) < 0 && d != -ENOENT)
		return d;
	held = d >= 0 && state_held(d);
	if (d >= 0)
		close(d);
	if (!held)
		return err_set(ENOENT, "no running VM named '%s' (state root %s)",
			       name, root);
	return 0;
}

bool state_running(const struct vmstate *s)
{
	int d = state_open_dirs(s);
	bool held = d >= 0 && state_held(d);

	if (d >= 0)
		close(d);
	return held;
}

int state_open_file(const struct vmstate *s, const char *file, int flags,
		    mode_t mode)
{
	int d, fd, e;

	/* one entry of the state directory: "../x" would leave it */
	if (!*file || strchr(file, '/') || !strcmp(file, ".") || !strcmp(file, ".."))
		return err_set(EINVAL, "%s: '%s' is not a file of the state directory",
			       s->dir, file);
	if ((d = state_dirfd(s)) < 0)
		return d;
	/* O_NOFOLLOW: a symlink in place of kernel.log or pid.tmp would
	 * have us truncate and write whatever it points to */
	fd = openat(d, file, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	e = errno;
	if (d != s->lock_fd)
		close(d);
	if (fd < 0)
		return err_set(e, "%s/%s: %s", s->dir, file,
			       e == ELOOP ? "is a symbolic link: refusing to follow it"
					  : strerror(e));
	return fd;
}

int state_write_pid(const struct vmstate *s, pid_t pid)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid), fd, d, rc = 0;
	ssize_t w;

	if ((fd = state_open_file(s, "pid.tmp", O_WRONLY | O_CREAT | O_TRUNC,
				  0600)) < 0)
		return fd;
	if ((w = write(fd, buf, n)) != n)
		rc = err_set(w < 0 ? errno : EIO, "%s/pid.tmp: %s", s->dir,
			     strerror(w < 0 ? errno : EIO));
	if (close(fd) < 0 && rc == 0)
		rc = err_set(errno, "%s/pid.tmp: %s", s->dir, strerror(errno));
	if (rc < 0 || (d = state_dirfd(s)) < 0)
		return rc < 0 ? rc : d;
	/* atomic for readers; rename replaces a symlink named pid, it does
	 * not write through it */
	if (renameat(d, "pid.tmp", d, "pid") < 0)
		rc = err_set(errno, "%s/pid: %s", s->dir, strerror(errno));
	if (d != s->lock_fd)
		close(d);
	return rc;
}

pid_t state_pid(const struct vmstate *s)
{
	int d = state_open_dirs(s);
	pid_t pid = d >= 0 && state_held(d) ? state_read_pid(d) : 0;

	if (d >= 0)
		close(d);
	return pid;
}

void state_close(struct vmstate *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}

void state_remove(struct vmstate *s)
{
	int r = state_open_root(s, false), d = s->lock_fd;

	s->lock_fd = -1;
	/* not ours yet: take the lock first, so that a `stop` racing a new
	 * `run` of the same name never empties the directory of a VMM
	 * that runs (err_msg says so) */
	if (d < 0 && r >= 0)
		d = state_lock(s, r);
	if (d >= 0) {
		state_clear(d);
		if (r >= 0 && state_same(r, s->name, d))
			unlinkat(r, s->name, AT_REMOVEDIR);
		close(d); /* the lock goes last, after the unlinking */
	}
	if (r >= 0)
		close(r);
}
