/* oci/ internals: the image store (store.c, store_index.c), downloads
 * (blob.c), pulling (pull.c) and the base image (rootfs.c, layer.c). */
#ifndef MSBVM_OCI_STORE_H
#define MSBVM_OCI_STORE_H

#include <limits.h>

#include "oci.h"

struct oci_store {
	char root[PATH_MAX - 128];
	int lock_fd;
};

struct oci_image_entry {
	const char *ref, *digest, *created;
	uint64_t size;
};
typedef int (*oci_list_fn)(const struct oci_image_entry *ie, void *opaque);

void oci_store_default_root(char *buf, size_t len);
int oci_store_open(struct oci_store *s, const char *root, struct oci_err *e);
void oci_store_close(struct oci_store *s);
/* rm -rf PATH (or only what is in it) */
void oci_rmtree(const char *path, bool children_only);
int oci_store_lock(struct oci_store *s, struct oci_err *e);
void oci_store_unlock(struct oci_store *s);
void oci_store_blob_path(const struct oci_store *s, const char *digest,
			 char *buf, size_t len);
void oci_store_image_path(const struct oci_store *s, const char *digest,
			  char *buf, size_t len);
bool oci_store_has_blob(const struct oci_store *s, const char *digest,
			uint64_t size);
int oci_store_read_blob(const struct oci_store *s, const char *digest,
			size_t max, struct oci_buf *b, struct oci_err *e);
int oci_store_put_blob(const struct oci_store *s, const char *digest,
		       const void *data, size_t len, struct oci_err *e);
int oci_store_commit(const char *tmp, int fd, const char *dst,
		     struct oci_err *e);

/* index.json (store_index.c); REF is the normalised reference */
int oci_store_ref_set(struct oci_store *s, const struct oci_image_entry *ie,
		      struct oci_err *e);
/* manifest digest of REF (a full reference or the short form the user
 * typed, normalised); -ENOENT "... not found" */
int oci_store_ref_get(struct oci_store *s, const char *ref, char *digest,
		      char *norm, size_t normlen, struct oci_err *e);
int oci_store_ref_del(struct oci_store *s, const char *ref, struct oci_err *e);
int oci_store_list(struct oci_store *s, oci_list_fn fn, void *opaque,
		   struct oci_err *e);
/* rmi: forget REF (-EBUSY if its base image is in use by a VM and no
 * other reference shares it), then GC; takes the lock */
int oci_store_remove(struct oci_store *s, const char *ref, struct oci_err *e);
/* remove blobs and base images no reference needs; returns how many */
int oci_store_gc(struct oci_store *s, struct oci_err *e);

/* blob.c: fetch descriptors not yet in the store, several at once;
 * every blob written is verified against its digest and size. added[]
 * gets the digests this call put in the store (so a failed pull can take
 * them out again). */
int oci_fetch_blobs(struct oci_client *c, struct oci_store *s,
		    const struct oci_desc *d, unsigned n, const char *const *names,
		    bool *added, struct oci_err *e);

/* pull.c */
int oci_pull(struct oci_store *s, const char *ref, const struct oci_opts *o,
	     char *digest_out, struct oci_err *e);

/* rootfs.c: the read-only ext4 base image of a manifest digest, built
 * once; path gets its file name */
int oci_rootfs_build(struct oci_store *s, const char *digest, char *path,
		     size_t len, struct oci_err *e);
/* the same, the caller holding the store lock (pull) */
int oci_rootfs_build_locked(struct oci_store *s, const char *digest,
			    char *path, size_t len, struct oci_err *e);

#endif
