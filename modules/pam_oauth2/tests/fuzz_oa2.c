/* fuzz_oa2.c - fuzz target for pam_oauth2's parsers: the module arguments
 * (issuer groups, require_claim, device_flow, ...), the token's shape and
 * its iss, the compact JWS, and the claim and authorisation checks.  The
 * first line of the input is a PAM line's arguments, the rest a token.
 * Built with -fsanitize=fuzzer it is a libFuzzer target; otherwise
 * tests/fuzz_replay.c replays the corpus as a regression test. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../oa2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_oa2: property violated: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t alen = nl ? (size_t)(nl - data) : size;
	char *line = malloc(alen + 1), *tok, *save = NULL;
	const char *argv[OA2_MAX_ARGS + 1];
	struct oa2_configs all;
	struct oa2_jws jws;
	char err[OA2_ERRLEN];
	const char *reason;
	size_t toklen = nl ? size - alen - 1 : 0, isslen = 0;
	int argc = 0;

	if (line == NULL)
		return 0;
	memcpy(line, data, alen);
	line[alen] = '\0';
	for (char *t = strtok_r(line, " \t", &save); t && argc <= OA2_MAX_ARGS;
	     t = strtok_r(NULL, " \t", &save))
		argv[argc++] = t;
	tok = malloc(toklen + 1);
	if (tok == NULL) {
		free(line);
		return 0;
	}
	memcpy(tok, nl ? nl + 1 : data, toklen);
	tok[toklen] = '\0';

	if (oa2_configs_parse(&all, argc, argv, err, sizeof(err)) == 0) {
		must(all.n >= 1 && all.n <= OA2_MAX_ISSUERS, "group count");
		for (size_t g = 0; g < all.n; g++) {
			must(all.g[g].issuer && !strncmp(all.g[g].issuer, "https://", 8),
			     "every group has an https issuer");
			must(all.g[g].n_aud >= 1, "every group has an aud");
			must(!all.g[g].device_flow || all.g[g].client_id,
			     "device_flow has a client_id");
		}
	} else {
		must(strlen(err) < sizeof(err), "error text bounded");
		memset(&all, 0, sizeof(all));
	}
	/* the token, against the first group (or a fixed one) */
	const char *base[] = { "issuer=https://idp.example", "aud=pam",
			       "require_claim=groups:a|b", "allowed_users=alice,bob" };
	struct oa2_config fixed;
	const struct oa2_config *cfg = all.n ? &all.g[0] : NULL;

	if (cfg == NULL) {
		must(oa2_config_parse(&fixed, 4, base, err, sizeof(err)) == 0,
		     "the fixed configuration parses");
		cfg = &fixed;
	}
	(void)oa2_jws_shaped(tok, toklen);
	char *iss = oa2_token_issuer(tok, toklen, &isslen);
	if (iss) {
		must(strlen(iss) <= isslen, "iss length");
		if (all.n)
			(void)oa2_configs_find(&all, iss, isslen);
		free(iss);
	}
	if (oa2_jws_parse(tok, toklen, cfg, &jws, &reason) == OA2_OK) {
		must(jws.signing_len < toklen, "signing input inside the token");
		(void)oa2_claims_check(jws.payload, cfg, "alice", 1700000000,
				       &reason, NULL);
		oa2_jws_free(&jws);
	}
	free(tok);
	free(line);
	return 0;
}
