#include "state.h"
#include "vmm/core/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Opens (with create, making them first: mode 0700, an existing one is
 * reused) the root and ROOT/NAME, both checked. Returns ROOT/NAME's fd;
 * the root's goes to *rootfd, or is closed when rootfd is NULL. */
static int state_open_dirs(const struct vmstate *s, bool create, int *rootfd)
{
	int r, d;

	if (create && mkdir(s->root, 0700) < 0 && errno != EEXIST)
		return err_set(errno, "state root %s: %s", s->root, strerror(errno));
	if ((r = state_opendir(AT_FDCWD, s->root, s->root)) < 0)
		return r;
	if (create && mkdirat(r, s->name, 0700) < 0 && errno != EEXIST)
		d = err_set(errno, "state directory %s: %s", s->dir, strerror(errno));
	else
		d = state_opendir(r, s->name, s->dir);
	if (d < 0 || !rootfd)
		close(r);
	else
		*rootfd = r;
	return d;
}

int state_create(struct vmstate *s, const char *root, const char *name)
{
	int rc = state_fill(s, root, name), d;
	pid_t pid;

	if (rc < 0)
		return rc;
	if ((d = state_open_dirs(s, true, NULL)) < 0)
		return d;
	close(d);
	if ((pid = state_pid(s)))
		return err_set(EEXIST, "a VM named '%s' is already running (pid %d)",
			       name, (int)pid);
	state_remove(s); /* left by a VMM that was killed */
	if ((d = state_open_dirs(s, true, NULL)) < 0)
		return d;
	close(d);
	return 0;
}

int state_open(struct vmstate *s, const char *root, const char *name)
{
	int rc = state_fill(s, root, name), d;

	if (rc < 0)
		return rc;
	if ((d = state_open_dirs(s, false, NULL)) < 0)
		return d == -ENOENT ? err_set(ENOENT, "no running VM named '%s' "
					      "(state root %s)", name, root) : d;
	close(d);
	if (!state_pid(s))
		return err_set(ENOENT, "no running VM named '%s' (state root %s)",
			       name, root);
	return 0;
}

int state_open_file(const struct vmstate *s, const char *file, int flags,
		    mode_t mode)
{
	int d, fd, e;

	/* one entry of the state directory: "../x" would leave it */
	if (!*file || strchr(file, '/') || !strcmp(file, ".") || !strcmp(file, ".."))
		return err_set(EINVAL, "%s: '%s' is not a file of the state directory",
			       s->dir, file);
	if ((d = state_open_dirs(s, false, NULL)) < 0)
		return d;
	/* O_NOFOLLOW: a symlink in place of kernel.log or pid.tmp would
	 * have us truncate and write whatever it points to */
	fd = openat(d, file, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	e = errno;
	close(d);
	if (fd < 0)
		return err_set(e, "%s/%s: %s", s->dir, file,
			       e == ELOOP ? "is a symbolic link: refusing to follow it"
					  : strerror(e));
	return fd;
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
	if (rc < 0 || (d = state_open_dirs(s, false, NULL)) < 0)
		return rc < 0 ? rc : d;
	/* atomic for readers; rename replaces a symlink named pid, it does
	 * not write through it */
	if (renameat(d, "pid.tmp", d, "pid") < 0)
		rc = err_set(errno, "%s/pid: %s", s->dir, strerror(errno));
	close(d);
	return rc;
}

pid_t state_pid(const struct vmstate *s)
{
	char p[PATH_MAX], comm[64] = "";
	int d = state_open_dirs(s, false, NULL);
	pid_t pid;
	FILE *f;

	if (d < 0)
		return 0;
	pid = state_read_pid(d);
	close(d);
	if (!pid || (kill(pid, 0) < 0 && errno == ESRCH))
		return 0;
	/* a recycled pid of another program is not our VMM */
	snprintf(p, sizeof(p), "/proc/%d/comm", (int)pid);
	if ((f = fopen(p, "r"))) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
	}
	return strncmp(comm, "msbvm", 5) ? 0 : pid;
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

void state_remove(const struct vmstate *s)
{
	int r, d = state_open_dirs(s, false, &r);

	if (d < 0)
		return; /* gone, or not ours to remove (err_msg says why) */
	state_clear(d);
	unlinkat(r, s->name, AT_REMOVEDIR);
	close(d);
	close(r);
}
