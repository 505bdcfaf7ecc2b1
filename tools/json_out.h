/* json_out.h - the --json report of the pamkit CLI (jansson). */
#ifndef PAMKIT_TOOLS_JSON_OUT_H
#define PAMKIT_TOOLS_JSON_OUT_H

#include <stdbool.h>
#include <stdio.h>

#include <pamkit/pamkit.h>

struct json_report;

/* NULL on allocation failure. */
struct json_report *json_report_new(const char *service, const char *user);
void json_report_free(struct json_report *r);
/* Each returns 0 or -ENOMEM. */
int json_report_user(struct json_report *r, const char *user);
int json_report_op(struct json_report *r, const char *op, int code,
		   bool timed_out);
int json_report_message(struct json_report *r, const char *op,
			const struct pk_message *m);
/* env: NULL-terminated "NAME=value" list. */
int json_report_env(struct json_report *r, char *const *env);
/* Write the object and a newline; 0 or -EIO. */
int json_report_print(struct json_report *r, bool ok, FILE *out);

#endif
