/* pam_oauth2: registered-claim checks (RFC 7519 §4.1) and login_field. */
#include <math.h>
#include <string.h>
#include "oa2.h"

#define MAX_NUMERIC_DATE 253402300799.0 /* 9999-12-31T23:59:59Z */

/* NumericDate: a JSON number, finite, 0..year 9999. */
static int numeric_date(json_t *j, double *out)
{
	double v;

	if (json_is_integer(j))
		v = (double)json_integer_value(j);
	else if (json_is_real(j))
		v = json_real_value(j);
	else
		return -1;
	if (!isfinite(v) || v < 0 || v > MAX_NUMERIC_DATE)
		return -1;
	*out = v;
	return 0;
}

static int str_eq(json_t *j, const char *s)
{
	size_t n = strlen(s);

	return json_is_string(j) && json_string_length(j) == n &&
	       memcmp(json_string_value(j), s, n) == 0;
}

static int aud_match(json_t *aud, const struct oa2_config *cfg)
{
	for (size_t i = 0; i < cfg->n_aud; i++) {
		if (json_is_string(aud)) {
			if (str_eq(aud, cfg->aud[i]))
				return 1;
		} else if (json_is_array(aud)) {
			size_t k;
			json_t *a;

			json_array_foreach(aud, k, a)
				if (str_eq(a, cfg->aud[i]))
					return 1;
		}
	}
	return 0;
}

/* Is j the string s[0..n) or an array holding it? */
static int holds(json_t *j, const char *s, size_t n)
{
	size_t k;
	json_t *a;

	if (json_is_string(j))
		return json_string_length(j) == n &&
		       memcmp(json_string_value(j), s, n) == 0;
	if (json_is_boolean(j))		/* email_verified:true */
		return (n == 4 && memcmp(s, "true", 4) == 0 && json_is_true(j)) ||
		       (n == 5 && memcmp(s, "false", 5) == 0 && json_is_false(j));
	if (!json_is_array(j))
		return 0;
	json_array_foreach(j, k, a)
		if (json_is_string(a) && json_string_length(a) == n &&
		    memcmp(json_string_value(a), s, n) == 0)
			return 1;
	return 0;
}

/* "NAME:V1|V2": the claim NAME holds one of the values. */
static int required_claim(json_t *p, const char *spec)
{
	const char *colon = strchr(spec, ':'), *v = colon + 1;
	char name[128];
	json_t *j;

	if ((size_t)(colon - spec) >= sizeof(name))
		return 0;
	memcpy(name, spec, (size_t)(colon - spec));
	name[colon - spec] = '\0';
	j = json_object_get(p, name);
	if (j == NULL)
		return 0;
	for (;;) {
		const char *bar = strchr(v, '|');
		size_t n = bar ? (size_t)(bar - v) : strlen(v);

		if (n && holds(j, v, n))
			return 1;
		if (!bar)
			return 0;
		v = bar + 1;
	}
}

/* Is user in the comma-separated list? */
static int listed(const char *list, const char *user)
{
	size_t n = strlen(user);

	for (const char *p = list; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == n && memcmp(p, user, n) == 0)
			return 1;
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

#define FAIL(step, why) do {					\
		*reason = (why);					\
		oa2_trace(tc, (step), 0, "%s", *reason);		\
		return OA2_EINVAL;					\
	} while (0)

/* Who the token is, as a local user: login_field's value itself, or what
   user_map maps it to; then require_claim and allowed_users. */
static int authorised(json_t *p, json_t *login, const struct oa2_config *cfg,
		      const char *user, const char **reason,
		      struct oa2_ctx *tc)
{
	char mapped[256], shown[300];

	for (size_t i = 0; i < cfg->n_require; i++) {
		const char *spec = cfg->require[i];
		int nl = (int)(strchr(spec, ':') - spec);

		if (!required_claim(p, spec))
			FAIL("require_claim", "required claim missing or without an allowed value");
		oa2_trace(tc, "require_claim", 1, "%.*s holds an allowed value", nl, spec);
	}
	/* the identity is what an admin needs to see here; other claim
	   values are never shown */
	oa2_escape(json_string_value(login), json_string_length(login) > 128 ?
		   128 : json_string_length(login), shown, sizeof(shown));
	if (cfg->user_map) {
		if (oa2_usermap_lookup(cfg->user_map, json_string_value(login),
				       mapped, sizeof(mapped), reason) != OA2_OK) {
			oa2_trace(tc, "user_map", 0, "%s ('%s')", *reason, shown);
			return OA2_EINVAL;
		}
		if (strcmp(mapped, user) != 0) {
			*reason = "user_map maps the token to another user";
			oa2_trace(tc, "user_map", 0, "'%s' is local user '%s', not '%s'",
				  shown, mapped, user);
			return OA2_EINVAL;
		}
		oa2_trace(tc, "user_map", 1, "'%s' is local user '%s'", shown, mapped);
	} else if (!str_eq(login, user)) {
		*reason = "login_field mismatch";
		oa2_trace(tc, "login_field", 0, "%s is '%s', the user is '%s'",
			  cfg->login_field, shown, user);
		return OA2_EINVAL;
	} else {
		oa2_trace(tc, "login_field", 1, "%s is the user '%s'",
			  cfg->login_field, user);
	}
	if (cfg->allowed_users) {
		if (!listed(cfg->allowed_users, user))
			FAIL("allowed_users", "user not in allowed_users");
		oa2_trace(tc, "allowed_users", 1, "'%s' is listed", user);
	}
	return OA2_OK;
}

int oa2_claims_check(json_t *p, const struct oa2_config *cfg,
		     const char *user, time_t now, const char **reason,
		     struct oa2_ctx *tc)
{
	json_t *j;
	double v, t = (double)now, lw = (double)cfg->leeway;

	if (!str_eq(json_object_get(p, "iss"), cfg->issuer))
		FAIL("claim iss", "issuer mismatch");
	oa2_trace(tc, "claim iss", 1, "%s", cfg->issuer);
	j = json_object_get(p, "aud");
	if (j == NULL || !aud_match(j, cfg))
		FAIL("claim aud", "audience mismatch");
	oa2_trace(tc, "claim aud", 1, "holds a configured aud");
	if (numeric_date(json_object_get(p, "exp"), &v) != 0)
		FAIL("claim exp", "exp missing or invalid");
	if (t >= v + lw) {
		*reason = "token has expired";
		oa2_trace(tc, "claim exp", 0, "expired %.0f s ago (leeway %ld s)",
			  t - v, cfg->leeway);
		return OA2_EINVAL;
	}
	oa2_trace(tc, "claim exp", 1, "expires in %.0f s", v - t);
	j = json_object_get(p, "nbf");
	if (j != NULL && (numeric_date(j, &v) != 0 || t + lw < v))
		FAIL("claim nbf", "token not yet valid (nbf)");
	j = json_object_get(p, "iat");
	if (j != NULL && (numeric_date(j, &v) != 0 || v > t + lw))
		FAIL("claim iat", "iat invalid or in the future");
	if (json_object_get(p, "events") != NULL)
		FAIL("claim events", "security event token refused");
	j = json_object_get(p, cfg->login_field);
	if (!json_is_string(j) || json_string_length(j) == 0 ||
	    memchr(json_string_value(j), '\0', json_string_length(j)) != NULL)
		FAIL("login_field", "login_field missing or not a string");
	return authorised(p, j, cfg, user, reason, tc);
}
