/* Per-VM state: one directory per VM under a state root, holding the
 * console log (kernel.log), the vsock control socket (vsock.sock), the
 * VMM's pid and its own log. `msbvm exec/cp/ls/stop` find VMs here.
 *
 * A VM runs while its VMM holds an exclusive flock on ROOT/NAME (taken by
 * state_create, kept in lock_fd until state_close/state_remove or the
 * VMM's exit, however it exits); a directory whose lock nobody holds is
 * stale: what a VMM that died left behind. */
#ifndef MSBVM_STATE_H
#define MSBVM_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#define STATE_NAME_MAX 64

struct vmstate {
	char root[PATH_MAX / 4];
	char name[STATE_NAME_MAX + 1];
	char dir[PATH_MAX / 2];
	/* ROOT/NAME, O_RDONLY|O_DIRECTORY|O_CLOEXEC, flock(LOCK_EX) held:
	 * >= 0 after state_create; -1 when not held (state_open, after
	 * state_close/state_remove, or after any failed create/open). */
	int lock_fd;
};

/* --state-dir, else $MSBVM_STATE_DIR, $XDG_RUNTIME_DIR/msbvm, /run/msbvm
 * (root) or /tmp/msbvm-UID, the first that is set; only picks the path.
 *
 * What is checked, by every function that opens a state directory: the
 * root and ROOT/NAME (the levels msbvm creates, or reuses when they exist)
 * are opened without following a symlink and must be directories owned by
 * geteuid() and not writable by group or others (mode & 022 == 0); else
 * -ELOOP / -ENOTDIR / -EPERM "state directory D: ...: refusing to use it".
 * Parents msbvm does not create (/run, $XDG_RUNTIME_DIR, /tmp) are not
 * checked. */
void state_root(const char *opt, char *out, size_t len);
/* [A-Za-z0-9][A-Za-z0-9_.-]{0,63} */
bool state_name_ok(const char *name);
/* Creates ROOT/NAME (mode 0700; the root too when missing) and takes its
 * lock, held in s->lock_fd for the VM's lifetime. A stale directory is
 * reused: emptied (as by state_remove) after the lock is taken. One whose
 * VMM still runs is -EEXIST "a VM named 'x' is already running (pid N)",
 * and nothing in it is touched. -errno with err_msg(); s->lock_fd is then
 * -1. s must not hold a lock already. */
int state_create(struct vmstate *s, const char *root, const char *name);
/* Finds a running VM (state_running); -ENOENT "no running VM named ..."
 * otherwise, or the check's error. Takes no lock (s->lock_fd = -1); s's
 * paths are filled even on failure, unless the name is bad (-EINVAL). */
int state_open(struct vmstate *s, const char *root, const char *name);
/* Whether a VMM holds ROOT/NAME's lock (true for the creator itself):
 * probed with a LOCK_SH|LOCK_NB flock on a fresh fd, released at once.
 * A VMM killed by SIGKILL reads as not running as soon as it has exited. */
bool state_running(const struct vmstate *s);
/* ROOT/NAME/file into out. */
const char *state_path(const struct vmstate *s, const char *file, char *out,
		       size_t len);
/* Opens ROOT/NAME/file (one name, no '/') with flags | O_NOFOLLOW |
 * O_CLOEXEC, relative to the checked directory (s->lock_fd when held): a
 * symlink there is refused (-ELOOP), never followed. The fd, or -errno
 * with err_msg(). */
int state_open_file(const struct vmstate *s, const char *file, int flags,
		    mode_t mode);
/* Writes pid to pid.tmp (via state_open_file) and renames it to pid. */
int state_write_pid(const struct vmstate *s, pid_t pid);
/* The pid in the pid file while the VM runs (state_running), else 0; also
 * 0 while a starting VMM has not written it yet. */
pid_t state_pid(const struct vmstate *s);
/* Releases the lock (closes lock_fd) without removing anything: the
 * directory becomes stale. Idempotent; s->lock_fd = -1 after. */
void state_close(struct vmstate *s);
/* Removes the directory and what msbvm put in it, through a directory fd
 * opened O_NOFOLLOW: a symlinked ROOT/NAME (or one failing the checks
 * above) is left alone, a symlink inside is unlinked, not followed, an
 * empty subdirectory is removed, a non-empty one stays (and so does the
 * directory). With s->lock_fd held, removes, then releases the lock
 * (s->lock_fd = -1); without, takes the lock first and removes nothing
 * while a VMM runs there (err_msg says so). */
void state_remove(struct vmstate *s);

#endif
