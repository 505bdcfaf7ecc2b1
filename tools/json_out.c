/* json_out.c - build and print the one JSON object of `pamkit --json`. */
#include "json_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

struct json_report {
	json_t *root;
	json_t *ops;
	json_t *transcript;
};

static int set_str(json_t *obj, const char *key, const char *value)
{
	json_t *v = value ? json_string(value) : json_null();

	if (!v)
		return -ENOMEM;
	return json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

struct json_report *json_report_new(const char *service, const char *user)
{
	struct json_report *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->root = json_object();
	r->ops = json_array();
	r->transcript = json_array();
	if (!r->root || !r->ops || !r->transcript)
		goto fail;
	if (set_str(r->root, "service", service) < 0 ||
	    set_str(r->root, "user", user) < 0)
		goto fail;
	if (json_object_set(r->root, "ops", r->ops) < 0 ||
	    json_object_set(r->root, "transcript", r->transcript) < 0)
		goto fail;
	return r;
fail:
	json_report_free(r);
	return NULL;
}

void json_report_free(struct json_report *r)
{
	if (!r)
		return;
	json_decref(r->transcript);
	json_decref(r->ops);
	json_decref(r->root);
	free(r);
}

int json_report_user(struct json_report *r, const char *user)
{
	return set_str(r->root, "user", user);
}

int json_report_op(struct json_report *r, const char *op, int code,
		   bool timed_out)
{
	json_t *o = json_pack("{s:s, s:i, s:s, s:s, s:b}", "op", op,
			      "code", code, "name", pk_code_name(code),
			      "message", pk_strerror(code),
			      "timed_out", timed_out);

	if (!o)
		return -ENOMEM;
	return json_array_append_new(r->ops, o) == 0 ? 0 : -ENOMEM;
}

static const char *style_name(int style)
{
	switch (style) {
	case PAM_PROMPT_ECHO_OFF:
		return "prompt_echo_off";
	case PAM_PROMPT_ECHO_ON:
		return "prompt_echo_on";
	case PAM_ERROR_MSG:
		return "error";
	case PAM_TEXT_INFO:
		return "info";
	default:
		return "unknown";
	}
}

int json_report_message(struct json_report *r, const char *op,
			const struct pk_message *m)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "op", op,
			      "style", style_name(m->style), "text", m->msg);

	if (!o)
		return -ENOMEM;
	return json_array_append_new(r->transcript, o) == 0 ? 0 : -ENOMEM;
}

int json_report_env(struct json_report *r, char *const *env)
{
	json_t *obj = json_object();
	size_t i;

	if (!obj)
		return -ENOMEM;
	for (i = 0; env && env[i]; i++) {
		const char *eq = strchr(env[i], '=');
		char *name;
		int rc;

		if (!eq)
			continue;
		name = strndup(env[i], (size_t)(eq - env[i]));
		if (!name)
			goto fail;
		rc = set_str(obj, name, eq + 1);
		free(name);
		if (rc < 0)
			goto fail;
	}
	return json_object_set_new(r->root, "env", obj) == 0 ? 0 : -ENOMEM;
fail:
	json_decref(obj);
	return -ENOMEM;
}

int json_report_print(struct json_report *r, bool ok, FILE *out)
{
	if (json_object_set_new(r->root, "ok", json_boolean(ok)) < 0)
		return -ENOMEM;
	if (json_dumpf(r->root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
		return -EIO;
	if (fputc('\n', out) == EOF || fflush(out) == EOF)
		return -EIO;
	return 0;
}
