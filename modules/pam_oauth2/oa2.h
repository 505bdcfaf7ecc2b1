/* pam_oauth2: internal interfaces shared by the module's source files. */
#ifndef PAM_OAUTH2_OA2_H
#define PAM_OAUTH2_OA2_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include <openssl/evp.h>

#define OA2_MAX_AUD 8
#define OA2_MAX_KID 256
#define OA2_MAX_DOC (256 * 1024)
#define OA2_MAX_KEYS 64
#define OA2_ERRLEN 256
#define OA2_MAX_REQUIRE 8
#define OA2_MAX_ISSUERS 8
#define OA2_MAX_ARGS 128

enum oa2_alg {
	OA2_RS256, OA2_RS384, OA2_RS512,
	OA2_PS256, OA2_PS384, OA2_PS512,
	OA2_ES256, OA2_ES384, OA2_ES512,
};

/* Result codes of the internal layers; mapped to PAM codes in pam_oauth2.c. */
enum oa2_rc {
	OA2_OK = 0,
	OA2_EINVAL,	/* bad input: token, document or claim */
	OA2_ENOKEY,	/* no eligible key for the token */
	OA2_EAMBIG,	/* several eligible keys */
	OA2_ENOMEM,
	OA2_ENET,	/* IdP unreachable / bad answer */
	OA2_ECACHE,	/* cache absent or unusable */
};

struct oa2_config {
	const char *issuer;		/* points into argv */
	const char *aud[OA2_MAX_AUD];
	size_t n_aud;
	const char *login_field;
	enum oa2_alg alg;
	long cache_ttl;
	const char *cache_dir;
	long leeway;
	long timeout;
	const char *ca_file;
	const char *proxy;
	long min_refresh_interval;
	long max_token_len;
	const char *typ[OA2_MAX_AUD];	/* optional header typ allowlist */
	size_t n_typ;
	int debug;
	int use_first_pass;
	int try_first_pass;
	int jwt_only;		/* not a JWS: PAM_IGNORE, quietly */
	/* authorisation: "NAME:V1|V2" each (all must hold, any value of
	   one), a comma list of local users, a claim-to-user map file */
	const char *require[OA2_MAX_REQUIRE];
	size_t n_require;
	const char *allowed_users;
	const char *user_map;
	/* device authorization grant for users without a token */
	int device_flow;
	const char *client_id;
	const char *scope;
	long device_timeout;
};

/* config.c */
int oa2_config_parse(struct oa2_config *cfg, int argc, const char **argv,
		     char *err, size_t errlen);
/* Several issuers on one line: each "issuer=" starts a group; issuer,
   aud, algorithm, login_field, typ and require_claim after it (or before
   the first) are that group's, every other option is everybody's. */
struct oa2_configs {
	struct oa2_config g[OA2_MAX_ISSUERS];
	size_t n;
};
int oa2_configs_parse(struct oa2_configs *all, int argc, const char **argv,
		      char *err, size_t errlen);
/* The group whose issuer is exactly iss, or NULL. */
const struct oa2_config *oa2_configs_find(const struct oa2_configs *all,
					  const char *iss, size_t isslen);
/* The group the token's own "iss" names (read before any check; its kid
   never picks a group), or NULL. */
const struct oa2_config *oa2_configs_for_token(const struct oa2_configs *all,
					       const char *tok, size_t toklen);
const char *oa2_alg_name(enum oa2_alg alg);
int oa2_alg_from_name(const char *name, enum oa2_alg *alg);

/* b64url.c: strict base64url without padding; *out is NUL-terminated. */
int oa2_b64url_decode(const char *in, size_t len, unsigned char **out,
		      size_t *outlen);

/* json helper (jwt.c): parse an object with duplicate keys rejected. */
json_t *oa2_json_object(const char *buf, size_t len);

/* jwt.c: compact JWS */
struct oa2_jws {
	json_t *header;
	json_t *payload;
	unsigned char *sig;
	size_t siglen;
	size_t signing_len;	/* bytes of "header.payload" at token start */
	const char *kid;	/* inside header, NULL if absent */
	size_t kidlen;
};
int oa2_jws_parse(const char *token, size_t len, const struct oa2_config *cfg,
		  struct oa2_jws *jws, const char **reason);
void oa2_jws_free(struct oa2_jws *jws);
int oa2_jws_shaped(const char *token, size_t len);
/* The payload's "iss" before any check (to pick the issuer's group):
   a malloc'd copy or NULL. */
char *oa2_token_issuer(const char *token, size_t len, size_t *isslen);

/* jwk.c */
int oa2_jwk_import(json_t *jwk, enum oa2_alg alg, EVP_PKEY **out,
		   const char **reason);
int oa2_jwks_select(json_t *jwks, enum oa2_alg alg, const char *kid,
		    size_t kidlen, json_t **out);
int oa2_jwks_check(json_t *jwks);

/* verify.c */
int oa2_verify_init(EVP_PKEY *pkey, enum oa2_alg alg, EVP_MD_CTX **out);
int oa2_verify_with(EVP_MD_CTX *md, EVP_PKEY *pkey, enum oa2_alg alg,
		    const unsigned char *msg, size_t msglen,
		    const unsigned char *sig, size_t siglen);
int oa2_verify(EVP_PKEY *pkey, enum oa2_alg alg, const unsigned char *msg,
	       size_t msglen, const unsigned char *sig, size_t siglen);

/* claims.c; tc (may be NULL) hears each check (oa2_trace) */
struct oa2_ctx;
int oa2_claims_check(json_t *payload, const struct oa2_config *cfg,
		     const char *user, time_t now, const char **reason,
		     struct oa2_ctx *tc);

/* usermap.c: the local user that value maps to (user_map file). */
int oa2_usermap_lookup(const char *path, const char *value, char *user,
		       size_t userlen, const char **reason);

/* fetch.c: HTTPS GET, body capped at OA2_MAX_DOC, NUL-terminated. */
int oa2_fetch(const struct oa2_config *cfg, const char *url, char **body,
	      size_t *len, char *err, size_t errlen);
/* HTTPS POST of an application/x-www-form-urlencoded body; the answer's
   body (wipe it: it may hold tokens) whatever its status. */
int oa2_post_form(const struct oa2_config *cfg, const char *url,
		  const char *form, long *status, char **body, size_t *len,
		  char *err, size_t errlen);

/* cache.c: one JSON file per issuer */
struct oa2_entry {
	char *jwks_uri;
	json_t *jwks;
	long long fetched_at;	/* discovery + JWKS fetch time */
	long long attempt_at;	/* last refetch attempt (rate limit) */
};
/* Identity of the cache file as read this call (see keycache.c). */
struct oa2_ident {
	unsigned long long dev, ino;
	long long size, mtime_sec, mtime_nsec;
};
int oa2_cache_read(const struct oa2_config *cfg, char **buf, size_t *len,
		   struct oa2_ident *id);
int oa2_cache_parse(const struct oa2_config *cfg, const char *buf,
		    size_t len, struct oa2_entry *e);
int oa2_cache_path(const struct oa2_config *cfg, char *path, size_t len);
int oa2_cache_load(const struct oa2_config *cfg, struct oa2_entry *e);
int oa2_cache_store(const struct oa2_config *cfg, const struct oa2_entry *e);
void oa2_entry_clear(struct oa2_entry *e);

/* keycache.c: bounded, mutex-guarded memo of imported keys */
#define OA2_KEYCACHE_SLOTS 16
#define OA2_KEYCACHE_DOC (64 * 1024)	/* larger cache files are not memoized */
int oa2_keycache_get(const struct oa2_ident *id, const char *doc,
		     size_t doclen, const char *issuer, enum oa2_alg alg,
		     const char *kid, size_t kidlen, EVP_PKEY **pkey,
		     EVP_MD_CTX **md, long long *fetched_at);
void oa2_keycache_put(const struct oa2_ident *id, const char *doc,
		      size_t doclen, const char *issuer, enum oa2_alg alg,
		      const char *kid, size_t kidlen, EVP_PKEY *pkey,
		      long long fetched_at);
size_t oa2_keycache_count(void);
void oa2_keycache_flush(void);

/* validate.c: one token, as the module checks it.  trace (optional)
   hears each step: its name, pass/fail and a detail without secrets. */
struct oa2_ctx {
	const char *service;		/* for log lines */
	const struct oa2_config *cfg;
	char err[OA2_ERRLEN];
	void (*trace)(void *arg, const char *step, int ok, const char *detail);
	void *trace_arg;
};
/* PAM_SUCCESS, PAM_AUTH_ERR or PAM_AUTHINFO_UNAVAIL; *reason on failure. */
int oa2_validate(struct oa2_ctx *c, const char *user, const char *tok,
		 size_t toklen, const char **reason);
void oa2_trace(struct oa2_ctx *c, const char *step, int ok,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The issuer's discovery document, its "issuer" checked. */
int oa2_discovery(struct oa2_ctx *c, json_t **doc);
/* doc's member name if it is an https:// URL of printable ASCII. */
const char *oa2_https_member(json_t *doc, const char *name);

/* device.c: the device authorization grant (RFC 8628).  show() puts the
   verification URL and code before the user (and returns when the user
   says so); on success *token is the ID token (wipe and free it). */
int oa2_device_login(struct oa2_ctx *c,
		     int (*show)(void *arg, const char *text), void *arg,
		     char **token, size_t *len, const char **reason);

/* log.c */
void oa2_log(int prio, const char *service, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void oa2_escape(const char *in, size_t len, char *out, size_t outlen);

#endif
