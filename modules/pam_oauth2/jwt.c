/* pam_oauth2: strict parsing of a compact JWS (RFC 7515 §7.1). */
#include <stdlib.h>
#include <string.h>
#include "oa2.h"

json_t *oa2_json_object(const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);

	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *decode_object(const char *seg, size_t len)
{
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	json_t *j;

	if (len == 0 || oa2_b64url_decode(seg, len, &raw, &rawlen) != OA2_OK)
		return NULL;
	j = oa2_json_object((const char *)raw, rawlen);
	explicit_bzero(raw, rawlen);
	free(raw);
	return j;
}

/* Looks like a compact JWS: three non-empty base64url segments, the first
   a JSON object.  What jwt_only tells a password from a token with; the
   full checks are oa2_jws_parse's. */
int oa2_jws_shaped(const char *token, size_t len)
{
	size_t seg = 0, dots = 0, h_end = 0;
	json_t *h;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)token[i];

		if (c == '.') {
			if (seg == 0 || ++dots > 2)
				return 0;
			if (dots == 1)
				h_end = i;
			seg = 0;
		} else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9') || c == '-' || c == '_') {
			seg++;
		} else {
			return 0;
		}
	}
	if (dots != 2 || seg == 0)
		return 0;
	h = decode_object(token, h_end);
	if (h == NULL)
		return 0;
	json_decref(h);
	return 1;
}

char *oa2_token_issuer(const char *token, size_t len, size_t *isslen)
{
	const char *d1 = memchr(token, '.', len), *d2;
	json_t *p, *iss;
	char *out = NULL;

	if (d1 == NULL)
		return NULL;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
	if (d2 == NULL)
		return NULL;
	p = decode_object(d1 + 1, (size_t)(d2 - d1 - 1));
	iss = json_object_get(p, "iss");
	if (json_is_string(iss)) {
		*isslen = json_string_length(iss);
		out = malloc(*isslen + 1);
		if (out != NULL)
			memcpy(out, json_string_value(iss), *isslen + 1);
	}
	json_decref(p);
	return out;
}

void oa2_jws_free(struct oa2_jws *jws)
{
	json_decref(jws->header);
	json_decref(jws->payload);
	if (jws->sig) {
		explicit_bzero(jws->sig, jws->siglen);
		free(jws->sig);
	}
	memset(jws, 0, sizeof(*jws));
}

int oa2_jws_parse(const char *token, size_t len, const struct oa2_config *cfg,
		  struct oa2_jws *jws, const char **reason)
{
	const char *d1, *d2, *alg_name;
	json_t *alg, *kid;
	int rc = OA2_EINVAL;

	memset(jws, 0, sizeof(*jws));
	*reason = "malformed token";
	if (len == 0 || (long)len > cfg->max_token_len) {
		*reason = "token empty or too long";
		goto out;
	}
	if (memchr(token, '\0', len) != NULL)
		goto out;
	d1 = memchr(token, '.', len);
	if (d1 == NULL)
		goto out;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
	if (d2 == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL)
		goto out;
	jws->header = decode_object(token, (size_t)(d1 - token));
	if (jws->header == NULL) {
		*reason = "bad token header";
		goto out;
	}
	alg = json_object_get(jws->header, "alg");
	alg_name = oa2_alg_name(cfg->alg);
	if (!json_is_string(alg) || json_string_length(alg) != strlen(alg_name) ||
	    memcmp(json_string_value(alg), alg_name, strlen(alg_name)) != 0) {
		*reason = "token alg does not match configured algorithm";
		goto out;
	}
	if (json_object_get(jws->header, "crit") ||
	    json_object_get(jws->header, "zip") ||
	    json_object_get(jws->header, "b64")) {
		*reason = "unsupported header parameter (crit/zip/b64)";
		goto out;
	}
	if (cfg->n_typ > 0) {
		json_t *typ = json_object_get(jws->header, "typ");
		int ok = 0;

		for (size_t i = 0; json_is_string(typ) && i < cfg->n_typ; i++)
			if (json_string_length(typ) == strlen(cfg->typ[i]) &&
			    memcmp(json_string_value(typ), cfg->typ[i],
				   strlen(cfg->typ[i])) == 0)
				ok = 1;
		if (!ok) {
			*reason = "token typ not allowed";
			goto out;
		}
	}
	kid = json_object_get(jws->header, "kid");
	if (kid != NULL) {
		if (!json_is_string(kid) || json_string_length(kid) == 0 ||
		    json_string_length(kid) > OA2_MAX_KID) {
			*reason = "bad kid";
			goto out;
		}
		jws->kid = json_string_value(kid);
		jws->kidlen = json_string_length(kid);
	}
	jws->payload = decode_object(d1 + 1, (size_t)(d2 - d1 - 1));
	if (jws->payload == NULL) {
		*reason = "bad token payload";
		goto out;
	}
	if (oa2_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token),
			      &jws->sig, &jws->siglen) != OA2_OK ||
	    jws->siglen == 0) {
		*reason = "bad token signature encoding";
		goto out;
	}
	jws->signing_len = (size_t)(d2 - token);
	rc = OA2_OK;
out:
	if (rc != OA2_OK)
		oa2_jws_free(jws);
	return rc;
}
