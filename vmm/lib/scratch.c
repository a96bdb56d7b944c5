/* The "scratch" overlay upper of an image VM: a sparse ext4 image in the
 * VM's state directory, made by mke2fs (e2fsprogs, which the image store
 * already runs for its base images), attached as /dev/vdb, and deleted
 * with the state directory. Sparse: 4 GiB apparent size costs only the
 * blocks the guest writes (plus ~1 MiB of metadata here). */
#include "lib.h"
#include "vmm/core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* mke2fs from PATH, else where Debian puts it (not on a user's PATH) */
static const char *scratch_mke2fs(void)
{
	return access("/sbin/mke2fs", X_OK) == 0 ? "/sbin/mke2fs" : "mke2fs";
}

int scratch_create(struct vmstate *st, char *path, size_t len)
{
	/* the size asked for (--upper-size): scratch_create's only caller
	 * passes its VM's &vm->st (sandbox.c) */
	const struct msbvm *vm = (const struct msbvm *)
		((const char *)st - offsetof(struct msbvm, st));
	uint64_t mib = vm->cfg && vm->cfg->upper_mib ? vm->cfg->upper_mib :
		       MSBVM_SCRATCH_MIB;
	char size[32];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int fd, rc, status = 0;

	fd = state_open_file(st, "upper.ext4", O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return fd;
	rc = ftruncate(fd, (off_t)mib << 20) < 0 ? -errno : 0;
	close(fd);
	if (rc < 0)
		return err_set(-rc, "scratch disk: %s", strerror(-rc));
	state_path(st, "upper.ext4", path, len);
	snprintf(size, sizeof(size), "%lluM", (unsigned long long)mib);
	/* lazy inode tables: the guest kernel finishes them in the
	 * background, mke2fs writes ~1 MiB instead of ~64 MiB */
	char *argv[] = { (char *)scratch_mke2fs(), "-q", "-F", "-t", "ext4", "-m", "0",
		"-E", "lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0",
		"-L", "msbvm-upper", path, size, NULL };
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return err_set(rc, "scratch disk: cannot run mke2fs: %s", strerror(rc));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_set(errno, "scratch disk: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return err_set(EIO, "scratch disk: mke2fs failed on %s", path);
	return 0;
}
