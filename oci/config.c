/* The image configuration (OCI image spec config.md, "config" object):
 * what `run IMAGE` needs to start the image's program. */
#include "oci.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void cfg_free_list(char **l)
{
	for (size_t i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

/* a JSON array of strings -> NULL-terminated vector; null/absent -> NULL */
static int cfg_list(json_t *a, char ***out)
{
	size_t i;
	json_t *v;
	char **l;

	*out = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return -EBADMSG;
	if (!(l = calloc(json_array_size(a) + 1, sizeof(*l))))
		return -ENOMEM;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || !(l[i] = strdup(json_string_value(v)))) {
			cfg_free_list(l);
			return json_is_string(v) ? -ENOMEM : -EBADMSG;
		}
	}
	*out = l;
	return 0;
}

static int cfg_str(json_t *v, char **out)
{
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EBADMSG;
	return (*out = strdup(json_string_value(v))) ? 0 : -ENOMEM;
}

int oci_config_parse(const char *body, size_t len, struct oci_config *c,
		     struct oci_err *e)
{
	json_error_t je;
	json_t *j = json_loadb(body, len, 0, &je), *cf;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	if (!j || !json_is_object(j)) {
		json_decref(j);
		return oci_errf(e, EBADMSG, "malformed image config JSON");
	}
	cf = json_object_get(j, "config"); /* optional (config.md) */
	if (cf && !json_is_object(cf) && !json_is_null(cf))
		rc = -EBADMSG;
	if (!rc && json_is_object(cf))
		rc = cfg_list(json_object_get(cf, "Entrypoint"), &c->entrypoint) ?:
		     cfg_list(json_object_get(cf, "Cmd"), &c->cmd) ?:
		     cfg_list(json_object_get(cf, "Env"), &c->env) ?:
		     cfg_str(json_object_get(cf, "WorkingDir"), &c->workdir) ?:
		     cfg_str(json_object_get(cf, "User"), &c->user);
	if (!rc)
		rc = cfg_str(json_object_get(j, "created"), &c->created);
	json_decref(j);
	if (rc < 0) {
		oci_config_free(c);
		return oci_errf(e, -rc, "bad image config: a field has the "
				"wrong JSON type");
	}
	return 0;
}

void oci_config_free(struct oci_config *c)
{
	cfg_free_list(c->entrypoint);
	cfg_free_list(c->cmd);
	cfg_free_list(c->env);
	free(c->workdir);
	free(c->user);
	free(c->created);
	memset(c, 0, sizeof(*c));
}
