/* oci/ internals: layers onto a directory (layer.c), the ext4 base image
 * (rootfs.c). */
#ifndef MSBVM_OCI_LAYER_H
#define MSBVM_OCI_LAYER_H

#include <jansson.h>

#include "oci_store.h"

/* the tar headers' ownership and modes, by path, for the image builder */
struct oci_meta {
	json_t *map;    /* "path": [uid, gid, mode] */
	json_t *layer;  /* paths the current layer wrote */
};

#endif
