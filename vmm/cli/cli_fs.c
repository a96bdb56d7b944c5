/* `msbvm run`'s file system options: -v HOSTDIR:GUESTDIR[:ro] and
 * --script NAME=HOSTFILE, split into their parts here; the library
 * checks the rest (the host directory exists, the guest path's shape,
 * one volume per guest path, the script's name). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cli_parse_volume(const char *spec, char *host, char *guest, size_t len,
		     bool *ro)
{
	const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	size_t hl = c1 ? (size_t)(c1 - spec) : 0;
	size_t gl = c1 ? (c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1)) : 0;

	*ro = c2 && !strcmp(c2 + 1, "ro");
	if (!c1 || !hl || !gl || hl >= len || gl >= len ||
	    (c2 && !*ro && strcmp(c2 + 1, "rw")))
		return cli_fail(EINVAL, "run: -v '%s': expected HOSTDIR:GUESTDIR, "
				"HOSTDIR:GUESTDIR:ro or HOSTDIR:GUESTDIR:rw", spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	memcpy(guest, c1 + 1, gl);
	guest[gl] = '\0';
	if (guest[0] != '/')
		return cli_fail(EINVAL, "run: -v '%s': the guest path %s is not "
				"absolute", spec, guest);
	return 0;
}

int cli_parse_script(const char *spec, char *buf, size_t len,
		     const char **name, const char **file)
{
	char *eq;

	if ((size_t)snprintf(buf, len, "%s", spec) >= len || !(eq = strchr(buf, '=')) ||
	    eq == buf || !eq[1])
		return cli_fail(EINVAL, "run: --script '%s': expected NAME=HOSTFILE",
				spec);
	*eq = '\0';
	*name = buf;
	*file = eq + 1;
	return 0;
}
