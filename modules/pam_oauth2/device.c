/*
 * pam_oauth2: the OAuth 2.0 device authorization grant (RFC 8628), for a
 * user who has no token at hand: the module asks the IdP for a device
 * code, shows the user the verification URL and user code, polls the
 * token endpoint until the user has logged in with a browser (or the code
 * expires, or device_timeout passes), and hands back the ID token, which
 * is then validated by every rule a typed token meets.
 *
 * What the IdP sends is shown on the user's terminal: the URL must be
 * https:// and printable, the user code short and printable.  The device
 * code is a bearer secret: never logged, wiped when done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "oa2.h"

#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define CODE_MAX 1024
#define USER_CODE_MAX 64

/* Append s percent-encoded (RFC 3986 unreserved kept) to out. */
static int put_enc(char *out, size_t cap, size_t *len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || ch == '~') {
			if (*len + 1 >= cap)
				return -1;
			out[(*len)++] = (char)ch;
		} else {
			if (*len + 3 >= cap)
				return -1;
			out[(*len)++] = '%';
			out[(*len)++] = hex[ch >> 4];
			out[(*len)++] = hex[ch & 15];
		}
	}
	out[*len] = '\0';
	return 0;
}

static int put_raw(char *out, size_t cap, size_t *len, char ch)
{
	if (*len + 1 >= cap)
		return -1;
	out[(*len)++] = ch;
	out[*len] = '\0';
	return 0;
}

/* "k1=v1&k2=v2..." from NULL-terminated pairs, values percent-encoded. */
static int form(char *out, size_t cap, const char *const *kv)
{
	size_t len = 0;

	out[0] = '\0';
	for (int i = 0; kv[i]; i += 2) {
		if ((i && put_raw(out, cap, &len, '&')) ||
		    put_enc(out, cap, &len, kv[i]) ||
		    put_raw(out, cap, &len, '=') ||
		    put_enc(out, cap, &len, kv[i + 1]))
			return -1;
	}
	return 0;
}

static int printable(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* POST a form, parse the JSON object answer (body wiped). */
static int post(struct oa2_ctx *c, const char *url, const char *body,
		long *status, json_t **out)
{
	char *resp = NULL;
	size_t len = 0;
	int rc = oa2_post_form(c->cfg, url, body, status, &resp, &len, c->err,
			       sizeof(c->err));

	*out = NULL;
	if (rc != OA2_OK)
		return rc;
	*out = oa2_json_object(resp, len);
	explicit_bzero(resp, len);
	free(resp);
	if (*out == NULL) {
		snprintf(c->err, sizeof(c->err), "answer is not a JSON object");
		return OA2_ENET;
	}
	return OA2_OK;
}

static long int_member(json_t *o, const char *name, long dflt, long min,
		       long max)
{
	json_t *j = json_object_get(o, name);
	long v;

	if (j == NULL)
		return dflt;
	if (!json_is_integer(j))
		return -1;
	v = (long)json_integer_value(j);
	return v < min ? min : v > max ? max : v;
}

static void sleep_s(long s)
{
	struct timespec ts = { s, 0 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int oa2_device_login(struct oa2_ctx *c,
		     int (*show)(void *arg, const char *text), void *arg,
		     char **token, size_t *len, const char **reason)
{
	const struct oa2_config *cfg = c->cfg;
	json_t *doc = NULL, *auth = NULL, *ans = NULL, *j;
	const char *dev_url, *tok_url, *uri, *uri_full, *code, *ucode, *err;
	char body[4096] = "", text[4096], scope[300];
	long status, interval, expires;
	time_t deadline;
	int rc = OA2_ENET;

	*token = NULL;
	*len = 0;
	*reason = c->err;
	if (oa2_discovery(c, &doc) != OA2_OK)
		goto out;
	dev_url = oa2_https_member(doc, "device_authorization_endpoint");
	tok_url = oa2_https_member(doc, "token_endpoint");
	if (dev_url == NULL || tok_url == NULL) {
		snprintf(c->err, sizeof(c->err), "the IdP offers no device "
			 "authorization (device_authorization_endpoint, "
			 "token_endpoint)");
		goto out;
	}
	/* scope=openid,email: a PAM argument holds no spaces */
	snprintf(scope, sizeof(scope), "%s", cfg->scope);
	for (char *p = scope; *p; p++)
		if (*p == ',')
			*p = ' ';
	if (form(body, sizeof(body), (const char *const[]){
			 "client_id", cfg->client_id, "scope", scope, NULL }) ||
	    post(c, dev_url, body, &status, &auth) != OA2_OK)
		goto out;
	j = json_object_get(auth, "device_code");
	code = json_string_value(j);
	ucode = json_string_value(json_object_get(auth, "user_code"));
	uri = oa2_https_member(auth, "verification_uri");
	uri_full = oa2_https_member(auth, "verification_uri_complete");
	expires = int_member(auth, "expires_in", -1, 1, 3600);
	interval = int_member(auth, "interval", 5, 1, 60);
	if (status != 200 || code == NULL || !printable(code, CODE_MAX) ||
	    ucode == NULL || !printable(ucode, USER_CODE_MAX) || uri == NULL ||
	    expires < 0 || interval < 0) {
		snprintf(c->err, sizeof(c->err), "device authorization refused "
			 "or malformed (HTTP %ld)", status);
		goto out;
	}
	if (uri_full)
		snprintf(text, sizeof(text), "To log in, open %s\nand enter the "
			 "code %s, or open %s", uri, ucode, uri_full);
	else
		snprintf(text, sizeof(text), "To log in, open %s\nand enter the "
			 "code %s", uri, ucode);
	if (show(arg, text) != 0) {
		snprintf(c->err, sizeof(c->err), "cannot show the device code");
		goto out;
	}
	deadline = time(NULL) + (expires < cfg->device_timeout ? expires :
				 cfg->device_timeout);
	if (form(body, sizeof(body), (const char *const[]){
			 "grant_type", DEVICE_GRANT, "device_code", code,
			 "client_id", cfg->client_id, NULL })) {
		snprintf(c->err, sizeof(c->err), "device code too long");
		goto out;
	}
	for (;;) {
		if (time(NULL) + interval > deadline) {
			snprintf(c->err, sizeof(c->err), "device login not "
				 "completed in time");
			rc = OA2_EINVAL;
			goto out;
		}
		sleep_s(interval);
		json_decref(ans);
		if (post(c, tok_url, body, &status, &ans) != OA2_OK)
			goto out;
		j = json_object_get(ans, "id_token");
		if (status == 200 && json_is_string(j)) {
			*len = json_string_length(j);
			*token = malloc(*len + 1);
			if (*token == NULL) {
				rc = OA2_ENOMEM;
				goto out;
			}
			memcpy(*token, json_string_value(j), *len + 1);
			rc = OA2_OK;
			goto out;
		}
		err = json_string_value(json_object_get(ans, "error"));
		if (err && strcmp(err, "authorization_pending") == 0)
			continue;
		if (err && strcmp(err, "slow_down") == 0) {
			interval += 5;	/* RFC 8628 §3.5 */
			continue;
		}
		snprintf(c->err, sizeof(c->err), "device login refused: %.40s",
			 err && printable(err, 40) ? err :
			 status == 200 ? "no id_token in the answer" : "error");
		rc = OA2_EINVAL;
		goto out;
	}
out:
	explicit_bzero(body, sizeof(body));
	json_decref(ans);
	/* jansson owns its copy of the device code and frees it unwiped:
	   it is a short-lived code the IdP will not honour again */
	json_decref(auth);
	json_decref(doc);
	return rc;
}
