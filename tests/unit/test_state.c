/* Per-VM state directories: name rules, root selection, create / find /
 * stale reuse / remove, and the checks that keep another local user
 * (shared /tmp) from steering msbvm into a directory they control. */
#include "check.h"
#include "vmm/core/err.h"
#include "vmm/lib/lib.h"
#include "vmm/lib/state.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* a uid that is not ours: "another user" made the directory */
#define OTHER_UID 12345

static void test_names(void)
{
	char longname[80];

	CHECK(state_name_ok("web-1") && state_name_ok("a") && state_name_ok("x.y_z"));
	CHECK(!state_name_ok("") && !state_name_ok(".hidden") && !state_name_ok("-x"));
	CHECK(!state_name_ok("a/b") && !state_name_ok("a b") && !state_name_ok("../x"));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[79] = '\0';
	CHECK(!state_name_ok(longname));
}

static void test_root_select(void)
{
	char rootbuf[256];

	setenv("MSBVM_STATE_DIR", "/x/y", 1);
	state_root(NULL, rootbuf, sizeof(rootbuf));
	CHECK(!strcmp(rootbuf, "/x/y"));
	state_root("/opt", rootbuf, sizeof(rootbuf));
	CHECK(!strcmp(rootbuf, "/opt"));
	unsetenv("MSBVM_STATE_DIR");
	setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
	state_root(NULL, rootbuf, sizeof(rootbuf));
	CHECK(!strcmp(rootbuf, "/run/user/7/msbvm"));
	unsetenv("XDG_RUNTIME_DIR");
	state_root(NULL, rootbuf, sizeof(rootbuf));
	CHECK(!strcmp(rootbuf, geteuid() ? "/tmp/msbvm-" : "/run/msbvm") ||
	      (geteuid() && !strncmp(rootbuf, "/tmp/msbvm-", 11)));
}

/* Touches ROOT/NAME/file. */
static void touch(const struct vmstate *s, const char *file)
{
	char p[512];
	FILE *f = fopen(state_path(s, file, p, sizeof(p)), "w");

	CHECK(f != NULL);
	if (f)
		fclose(f);
}

static void test_basic(const char *dir)
{
	char root[256], p[512];
	struct vmstate st, st2;
	struct stat sb;

	snprintf(root, sizeof(root), "%s/root", dir);
	CHECK(state_create(&st, root, "bad/name") == -EINVAL);
	CHECK_STR_CONTAINS(err_msg(), "bad VM name 'bad/name'");
	CHECK(state_create(&st, root, "vm1") == 0);
	CHECK(stat(st.dir, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	      (sb.st_mode & 0777) == 0700);
	CHECK(stat(root, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	/* the creator holds the lock: running, whatever its pid's name */
	CHECK(st.lock_fd >= 0 && state_running(&st));
	CHECK(state_pid(&st) == 0); /* not written yet */
	CHECK(state_write_pid(&st, getpid()) == 0);
	CHECK(state_pid(&st) == getpid());
	CHECK(state_open(&st2, root, "vm1") == 0 && st2.lock_fd == -1);
	CHECK(state_open(&st2, root, "vm2") == -ENOENT);
	CHECK_STR_CONTAINS(err_msg(), "no running VM named 'vm2'");
	/* a directory left by a dead VMM is cleaned and reused */
	touch(&st, "kernel.log");
	state_close(&st);
	CHECK(state_open(&st2, root, "vm1") == -ENOENT);
	CHECK_STR_CONTAINS(err_msg(), "no running VM named 'vm1'");
	CHECK(state_create(&st2, root, "vm1") == 0);
	CHECK(access(state_path(&st, "kernel.log", p, sizeof(p)), F_OK) != 0);
	state_remove(&st2);
	CHECK(access(st2.dir, F_OK) != 0);
	rmdir(root);
}

/* state_create(root, "vm") fails with -err and a message with want. */
static void create_refused(const char *root, int err, const char *want)
{
	struct vmstate st;
	int rc = state_create(&st, root, "vm");

	CHECK(rc == -err);
	if (rc != -err)
		fprintf(stderr, "  state_create(%s): %d (%s)\n", root, rc, err_msg());
	CHECK_STR_CONTAINS(err_msg(), want);
	if (rc == 0)
		state_remove(&st);
}

/* A state root (e.g. /tmp/msbvm-UID, made in advance by another local
 * user) that msbvm does not fully own is refused, not used. */
static void test_root_owner(const char *dir)
{
	char root[256], want[512], p[512];

	snprintf(root, sizeof(root), "%s/theirs", dir);
	CHECK(mkdir(root, 0700) == 0);
	if (chown(root, OTHER_UID, OTHER_UID) < 0) {
		printf("state: not root, skipping the other-owner checks\n");
	} else {
		snprintf(want, sizeof(want), "state directory %s: owned by uid %d, "
			 "not %u: refusing to use it", root, OTHER_UID,
			 (unsigned)geteuid());
		create_refused(root, EPERM, want);
		CHECK(access(strcat(strcpy(p, root), "/vm"), F_OK) != 0);
	}
	rmdir(root);
	snprintf(root, sizeof(root), "%s/open", dir);
	CHECK(mkdir(root, 0700) == 0 && chmod(root, 0777) == 0);
	create_refused(root, EPERM, "writable by group or others (mode 0777)");
	CHECK(chmod(root, 01733) == 0);
	create_refused(root, EPERM, "writable by group or others");
	CHECK(chmod(root, 0755) == 0);
	create_refused(root, 0, "");
	rmdir(root);
	/* a planted symlink (to a directory the attacker can read) */
	snprintf(root, sizeof(root), "%s/link", dir);
	CHECK(symlink(dir, root) == 0);
	create_refused(root, ELOOP, "is a symbolic link: refusing to use it");
	unlink(root);
	snprintf(root, sizeof(root), "%s/file", dir);
	CHECK(close(creat(root, 0600)) == 0);
	create_refused(root, ENOTDIR, "not a directory");
	unlink(root);
}

/* The same for ROOT/NAME: msbvm reuses an existing one (stale), so it
 * must be ours too; state_open refuses it as well. */
static void test_name_owner(const char *dir)
{
	char root[256], p[512];
	struct vmstate st;

	snprintf(root, sizeof(root), "%s/r", dir);
	snprintf(p, sizeof(p), "%s/vm", root);
	CHECK(mkdir(root, 0700) == 0 && mkdir(p, 0700) == 0);
	if (chown(p, OTHER_UID, OTHER_UID) == 0) {
		create_refused(root, EPERM, "owned by uid 12345");
		CHECK_STR_CONTAINS(err_msg(), p);
		CHECK(state_open(&st, root, "vm") == -EPERM);
		CHECK(chown(p, geteuid(), getegid()) == 0);
	}
	CHECK(chmod(p, 0770) == 0);
	create_refused(root, EPERM, "writable by group or others (mode 0770)");
	CHECK(state_open(&st, root, "vm") == -EPERM);
	rmdir(p);
	/* ROOT/NAME a symlink to elsewhere: not followed */
	CHECK(symlink(dir, p) == 0);
	create_refused(root, ELOOP, "is a symbolic link");
	CHECK(state_open(&st, root, "vm") == -ELOOP);
	unlink(p);
	rmdir(root);
}

/* Whether path holds exactly text. */
static bool file_is(const char *path, const char *text)
{
	char buf[64] = "";
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return f && !strcmp(buf, text);
}

/* A symlink in the state directory (left there, or planted while the
 * directory was reachable) must not redirect our writes elsewhere. */
static void test_nofollow(const char *dir)
{
	char root[256], victim[256], p[512];
	struct vmstate st;

	snprintf(root, sizeof(root), "%s/nf", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	FILE *f = fopen(victim, "w");
	CHECK(f && fputs("keep", f) >= 0 && fclose(f) == 0);
	CHECK(state_create(&st, root, "vm") == 0);
	CHECK(symlink(victim, state_path(&st, "pid.tmp", p, sizeof(p))) == 0);
	CHECK(state_write_pid(&st, 4242) < 0);
	CHECK(file_is(victim, "keep"));
	unlink(p);
	/* "pid" itself a symlink: replaced by the rename, never written through */
	CHECK(symlink(victim, state_path(&st, "pid", p, sizeof(p))) == 0);
	CHECK(state_write_pid(&st, 4242) == 0);
	CHECK(file_is(victim, "keep") && file_is(p, "4242\n"));
	/* what callers open kernel.log and vmm.log with */
	unlink(p);
	CHECK(symlink(victim, state_path(&st, "kernel.log", p, sizeof(p))) == 0);
	CHECK(state_open_file(&st, "kernel.log", O_WRONLY | O_CREAT | O_TRUNC,
			      0600) == -ELOOP);
	CHECK_STR_CONTAINS(err_msg(), "kernel.log: is a symbolic link");
	CHECK(state_open_file(&st, "kernel.log", O_RDONLY, 0) == -ELOOP);
	CHECK(file_is(victim, "keep"));
	CHECK(state_open_file(&st, "../victim", O_RDONLY, 0) == -EINVAL);
	CHECK(state_open_file(&st, "..", O_RDONLY, 0) == -EINVAL);
	int fd = state_open_file(&st, "vmm.log", O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC)); /* added for us */
	if (fd >= 0)
		close(fd);
	state_remove(&st);
	CHECK(access(st.dir, F_OK) != 0 && file_is(victim, "keep"));
	unlink(victim);
	rmdir(root);
}

/* state_remove deletes the VM's own files only: a symlinked ROOT/NAME is
 * not followed into the directory it names, a symlink inside is removed
 * rather than its target. */
static void test_remove(const char *dir)
{
	char root[256], out[256], victim[300], p[512];
	struct vmstate st;

	snprintf(root, sizeof(root), "%s/rm", dir);
	snprintf(out, sizeof(out), "%s/elsewhere", dir);
	snprintf(victim, sizeof(victim), "%s/precious", out);
	CHECK(mkdir(out, 0700) == 0 && close(creat(victim, 0600)) == 0);
	CHECK(state_create(&st, root, "vm") == 0);
	CHECK(rmdir(st.dir) == 0 && symlink(out, st.dir) == 0);
	state_remove(&st); /* holding the lock */
	CHECK(access(victim, F_OK) == 0);
	state_remove(&st); /* not holding it: `msbvm stop` on a stale VM */
	CHECK(access(victim, F_OK) == 0);
	CHECK(unlink(st.dir) == 0);
	/* a symlink entry, and an (unexpected) empty subdirectory */
	CHECK(state_create(&st, root, "vm") == 0);
	CHECK(symlink(victim, state_path(&st, "kernel.log", p, sizeof(p))) == 0);
	CHECK(mkdir(state_path(&st, "sub", p, sizeof(p)), 0700) == 0);
	touch(&st, "pid");
	state_remove(&st);
	CHECK(access(st.dir, F_OK) != 0 && access(victim, F_OK) == 0);
	CHECK(unlink(victim) == 0 && rmdir(out) == 0 && rmdir(root) == 0);
}

/* Two `msbvm run --name x` at once: the loser must fail without touching
 * the live VM's directory; once the first is gone it is stale and reused. */
static void test_lock(const char *dir)
{
	char root[256], p[512], want[128];
	struct vmstate a, b;

	snprintf(root, sizeof(root), "%s/lk", dir);
	CHECK(state_create(&a, root, "x") == 0);
	CHECK(state_write_pid(&a, getpid()) == 0);
	touch(&a, "kernel.log");
	CHECK(state_create(&b, root, "x") == -EEXIST);
	snprintf(want, sizeof(want), "a VM named 'x' is already running (pid %d)",
		 (int)getpid());
	CHECK_STR_CONTAINS(err_msg(), want);
	CHECK(access(state_path(&a, "kernel.log", p, sizeof(p)), F_OK) == 0);
	CHECK(access(state_path(&a, "pid", p, sizeof(p)), F_OK) == 0);
	/* nor may a remover that does not hold the lock (`stop` racing) */
	CHECK(state_open(&b, root, "x") == 0 && state_pid(&b) == getpid());
	state_remove(&b);
	CHECK_STR_CONTAINS(err_msg(), want);
	CHECK(access(state_path(&a, "kernel.log", p, sizeof(p)), F_OK) == 0);
	CHECK(a.lock_fd >= 0 && b.lock_fd == -1 && state_running(&a));
	state_close(&a);
	CHECK(a.lock_fd == -1 && !state_running(&a) && state_pid(&a) == 0);
	CHECK(state_open(&b, root, "x") == -ENOENT);
	CHECK(access(a.dir, F_OK) == 0); /* closed, not removed */
	CHECK(state_create(&b, root, "x") == 0 && state_running(&b));
	CHECK(access(state_path(&b, "kernel.log", p, sizeof(p)), F_OK) != 0);
	CHECK(access(state_path(&b, "pid", p, sizeof(p)), F_OK) != 0);
	state_remove(&b);
	CHECK(b.lock_fd == -1 && access(b.dir, F_OK) != 0);
	state_close(&b); /* harmless after state_remove */
	rmdir(root);
}

/* A VMM killed by SIGKILL runs no cleanup: its VM must show as stale at
 * once, even while its pid lingers as an unreaped zombie named msbvm. */
static void test_killed(const char *dir)
{
	char root[256], c = 0;
	struct vmstate st, st2;
	int p[2];
	pid_t pid;
	siginfo_t si;

	snprintf(root, sizeof(root), "%s/kill", dir);
	CHECK(pipe(p) == 0);
	if ((pid = fork()) == 0) {
		prctl(PR_SET_NAME, "msbvm-vmm"); /* what the old check looked for */
		if (state_create(&st, root, "k") == 0 &&
		    state_write_pid(&st, getpid()) == 0)
			c = 'R';
		if (write(p[1], &c, 1) == 1)
			pause();
		_exit(1);
	}
	close(p[1]);
	CHECK(read(p[0], &c, 1) == 1 && c == 'R');
	close(p[0]);
	CHECK(state_open(&st, root, "k") == 0 && state_pid(&st) == pid);
	CHECK(state_create(&st2, root, "k") == -EEXIST);
	kill(pid, SIGKILL);
	CHECK(waitid(P_PID, pid, &si, WEXITED | WNOWAIT) == 0);
	CHECK(state_pid(&st) == 0);
	CHECK(state_open(&st2, root, "k") == -ENOENT);
	CHECK(!state_running(&st));
	waitpid(pid, NULL, 0);
	CHECK(state_create(&st2, root, "k") == 0);
	state_remove(&st2);
	CHECK(rmdir(root) == 0);
}

/* Many creators of one name at once: exactly one wins, and no loser
 * clears the winner's files. */
static void test_race(const char *dir)
{
	char root[256], p[512], c, want[32];
	int ready[2], hold[2], wins = 0, n;
	struct vmstate st;
	pid_t kids[8], winner = 0;

	snprintf(root, sizeof(root), "%s/race", dir);
	CHECK(pipe(ready) == 0 && pipe(hold) == 0);
	for (n = 0; n < 8 && (kids[n] = fork()) >= 0; n++) {
		if (kids[n])
			continue;
		close(hold[1]);
		c = state_create(&st, root, "r") == 0 &&
		    state_write_pid(&st, getpid()) == 0 ? 'R' : 'F';
		/* the winner holds the lock until the parent has looked */
		if (write(ready[1], &c, 1) == 1 && read(hold[0], &c, 1) == 0)
			_exit(0);
		_exit(1);
	}
	close(ready[1]);
	for (int i = 0; i < n; i++)
		if (read(ready[0], &c, 1) == 1 && c == 'R')
			wins++;
	CHECK(n == 8 && wins == 1);
	CHECK(state_open(&st, root, "r") == 0 && (winner = state_pid(&st)) > 0);
	snprintf(want, sizeof(want), "%d\n", (int)winner);
	CHECK(file_is(state_path(&st, "pid", p, sizeof(p)), want));
	close(hold[1]);
	for (int i = 0; i < n; i++)
		CHECK(waitpid(kids[i], NULL, 0) == kids[i]);
	close(ready[0]);
	close(hold[0]);
	CHECK(!state_running(&st));
	state_remove(&st);
	CHECK(rmdir(root) == 0);
}

/* The control token file: random, 0600, read back only when it is a
 * regular 0600 file of ours holding a token (token.c). */
static void test_token(const char *dir)
{
	char root[256], p[512], t1[PROTO_TOKEN_HEX + 1], t2[PROTO_TOKEN_HEX + 1];
	char back[PROTO_TOKEN_HEX + 1];
	struct vmstate st;
	struct stat sb;

	snprintf(root, sizeof(root), "%s/tok", dir);
	CHECK(state_create(&st, root, "vm") == 0);
	CHECK(token_new(t1) == 0 && token_new(t2) == 0);
	CHECK(proto_token_valid(t1) && proto_token_valid(t2) && strcmp(t1, t2));
	CHECK(token_load(&st, back) == -ENOENT && back[0] == '\0');
	mode_t um = umask(0); /* a lax umask must not make it readable */
	CHECK(token_store(&st, t1) == 0);
	umask(um);
	state_path(&st, "token", p, sizeof(p));
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600 &&
	      sb.st_uid == geteuid() && sb.st_size == PROTO_TOKEN_HEX);
	CHECK(token_load(&st, back) == 0 && !strcmp(back, t1));
	/* readable by others: someone may have it, refuse it */
	CHECK(chmod(p, 0644) == 0);
	CHECK(token_load(&st, back) == -EPERM && back[0] == '\0');
	CHECK_STR_CONTAINS(err_msg(), "mode 0600: refusing to use it");
	/* store fixes the mode of a file left behind */
	CHECK(token_store(&st, t2) == 0 && token_load(&st, back) == 0 &&
	      !strcmp(back, t2));
	/* not a token */
	FILE *f = fopen(p, "w");
	CHECK(f && fputs("0123", f) >= 0 && fclose(f) == 0);
	CHECK(token_load(&st, back) == -EINVAL);
	CHECK_STR_CONTAINS(err_msg(), "not a control token");
	/* a symlink planted in its place is not followed */
	CHECK(unlink(p) == 0 && symlink("/etc/hostname", p) == 0);
	CHECK(token_load(&st, back) == -ELOOP);
	CHECK(token_store(&st, t1) == -ELOOP);
	state_remove(&st);
	CHECK(rmdir(root) == 0);
}

int main(void)
{
	char dir[] = "/tmp/msbvm-state-XXXXXX";

	CHECK(mkdtemp(dir) != NULL);
	test_names();
	test_root_select();
	test_basic(dir);
	test_root_owner(dir);
	test_name_owner(dir);
	test_nofollow(dir);
	test_remove(dir);
	test_lock(dir);
	test_killed(dir);
	test_race(dir);
	test_token(dir);
	CHECK(rmdir(dir) == 0);
	return check_result("state");
}
