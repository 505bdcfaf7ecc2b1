/* pam_oauth2: bounded HTTPS GET with libcurl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "oa2.h"

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

int oa2_fetch(const struct oa2_config *cfg, const char *url, char **body,
	      size_t *len, char *err, size_t errlen)
{
	struct body b = { NULL, 0, 0 };
	CURL *c = NULL;
	CURLcode cc;
	long status = 0;
	int rc = OA2_ENET;

	*body = NULL;
	*len = 0;
	if (strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "refusing non-https URL");
		return OA2_EINVAL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "curl init failed");
		return OA2_ENOMEM;
	}
	c = curl_easy_init();
	if (c == NULL) {
		snprintf(err, errlen, "curl init failed");
		rc = OA2_ENOMEM;
		goto out;
	}
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, cfg->timeout * 1000L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, cfg->timeout * 1000L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 64L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, cfg->timeout) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)OA2_MAX_DOC) != CURLE_OK ||
	    /* always explicit: never take https_proxy from the environment */
	    curl_easy_setopt(c, CURLOPT_PROXY, cfg->proxy ? cfg->proxy : "") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "pam_oauth2") != CURLE_OK) {
		snprintf(err, errlen, "curl setup failed");
		goto out;
	}
	if (cfg->ca_file != NULL &&
	    curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file) != CURLE_OK) {
		snprintf(err, errlen, "curl setup failed (ca_file)");
		goto out;
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "fetch failed: %s%s", curl_easy_strerror(cc),
			 b.too_big ? " (response too large)" : "");
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(err, errlen, "fetch failed: HTTP status %ld", status);
		goto out;
	}
	if (b.buf == NULL) {
		snprintf(err, errlen, "fetch failed: empty body");
		goto out;
	}
	*body = b.buf;
	*len = b.len;
	b.buf = NULL;
	rc = OA2_OK;
out:
	free(b.buf);
	if (c != NULL)
		curl_easy_cleanup(c);
	curl_global_cleanup();
	return rc;
}
