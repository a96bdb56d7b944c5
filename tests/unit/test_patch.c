/* agentd's patches and scripts (agentd/patch.c, patch_ops.c) on the host:
 * in a child chrooted into a scratch root (root, or a user namespace of
 * our own where unprivileged ones are allowed), so that the absolute
 * guest paths land in the scratch tree. The seed's semantics: the eight
 * operations, replace, idempotent mkdir/remove, validation of the whole
 * list before anything is written, and the message naming index, op and
 * path. */
#include "check.h"
#include "agentd/config.h"
#include "agentd/patch.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* agentd's main.c is not in libagentd.a */
void agent_log(const char *fmt, ...)
{
	(void)fmt;
}

static char top[64], root[128], files[128];

static void put(const char *dir, const char *rel, const char *text, mode_t mode)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	CHECK((f = fopen(p, "w")) != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(p, mode);
}

static void sub(const char *dir, const char *rel, mode_t mode)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	CHECK(mkdir(p, mode) == 0 || errno == EEXIST);
	chmod(p, mode);
}

/* a fresh root (an image's /etc, /home) and archive members */
static void fresh(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/root %s/files", top, top);
	CHECK(system(cmd) == 0);
	sub(top, "root", 0755);
	sub(top, "files", 0700);
	sub(root, "etc", 0755);
	sub(root, "home", 0755);
	sub(root, "home/app", 0755);
	put(root, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
	put(root, "etc/hosts", "127.0.0.1 localhost\n", 0644);
}

/* apply c's patches and scripts chrooted into root; "" or agentd's
 * message */
static const char *apply(const struct agent_cfg *c)
{
	static char err[1200];
	int pfd[2], st = 0;
	ssize_t n;

	CHECK(pipe(pfd) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		int ffd = open(files, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		char e[1200] = "";
		uid_t uid = getuid();

		if (uid != 0 && unshare(CLONE_NEWUSER) == 0) {
			char m[64];
			int fd = open("/proc/self/setgroups", O_WRONLY);
			if (fd >= 0 && write(fd, "deny", 4) < 0)
				_exit(3);
			snprintf(m, sizeof(m), "0 %u 1", (unsigned)uid);
			fd = open("/proc/self/uid_map", O_WRONLY);
			if (fd < 0 || write(fd, m, strlen(m)) < 0)
				_exit(3);
		}
		if (chroot(root) < 0 || chdir("/") < 0)
			_exit(3);
		umask(022);
		if (!patch_apply(c, ffd, e, sizeof(e)) ||
		    !patch_scripts(c, ffd, e, sizeof(e)))
			if (write(pfd[1], e, strlen(e)) < 0)
				_exit(4);
		patch_cleanup(ffd);
		_exit(0);
	}
	close(pfd[1]);
	n = read(pfd[0], err, sizeof(err) - 1);
	err[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
		snprintf(err, sizeof(err), "SKIP");
	return err;
}

static const char *slurp(const char *rel)
{
	static char buf[256];
	char p[512];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (!(f = fopen(p, "r")))
		return "(missing)";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static unsigned mode_of(const char *rel)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return lstat(p, &st) == 0 ? st.st_mode & 07777 : 0xdead;
}

static bool exists(const char *rel)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return lstat(p, &st) == 0;
}

/* a patch with the default mode (-1); PX: and more fields; PM: a mode */
#define P(op_, path_) ((struct agent_patch){ .op = op_, .path = path_, .mode = -1 })
#define PX(op_, path_, ...) ((struct agent_patch){ .op = op_, .path = path_, \
						   .mode = -1, __VA_ARGS__ })
#define PM(op_, path_, mode_) ((struct agent_patch){ .op = op_, .path = path_, \
						     .mode = mode_ })

/* the seed's operations, in one list */
static bool test_all_ops(void)
{
	static struct agent_cfg c;

	fresh();
	put(files, "p0", "Hello\n", 0400);
	put(files, "p1", "root::0:0\n", 0400);
	put(files, "p2", "\x01\x02", 0400);
	put(files, "p5", "1.2.3.4 app\n", 0400);
	put(files, "p6", "PEM\n", 0600);
	sub(files, "p7", 0750);
	sub(files, "p7/sub", 0755);
	put(files, "p7/sub/f", "deep\n", 0640);
	char lp[300];
	snprintf(lp, sizeof(lp), "%s/p7/ln", files);
	CHECK(symlink("sub/f", lp) == 0);
	put(files, "p10", "again\n", 0400);
	put(files, "s0", "#!/bin/sh\necho hi\n", 0400);
	c.patches[0] = P(AP_TEXT, "/etc/greeting.txt");
	c.patches[1] = PX(AP_TEXT, "/etc/passwd", .replace = true);
	c.patches[2] = PM(AP_FILE, "/opt/deep/bin.dat", 0600);
	c.patches[3] = PM(AP_MKDIR, "/app", 0700);
	c.patches[4] = P(AP_MKDIR, "/app");
	c.patches[5] = P(AP_APPEND, "/etc/hosts");
	c.patches[6] = P(AP_COPY_FILE, "/etc/ssl/cert.pem");
	c.patches[7] = P(AP_COPY_DIR, "/opt/tree");
	c.patches[8] = PX(AP_SYMLINK, "/usr/local/greeting", .target = "/etc/greeting.txt");
	c.patches[9] = P(AP_REMOVE, "/home");
	/* an append after a text of the same patch list, a remove of nothing */
	c.patches[10] = P(AP_APPEND, "/etc/greeting.txt");
	c.patches[11] = P(AP_REMOVE, "/no/such/thing");
	c.n_patches = 12;
	c.scripts[0] = "setup";
	c.n_scripts = 1;
	const char *e = apply(&c);
	if (!strcmp(e, "SKIP"))
		return false;
	CHECK_STR_CONTAINS("", e);
	CHECK(!strcmp(slurp("etc/greeting.txt"), "Hello\nagain\n"));
	CHECK(mode_of("etc/greeting.txt") == 0644);
	CHECK(!strcmp(slurp("etc/passwd"), "root::0:0\n"));
	CHECK(!strcmp(slurp("opt/deep/bin.dat"), "\x01\x02") && mode_of("opt/deep/bin.dat") == 0600);
	CHECK(mode_of("opt/deep") == 0755);
	CHECK(mode_of("app") == 0700);
	CHECK(!strcmp(slurp("etc/hosts"), "127.0.0.1 localhost\n1.2.3.4 app\n"));
	CHECK(!strcmp(slurp("etc/ssl/cert.pem"), "PEM\n") && mode_of("etc/ssl/cert.pem") == 0600);
	CHECK(mode_of("opt/tree") == 0750 && !strcmp(slurp("opt/tree/sub/f"), "deep\n"));
	CHECK(mode_of("opt/tree/sub/f") == 0640 && !strcmp(slurp("opt/tree/ln"), "deep\n"));
	char link[64] = "";
	snprintf(lp, sizeof(lp), "%s/usr/local/greeting", root);
	CHECK(readlink(lp, link, sizeof(link) - 1) == 17 && !strcmp(link, "/etc/greeting.txt"));
	CHECK(!exists("home"));
	CHECK(!strcmp(slurp(".msb/scripts/setup"), "#!/bin/sh\necho hi\n") &&
	      mode_of(".msb/scripts/setup") == 0755);
	/* no temporary left behind; the members are deleted after use */
	CHECK(system("ls -a /tmp/test_patch.*/root/etc | grep -q msbvm-") != 0);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "[ -z \"$(ls -A %s)\" ]", files);
	CHECK(system(cmd) == 0);
	return true;
}

/* validation first: a refused patch leaves the root as it was */
static void refused(struct agent_cfg *c, const char *want)
{
	const char *e = apply(c);

	CHECK_STR_CONTAINS(e, want);
	CHECK(!exists("newdir") && !exists("etc/new.txt"));
	CHECK(!strcmp(slurp("etc/passwd"), "root:x:0:0::/root:/bin/sh\n"));
}

static void test_refused(void)
{
	static struct agent_cfg c;

	fresh();
	put(files, "p1", "new\n", 0400);
	put(files, "p2", "x\n", 0400);
	c.patches[0] = P(AP_MKDIR, "/newdir");
	c.patches[1] = P(AP_TEXT, "/etc/new.txt");
	c.patches[2] = P(AP_TEXT, "/etc/passwd");
	c.n_patches = 3;
	refused(&c, "patch 2 (text /etc/passwd): /etc/passwd already exists (set replace");
	c.patches[2] = P(AP_APPEND, "/etc/none");
	refused(&c, "patch 2 (append /etc/none): /etc/none does not exist: append needs");
	c.patches[2] = P(AP_APPEND, "/home");
	refused(&c, "patch 2 (append /home): /home is a directory");
	c.patches[2] = P(AP_MKDIR, "/etc/passwd");
	refused(&c, "patch 2 (mkdir /etc/passwd): /etc/passwd exists and is not a directory");
	c.patches[2] = PX(AP_SYMLINK, "/etc/hosts", .target = "/x");
	refused(&c, "patch 2 (symlink /etc/hosts): /etc/hosts already exists");
	/* what earlier patches make counts: the text made /etc/new.txt */
	c.patches[2] = P(AP_TEXT, "/etc/new.txt");
	refused(&c, "patch 2 (text /etc/new.txt): /etc/new.txt already exists");
	/* ... and parents they make; a remove makes a path free again */
	c.patches[2] = P(AP_COPY_DIR, "/newdir");
	refused(&c, "patch 2 (copyDir /newdir): /newdir already exists");
	c.patches[0] = P(AP_REMOVE, "/etc");
	c.patches[2] = P(AP_TEXT, "/etc/passwd");
	put(files, "p1", "new\n", 0400); /* (each apply deletes them) */
	put(files, "p2", "x\n", 0400);
	c.n_patches = 3;
	const char *e = apply(&c);
	CHECK_STR_CONTAINS("", e);
	CHECK(!strcmp(slurp("etc/passwd"), "x\n") && !exists("etc/hosts"));
}

int main(void)
{
	CHECK(mkdtemp(strcpy(top, "/tmp/test_patch.XXXXXX")) != NULL);
	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(files, sizeof(files), "%s/files", top);
	if (test_all_ops())
		test_refused();
	else
		printf("test_patch: SKIP (no chroot: not root, no user namespaces)\n");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	CHECK(system(cmd) == 0);
	return check_result("test_patch");
}
