/* The object behind msbvm_image_store (image.c, image_rootfs.c). */
#ifndef MSBVM_LIB_IMAGE_H
#define MSBVM_LIB_IMAGE_H

#include "include/msbvm.h"
#include "oci/oci_store.h"

#define IMG_MAX_INSECURE 16

struct msbvm_image_store {
	struct oci_store st;
	struct oci_opts o;
	char *insecure[IMG_MAX_INSECURE];
	char *platform, *ca_cert;
	struct oci_err err;
};

#endif
