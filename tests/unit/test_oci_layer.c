/* oci/layer.c, merge.c: whiteout names (OCI image spec layer.md
 * "Whiteouts"), the path rules, and which entries survive when layers are
 * stacked: deletion, opaque directories that keep what their own layer
 * wrote, files replacing trees, and escapes refused. */
#include "oci/oci_layer.h"
#include "check.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_names(void)
{
	char t[256], p[64];

	CHECK(oci_whiteout("a/b/.wh.c", t, sizeof(t)) == OCI_WH_FILE && !strcmp(t, "a/b/c"));
	CHECK(oci_whiteout(".wh.top", t, sizeof(t)) == OCI_WH_FILE && !strcmp(t, "top"));
	CHECK(oci_whiteout("a/.wh..wh..opq", t, sizeof(t)) == OCI_WH_OPAQUE && !strcmp(t, "a"));
	CHECK(oci_whiteout(".wh..wh..opq", t, sizeof(t)) == OCI_WH_OPAQUE && !strcmp(t, ""));
	CHECK(oci_whiteout("a/b.wh.c", t, sizeof(t)) == OCI_WH_NONE);
	CHECK(oci_whiteout("a/.wh.", t, sizeof(t)) == OCI_WH_NONE);
	CHECK(oci_whiteout("a/.wh...", t, sizeof(t)) == OCI_WH_NONE);
	CHECK(oci_whiteout("a/.whx", t, sizeof(t)) == OCI_WH_NONE);
	CHECK(oci_path_check("a/b") == 0 && oci_path_check("./a") == 0);
	CHECK(oci_path_check("a/..b") == 0 && oci_path_check("..a") == 0);
	CHECK(oci_path_check("../x") == -EPERM && oci_path_check("a/../../x") == -EPERM);
	CHECK(oci_path_check("a/..") == -EPERM && oci_path_check("/etc") == -EPERM);
	CHECK(oci_path_check("") == -EPERM);
	strcpy(p, "./a//b/./c/");
	oci_path_clean(p);
	CHECK(!strcmp(p, "a/b/c"));
	strcpy(p, "./");
	oci_path_clean(p);
	CHECK(!strcmp(p, ""));
}

/* a tar of (name, type, target-or-data) triples */
static void mktar(const char *path, const char *const *ents)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e;

	archive_write_set_format_pax_restricted(a);
	archive_write_open_filename(a, path);
	for (; ents[0]; ents += 3) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, ents[0]);
		archive_entry_set_mode(e, ents[1][0] == 'd' ? AE_IFDIR | 0755 :
				       ents[1][0] == 'l' ? AE_IFLNK | 0777 : AE_IFREG | 0644);
		if (ents[1][0] == 'l')
			archive_entry_set_symlink(e, ents[2]);
		if (ents[1][0] == 'h')
			archive_entry_set_hardlink(e, ents[2]);
		if (ents[1][0] == 'f')
			archive_entry_set_size(e, (la_int64_t)strlen(ents[2]));
		archive_write_header(a, e);
		if (ents[1][0] == 'f')
			archive_write_data(a, ents[2], strlen(ents[2]));
		archive_entry_free(e);
	}
	archive_write_free(a);
}

static char tarp[64];

static int merge(const char *const *ents, long layer, json_t *map,
		 struct oci_err *e)
{
	mktar(tarp, ents);
	return oci_merge_layer(tarp, layer, "layer 9", map, e);
}

/* map[rel] came from LAYER (-1: absent) */
static bool from(json_t *map, const char *rel, long layer)
{
	json_t *v = json_object_get(map, rel);

	if (layer < 0)
		return !v;
	return v && json_integer_value(json_array_get(v, 0)) == layer;
}

static void test_merge(void)
{
	json_t *m = json_object();
	struct oci_err e = { "" };
	static const char *const l0[] = {
		"d", "d", "", "d/x", "f", "x", "d/y", "f", "y", "gone", "f", "g",
		"keep", "f", "k", "out", "l", "/tmp", "hl", "h", "keep",
		"tree/a/b", "f", "b", "t2/c", "f", "c", "wasfile", "f", "f", NULL };
	static const char *const l1[] = {
		"d/new", "f", "n", "d/.wh..wh..opq", "f", "", ".wh.gone", "f", "",
		"tree", "f", "now a file", ".wh.t2", "f", "", "keep", "f", "k2",
		"wasfile/now", "f", "under a dir", NULL };
	static const char *const dotdot[] = { "a/../../x", "f", "1", NULL };
	static const char *const abs_[] = { "/etc/x", "f", "1", NULL };
	static const char *const through[] = { "out/evil", "f", "1", NULL };
	static const char *const wh_through[] = { "out/.wh.x", "f", "", NULL };
	static const char *const hl_out[] = { "h2", "h", "../../etc/passwd", NULL };

	snprintf(tarp, sizeof(tarp), "/tmp/test_oci_layer.%d.tar", (int)getpid());
	CHECK(merge(l0, 0, m, &e) == 0);
	CHECK(from(m, "d/x", 0) && from(m, "gone", 0) && from(m, "out", 0) &&
	      from(m, "hl", 0) && from(m, "tree/a/b", 0));
	CHECK(json_integer_value(json_array_get(json_object_get(m, "hl"), 2)) == 0);
	CHECK(merge(l1, 1, m, &e) == 0);
	/* opaque: the lower d/x, d/y gone; d/new of the same layer (before
	 * the marker in the tar) kept */
	CHECK(from(m, "d/x", -1) && from(m, "d/y", -1) && from(m, "d/new", 1));
	CHECK(from(m, "d", 0)); /* the directory itself stays */
	CHECK(from(m, "gone", -1) && from(m, "keep", 1));
	/* a file replacing a directory drops the tree below it */
	CHECK(from(m, "tree", 1) && from(m, "tree/a/b", -1));
	/* a path under what was a file: the file gives way to a directory */
	CHECK(from(m, "wasfile", -1) && from(m, "wasfile/now", 1));
	/* whiteout of a directory: everything below it too */
	CHECK(from(m, "t2", -1) && from(m, "t2/c", -1));
	CHECK(merge(dotdot, 2, m, &e) == -EPERM);
	CHECK_STR_CONTAINS(e.msg, "layer 9: entry 'a/../../x' escapes");
	CHECK(merge(abs_, 2, m, &e) == -EPERM);
	CHECK_STR_CONTAINS(e.msg, "'/etc/x'");
	CHECK(merge(through, 2, m, &e) == -ELOOP);
	CHECK_STR_CONTAINS(e.msg, "layer 9: entry 'out/evil' is written through a symlink");
	CHECK(merge(wh_through, 2, m, &e) == -ELOOP);
	CHECK_STR_CONTAINS(e.msg, "whiteout 'out/.wh.x': path through a symlink");
	CHECK(merge(hl_out, 2, m, &e) == -EPERM);
	CHECK_STR_CONTAINS(e.msg, "hard link");
	json_decref(m);
	unlink(tarp);
}

int main(void)
{
	test_names();
	test_merge();
	return check_result("test_oci_layer");
}
