/* The read-only ext4 base image of a manifest digest, built once and
 * cached as images/<hex>.ext4 (every VM of the image shares it).
 *
 * How: the layers are applied in order onto a staging directory
 * (layer.c), mke2fs -d copies that tree into a fresh ext4 (no journal:
 * nobody writes it), then debugfs sets uid/gid/mode of every inode whose
 * tar header says otherwise than the staging file (the case when msbvm
 * does not run as root and could not chown). README "Images" has the
 * numbers behind this choice. */
#include "oci_layer.h"

#include <errno.h>
#include <fcntl.h>
#include <fts.h>
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

struct rf_walk {
	unsigned long long bytes, inodes;
	FILE *script;   /* debugfs commands, or NULL for counting only */
};

/* one debugfs fix-up per attribute the staging file lacks */
static void rf_fix(struct rf_walk *w, const char *rel, const struct stat *st,
		   json_t *m)
{
	json_int_t uid = json_integer_value(json_array_get(m, 0));
	json_int_t gid = json_integer_value(json_array_get(m, 1));
	json_int_t mode = json_integer_value(json_array_get(m, 2));

	if (strpbrk(rel, "\"\n\\"))
		return; /* not expressible in a debugfs script */
	if (uid != st->st_uid)
		fprintf(w->script, "sif \"/%s\" uid %lld\n", rel, (long long)uid);
	if (gid != st->st_gid)
		fprintf(w->script, "sif \"/%s\" gid %lld\n", rel, (long long)gid);
	if ((mode & 07777) != (st->st_mode & 07777) &&
	    (mode & S_IFMT) == (st->st_mode & S_IFMT))
		fprintf(w->script, "sif \"/%s\" mode 0%llo\n", rel,
			(unsigned long long)mode);
}

static void rf_dir_mtime(const char *path, json_t *m)
{
	struct timespec ts[2] = {
		{ .tv_sec = (time_t)json_integer_value(json_array_get(m, 3)) },
		{ .tv_sec = (time_t)json_integer_value(json_array_get(m, 3)) },
	};

	utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

static int rf_walk(const char *dir, struct oci_meta *meta, struct rf_walk *w)
{
	char p[PATH_MAX];
	char *const argv[] = { p, NULL };
	size_t dl = strlen(dir) + 1;
	FTSENT *f;
	FTS *t;

	snprintf(p, sizeof(p), "%s", dir);
	if (!(t = fts_open(argv, FTS_PHYSICAL | FTS_NOCHDIR, NULL)))
		return -errno;
	while ((f = fts_read(t))) {
		json_t *m;

		if (f->fts_info == FTS_DP) {
			/* later entries bumped the directory's mtime: the
			 * header's again (children are done: post-order) */
			if (f->fts_level > 0 &&
			    (m = json_object_get(meta->map, f->fts_path + dl)))
				rf_dir_mtime(f->fts_path, m);
			continue;
		}
		w->inodes++;
		w->bytes += (unsigned long long)f->fts_statp->st_blocks * 512;
		if (w->script && f->fts_level > 0 &&
		    (m = json_object_get(meta->map, f->fts_path + dl)))
			rf_fix(w, f->fts_path + dl, f->fts_statp, m);
	}
	fts_close(t);
	return 0;
}

static int rf_layers(struct oci_store *s, const char *digest, const char *dir,
		     struct oci_meta *meta, struct oci_err *e)
{
	struct oci_buf b = { 0 };
	struct oci_manifest m;
	char blob[PATH_MAX], name[64];
	int rc;

	if ((rc = oci_store_read_blob(s, digest, OCI_MANIFEST_MAX, &b, e)) < 0)
		return rc;
	rc = oci_manifest_parse(b.data, b.len, &m, e);
	oci_buf_free(&b);
	for (unsigned i = 0; !rc && i < m.n_layers; i++) {
		oci_store_blob_path(s, m.layers[i].digest, blob, sizeof(blob));
		snprintf(name, sizeof(name), "layer %u (%.19s)", i + 1,
			 m.layers[i].digest);
		rc = oci_layer_apply(blob, dir, name, meta, e);
	}
	return rc;
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

static int rf_mkfs(const char *tmpdir, const char *dir, struct oci_meta *meta,
		   const char *img, struct oci_err *e)
{
	char script[PATH_MAX + 16], errf[PATH_MAX + 16], size[32], inodes[32], msg[300];
	char mk[64], dbg[64];
	struct rf_walk w = { 0 };
	unsigned long long kib;
	long sz;
	int rc;

	snprintf(script, sizeof(script), "%s.debugfs", dir);
	snprintf(errf, sizeof(errf), "%s.log", dir);
	if (!(w.script = fopen(script, "w")))
		return oci_errf(e, errno, "%s: %s", script, strerror(errno));
	rc = rf_walk(dir, meta, &w);
	sz = ftell(w.script);
	fclose(w.script);
	if (rc < 0)
		return oci_errf(e, -rc, "%s: %s", dir, strerror(-rc));
	/* the tree, an inode table (256 B each), and room for ext4's own
	 * metadata; no reserved blocks, no journal */
	kib = (w.bytes + w.bytes / 8 + w.inodes * 256) / 1024 + 16384;
	snprintf(size, sizeof(size), "%lluk", kib);
	snprintf(inodes, sizeof(inodes), "%llu", w.inodes + w.inodes / 4 + 256);
	char *mkfs[] = { (char *)rf_tool("mke2fs", mk, sizeof(mk)), "-q", "-F",
		"-t", "ext4", "-O", "^has_journal", "-b", "4096", "-I", "256",
		"-m", "0", "-N", inodes, "-E", "root_owner=0:0", "-L", "msbvm-image",
		"-d", (char *)dir, (char *)img, size, NULL };
	char *fix[] = { (char *)rf_tool("debugfs", dbg, sizeof(dbg)), "-w", "-f",
		script, (char *)img, NULL };
	(void)tmpdir;
	const char *tool = mkfs[0];
	if ((rc = rf_spawn(mkfs, errf)) == 0 && sz > 0 &&
	    (rc = rf_spawn(fix, errf)) < 0)
		tool = fix[0];
	if (rc < 0) {
		rf_tail(errf, msg, sizeof(msg));
		rc = oci_errf(e, -rc, "building the ext4 base image: %s: %s", tool,
			      rc == -EIO ? (msg[0] ? msg : "failed") : strerror(-rc));
	}
	unlink(script);
	unlink(errf);
	return rc;
}

static int rf_build(struct oci_store *s, const char *digest, const char *dst,
		    struct oci_err *e)
{
	char tmpl[PATH_MAX], dir[PATH_MAX], img[PATH_MAX + 16];
	struct oci_meta meta = { json_object(), json_object() };
	int rc, fd;

	snprintf(tmpl, sizeof(tmpl), "%s/tmp/rootfs.XXXXXX", s->root);
	if (!mkdtemp(tmpl))
		return oci_errf(e, errno, "%s: %s", tmpl, strerror(errno));
	/* libarchive's symlink check walks the whole path: resolve ours */
	if (!realpath(tmpl, dir)) {
		rmdir(tmpl);
		return oci_errf(e, errno, "%s: %s", tmpl, strerror(errno));
	}
	chmod(dir, 0755);
	snprintf(img, sizeof(img), "%s.ext4", dir);
	rc = rf_layers(s, digest, dir, &meta, e);
	if (!rc)
		rc = rf_mkfs(s->root, dir, &meta, img, e);
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
	oci_rmtree(dir, false);
	json_decref(meta.map);
	json_decref(meta.layer);
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
