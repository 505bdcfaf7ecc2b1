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

int oa2_claims_check(json_t *p, const struct oa2_config *cfg,
		     const char *user, time_t now, const char **reason)
{
	json_t *j;
	double v, t = (double)now, lw = (double)cfg->leeway;

	if (!str_eq(json_object_get(p, "iss"), cfg->issuer)) {
		*reason = "issuer mismatch";
		return OA2_EINVAL;
	}
	j = json_object_get(p, "aud");
	if (j == NULL || !aud_match(j, cfg)) {
		*reason = "audience mismatch";
		return OA2_EINVAL;
	}
	if (numeric_date(json_object_get(p, "exp"), &v) != 0) {
		*reason = "exp missing or invalid";
		return OA2_EINVAL;
	}
	if (t >= v + lw) {
		*reason = "token has expired";
		return OA2_EINVAL;
	}
	j = json_object_get(p, "nbf");
	if (j != NULL && (numeric_date(j, &v) != 0 || t + lw < v)) {
		*reason = "token not yet valid (nbf)";
		return OA2_EINVAL;
	}
	j = json_object_get(p, "iat");
	if (j != NULL && (numeric_date(j, &v) != 0 || v > t + lw)) {
		*reason = "iat invalid or in the future";
		return OA2_EINVAL;
	}
	if (json_object_get(p, "events") != NULL) {
		*reason = "security event token refused";
		return OA2_EINVAL;
	}
	j = json_object_get(p, cfg->login_field);
	if (!json_is_string(j) || json_string_length(j) == 0 ||
	    memchr(json_string_value(j), '\0', json_string_length(j)) != NULL) {
		*reason = "login_field missing or not a string";
		return OA2_EINVAL;
	}
	if (!str_eq(j, user)) {
		*reason = "login_field mismatch";
		return OA2_EINVAL;
	}
	return OA2_OK;
}
