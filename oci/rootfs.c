/* The read-only ext4 base image of a manifest digest, built once and
 * cached as images/<hex>.ext4 (every VM of the image shares it).
 *
 * How: pass 1 (merge.c) reads the layers' tar headers and works out which
 * entry survives at each path (whiteouts, opaque directories, files that
 * replace trees); mke2fs makes an empty ext4 of the size that needs;
 * pass 2 (ext4w.c) streams the layers again and writes the survivors into
 * it with libext2fs. Nothing is extracted on the host, so owners, modes,
 * xattrs and device nodes come from the tar headers whether or not msbvm
 * runs as root, and no host path can be reached. README "Images" has the
 * numbers behind this choice (extracting to a directory first was up to
 * 30x slower on metadata-heavy images). */
#include "oci_layer.h"

#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* run argv quietly; its stderr kept in errfile for the message */
static int rf_spawn(char *const argv[], const char *errfile)
{
	posix_spawn_file_actions_t fa;
	int st = 0, rc;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, errfile, O_WRONLY | O_CREAT |
					 O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return -rc;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -EIO;
}

static void rf_tail(const char *file, char *out, size_t len)
{
	FILE *f = fopen(file, "r");
	char line[400];

	out[0] = 0;
	while (f && fgets(line, sizeof(line), f))
		if (line[0] != '\n')
			snprintf(out, len, "%.*s", (int)strcspn(line, "\n"), line);
	if (f)
		fclose(f);
}

static const char *rf_tool(const char *name, char *buf, size_t len)
{
	/* /usr/sbin is often not on a user's PATH */
	snprintf(buf, len, "/usr/sbin/%s", name);
	if (access(buf, X_OK) == 0)
		return buf;
	snprintf(buf, len, "/sbin/%s", name);
	return access(buf, X_OK) == 0 ? buf : name;
}

struct rf_layers {
	unsigned n;
	char *blobs[OCI_MAX_LAYERS];
	char names[OCI_MAX_LAYERS][64];
};

static void rf_layers_free(struct rf_layers *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->blobs[i]);
}

static int rf_layers(struct oci_store *s, const char *digest,
		     struct rf_layers *l, struct oci_err *e)
{
	struct oci_buf b = { 0 };
	struct oci_manifest m;
	char blob[PATH_MAX];
	int rc;

	l->n = 0;
	if ((rc = oci_store_read_blob(s, digest, OCI_MANIFEST_MAX, &b, e)) < 0)
		return rc;
	rc = oci_manifest_parse(b.data, b.len, &m, e);
	oci_buf_free(&b);
	for (unsigned i = 0; !rc && i < m.n_layers; i++) {
		oci_store_blob_path(s, m.layers[i].digest, blob, sizeof(blob));
		if (!(l->blobs[i] = strdup(blob)))
			return -ENOMEM;
		snprintf(l->names[i], sizeof(l->names[i]), "layer %u (%.19s)",
			 i + 1, m.layers[i].digest);
		l->n = i + 1;
	}
	return rc;
}

/* room for the survivors: their data blocks, a block per directory and
 * per long symlink, inode tables, and ext4's own metadata */
static void rf_size(json_t *map, unsigned long long *kib,
		    unsigned long long *inodes)
{
	unsigned long long blocks = 0, n = 0;
	const char *k;
	json_t *v;

	json_object_foreach(map, k, v) {
		json_int_t type = json_integer_value(json_array_get(v, 2));
		json_int_t size = json_integer_value(json_array_get(v, 3));

		if (!json_is_array(v))
			continue; /* merge.c's own bookkeeping */
		n++;
		if (type == AE_IFREG && size > 0)
			blocks += ((unsigned long long)size + 4095) / 4096;
		else if (type == AE_IFDIR || type == AE_IFLNK)
			blocks++;
		blocks += strlen(k) / 64; /* directory entries */
	}
	*inodes = n + n / 4 + 256;
	*kib = blocks * 4 + blocks / 2 + *inodes / 4 + 16384;
}

static int rf_mkfs(const char *img, json_t *map, const char *errf,
		   struct oci_err *e)
{
	unsigned long long kib, inodes;
	char size[32], ninodes[32], mk[64], msg[300];
	int rc;

	rf_size(map, &kib, &inodes);
	snprintf(size, sizeof(size), "%lluk", kib);
	snprintf(ninodes, sizeof(ninodes), "%llu", inodes);
	/* no journal (nobody writes it), no reserved blocks */
	char *argv[] = { (char *)rf_tool("mke2fs", mk, sizeof(mk)), "-q", "-F",
		"-t", "ext4", "-O", "^has_journal", "-b", "4096", "-I", "256",
		"-m", "0", "-N", ninodes, "-E", "root_owner=0:0", "-L",
		"msbvm-image", (char *)img, size, NULL };
	if ((rc = rf_spawn(argv, errf)) < 0) {
		rf_tail(errf, msg, sizeof(msg));
		return oci_errf(e, -rc, "building the ext4 base image: mke2fs: %s",
				rc == -EIO ? (msg[0] ? msg : "failed") : strerror(-rc));
	}
	return 0;
}

static int rf_build(struct oci_store *s, const char *digest, const char *dst,
		    struct oci_err *e)
{
	char img[PATH_MAX], errf[PATH_MAX];
	struct rf_layers l = { 0 };
	json_t *map = json_object();
	int rc, fd;

	snprintf(img, sizeof(img), "%s/tmp/%.64s.ext4", s->root, digest + 7);
	snprintf(errf, sizeof(errf), "%s/tmp/%.64s.log", s->root, digest + 7);
	rc = map ? rf_layers(s, digest, &l, e) : -ENOMEM;
	for (unsigned i = 0; !rc && i < l.n; i++)
		rc = oci_merge_layer(l.blobs[i], (long)i, l.names[i], map, e);
	if (!rc)
		rc = rf_mkfs(img, map, errf, e);
	if (!rc) {
		const char *names[OCI_MAX_LAYERS];
		for (unsigned i = 0; i < l.n; i++)
			names[i] = l.names[i];
		rc = oci_ext4_write(img, (const char *const *)l.blobs, names, l.n,
				    map, e);
	}
	/* read-only for everyone: VMs get it as a read-only disk */
	if (!rc && (chmod(img, 0444) < 0 ||
		    (fd = open(img, O_RDONLY | O_CLOEXEC)) < 0))
		rc = oci_errf(e, errno, "%s: %s", img, strerror(errno));
	else if (!rc) {
		rc = oci_store_commit(img, fd, dst, e);
		close(fd);
	}
	if (rc)
		unlink(img);
	unlink(errf);
	rf_layers_free(&l);
	json_decref(map);
	return rc;
}

int oci_rootfs_build(struct oci_store *s, const char *digest, char *path,
		     size_t len, struct oci_err *e)
{
	int rc;

	if (!oci_digest_valid(digest))
		return oci_errf(e, EINVAL, "bad digest '%.80s'", digest);
	oci_store_image_path(s, digest, path, len);
	if (access(path, R_OK) == 0)
		return 0; /* the cached path: one stat */
	if ((rc = oci_store_lock(s, e)) < 0)
		return rc;
	rc = oci_rootfs_build_locked(s, digest, path, len, e);
	oci_store_unlock(s);
	return rc;
}

int oci_rootfs_build_locked(struct oci_store *s, const char *digest,
			    char *path, size_t len, struct oci_err *e)
{
	oci_store_image_path(s, digest, path, len);
	if (access(path, R_OK) == 0)
		return 0;
	return rf_build(s, digest, path, e);
}
