/* oci/ internals: the ext4 base image from the layers (merge.c, ext4w.c,
 * rootfs.c). */
#ifndef MSBVM_OCI_LAYER_H
#define MSBVM_OCI_LAYER_H

#include <jansson.h>

#include "oci_store.h"

/* pass 1 (merge.c): which entry survives at each path, layer by layer */
int oci_merge_layer(const char *blob, long layer, const char *lname,
		    json_t *map, struct oci_err *e);
/* pass 2 (ext4w.c): write the survivors of every layer into the empty
 * ext4 file system IMG */
int oci_ext4_write(const char *img, const char *const *blobs,
		   const char *const *names, unsigned n, json_t *map,
		   struct oci_err *e);

#endif
