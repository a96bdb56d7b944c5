/* Per-VM state: one directory per VM under a state root, holding the
 * console log (kernel.log), the vsock control socket (vsock.sock), the
 * VMM's pid and its own log. `msbvm exec/cp/ls/stop` find VMs here. */
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
/* Creates ROOT/NAME; a directory left by a VMM that died is reused, one
 * whose VMM still runs is an error. -errno with err_msg(). */
int state_create(struct vmstate *s, const char *root, const char *name);
/* Finds an existing VM; -ENOENT "no VM named ..." otherwise. */
int state_open(struct vmstate *s, const char *root, const char *name);
/* ROOT/NAME/file into out. */
const char *state_path(const struct vmstate *s, const char *file, char *out,
		       size_t len);
/* Opens ROOT/NAME/file (one name, no '/') with flags | O_NOFOLLOW |
 * O_CLOEXEC, relative to the checked directory: a symlink there is
 * refused (-ELOOP), never followed. The fd, or -errno with err_msg(). */
int state_open_file(const struct vmstate *s, const char *file, int flags,
		    mode_t mode);
/* Writes pid to pid.tmp (via state_open_file) and renames it to pid. */
int state_write_pid(const struct vmstate *s, pid_t pid);
/* The VMM's pid if it is alive, else 0. */
pid_t state_pid(const struct vmstate *s);
/* Removes the directory and what msbvm put in it, through a directory fd
 * opened O_NOFOLLOW: a symlinked ROOT/NAME (or one failing the checks
 * above) is left alone, a symlink inside is unlinked, not followed, an
 * empty subdirectory is removed, a non-empty one stays (and so does the
 * directory). */
void state_remove(const struct vmstate *s);

#endif
