/* oci/layer.c: whiteout names (OCI image spec layer.md "Whiteouts"), the
 * path rules, and layers applied onto a directory: deletion, opaque
 * directories that keep what their own layer wrote, and escapes refused. */
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

static char root[64], tarp[96];

static int apply(const char *const *ents, struct oci_meta *m, struct oci_err *e)
{
	mktar(tarp, ents);
	return oci_layer_apply(tarp, root, "layer 9", m, e);
}

static bool exists(const char *rel)
{
	char p[200];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return lstat(p, &st) == 0;
}

static void test_apply(void)
{
	struct oci_meta m = { json_object(), json_object() };
	struct oci_err e = { "" };
	static const char *const l1[] = {
		"d", "d", "", "d/x", "f", "x", "d/y", "f", "y", "gone", "f", "g",
		"keep", "f", "k", "out", "l", "/tmp", "hl", "h", "keep", NULL };
	static const char *const l2[] = {
		"d/new", "f", "n", "d/.wh..wh..opq", "f", "", ".wh.gone", "f", "",
		NULL };
	static const char *const dotdot[] = { "a/../../x", "f", "1", NULL };
	static const char *const abs_[] = { "/etc/x", "f", "1", NULL };
	static const char *const through[] = { "out/evil", "f", "1", NULL };
	static const char *const wh_through[] = { "out/.wh.x", "f", "", NULL };
	static const char *const hl_out[] = { "h2", "h", "../../etc/passwd", NULL };

	snprintf(root, sizeof(root), "/tmp/test_oci_layerXXXXXX");
	CHECK(mkdtemp(root) != NULL);
	snprintf(tarp, sizeof(tarp), "%s.tar", root);
	CHECK(apply(l1, &m, &e) == 0);
	CHECK(exists("d/x") && exists("gone") && exists("out") && exists("hl"));
	CHECK(apply(l2, &m, &e) == 0);
	/* opaque: lower d/x, d/y gone; d/new of the same layer (written before
	 * the marker) kept */
	CHECK(!exists("d/x") && !exists("d/y") && exists("d/new"));
	CHECK(!exists("gone") && exists("keep"));
	CHECK(json_object_get(m.map, "d/new") && json_object_get(m.map, "keep"));
	CHECK(apply(dotdot, &m, &e) == -EPERM);
	CHECK_STR_CONTAINS(e.msg, "layer 9: entry 'a/../../x' escapes");
	CHECK(apply(abs_, &m, &e) == -EPERM);
	CHECK_STR_CONTAINS(e.msg, "'/etc/x'");
	CHECK(apply(through, &m, &e) == -ELOOP);
	CHECK_STR_CONTAINS(e.msg, "layer 9: entry 'out/evil' is written through a symlink");
	CHECK(access("/tmp/evil", F_OK) < 0);
	CHECK(apply(wh_through, &m, &e) < 0);
	CHECK_STR_CONTAINS(e.msg, "symlink");
	CHECK(apply(hl_out, &m, &e) == -EPERM);
	CHECK_STR_CONTAINS(e.msg, "hard link");
	json_decref(m.map);
	json_decref(m.layer);
	unlink(tarp);
	snprintf(tarp, sizeof(tarp), "rm -rf %s", root);
	CHECK(system(tarp) == 0);
}

int main(void)
{
	test_names();
	test_apply();
	return check_result("test_oci_layer");
}
