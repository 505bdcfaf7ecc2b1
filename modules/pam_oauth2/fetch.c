/*
 * pam_oauth2: bounded HTTPS GET (discovery, JWKS) and form POST (the
 * device authorization grant) with libcurl.
 *
 * libcurl (and the ~30 libraries it pulls in) is loaded with dlopen() only
 * when a fetch is needed, so a warm-cache login never maps it. It is opened
 * RTLD_NODELETE: once loaded it stays, which avoids unloading libcurl's
 * dependencies under a multi-threaded host. The function table lives on the
 * caller's stack: no static mutable state.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "oa2.h"

struct curl_api {
	void *lib;
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
};

static int curl_load(struct curl_api *api)
{
	memset(api, 0, sizeof(*api));
	api->lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (api->lib == NULL)
		return -1;
#define SYM(field, name) \
	*(void **)(&api->field) = dlsym(api->lib, name); \
	if (api->field == NULL) \
		goto fail;
	SYM(global_init, "curl_global_init");
	SYM(global_cleanup, "curl_global_cleanup");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_strerror, "curl_easy_strerror");
#undef SYM
	return 0;
fail:
	dlclose(api->lib);
	api->lib = NULL;
	return -1;
}

struct body {
	char *buf;
	size_t len;
	int too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct body *b = ud;
	size_t n = size * nmemb;
	char *nb;

	if (n > OA2_MAX_DOC || b->len + n > OA2_MAX_DOC) {
		b->too_big = 1;
		return 0;
	}
	nb = realloc(b->buf, b->len + n + 1);
	if (nb == NULL)
		return 0;
	b->buf = nb;
	memcpy(b->buf + b->len, ptr, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return n;
}

/* GET (form NULL) or POST form; the body whatever the status, which goes
   to *status. */
static int http(const struct oa2_config *cfg, const char *url,
		const char *form, long *status, char **body, size_t *len,
		char *err, size_t errlen)
{
	struct body b = { NULL, 0, 0 };
	struct curl_api api;
	CURL *c = NULL;
	CURLcode cc;
	int rc = OA2_ENET;

	*body = NULL;
	*len = 0;
	if (strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "refusing non-https URL");
		return OA2_EINVAL;
	}
	if (curl_load(&api) != 0) {
		snprintf(err, errlen, "cannot load libcurl.so.4");
		return OA2_ENET;
	}
	if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "curl init failed");
		dlclose(api.lib);
		return OA2_ENOMEM;
	}
	c = api.easy_init();
	if (c == NULL) {
		snprintf(err, errlen, "curl init failed");
		rc = OA2_ENOMEM;
		goto out;
	}
	if (api.easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_TIMEOUT_MS, cfg->timeout * 1000L) != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, cfg->timeout * 1000L) != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 64L) != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, cfg->timeout) != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)OA2_MAX_DOC) != CURLE_OK ||
	    /* always explicit: never take https_proxy from the environment */
	    api.easy_setopt(c, CURLOPT_PROXY, cfg->proxy ? cfg->proxy : "") != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_WRITEDATA, &b) != CURLE_OK ||
	    api.easy_setopt(c, CURLOPT_USERAGENT, "pam_oauth2") != CURLE_OK) {
		snprintf(err, errlen, "curl setup failed");
		goto out;
	}
	if (cfg->ca_file != NULL &&
	    api.easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file) != CURLE_OK) {
		snprintf(err, errlen, "curl setup failed (ca_file)");
		goto out;
	}
	/* not copied: the form may hold a device code, which curl would
	   free unwiped; it outlives the perform */
	if (form != NULL &&
	    api.easy_setopt(c, CURLOPT_POSTFIELDS, form) != CURLE_OK) {
		snprintf(err, errlen, "curl setup failed (post)");
		goto out;
	}
	cc = api.easy_perform(c);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "fetch failed: %s%s", api.easy_strerror(cc),
			 b.too_big ? " (response too large)" : "");
		goto out;
	}
	*status = 0;
	api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (b.buf == NULL && (b.buf = calloc(1, 1)) == NULL) {
		rc = OA2_ENOMEM;
		goto out;
	}
	*body = b.buf;
	*len = b.len;
	b.buf = NULL;
	rc = OA2_OK;
out:
	if (b.buf)
		explicit_bzero(b.buf, b.len);
	free(b.buf);
	if (c != NULL)
		api.easy_cleanup(c);
	api.global_cleanup();
	dlclose(api.lib);
	return rc;
}

int oa2_fetch(const struct oa2_config *cfg, const char *url, char **body,
	      size_t *len, char *err, size_t errlen)
{
	long status = 0;
	int rc = http(cfg, url, NULL, &status, body, len, err, errlen);

	if (rc != OA2_OK)
		return rc;
	if (status != 200 || *len == 0) {
		if (status != 200)
			snprintf(err, errlen, "fetch failed: HTTP status %ld", status);
		else
			snprintf(err, errlen, "fetch failed: empty body");
		free(*body);
		*body = NULL;
		*len = 0;
		return OA2_ENET;
	}
	return OA2_OK;
}

int oa2_post_form(const struct oa2_config *cfg, const char *url,
		  const char *form, long *status, char **body, size_t *len,
		  char *err, size_t errlen)
{
	return http(cfg, url, form, status, body, len, err, errlen);
}
