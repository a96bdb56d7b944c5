/* msbvm_image_* in a build without oci/ (`make BUILD=static`: Debian ships
 * no static libcurl dependencies such as libnghttp2.a or libssh2.a): every
 * call fails with -ENOTSUP and says why, so the API stays the same. */
#ifdef MSBVM_NO_IMAGES
#include "include/msbvm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct msbvm_image_store {
	int unused;
};

static const char none_msg[] = "this msbvm was built without image support "
	"(make BUILD=static); use a dynamically linked build";

int msbvm_image_store_open(const char *root, msbvm_image_store **out)
{
	(void)root;
	*out = calloc(1, sizeof(**out));
	return *out ? -ENOTSUP : -ENOMEM;
}

void msbvm_image_store_close(msbvm_image_store *s) { free(s); }
const char *msbvm_image_errmsg(const msbvm_image_store *s) { (void)s; return none_msg; }
const char *msbvm_image_store_root(const msbvm_image_store *s) { (void)s; return ""; }
int msbvm_image_set_platform(msbvm_image_store *s, const char *p) { (void)s; (void)p; return -ENOTSUP; }
int msbvm_image_add_insecure_registry(msbvm_image_store *s, const char *h) { (void)s; (void)h; return -ENOTSUP; }
int msbvm_image_set_ca_cert(msbvm_image_store *s, const char *p) { (void)s; (void)p; return -ENOTSUP; }
int msbvm_image_set_progress_fd(msbvm_image_store *s, int fd) { (void)s; (void)fd; return -ENOTSUP; }
int msbvm_image_pull(msbvm_image_store *s, const char *r, char *d) { (void)s; (void)r; (void)d; return -ENOTSUP; }
int msbvm_image_list(msbvm_image_store *s, msbvm_image_list_fn fn, void *o) { (void)s; (void)fn; (void)o; return -ENOTSUP; }
int msbvm_image_remove(msbvm_image_store *s, const char *r) { (void)s; (void)r; return -ENOTSUP; }
int msbvm_image_config_json(msbvm_image_store *s, const char *r, char **j) { (void)s; (void)r; *j = NULL; return -ENOTSUP; }
int msbvm_image_rootfs(msbvm_image_store *s, const char *r, struct msbvm_image_rootfs *out)
{
	(void)s;
	(void)r;
	memset(out, 0, sizeof(*out));
	return -ENOTSUP;
}
void msbvm_image_rootfs_free(struct msbvm_image_rootfs *r) { (void)r; }
int msbvm_image_login(msbvm_image_store *s, const char *g, const char *u, const char *p) { (void)s; (void)g; (void)u; (void)p; return -ENOTSUP; }
int msbvm_image_logout(msbvm_image_store *s, const char *g) { (void)s; (void)g; return -ENOTSUP; }
#endif
