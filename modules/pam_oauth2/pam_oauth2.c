/* pam_oauth2: PAM entry points; accepts an OIDC JWT as the password. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <security/pam_modules.h>
#include <security/pam_ext.h>
#include "oa2.h"

#define PUBLIC __attribute__((visibility("default")))
#define CONV_TRUNCATION_LEN 4095

struct ctx {
	pam_handle_t *pamh;
	const char *service;
	const struct oa2_config *cfg;
	char err[OA2_ERRLEN];
};

static int get_token(struct ctx *c, char **tok, size_t *len)
{
	const void *item = NULL;
	const struct pam_conv *conv = NULL;
	/* jwt_only: password-or-token stacks, one prompt for either */
	struct pam_message msg = { PAM_PROMPT_ECHO_OFF,
				   c->cfg->jwt_only ? "Password: " : "JWT: " };
	const struct pam_message *pmsg = &msg;
	struct pam_response *resp = NULL;
	int rc;

	*tok = NULL;
	if (pam_get_item(c->pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS &&
	    item != NULL && *(const char *)item != '\0') {
		*tok = strdup(item);
		if (*tok == NULL)
			return PAM_BUF_ERR;
		*len = strlen(*tok);
		return PAM_SUCCESS;
	}
	if (c->cfg->use_first_pass)
		return PAM_AUTH_ERR;
	rc = pam_get_item(c->pamh, PAM_CONV, (const void **)&conv);
	if (rc != PAM_SUCCESS || conv == NULL || conv->conv == NULL)
		return PAM_CONV_ERR;
	rc = conv->conv(1, &pmsg, &resp, conv->appdata_ptr);
	if (rc != PAM_SUCCESS || resp == NULL) {
		free(resp);
		return PAM_CONV_ERR;
	}
	*tok = resp[0].resp;
	free(resp);
	if (*tok == NULL)
		return PAM_CONV_ERR;
	*len = strlen(*tok);
	/* the next module (pam_unix try_first_pass) gets what was typed */
	if (c->cfg->jwt_only && pam_set_item(c->pamh, PAM_AUTHTOK, *tok) != PAM_SUCCESS)
		return PAM_BUF_ERR;
	return PAM_SUCCESS;
}

static int fetch_json(struct ctx *c, const char *url, json_t **out)
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

static int fetch_jwks(struct ctx *c, const char *uri, json_t **jwks)
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
static int discover(struct ctx *c, struct oa2_entry *e, time_t now)
{
	const char *iss = c->cfg->issuer;
	size_t n = strlen(iss);
	char url[1200];
	json_t *doc = NULL, *j;
	int rc;

	if (n > 0 && iss[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration",
		 (int)n, iss);
	rc = fetch_json(c, url, &doc);
	if (rc != OA2_OK)
		return rc;
	rc = OA2_ENET;
	j = json_object_get(doc, "issuer");
	if (!json_is_string(j) || json_string_length(j) != strlen(iss) ||
	    memcmp(json_string_value(j), iss, strlen(iss)) != 0) {
		snprintf(c->err, sizeof(c->err), "discovery issuer mismatch");
		goto out;
	}
	j = json_object_get(doc, "jwks_uri");
	if (!json_is_string(j) ||
	    strncmp(json_string_value(j), "https://", 8) != 0 ||
	    json_string_length(j) != strlen(json_string_value(j))) {
		snprintf(c->err, sizeof(c->err), "discovery jwks_uri not https");
		goto out;
	}
	oa2_entry_clear(e);
	e->jwks_uri = strdup(json_string_value(j));
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

static void store(struct ctx *c, const struct oa2_entry *e)
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
static int refetch(struct ctx *c, struct oa2_entry *e, const struct oa2_jws *jws,
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

static const char *no_key_reason(struct ctx *c, int rc, const struct oa2_jws *jws)
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

static int authenticate(struct ctx *c, const char *user, const char *tok,
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
	int rc, fresh = 0, from_file = 0, ret = PAM_AUTH_ERR;

	memset(&e, 0, sizeof(e));
	rc = oa2_jws_parse(tok, toklen, cfg, &jws, reason);
	if (rc != OA2_OK)
		return PAM_AUTH_ERR;
	if (cfg->cache_ttl > 0 &&
	    oa2_cache_read(cfg, &buf, &len, &id) == OA2_OK) {
		if (warm_key(cfg, &jws, now, &id, buf, len, &pkey, &md))
			goto verify;
		if (oa2_cache_parse(cfg, buf, len, &e) == OA2_OK) {
			from_file = 1;
			fresh = e.fetched_at <= now &&
				now - e.fetched_at < cfg->cache_ttl;
		}
	}
	if (!fresh) {
		from_file = 0;
		rc = discover(c, &e, now);
		if (rc != OA2_OK) {
			*reason = c->err;
			ret = PAM_AUTHINFO_UNAVAIL;
			goto out;
		}
		store(c, &e);
	}
	rc = oa2_jwks_select(e.jwks, cfg->alg, jws.kid, jws.kidlen, &key);
	if (rc == OA2_ENOKEY && from_file) {
		from_file = 0; /* the file is rewritten: its identity changes */
		rc = refetch(c, &e, &jws, now, &key);
	}
	if (rc != OA2_OK) {
		*reason = no_key_reason(c, rc, &jws);
		goto out;
	}
	rc = oa2_jwk_import(key, cfg->alg, &pkey, reason);
	if (rc != OA2_OK)
		goto out;
	if (from_file)
		oa2_keycache_put(&id, buf, len, cfg->issuer, cfg->alg, jws.kid,
				 jws.kidlen, pkey, e.fetched_at);
	if (oa2_verify_init(pkey, cfg->alg, &md) != OA2_OK) {
		*reason = "key unusable for algorithm";
		goto out;
	}
verify:
	if (oa2_verify_with(md, pkey, cfg->alg, (const unsigned char *)tok,
			    jws.signing_len, jws.sig, jws.siglen) != OA2_OK) {
		*reason = "signature verification failed";
		goto out;
	}
	if (oa2_claims_check(jws.payload, cfg, user, now, reason) != OA2_OK)
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

/* Several issuers: the token's own "iss" picks the group (its kid never
   does), whose discovery, cache, keys and algorithm then apply. */
static const struct oa2_config *pick_issuer(const struct oa2_configs *all,
					    const char *tok, size_t toklen)
{
	size_t isslen = 0;
	char *iss = oa2_token_issuer(tok, toklen, &isslen);
	const struct oa2_config *g = iss ? oa2_configs_find(all, iss, isslen) : NULL;

	free(iss);
	return g;
}

PUBLIC int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
			       const char **argv)
{
	struct oa2_configs all;
	struct ctx c;
	const void *svc = NULL;
	const char *user = NULL, *reason = "internal error";
	char *tok = NULL, euser[300];
	size_t toklen = 0;
	int ret = PAM_AUTH_ERR;

	(void)flags;
	memset(&c, 0, sizeof(c));
	c.pamh = pamh;
	/* the options all groups share are the first group's too */
	c.cfg = &all.g[0];
	if (pam_get_item(pamh, PAM_SERVICE, &svc) == PAM_SUCCESS)
		c.service = svc;
	if (oa2_configs_parse(&all, argc, argv, c.err, sizeof(c.err)) != 0) {
		oa2_log(LOG_ERR, c.service, "configuration error: %s", c.err);
		return PAM_SERVICE_ERR;
	}
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    *user == '\0') {
		oa2_log(LOG_NOTICE, c.service, "authentication failed: no user");
		return PAM_AUTH_ERR;
	}
	oa2_escape(user, strnlen(user, 64), euser, sizeof(euser));
	if (get_token(&c, &tok, &toklen) != PAM_SUCCESS) {
		reason = "no token";
		goto out;
	}
	if (toklen == 0 && c.cfg->jwt_only) {
		ret = PAM_IGNORE;	/* an empty password: not ours */
		goto quiet;
	}
	if (toklen == 0) {
		reason = "no token";
		goto out;
	}
	if ((long)toklen > c.cfg->max_token_len) {
		reason = "token too long";
		goto out;
	}
	if (c.cfg->jwt_only && !oa2_jws_shaped(tok, toklen)) {
		/* a password for the modules after us: not our failure */
		if (c.cfg->debug)
			oa2_log(LOG_DEBUG, c.service, "not a JWT for user '%s': "
				"ignored (jwt_only)", euser);
		ret = PAM_IGNORE;
		goto quiet;
	}
	if (all.n > 1 && (c.cfg = pick_issuer(&all, tok, toklen)) == NULL) {
		reason = "token issuer not configured";
		goto out;
	}
	ret = authenticate(&c, user, tok, toklen, &reason);
out:
	if (ret == PAM_SUCCESS)
		oa2_log(LOG_INFO, c.service,
			"authentication succeeded for user '%s'", euser);
	else
		oa2_log(LOG_NOTICE, c.service,
			"authentication failed for user '%s': %s%s", euser,
			reason, toklen == CONV_TRUNCATION_LEN ?
			" (token is 4095 bytes: possibly truncated by the conversation)" : "");
quiet:
	if (tok != NULL) {
		explicit_bzero(tok, toklen);
		free(tok);
	}
	return ret;
}

PUBLIC int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
			  const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

/*
 * The other groups, so that "session required pam_oauth2.so" or an
 * account line does not fail the stack with PAM_MODULE_UNKNOWN.  As the
 * seed's module: sessions succeed (nothing to open or close).  Account
 * and password answer PAM_IGNORE: the module knows nothing about the
 * account or how to change a password, and a blanket PAM_SUCCESS would
 * let an account line pass a user the other modules never looked at.
 */
PUBLIC int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
			       const char **argv)
{
	return pam_sm_setcred(pamh, flags, argc, argv);
}

PUBLIC int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
				const char **argv)
{
	return pam_sm_setcred(pamh, flags, argc, argv);
}

PUBLIC int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
			    const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}

PUBLIC int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc,
			    const char **argv)
{
	return pam_sm_acct_mgmt(pamh, flags, argc, argv);
}
