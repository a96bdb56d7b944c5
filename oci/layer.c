/* Layer entry names (OCI image spec layer.md): "Whiteouts" (.wh.NAME
 * deletes NAME from the layers below; .wh..wh..opq empties its directory
 * of what the layers below put there) and the path rules that keep an
 * entry inside the image ("..", absolute paths refused). merge.c applies
 * them. */
#include "oci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
