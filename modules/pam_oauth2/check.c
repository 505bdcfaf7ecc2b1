/*
 * pam_oauth2-check: what pam_oauth2 would say of a token, step by step.
 *
 *   pam_oauth2-check -u USER -c 'MODULE ARGS' [TOKEN | -]
 *
 * Runs the module's own code (configuration, issuer group, discovery and
 * the JWKS cache, key selection, signature, each claim) and prints every
 * step with ok/FAIL and the reason: what an admin runs when the log says
 * "login_field mismatch".  The token is read from standard input (a
 * token on the command line is visible to every user in ps) and never
 * printed; of the claims only the login_field value is shown.  Exit
 * status: 0 the module would accept, 1 it would refuse, 2 usage or
 * configuration error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <security/pam_appl.h>
#include "oa2.h"

#define TOKEN_MAX (1024 * 1024)

static void step(void *arg, const char *name, int ok, const char *detail)
{
	(void)arg;
	printf("%-14s %-4s %s\n", name, ok ? "ok" : "FAIL", detail);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pam_oauth2-check -u USER -c 'MODULE ARGS' [TOKEN | -]\n"
		"Explain what pam_oauth2 decides for TOKEN (default: read from\n"
		"standard input) as USER with the module arguments of a PAM line.\n"
		"  -u, --user USER     the PAM user\n"
		"  -c, --config ARGS   the module's arguments (issuer=... aud=...)\n"
		"  -h, --help          show this help\n");
}

/* Split a PAM line's arguments at spaces (no quoting, as libpam). */
static int split(char *s, const char **argv, int max)
{
	int n = 0;

	for (char *t = strtok(s, " \t\n"); t; t = strtok(NULL, " \t\n")) {
		if (n == max)
			return -1;
		argv[n++] = t;
	}
	return n;
}

static char *read_token(const char *arg, size_t *len)
{
	char *buf;

	if (arg && strcmp(arg, "-") != 0) {
		fprintf(stderr, "pam_oauth2-check: note: a token on the command line "
			"is visible to other users (ps); prefer '-' and stdin\n");
		buf = strdup(arg);
		*len = buf ? strlen(buf) : 0;
		return buf;
	}
	buf = malloc(TOKEN_MAX + 1);
	if (buf == NULL)
		return NULL;
	*len = fread(buf, 1, TOKEN_MAX, stdin);
	buf[*len] = '\0';
	while (*len && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r'))
		buf[--*len] = '\0';
	return buf;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL, *reason = "internal error", *args[OA2_MAX_ARGS];
	char *config = NULL, *tok = NULL;
	struct oa2_configs all;
	struct oa2_ctx c;
	size_t toklen = 0;
	int opt, nargs, rc = 2;

	while ((opt = getopt_long(argc, argv, "u:c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'u': user = optarg; break;
		case 'c': config = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!user || !config || argc - optind > 1) {
		usage(stderr);
		return 2;
	}
	memset(&c, 0, sizeof(c));
	c.service = "pam_oauth2-check";
	c.trace = step;
	config = strdup(config);
	if (config == NULL || (nargs = split(config, args, OA2_MAX_ARGS)) < 0) {
		fprintf(stderr, "pam_oauth2-check: too many arguments\n");
		goto out;
	}
	if (oa2_configs_parse(&all, nargs, args, c.err, sizeof(c.err)) != 0) {
		step(NULL, "config", 0, c.err);
		goto out;
	}
	printf("%-14s %-4s %zu issuer(s)%s\n", "config", "ok", all.n,
	       all.g[0].jwt_only ? ", jwt_only" : "");
	tok = read_token(optind < argc ? argv[optind] : NULL, &toklen);
	if (tok == NULL || toklen == 0) {
		step(NULL, "token", 0, "no token");
		rc = 1;
		goto out;
	}
	c.cfg = &all.g[0];
	if ((long)toklen > c.cfg->max_token_len) {
		step(NULL, "token", 0, "token too long (max_token_len)");
		rc = 1;
		goto out;
	}
	if (c.cfg->jwt_only && !oa2_jws_shaped(tok, toklen)) {
		step(NULL, "jwt_only", 1, "not shaped like a JWT: PAM_IGNORE, "
		     "the next module decides");
		printf("result         PAM_IGNORE\n");
		rc = 1;
		goto out;
	}
	if (all.n > 1) {
		c.cfg = oa2_configs_for_token(&all, tok, toklen);
		if (c.cfg == NULL) {
			step(NULL, "issuer", 0, "token issuer not configured");
			printf("result         PAM_AUTH_ERR: token issuer not configured\n");
			rc = 1;
			goto out;
		}
		printf("%-14s %-4s group of %s\n", "issuer", "ok", c.cfg->issuer);
	}
	rc = oa2_validate(&c, user, tok, toklen, &reason);
	if (rc == PAM_SUCCESS) {
		printf("result         PAM_SUCCESS\n");
		rc = 0;
	} else {
		printf("result         %s: %s\n", rc == PAM_AUTHINFO_UNAVAIL ?
		       "PAM_AUTHINFO_UNAVAIL" : "PAM_AUTH_ERR", reason);
		rc = 1;
	}
out:
	if (tok) {
		explicit_bzero(tok, toklen);
		free(tok);
	}
	free(config);
	return rc;
}
