/* Pass 1 of the base image: which entry of which layer survives at each
 * path once all layers are stacked (OCI image spec layer.md, "Applying
 * Changesets" and "Whiteouts"), from the tar headers alone. Nothing is
 * written anywhere, so nothing can escape; entries that would climb out
 * (.., absolute) or go through a symlink are refused here, naming the
 * layer and the entry. Pass 2 (ext4w.c) writes only the survivors.
 *
 * map: "path" -> [layer, ordinal, type, size]; type is the AE_IF* of the
 * entry, or 0 for a hard link. map["\x01dirs"] holds every path that has
 * had something below it, so that dropping a tree (a whiteout, a file
 * replacing a directory) scans the map only when there is a tree. */
#include "oci_layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MERGE_DIRS "\x01dirs" /* not a path: paths are cleaned tar names */

static json_t *merge_dirs(json_t *map)
{
	json_t *d = json_object_get(map, MERGE_DIRS);

	if (!d) {
		d = json_object();
		json_object_set_new(map, MERGE_DIRS, d);
	}
	return d;
}

/* note REL's parents as having children */
static void merge_parents(json_t *map, const char *rel)
{
	json_t *dirs = merge_dirs(map);
	char p[PATH_MAX], *s;

	snprintf(p, sizeof(p), "%s", rel);
	while ((s = strrchr(p, '/'))) {
		*s = 0;
		if (json_object_get(dirs, p))
			break; /* and so are its parents */
		json_object_set_new(dirs, p, json_true());
	}
}

/* delete "dir/..." (below DIR, or everything if DIR is "") that came
 * from a layer below LAYER (all layers if layer < 0) */
static void merge_drop_below(json_t *map, const char *dir, long layer)
{
	size_t n = strlen(dir);
	const char *k;
	json_t *v;
	void *tmp;

	if (n && !json_object_get(merge_dirs(map), dir))
		return; /* nothing was ever below it */
	json_object_foreach_safe(map, tmp, k, v) {
		if (!strcmp(k, MERGE_DIRS))
			continue;
		if (n && (strncmp(k, dir, n) || k[n] != '/'))
			continue;
		if (layer < 0 || json_integer_value(json_array_get(v, 0)) < layer)
			json_object_del(map, k);
	}
}

/* Is a proper prefix of REL (or REL itself if whole) a symlink now? */
static bool merge_through_symlink(json_t *map, const char *rel, bool whole)
{
	char p[PATH_MAX];
	json_t *v;

	snprintf(p, sizeof(p), "%s", rel);
	for (char *s = p; ; s++) {
		bool end = !*s;
		if (*s != '/' && !end)
			continue;
		if (end && !whole)
			return false;
		*s = 0;
		v = json_object_get(map, p);
		if (v && json_integer_value(json_array_get(v, 2)) == AE_IFLNK)
			return true;
		if (end)
			return false;
		*s = '/';
	}
}

/* REL's parents are directories now: a lower layer's file or symlink at
 * one of them gives way (the overlay a runtime stacks does the same) */
static void merge_implied_dirs(json_t *map, const char *rel)
{
	char p[PATH_MAX];
	json_t *v;

	snprintf(p, sizeof(p), "%s", rel);
	for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		v = json_object_get(map, p);
		if (v && json_integer_value(json_array_get(v, 2)) != AE_IFDIR)
			json_object_del(map, p);
		*s = '/';
	}
}

static int merge_entry(json_t *map, struct archive_entry *ent, long layer,
		       long ord, const char *lname, struct oci_err *e)
{
	char rel[PATH_MAX], target[PATH_MAX];
	const char *hl = archive_entry_hardlink(ent);
	enum oci_wh wh;
	int type;

	snprintf(rel, sizeof(rel), "%s", archive_entry_pathname(ent));
	if (oci_path_check(rel) < 0)
		return oci_errf(e, EPERM, "%s: entry '%.300s' escapes the root "
				"(absolute or ..)", lname, rel);
	oci_path_clean(rel);
	if (!*rel)
		return 0; /* "./": the root itself */
	if ((wh = oci_whiteout(rel, target, sizeof(target))) != OCI_WH_NONE) {
		if (merge_through_symlink(map, target, wh == OCI_WH_OPAQUE))
			return oci_errf(e, ELOOP, "%s: whiteout '%.300s': path "
					"through a symlink", lname, rel);
		if (wh == OCI_WH_FILE) {
			json_t *v = json_object_get(map, target);
			if (v && json_integer_value(json_array_get(v, 0)) < layer)
				json_object_del(map, target);
		}
		merge_drop_below(map, target, layer);
		return 0;
	}
	if (merge_through_symlink(map, rel, false))
		return oci_errf(e, ELOOP, "%s: entry '%.300s' is written through "
				"a symlink", lname, rel);
	if (hl) {
		snprintf(target, sizeof(target), "%s", hl);
		if (oci_path_check(target) < 0)
			return oci_errf(e, EPERM, "%s: hard link '%.200s' -> "
					"'%.200s' escapes the root", lname, rel, hl);
	}
	merge_implied_dirs(map, rel);
	type = hl ? 0 : (int)archive_entry_filetype(ent);
	if (type != AE_IFDIR)
		merge_drop_below(map, rel, -1); /* a file replaces a tree */
	merge_parents(map, rel);
	json_object_set_new(map, rel, json_pack("[I,I,i,I]", (json_int_t)layer,
		(json_int_t)ord, type, (json_int_t)archive_entry_size(ent)));
	return 0;
}

int oci_merge_layer(const char *blob, long layer, const char *lname,
		    json_t *map, struct oci_err *e)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ent;
	long ord = 0;
	int rc = 0, r;

	if (!a)
		return oci_errf(e, ENOMEM, "out of memory");
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, blob, 1 << 16) != ARCHIVE_OK)
		rc = oci_errf(e, EIO, "%s: %s", lname, archive_error_string(a));
	while (!rc && (r = archive_read_next_header(a, &ent)) != ARCHIVE_EOF) {
		if (r < ARCHIVE_WARN)
			rc = oci_errf(e, EBADMSG, "%s: not a valid tar: %s", lname,
				      archive_error_string(a));
		else
			rc = merge_entry(map, ent, layer, ord++, lname, e);
	}
	archive_read_free(a);
	return rc;
}
