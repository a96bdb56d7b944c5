/* oci/ error reporting and small helpers shared by the oci_ files. */
#include "oci.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int oci_errf(struct oci_err *e, int err, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return err > 0 ? -err : err ? err : -EINVAL;
}

bool oci_digest_valid(const char *d)
{
	size_t i;

	/* only sha256 (OCI image spec "Digests": registered algorithms) */
	if (strncmp(d, "sha256:", 7) || strlen(d) != OCI_DIGEST_LEN)
		return false;
	for (i = 7; d[i]; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return false;
	return true;
}
