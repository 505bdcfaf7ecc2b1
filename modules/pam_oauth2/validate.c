/* pam_oauth2: validating one token (discovery, the JWKS cache, key
 * selection, signature, claims), shared by the module and
 * pam_oauth2-check.  Each step may be reported to c->trace, which is how
 * the check tool explains a refusal; the module passes none. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <security/pam_appl.h>
#include "oa2.h"

void oa2_trace(struct oa2_ctx *c, const char *step, int ok,
	       const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	if (c == NULL || c->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	c->trace(c->trace_arg, step, ok, detail);
}

static int fetch_json(struct oa2_ctx *c, const char *url, json_t **out)
{
	char *body = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = oa2_fetch(c->cfg, url, &body, &len, c->err, sizeof(c->err));
	if (rc != OA2_OK)
		return rc;
	*out = oa2_json_object(body, len);
	free(body);
	if (*out == NULL) {
		snprintf(c->err, sizeof(c->err), "response is not a JSON object");
		return OA2_ENET;
	}
	return OA2_OK;
}

static int fetch_jwks(struct oa2_ctx *c, const char *uri, json_t **jwks)
{
	int rc = fetch_json(c, uri, jwks);

	if (rc != OA2_OK)
		return rc;
	if (oa2_jwks_check(*jwks) != OA2_OK) {
		snprintf(c->err, sizeof(c->err),
			 "JWKS invalid (no keys array, too many keys or private members)");
		json_decref(*jwks);
		*jwks = NULL;
		return OA2_ENET;
	}
	return OA2_OK;
}

/* OIDC Discovery §4: issuer without one trailing '/', then the well-known path. */
int oa2_discovery(struct oa2_ctx *c, json_t **out)
{
	const char *iss = c->cfg->issuer;
	size_t n = strlen(iss);
	char url[1200];
	json_t *doc = NULL, *j;
	int rc;

	*out = NULL;
	if (n > 0 && iss[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration",
		 (int)n, iss);
	rc = fetch_json(c, url, &doc);
	if (rc != OA2_OK)
		return rc;
	j = json_object_get(doc, "issuer");
	if (!json_is_string(j) || json_string_length(j) != strlen(iss) ||
	    memcmp(json_string_value(j), iss, strlen(iss)) != 0) {
		snprintf(c->err, sizeof(c->err), "discovery issuer mismatch");
		json_decref(doc);
		return OA2_ENET;
	}
	*out = doc;
	return OA2_OK;
}

const char *oa2_https_member(json_t *doc, const char *name)
{
	json_t *j = json_object_get(doc, name);

	if (!json_is_string(j) ||
	    strncmp(json_string_value(j), "https://", 8) != 0 ||
	    json_string_length(j) != strlen(json_string_value(j)) ||
	    json_string_length(j) > 2048)
		return NULL;
	for (const char *p = json_string_value(j); *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return NULL;	/* it may be shown to the user */
	return json_string_value(j);
}

static int discover(struct oa2_ctx *c, struct oa2_entry *e, time_t now)
{
	json_t *doc = NULL;
	const char *uri;
	int rc = oa2_discovery(c, &doc);

	if (rc != OA2_OK)
		return rc;
	rc = OA2_ENET;
	uri = oa2_https_member(doc, "jwks_uri");
	if (uri == NULL) {
		snprintf(c->err, sizeof(c->err), "discovery jwks_uri not https");
		goto out;
	}
	oa2_entry_clear(e);
	e->jwks_uri = strdup(uri);
	if (e->jwks_uri == NULL) {
		rc = OA2_ENOMEM;
		goto out;
	}
	rc = fetch_jwks(c, e->jwks_uri, &e->jwks);
	if (rc != OA2_OK)
		goto out;
	e->fetched_at = now;
	e->attempt_at = now;
out:
	json_decref(doc);
	return rc;
}

static void store(struct oa2_ctx *c, const struct oa2_entry *e)
{
	if (c->cfg->cache_ttl > 0 && oa2_cache_store(c->cfg, e) != OA2_OK)
		oa2_log(LOG_WARNING, c->service, "jwks cache write failed");
}

/*
 * Warm path: the cache file is opened, checked and read on every call; only
 * when a key was already imported from exactly these bytes (keycache.c) is the
 * JSON parse, key selection and import skipped.  Returns 1 on a usable hit.
 */
static int warm_key(const struct oa2_config *cfg, const struct oa2_jws *jws,
		    time_t now, const struct oa2_ident *id, const char *doc,
		    size_t len, EVP_PKEY **pkey, EVP_MD_CTX **md)
{
	long long fat = 0;

	if (oa2_keycache_get(id, doc, len, cfg->issuer, cfg->alg, jws->kid,
			     jws->kidlen, pkey, md, &fat) != OA2_OK)
		return 0;
	if (fat <= now && now - fat < cfg->cache_ttl)
		return 1;
	EVP_PKEY_free(*pkey);
	EVP_MD_CTX_free(*md);
	*pkey = NULL;
	*md = NULL;
	return 0;
}

/* One rate-limited JWKS refetch for an unknown kid; returns the select rc. */
static int refetch(struct oa2_ctx *c, struct oa2_entry *e, const struct oa2_jws *jws,
		   time_t now, json_t **key)
{
	const struct oa2_config *cfg = c->cfg;
	long long last = e->attempt_at > e->fetched_at ? e->attempt_at :
							 e->fetched_at;
	struct oa2_entry fresh = { 0 };
	json_t *jwks = NULL;

	if (now - last < cfg->min_refresh_interval && last <= now) {
		if (cfg->debug)
			oa2_log(LOG_DEBUG, c->service, "jwks refetch rate-limited");
		return OA2_ENOKEY;
	}
	e->attempt_at = now;
	store(c, e); /* stamp before fetching: rate limit */
	/* discovery again: a rotation may move jwks_uri too; if discovery
	   itself is down, the JWKS at the known jwks_uri (one JWKS request
	   either way) */
	if (discover(c, &fresh, now) == OA2_OK) {
		oa2_entry_clear(e);
		*e = fresh;
	} else {
		bool had_doc = fresh.jwks_uri != NULL;

		oa2_entry_clear(&fresh);
		if (had_doc || fetch_jwks(c, e->jwks_uri, &jwks) != OA2_OK) {
			oa2_log(LOG_WARNING, c->service, "jwks refetch failed: %s",
				c->err);
			return OA2_ENOKEY;
		}
		json_decref(e->jwks);
		e->jwks = jwks;
		e->fetched_at = now;
	}
	store(c, e);
	return oa2_jwks_select(e->jwks, cfg->alg, jws->kid, jws->kidlen, key);
}

static const char *no_key_reason(struct oa2_ctx *c, int rc, const struct oa2_jws *jws)
{
	char kid[200];

	if (rc == OA2_EAMBIG)
		return "several keys match kid (ambiguous)";
	oa2_escape(jws->kid ? jws->kid : "",
		   jws->kid ? (jws->kidlen > 64 ? 64 : jws->kidlen) : 0,
		   kid, sizeof(kid));
	snprintf(c->err, sizeof(c->err), "no matching key found for kid '%.190s'",
		 kid);
	return c->err;
}

int oa2_validate(struct oa2_ctx *c, const char *user, const char *tok,
		 size_t toklen, const char **reason)
{
	const struct oa2_config *cfg = c->cfg;
	struct oa2_jws jws;
	struct oa2_entry e;
	struct oa2_ident id;
	json_t *key = NULL;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	char *buf = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	char kid[200];
	int rc, fresh = 0, from_file = 0, ret = PAM_AUTH_ERR;

	memset(&e, 0, sizeof(e));
	rc = oa2_jws_parse(tok, toklen, cfg, &jws, reason);
	if (rc != OA2_OK) {
		oa2_trace(c, "token", 0, "%s", *reason);
		return PAM_AUTH_ERR;
	}
	oa2_escape(jws.kid ? jws.kid : "", jws.kid ? (jws.kidlen > 64 ? 64 : jws.kidlen) : 0,
		   kid, sizeof(kid));
	oa2_trace(c, "token", 1, "compact JWS, alg %s, kid '%s'",
		  oa2_alg_name(cfg->alg), kid);
	if (cfg->cache_ttl > 0 &&
	    oa2_cache_read(cfg, &buf, &len, &id) == OA2_OK) {
		if (warm_key(cfg, &jws, now, &id, buf, len, &pkey, &md)) {
			oa2_trace(c, "key", 1, "kid '%s' imported before from this "
				  "cache file (in-process cache)", kid);
			goto verify;
		}
		if (oa2_cache_parse(cfg, buf, len, &e) == OA2_OK) {
			from_file = 1;
			fresh = e.fetched_at <= now &&
				now - e.fetched_at < cfg->cache_ttl;
			oa2_trace(c, "cache", fresh, "fetched %lld s ago, cache_ttl %ld%s",
				  (long long)now - e.fetched_at, cfg->cache_ttl,
				  fresh ? "" : ": stale, discovery again");
		} else {
			oa2_trace(c, "cache", 0, "cache file unusable (other issuer "
				  "or malformed): discovery");
		}
	} else {
		oa2_trace(c, "cache", 0, cfg->cache_ttl > 0 ?
			  "no cache file, or not safe to use (owner, mode): "
			  "discovery" : "cache_ttl=0: discovery every time");
	}
	if (!fresh) {
		from_file = 0;
		rc = discover(c, &e, now);
		if (rc != OA2_OK) {
			*reason = c->err;
			oa2_trace(c, "discovery", 0, "%s", c->err);
			ret = PAM_AUTHINFO_UNAVAIL;
			goto out;
		}
		oa2_trace(c, "discovery", 1, "jwks_uri and JWKS fetched");
		store(c, &e);
	}
	rc = oa2_jwks_select(e.jwks, cfg->alg, jws.kid, jws.kidlen, &key);
	if (rc == OA2_ENOKEY && from_file) {
		from_file = 0; /* the file is rewritten: its identity changes */
		oa2_trace(c, "key", 0, "kid '%s' not in the cached JWKS: "
			  "discovery and JWKS again (at most once per "
			  "min_refresh_interval)", kid);
		rc = refetch(c, &e, &jws, now, &key);
	}
	if (rc != OA2_OK) {
		*reason = no_key_reason(c, rc, &jws);
		oa2_trace(c, "key", 0, "%s", *reason);
		goto out;
	}
	rc = oa2_jwk_import(key, cfg->alg, &pkey, reason);
	if (rc != OA2_OK) {
		oa2_trace(c, "key", 0, "%s", *reason);
		goto out;
	}
	oa2_trace(c, "key", 1, "kid '%s' for %s", kid, oa2_alg_name(cfg->alg));
	if (from_file)
		oa2_keycache_put(&id, buf, len, cfg->issuer, cfg->alg, jws.kid,
				 jws.kidlen, pkey, e.fetched_at);
	if (oa2_verify_init(pkey, cfg->alg, &md) != OA2_OK) {
		*reason = "key unusable for algorithm";
		oa2_trace(c, "signature", 0, "%s", *reason);
		goto out;
	}
verify:
	if (oa2_verify_with(md, pkey, cfg->alg, (const unsigned char *)tok,
			    jws.signing_len, jws.sig, jws.siglen) != OA2_OK) {
		*reason = "signature verification failed";
		oa2_trace(c, "signature", 0, "%s", *reason);
		goto out;
	}
	oa2_trace(c, "signature", 1, "%s", oa2_alg_name(cfg->alg));
	if (oa2_claims_check(jws.payload, cfg, user, now, reason, c) != OA2_OK)
		goto out;
	ret = PAM_SUCCESS;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	free(buf);
	oa2_entry_clear(&e);
	oa2_jws_free(&jws);
	return ret;
}

