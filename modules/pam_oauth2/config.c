/* pam_oauth2: parse and validate the key=value module arguments. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "oa2.h"

static const char *const alg_names[] = {
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
};

const char *oa2_alg_name(enum oa2_alg alg)
{
	return alg_names[alg];
}

int oa2_alg_from_name(const char *name, enum oa2_alg *alg)
{
	for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++) {
		if (strcmp(name, alg_names[i]) == 0) {
			*alg = (enum oa2_alg)i;
			return 0;
		}
	}
	return -1;
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Bounded numeric options and absolute-path options, one rule each. */
static const struct {
	const char *name;
	long min, max;
	size_t off;
} num_opts[] = {
	{ "cache_ttl", 0, 86400 * 7, offsetof(struct oa2_config, cache_ttl) },
	{ "leeway", 0, 300, offsetof(struct oa2_config, leeway) },
	{ "timeout", 1, 120, offsetof(struct oa2_config, timeout) },
	{ "min_refresh_interval", 0, 86400,
	  offsetof(struct oa2_config, min_refresh_interval) },
	{ "max_token_len", 64, 1024 * 1024,
	  offsetof(struct oa2_config, max_token_len) },
	{ "device_timeout", 10, 900, offsetof(struct oa2_config, device_timeout) },
};

static const struct {
	const char *name;
	size_t off;
} path_opts[] = {
	{ "cache_dir", offsetof(struct oa2_config, cache_dir) },
	{ "ca_file", offsetof(struct oa2_config, ca_file) },
	{ "user_map", offsetof(struct oa2_config, user_map) },
};

/* 1: key is a numeric or path option and v is valid; -1: invalid; 0: other key */
static int table_opt(struct oa2_config *cfg, const char *key, size_t klen,
		     const char *v, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++) {
		if (strlen(num_opts[i].name) != klen ||
		    strncmp(key, num_opts[i].name, klen) != 0)
			continue;
		if (parse_long(v, num_opts[i].min, num_opts[i].max,
			       (long *)((char *)cfg + num_opts[i].off)) != 0) {
			snprintf(err, errlen, "%s must be %ld..%ld",
				 num_opts[i].name, num_opts[i].min,
				 num_opts[i].max);
			return -1;
		}
		return 1;
	}
	for (size_t i = 0; i < sizeof(path_opts) / sizeof(path_opts[0]); i++) {
		if (strlen(path_opts[i].name) != klen ||
		    strncmp(key, path_opts[i].name, klen) != 0)
			continue;
		if (v[0] != '/') {
			snprintf(err, errlen, "%s must be absolute",
				 path_opts[i].name);
			return -1;
		}
		*(const char **)((char *)cfg + path_opts[i].off) = v;
		return 1;
	}
	return 0;
}

/* https://host[:port][/path], no query, fragment, userinfo or spaces. */
static int issuer_ok(const char *s)
{
	const char *host = s + 8;

	if (strncmp(s, "https://", 8) != 0 || *host == '\0' || *host == '/' ||
	    *host == ':')
		return 0;
	if (strlen(s) > 1024)
		return 0;
	for (const char *p = host; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '@' ||
		    c == '\\')
			return 0;
	}
	return 1;
}

int oa2_config_parse(struct oa2_config *cfg, int argc, const char **argv,
		     char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->login_field = "sub";
	cfg->alg = OA2_RS256;
	cfg->cache_ttl = 3600;
	cfg->cache_dir = "/var/cache/pam_oauth2";
	cfg->leeway = 60;
	cfg->timeout = 10;
	cfg->min_refresh_interval = 60;
	cfg->max_token_len = 16384;
	cfg->scope = "openid";
	cfg->device_timeout = 120;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *eq = a ? strchr(a, '=') : NULL;
		const char *v = eq ? eq + 1 : NULL;
		size_t klen = eq ? (size_t)(eq - a) : (a ? strlen(a) : 0);

		if (a == NULL) {
			snprintf(err, errlen, "NULL argument");
			return -1;
		}
#define KEY(k) (klen == sizeof(k) - 1 && strncmp(a, k, klen) == 0)
		if (!eq) {
			if (KEY("debug"))
				cfg->debug = 1;
			else if (KEY("use_first_pass"))
				cfg->use_first_pass = 1;
			else if (KEY("try_first_pass"))
				cfg->try_first_pass = 1;
			else if (KEY("jwt_only"))
				cfg->jwt_only = 1;
			else if (KEY("device_flow"))
				cfg->device_flow = 1;
			else if (KEY("use_authtok") || KEY("nullok") ||
				 KEY("no_warn"))
				; /* standard flags: tolerated, no effect */
			else {
				snprintf(err, errlen, "unknown option: %.64s", a);
				return -1;
			}
			continue;
		}
		if (KEY("issuer")) {
			if (!issuer_ok(v)) {
				snprintf(err, errlen,
					 "issuer must use HTTPS: %.200s", v);
				return -1;
			}
			cfg->issuer = v;
		} else if (KEY("aud") || KEY("audience")) {
			if (*v == '\0' || cfg->n_aud == OA2_MAX_AUD) {
				snprintf(err, errlen, "aud empty or too many");
				return -1;
			}
			cfg->aud[cfg->n_aud++] = v;
		} else if (KEY("typ")) {
			if (*v == '\0' || cfg->n_typ == OA2_MAX_AUD) {
				snprintf(err, errlen, "typ empty or too many");
				return -1;
			}
			cfg->typ[cfg->n_typ++] = v;
		} else if (KEY("login_field")) {
			if (*v == '\0') {
				snprintf(err, errlen, "login_field empty");
				return -1;
			}
			cfg->login_field = v;
		} else if (KEY("algorithm") || KEY("alg")) {
			if (oa2_alg_from_name(v, &cfg->alg) != 0) {
				snprintf(err, errlen,
					 "algorithm not allowed (symmetric/none "
					 "or unknown): %.32s", v);
				return -1;
			}
		} else if (KEY("require_claim")) {
			const char *colon = strchr(v, ':');

			if (colon == NULL || colon == v || colon[1] == '\0' ||
			    cfg->n_require == OA2_MAX_REQUIRE) {
				snprintf(err, errlen, "require_claim must be "
					 "NAME:VALUE[|VALUE...] (at most %d)",
					 OA2_MAX_REQUIRE);
				return -1;
			}
			cfg->require[cfg->n_require++] = v;
		} else if (KEY("client_id") || KEY("scope")) {
			if (*v == '\0' || strlen(v) > 256) {
				snprintf(err, errlen, "%.*s empty or too long",
					 (int)klen, a);
				return -1;
			}
			if (KEY("client_id"))
				cfg->client_id = v;
			else
				cfg->scope = v;
		} else if (KEY("allowed_users")) {
			if (*v == '\0') {
				snprintf(err, errlen, "allowed_users empty");
				return -1;
			}
			cfg->allowed_users = v;
		} else if (KEY("proxy")) {
			cfg->proxy = v;
		} else {
			int t = table_opt(cfg, a, klen, v, err, errlen);

			if (t < 0)
				return -1;
			if (t == 0) {
				snprintf(err, errlen, "unknown option: %.64s", a);
				return -1;
			}
		}
#undef KEY
	}
	if (cfg->issuer == NULL) {
		snprintf(err, errlen, "issuer is required");
		return -1;
	}
	if (cfg->n_aud == 0) {
		snprintf(err, errlen, "aud is required");
		return -1;
	}
	if (cfg->device_flow) {
		int in_aud = 0;

		/* the ID token it gets is for the client: aud must take it */
		for (size_t i = 0; cfg->client_id && i < cfg->n_aud; i++)
			in_aud |= strcmp(cfg->aud[i], cfg->client_id) == 0;
		if (!in_aud) {
			snprintf(err, errlen, "device_flow needs client_id, "
				 "listed in aud too");
			return -1;
		}
	}
	return 0;
}

/* Is argv[i] one of a group's own options? */
static int group_key(const char *a)
{
	static const char *const keys[] = {
		"issuer=", "aud=", "audience=", "algorithm=", "alg=",
		"login_field=", "typ=", "require_claim=",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strncmp(a, keys[i], strlen(keys[i])) == 0)
			return 1;
	return 0;
}

int oa2_configs_parse(struct oa2_configs *all, int argc, const char **argv,
		      char *err, size_t errlen)
{
	const char *sub[OA2_MAX_ARGS];
	int issuers = 0;

	memset(all, 0, sizeof(*all));
	if (argc > OA2_MAX_ARGS) {
		snprintf(err, errlen, "too many arguments");
		return -1;
	}
	for (int i = 0; i < argc; i++)
		if (argv[i] && strncmp(argv[i], "issuer=", 7) == 0)
			issuers++;
	if (issuers <= 1) {
		all->n = 1;
		return oa2_config_parse(&all->g[0], argc, argv, err, errlen);
	}
	if (issuers > OA2_MAX_ISSUERS) {
		snprintf(err, errlen, "at most %d issuers", OA2_MAX_ISSUERS);
		return -1;
	}
	for (int grp = 0; grp < issuers; grp++) {
		int n = 0, seen = 0;

		for (int i = 0; i < argc; i++) {
			if (argv[i] == NULL) {
				snprintf(err, errlen, "NULL argument");
				return -1;
			}
			if (strncmp(argv[i], "issuer=", 7) == 0)
				seen++;
			/* before the first issuer= is the first group's */
			if (!group_key(argv[i]) || (seen == 0 ? grp == 0 : seen - 1 == grp))
				sub[n++] = argv[i];
		}
		if (oa2_config_parse(&all->g[grp], n, sub, err, errlen) != 0)
			return -1;
		for (int k = 0; k < grp; k++) {
			if (strcmp(all->g[k].issuer, all->g[grp].issuer) == 0) {
				snprintf(err, errlen, "issuer given twice: %.200s",
					 all->g[grp].issuer);
				return -1;
			}
		}
	}
	all->n = (size_t)issuers;
	return 0;
}

const struct oa2_config *oa2_configs_find(const struct oa2_configs *all,
					  const char *iss, size_t isslen)
{
	for (size_t i = 0; i < all->n; i++)
		if (strlen(all->g[i].issuer) == isslen &&
		    memcmp(all->g[i].issuer, iss, isslen) == 0)
			return &all->g[i];
	return NULL;
}

const struct oa2_config *oa2_configs_for_token(const struct oa2_configs *all,
					       const char *tok, size_t toklen)
{
	size_t isslen = 0;
	char *iss = oa2_token_issuer(tok, toklen, &isslen);
	const struct oa2_config *g = iss ? oa2_configs_find(all, iss, isslen) : NULL;

	free(iss);
	return g;
}
