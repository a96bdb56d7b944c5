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

int state_write_pid(const struct vmstate *s, pid_t pid)
{
	char p[PATH_MAX], tmp[PATH_MAX];
	FILE *f;

	state_path(s, "pid.tmp", tmp, sizeof(tmp));
	if (!(f = fopen(tmp, "w")) || fprintf(f, "%d\n", (int)pid) < 0 ||
	    fclose(f) != 0 || rename(tmp, state_path(s, "pid", p, sizeof(p))) < 0)
		return err_set(errno, "%s: %s", tmp, strerror(errno));
	return 0;
}

pid_t state_pid(const struct vmstate *s)
{
	char p[PATH_MAX], comm[64] = "";
	int pid = 0;
	FILE *f = fopen(state_path(s, "pid", p, sizeof(p)), "r");

	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1 || pid <= 0)
		pid = 0;
	fclose(f);
	if (!pid || (kill(pid, 0) < 0 && errno == ESRCH))
		return 0;
	/* a recycled pid of another program is not our VMM */
	snprintf(p, sizeof(p), "/proc/%d/comm", pid);
	if ((f = fopen(p, "r"))) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
	}
	return strncmp(comm, "msbvm", 5) ? 0 : (pid_t)pid;
}

void state_remove(const struct vmstate *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(s->dir);
}
