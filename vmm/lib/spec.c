/* Sandbox specs (docs/spec.md): a JSON file naming what the setters
 * would set, applied to a config through them, so that a spec is checked
 * exactly as the same settings made one by one would be. Strict: an
 * unknown field or a wrong type is refused with its JSON path ("spec
 * f.json: patches[2].mode: expected an integer"). Host paths (rootfs,
 * volumes, copyFile/copyDir sources, script files) are relative to the
 * spec file's folder. */
#include "lib.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct spec_ctx {
	msbvm_config *c;
	const char *file;
	char dir[PATH_MAX];
};

__attribute__((format(printf, 3, 4)))
static int spec_fail(struct spec_ctx *x, const char *at, const char *fmt, ...)
{
	char msg[LIB_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* cut at the buffer's end: the start says what and where */
	if (snprintf(x->c->err, sizeof(x->c->err), "spec %s: %s%s%s", x->file, at,
		     *at ? ": " : "", msg) < 0)
		x->c->err[0] = '\0';
	return -EINVAL;
}

/* a setter's refusal, with where in the spec it came from */
static int spec_setter(struct spec_ctx *x, const char *at, int rc)
{
	char why[LIB_ERR_LEN];

	if (rc >= 0)
		return 0;
	snprintf(why, sizeof(why), "%s", x->c->err);
	spec_fail(x, at, "%s", why);
	return rc;
}

/* host path p relative to the spec's folder, into out */
static const char *spec_host(struct spec_ctx *x, const char *p, char *out,
			     size_t len)
{
	int n = p[0] == '/' || !p[0] ? snprintf(out, len, "%s", p) :
		snprintf(out, len, "%s/%s", x->dir, p);

	if (n < 0 || (size_t)n >= len)
		out[0] = '\0'; /* too long: the setter says "no such" */
	return out;
}

static int spec_str(struct spec_ctx *x, const char *at, json_t *v,
		    const char **out)
{
	if (!json_is_string(v))
		return spec_fail(x, at, "expected a string");
	*out = json_string_value(v);
	if (strlen(*out) != json_string_length(v))
		return spec_fail(x, at, "a NUL inside the string");
	return 0;
}

static int spec_int(struct spec_ctx *x, const char *at, json_t *v,
		    long long min, long long max, long long *out)
{
	if (!json_is_integer(v))
		return spec_fail(x, at, "expected an integer");
	*out = json_integer_value(v);
	if (*out < min || *out > max)
		return spec_fail(x, at, "%lld is out of range (%lld to %lld)", *out,
				 min, max);
	return 0;
}

/* each string of an array, or each "K": "V" of an object as "K=V" */
static int spec_strings(struct spec_ctx *x, const char *at, json_t *v,
			bool kv, int (*add)(struct spec_ctx *, const char *,
					     const char *))
{
	char where[128], buf[BCFG_MAX_STRING + 1];
	const char *s, *k;
	json_t *e;
	size_t i;
	int rc;

	if (kv && json_is_object(v)) {
		json_object_foreach(v, k, e) {
			snprintf(where, sizeof(where), "%s.%s", at, k);
			if ((rc = spec_str(x, where, e, &s)) < 0)
				return rc;
			snprintf(buf, sizeof(buf), "%s=%s", k, s);
			if ((rc = add(x, where, buf)) < 0)
				return rc;
		}
		return 0;
	}
	if (!json_is_array(v))
		return spec_fail(x, at, kv ? "expected an array of \"NAME=VALUE\" "
				 "strings or an object" : "expected an array of strings");
	json_array_foreach(v, i, e) {
		snprintf(where, sizeof(where), "%s[%zu]", at, i);
		if ((rc = spec_str(x, where, e, &s)) < 0 || (rc = add(x, where, s)) < 0)
			return rc;
	}
	return 0;
}

static int spec_add_init_arg(struct spec_ctx *x, const char *at, const char *s)
{
	return spec_setter(x, at, msbvm_config_add_init_arg(x->c, s));
}

static int spec_add_init_env(struct spec_ctx *x, const char *at, const char *s)
{
	return spec_setter(x, at, msbvm_config_add_init_env(x->c, s));
}

static int spec_add_env(struct spec_ctx *x, const char *at, const char *s)
{
	msbvm_config *c = x->c;

	if (s[0] == '=' || !strchr(s, '='))
		return spec_fail(x, at, "'%s' is not NAME=VALUE", s);
	if (strlen(s) > BCFG_MAX_STRING)
		return spec_fail(x, at, "longer than %d bytes", BCFG_MAX_STRING);
	if (c->n_spec_env == CFG_MAX_LIST)
		return spec_fail(x, at, "at most %d entries", CFG_MAX_LIST);
	if (!(c->spec_env[c->n_spec_env] = strdup(s)))
		return spec_fail(x, at, "out of memory");
	c->n_spec_env++;
	return 0;
}

/* "HOST:GUEST[:ro]" */
static int spec_add_volume(struct spec_ctx *x, const char *at, const char *s)
{
	char buf[PATH_MAX], host[PATH_MAX];
	char *guest, *opt;

	snprintf(buf, sizeof(buf), "%s", s);
	if (!(guest = strchr(buf, ':')) || guest == buf)
		return spec_fail(x, at, "'%s': expected HOSTDIR:GUESTDIR[:ro]", s);
	*guest++ = '\0';
	if ((opt = strchr(guest, ':'))) {
		*opt++ = '\0';
		if (strcmp(opt, "ro") && strcmp(opt, "rw"))
			return spec_fail(x, at, "'%s': unknown option '%s' (ro or rw)",
					 s, opt);
	}
	return spec_setter(x, at, msbvm_config_add_volume(
		x->c, spec_host(x, buf, host, sizeof(host)), guest,
		opt && !strcmp(opt, "ro")));
}

static int spec_scripts(struct spec_ctx *x, json_t *v)
{
	char where[128], host[PATH_MAX];
	const char *name, *s;
	json_t *e;
	int rc;

	if (!json_is_object(v))
		return spec_fail(x, "scripts", "expected an object of NAME: content "
				 "or NAME: {\"file\": PATH}");
	json_object_foreach(v, name, e) {
		snprintf(where, sizeof(where), "scripts.%s", name);
		if (json_is_string(e)) {
			if ((rc = spec_str(x, where, e, &s)) < 0)
				return rc;
			rc = msbvm_config_add_script_text(x->c, name, s);
		} else if (json_is_object(e) && json_object_size(e) == 1 &&
			   json_object_get(e, "file")) {
			snprintf(where, sizeof(where), "scripts.%s.file", name);
			if ((rc = spec_str(x, where, json_object_get(e, "file"), &s)) < 0)
				return rc;
			rc = msbvm_config_add_script(x->c, name,
						     spec_host(x, s, host, sizeof(host)));
		} else {
			return spec_fail(x, where, "expected a string (the content) or "
					 "{\"file\": PATH}");
		}
		if ((rc = spec_setter(x, where, rc)) < 0)
			return rc;
	}
	return 0;
}

/* key is one of the space-separated words of list */
static bool spec_word(const char *list, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = list; (p = strstr(p, key)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
	return false;
}

/* the fields each operation takes besides op and path (the seed's opts) */
static const char *const spec_op_keys[] = {
	[MSBVM_PATCH_TEXT] = "content mode replace",
	[MSBVM_PATCH_FILE] = "content mode replace",
	[MSBVM_PATCH_MKDIR] = "mode",
	[MSBVM_PATCH_APPEND] = "content",
	[MSBVM_PATCH_COPY_FILE] = "src mode replace",
	[MSBVM_PATCH_COPY_DIR] = "src replace",
	[MSBVM_PATCH_SYMLINK] = "target replace",
	[MSBVM_PATCH_REMOVE] = "",
};

/* the op's required field (content, src, target), or NULL */
static const char *spec_op_needs(enum msbvm_patch_op op)
{
	return op == MSBVM_PATCH_MKDIR || op == MSBVM_PATCH_REMOVE ? NULL :
	       op == MSBVM_PATCH_SYMLINK ? "target" :
	       op == MSBVM_PATCH_COPY_FILE || op == MSBVM_PATCH_COPY_DIR ? "src" :
	       "content";
}

static int spec_patch_opts(struct spec_ctx *x, const char *at, json_t *o,
			   struct msbvm_patch *p, char *host, size_t hlen)
{
	char where[96];
	const char *k, *s;
	long long n;
	json_t *v;
	int rc;

	json_object_foreach(o, k, v) {
		snprintf(where, sizeof(where), "%s.%s", at, k);
		if (!strcmp(k, "op") || !strcmp(k, "path"))
			continue;
		if (!spec_word(spec_op_keys[p->op], k))
			return spec_fail(x, where, "unknown field for %s (it takes "
					 "%s)", cfg_patch_name(p->op),
					 *spec_op_keys[p->op] ? spec_op_keys[p->op] : "none");
		if (!strcmp(k, "mode")) {
			if ((rc = spec_int(x, where, v, 0, 07777, &n)) < 0)
				return rc;
			p->mode = (int)n;
		} else if (!strcmp(k, "replace")) {
			if (!json_is_boolean(v))
				return spec_fail(x, where, "expected true or false");
			p->replace = json_is_true(v);
		} else if (!strcmp(k, "content")) {
			if (!json_is_string(v))
				return spec_fail(x, where, "expected a string");
			p->data = json_string_value(v);
			p->len = json_string_length(v);
		} else {
			if ((rc = spec_str(x, where, v, &s)) < 0)
				return rc;
			p->src = !strcmp(k, "src") ? spec_host(x, s, host, hlen) : s;
		}
	}
	return 0;
}

static int spec_patch(struct spec_ctx *x, size_t i, json_t *o)
{
	struct msbvm_patch p = { .mode = -1 };
	char at[32], where[64], host[PATH_MAX];
	const char *op, *need;
	unsigned k;
	int rc;

	snprintf(at, sizeof(at), "patches[%zu]", i);
	if (!json_is_object(o))
		return spec_fail(x, at, "expected an object");
	snprintf(where, sizeof(where), "%s.op", at);
	if (!json_object_get(o, "op"))
		return spec_fail(x, where, "missing");
	if ((rc = spec_str(x, where, json_object_get(o, "op"), &op)) < 0)
		return rc;
	for (k = 0; k <= MSBVM_PATCH_REMOVE && strcmp(cfg_patch_name(k), op); k++)
		;
	if (k > MSBVM_PATCH_REMOVE)
		return spec_fail(x, where, "unknown operation '%s' (text, file, mkdir, "
				 "append, copyFile, copyDir, symlink, remove)", op);
	p.op = (enum msbvm_patch_op)k;
	snprintf(where, sizeof(where), "%s.path", at);
	if (!json_object_get(o, "path"))
		return spec_fail(x, where, "missing");
	if ((rc = spec_str(x, where, json_object_get(o, "path"), &p.path)) < 0 ||
	    (rc = spec_patch_opts(x, at, o, &p, host, sizeof(host))) < 0)
		return rc;
	if ((need = spec_op_needs(p.op)) && !json_object_get(o, need)) {
		snprintf(where, sizeof(where), "%s.%s", at, need);
		return spec_fail(x, where, "missing (%s needs it)", op);
	}
	return spec_setter(x, at, msbvm_config_add_patch(x->c, &p));
}

static int spec_patches(struct spec_ctx *x, json_t *v)
{
	json_t *e;
	size_t i;
	int rc;

	if (!json_is_array(v))
		return spec_fail(x, "patches", "expected an array of objects");
	json_array_foreach(v, i, e)
		if ((rc = spec_patch(x, i, e)) < 0)
			return rc;
	return 0;
}

static int spec_field(struct spec_ctx *x, const char *k, json_t *v)
{
	msbvm_config *c = x->c;
	char host[PATH_MAX];
	const char *s;
	long long n;
	int rc;

	if (!strcmp(k, "image")) {
		if ((rc = spec_str(x, k, v, &s)) < 0)
			return rc;
		free(c->spec_image);
		return (c->spec_image = strdup(s)) ? 0 : spec_fail(x, k, "out of memory");
	}
	if (!strcmp(k, "rootfs"))
		return (rc = spec_str(x, k, v, &s)) < 0 ? rc :
		       spec_setter(x, k, msbvm_config_set_rootfs(
			       c, spec_host(x, s, host, sizeof(host))));
	if (!strcmp(k, "memory"))
		return (rc = spec_int(x, k, v, CFG_MEM_MIN_MIB, 1 << 30, &n)) < 0 ? rc :
		       spec_setter(x, k, msbvm_config_set_memory_mib(c, (uint64_t)n));
	if (!strcmp(k, "cpus"))
		return (rc = spec_int(x, k, v, 1, 1024, &n)) < 0 ? rc :
		       spec_setter(x, k, msbvm_config_set_cpus(c, (unsigned)n));
	if (!strcmp(k, "init"))
		return (rc = spec_str(x, k, v, &s)) < 0 ? rc :
		       spec_setter(x, k, msbvm_config_set_init(c, s));
	if (!strcmp(k, "workdir")) {
		if ((rc = spec_str(x, k, v, &s)) < 0)
			return rc;
		if (s[0] != '/' || strlen(s) > BCFG_MAX_WORKDIR)
			return spec_fail(x, k, "'%s': not an absolute path of at most "
					 "%d bytes", s, BCFG_MAX_WORKDIR);
		free(c->spec_workdir);
		return (c->spec_workdir = strdup(s)) ? 0 : spec_fail(x, k, "out of memory");
	}
	if (!strcmp(k, "init_args"))
		return spec_strings(x, k, v, false, spec_add_init_arg);
	if (!strcmp(k, "init_env"))
		return spec_strings(x, k, v, true, spec_add_init_env);
	if (!strcmp(k, "env"))
		return spec_strings(x, k, v, true, spec_add_env);
	if (!strcmp(k, "volumes"))
		return spec_strings(x, k, v, false, spec_add_volume);
	if (!strcmp(k, "scripts"))
		return spec_scripts(x, v);
	if (!strcmp(k, "patches"))
		return spec_patches(x, v);
	return spec_fail(x, k, "unknown field (image, rootfs, memory, cpus, init, "
			 "init_args, init_env, env, workdir, volumes, scripts, "
			 "patches)");
}

int msbvm_config_load_spec(msbvm_config *c, const char *path)
{
	struct spec_ctx x = { .c = c, .file = path ? path : "" };
	char tmp[PATH_MAX];
	json_error_t je;
	const char *k;
	json_t *root, *v;
	int rc = 0;

	if (!path || !*path)
		return spec_fail(&x, "", "no file given");
	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(x.dir, sizeof(x.dir), "%s", dirname(tmp));
	if (!(root = json_load_file(path, JSON_REJECT_DUPLICATES, &je))) {
		spec_fail(&x, "", je.line > 0 ? "line %d column %d: %s" : "%.0d%.0d%s",
			  je.line, je.column, je.text);
		return je.line > 0 ? -EINVAL : -ENOENT;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return spec_fail(&x, "", "expected a JSON object");
	}
	if (json_object_get(root, "image") && json_object_get(root, "rootfs")) {
		json_decref(root);
		return spec_fail(&x, "", "image and rootfs: give one of them");
	}
	json_object_foreach(root, k, v)
		if ((rc = spec_field(&x, k, v)) < 0)
			break;
	json_decref(root);
	return rc;
}

const char *msbvm_config_spec_image(const msbvm_config *c)
{
	return c ? c->spec_image : NULL;
}
