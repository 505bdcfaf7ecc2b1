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
	struct oa2_ctx v;	/* what validation needs (validate.c) */
	pam_handle_t *pamh;
	const struct oa2_config *cfg;
};

static int get_token(struct ctx *c, char **tok, size_t *len)
{
	const void *item = NULL;
	const struct pam_conv *conv = NULL;
	/* jwt_only: password-or-token stacks, one prompt for either */
	struct pam_message msg = { PAM_PROMPT_ECHO_OFF,
				   c->cfg->device_flow ?
				   "JWT (Enter to log in with a browser): " :
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

/* The device code before the user: an info message and a prompt in one
   conversation call, so that sshd's keyboard-interactive (which holds
   info text until a prompt) shows it before the module starts polling. */
static int show_device_code(void *arg, const char *text)
{
	struct ctx *c = arg;
	const struct pam_conv *conv = NULL;
	struct pam_message m[2] = {
		{ PAM_TEXT_INFO, text },
		{ PAM_PROMPT_ECHO_ON, "Press Enter once you have logged in: " },
	};
	const struct pam_message *pm[2] = { &m[0], &m[1] };
	struct pam_response *resp = NULL;
	int rc;

	if (pam_get_item(c->pamh, PAM_CONV, (const void **)&conv) != PAM_SUCCESS ||
	    conv == NULL || conv->conv == NULL)
		return -1;
	rc = conv->conv(2, pm, &resp, conv->appdata_ptr);
	if (resp != NULL) {
		for (int i = 0; i < 2; i++) {
			if (resp[i].resp) {
				explicit_bzero(resp[i].resp, strlen(resp[i].resp));
				free(resp[i].resp);
			}
		}
		free(resp);
	}
	return rc == PAM_SUCCESS ? 0 : -1;
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
		c.v.service = svc;
	if (oa2_configs_parse(&all, argc, argv, c.v.err, sizeof(c.v.err)) != 0) {
		oa2_log(LOG_ERR, c.v.service, "configuration error: %s", c.v.err);
		return PAM_SERVICE_ERR;
	}
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    *user == '\0') {
		oa2_log(LOG_NOTICE, c.v.service, "authentication failed: no user");
		return PAM_AUTH_ERR;
	}
	oa2_escape(user, strnlen(user, 64), euser, sizeof(euser));
	if (get_token(&c, &tok, &toklen) != PAM_SUCCESS) {
		reason = "no token";
		goto out;
	}
	if (toklen == 0 && c.cfg->device_flow) {
		/* no token at hand: a browser login (the first issuer's) */
		free(tok);
		tok = NULL;
		c.v.cfg = c.cfg;
		int drc = oa2_device_login(&c.v, show_device_code, &c, &tok,
					   &toklen, &reason);

		if (drc != OA2_OK) {
			/* the IdP unreachable, or the user did not log in */
			ret = drc == OA2_ENET ? PAM_AUTHINFO_UNAVAIL : PAM_AUTH_ERR;
			goto out;
		}
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
			oa2_log(LOG_DEBUG, c.v.service, "not a JWT for user '%s': "
				"ignored (jwt_only)", euser);
		ret = PAM_IGNORE;
		goto quiet;
	}
	/* several issuers: the token's group, whose discovery, cache, keys
	   and algorithm then apply */
	if (all.n > 1 && (c.cfg = oa2_configs_for_token(&all, tok, toklen)) == NULL) {
		reason = "token issuer not configured";
		goto out;
	}
	c.v.cfg = c.cfg;
	ret = oa2_validate(&c.v, user, tok, toklen, &reason);
out:
	if (ret == PAM_SUCCESS)
		oa2_log(LOG_INFO, c.v.service,
			"authentication succeeded for user '%s'", euser);
	else
		oa2_log(LOG_NOTICE, c.v.service,
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
