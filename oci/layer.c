/* Applying a layer changeset (OCI image spec layer.md) onto a directory:
 * entries in order, "Whiteouts" (.wh.NAME deletes NAME from the layers
 * below; .wh..wh..opq empties its directory of what the layers below put
 * there). Confined: an entry naming "..", an absolute path, or a path
 * through a symlink is refused, naming the layer and the entry; libarchive
 * checks again (ARCHIVE_EXTRACT_SECURE_*). Each entry's uid/gid/mode is
 * recorded, because without root the files on disk cannot carry them. */
#include "oci_layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fts.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

void oci_path_clean(char *name)
{
	char *r = name, *w = name;

	while (*r) {
		if (r[0] == '/' && (w == name || w[-1] == '/')) {
			r++;
			continue;
		}
		if (r[0] == '.' && (r[1] == '/' || !r[1]) && (r == name || r[-1] == '/')) {
			r += r[1] ? 2 : 1;
			continue;
		}
		*w++ = *r++;
	}
	while (w > name && w[-1] == '/')
		w--;
	*w = 0;
}

int oci_path_check(const char *name)
{
	const char *p = name;

	if (!*name || *name == '/')
		return -EPERM;
	while (*p) {
		if (p[0] == '.' && p[1] == '.' && (!p[2] || p[2] == '/'))
			return -EPERM;
		p = strchr(p, '/');
		if (!p)
			break;
		p++;
	}
	return 0;
}

enum oci_wh oci_whiteout(const char *name, char *target, size_t len)
{
	const char *base = strrchr(name, '/');
	size_t dirlen = base ? (size_t)(base - name) : 0;

	base = base ? base + 1 : name;
	if (strncmp(base, WH_PREFIX, 4))
		return OCI_WH_NONE;
	if (!strcmp(base, WH_OPAQUE)) {
		snprintf(target, len, "%.*s", (int)dirlen, name);
		return OCI_WH_OPAQUE;
	}
	if (!base[4] || !strcmp(base + 4, ".") || !strcmp(base + 4, ".."))
		return OCI_WH_NONE; /* ".wh." alone names nothing */
	snprintf(target, len, "%.*s%s%s", (int)dirlen, name, dirlen ? "/" : "",
		 base + 4);
	return OCI_WH_FILE;
}

/* no component of REL below ROOT (the last included if whole) is a
 * symlink: a whiteout must not delete through one */
static int layer_no_symlink(const char *root, const char *rel, bool whole)
{
	char p[PATH_MAX];
	struct stat st;
	size_t n = strlen(root);

	if (snprintf(p, sizeof(p), "%s/%s", root, rel) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + n + 1; ; s++) {
		bool end = !*s;
		if (*s != '/' && !end)
			continue;
		if (end && !whole)
			break;
		*s = 0;
		if (lstat(p, &st) < 0)
			return errno == ENOENT ? 0 : -errno;
		if (S_ISLNK(st.st_mode))
			return -ELOOP;
		if (end)
			break;
		*s = '/';
	}
	return 0;
}

/* rm -rf ROOT/REL (only its children if children_only), sparing what
 * this layer wrote (KEEP: an opaque directory hides only lower layers) */
static void layer_remove(const char *root, const char *rel, json_t *keep,
			 bool children_only)
{
	char p[PATH_MAX];
	char *const argv[] = { p, NULL };
	size_t rl = strlen(root) + 1;
	FTSENT *f;
	FTS *t;

	snprintf(p, sizeof(p), "%s%s%s", root, *rel ? "/" : "", rel);
	if (!(t = fts_open(argv, FTS_PHYSICAL | FTS_NOCHDIR, NULL)))
		return;
	while ((f = fts_read(t))) {
		const char *r = strlen(f->fts_path) >= rl ? f->fts_path + rl : "";

		if ((children_only && f->fts_level == 0) || f->fts_info == FTS_D ||
		    (keep && json_object_get(keep, r)))
			continue;
		if (f->fts_info == FTS_DP)
			rmdir(f->fts_path); /* ENOTEMPTY if it holds a kept entry */
		else
			unlink(f->fts_path);
	}
	fts_close(t);
}

static int layer_whiteout(const char *dir, enum oci_wh wh, const char *target,
			  struct oci_meta *meta)
{
	int rc = layer_no_symlink(dir, target, wh == OCI_WH_OPAQUE);

	if (rc < 0)
		return rc;
	if (wh == OCI_WH_OPAQUE)
		layer_remove(dir, target, meta->layer, true);
	else
		layer_remove(dir, target, NULL, false);
	return 0;
}

static void layer_record(struct oci_meta *meta, const char *rel,
			 struct archive_entry *ent)
{
	json_object_set_new(meta->map, rel, json_pack("[I,I,i,I]",
		(json_int_t)archive_entry_uid(ent), (json_int_t)archive_entry_gid(ent),
		(int)archive_entry_mode(ent), (json_int_t)archive_entry_mtime(ent)));
	json_object_set_new(meta->layer, rel, json_true());
}

/* rewrite the entry's names to DIR/...; refuse escapes */
static int layer_names(struct archive_entry *ent, const char *dir, char *rel,
		       size_t rlen, const char *layer, struct oci_err *e)
{
	const char *hl = archive_entry_hardlink(ent);
	char p[PATH_MAX * 2], h[PATH_MAX];

	snprintf(rel, rlen, "%s", archive_entry_pathname(ent));
	if (oci_path_check(rel) < 0)
		return oci_errf(e, EPERM, "%s: entry '%.300s' escapes the root "
				"(absolute or ..)", layer, rel);
	oci_path_clean(rel);
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	archive_entry_set_pathname(ent, p);
	if (!hl)
		return 0;
	snprintf(h, sizeof(h), "%s", hl);
	if (oci_path_check(h) < 0)
		return oci_errf(e, EPERM, "%s: hard link '%.200s' -> '%.200s' "
				"escapes the root", layer, rel, h);
	oci_path_clean(h);
	snprintf(p, sizeof(p), "%s/%s", dir, h);
	archive_entry_set_hardlink(ent, p);
	return 0;
}

static int layer_copy(struct archive *a, struct archive *w)
{
	const void *buf;
	size_t n;
	int64_t off;
	int r;

	while ((r = archive_read_data_block(a, &buf, &n, &off)) == ARCHIVE_OK)
		if (archive_write_data_block(w, buf, n, off) < ARCHIVE_WARN)
			return -EIO;
	return r == ARCHIVE_EOF ? 0 : -EIO;
}

static int layer_entry(struct archive *a, struct archive *w,
		       struct archive_entry *ent, const char *dir,
		       const char *layer, struct oci_meta *meta,
		       struct oci_err *e)
{
	char rel[PATH_MAX], target[PATH_MAX];
	enum oci_wh wh;
	mode_t type;
	int rc;

	if ((rc = layer_names(ent, dir, rel, sizeof(rel), layer, e)) < 0)
		return rc;
	if (!*rel)
		return 0; /* "./": the root itself */
	if ((wh = oci_whiteout(rel, target, sizeof(target))) != OCI_WH_NONE) {
		if ((rc = layer_whiteout(dir, wh, target, meta)) < 0)
			return oci_errf(e, -rc, "%s: whiteout '%.300s': path "
					"through a symlink", layer, rel);
		return 0;
	}
	type = archive_entry_filetype(ent);
	if ((type == AE_IFCHR || type == AE_IFBLK) && geteuid())
		return 0; /* no mknod without root; docker images avoid them */
	if (layer_no_symlink(dir, rel, false) < 0)
		return oci_errf(e, ELOOP, "%s: entry '%.300s' is written through "
				"a symlink", layer, rel);
	if (archive_write_header(w, ent) < ARCHIVE_WARN)
		return oci_errf(e, EPERM, "%s: entry '%.300s': %s", layer, rel,
				archive_error_string(w));
	if (archive_entry_size(ent) > 0 && layer_copy(a, w) < 0)
		return oci_errf(e, EIO, "%s: entry '%.300s': %s", layer, rel,
				archive_error_string(a) ? archive_error_string(a) :
				archive_error_string(w));
	if (archive_write_finish_entry(w) < ARCHIVE_WARN)
		return oci_errf(e, EIO, "%s: entry '%.300s': %s", layer, rel,
				archive_error_string(w));
	layer_record(meta, rel, ent);
	return 0;
}

static struct archive *layer_writer(void)
{
	struct archive *w = archive_write_disk_new();
	int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
		    ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_UNLINK |
		    ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT;

	if (!geteuid())
		flags |= ARCHIVE_EXTRACT_OWNER; /* numeric: no lookup set */
	if (w)
		archive_write_disk_set_options(w, flags);
	return w;
}

int oci_layer_apply(const char *blob, const char *dir, const char *layer,
		    struct oci_meta *meta, struct oci_err *e)
{
	struct archive *a = archive_read_new(), *w = layer_writer();
	struct archive_entry *ent;
	int rc = 0, r;

	if (!a || !w) {
		rc = oci_errf(e, ENOMEM, "out of memory");
		goto out;
	}
	json_object_clear(meta->layer);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, blob, 1 << 16) != ARCHIVE_OK) {
		rc = oci_errf(e, EIO, "%s: %s", layer, archive_error_string(a));
		goto out;
	}
	while (!rc && (r = archive_read_next_header(a, &ent)) != ARCHIVE_EOF) {
		if (r < ARCHIVE_WARN)
			rc = oci_errf(e, EBADMSG, "%s: not a valid tar: %s", layer,
				      archive_error_string(a));
		else
			rc = layer_entry(a, w, ent, dir, layer, meta, e);
	}
out:
	if (a)
		archive_read_free(a);
	if (w)
		archive_write_free(w);
	return rc;
}
