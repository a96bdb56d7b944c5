/* Per-VM state directories: name rules, create / find / stale reuse /
 * remove, and a pid that belongs to some other program. */
#include "check.h"
#include "vmm/core/err.h"
#include "vmm/lib/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
	char dir[] = "/tmp/msbvm-state-XXXXXX", root[256], p[512], rootbuf[256];
	struct vmstate st, st2;

	CHECK(state_name_ok("web-1") && state_name_ok("a") && state_name_ok("x.y_z"));
	CHECK(!state_name_ok("") && !state_name_ok(".hidden") && !state_name_ok("-x"));
	CHECK(!state_name_ok("a/b") && !state_name_ok("a b") && !state_name_ok("../x"));
	char longname[80];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[79] = '\0';
	CHECK(!state_name_ok(longname));

	CHECK(mkdtemp(dir) != NULL);
	snprintf(root, sizeof(root), "%s/root", dir);
	CHECK(state_create(&st, root, "bad/name") == -EINVAL);
	CHECK_STR_CONTAINS(err_msg(), "bad VM name 'bad/name'");
	CHECK(state_create(&st, root, "vm1") == 0);
	struct stat sb;
	CHECK(stat(st.dir, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700);
	/* our own pid is not an msbvm process: the VM counts as not running */
	CHECK(state_write_pid(&st, getpid()) == 0);
	CHECK(state_pid(&st) == 0);
	CHECK(state_open(&st2, root, "vm1") == -ENOENT);
	CHECK_STR_CONTAINS(err_msg(), "no running VM named 'vm1'");
	/* a directory left by a dead VMM is cleaned and reused */
	FILE *f = fopen(state_path(&st, "kernel.log", p, sizeof(p)), "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK(state_create(&st2, root, "vm1") == 0);
	CHECK(access(p, F_OK) != 0);
	state_remove(&st2);
	CHECK(access(st2.dir, F_OK) != 0);
	/* root selection */
	setenv("MSBVM_STATE_DIR", "/x/y", 1);
	state_root(NULL, rootbuf, sizeof(rootbuf));
	CHECK(!strcmp(rootbuf, "/x/y"));
	state_root("/opt", rootbuf, sizeof(rootbuf));
	CHECK(!strcmp(rootbuf, "/opt"));
	unsetenv("MSBVM_STATE_DIR");
	setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
	state_root(NULL, rootbuf, sizeof(rootbuf));
	CHECK(!strcmp(rootbuf, "/run/user/7/msbvm"));
	rmdir(root);
	rmdir(dir);
	return check_result("state");
}
