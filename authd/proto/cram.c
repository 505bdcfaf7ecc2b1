/* cram.c - Bareos CRAM-MD5 challenge, response and verification. */
#include "cram.h"
#include "b64.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void hex_lower(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int md5_hex(const char *s, size_t n, char out[MD5_HEX_LEN + 1])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;

	if (!s || EVP_Digest(s, n, d, &dl, EVP_md5(), NULL) != 1 || dl != 16)
		return -1;
	hex_lower(d, 16, out);
	OPENSSL_cleanse(d, sizeof(d));
	return 0;
}

int cram_make_challenge(const char *qualified_name, char *out, size_t outcap)
{
	uint32_t r;
	int n;

	if (!qualified_name || RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		return -1;
	r &= 0x7fffffffu;	/* random() range, like Bareos */
	n = snprintf(out, outcap, "<%u.%u@%s>", (unsigned)r,
		     (unsigned)time(NULL), qualified_name);
	return (n < 0 || (size_t)n >= outcap) ? -1 : 0;
}

int cram_challenge_line(const char *chal, int ssl, char *out, size_t outcap)
{
	int n = snprintf(out, outcap, "auth cram-md5 %s ssl=%d\n", chal, ssl);

	return (n < 0 || (size_t)n >= outcap) ? -1 : n;
}

int cram_parse_challenge_line(const char *line, size_t n, char *chal,
			      int *ssl, bool *compatible)
{
	const char *p, *end = line + n, *tok;
	size_t tl;

	*ssl = -1;
	*compatible = false;
	if (n && line[n - 1] == '\0')	/* tolerate a trailing NUL */
		end--;
	if (memchr(line, '\0', (size_t)(end - line)))
		return -1;
	if ((size_t)(end - line) > 14 && !memcmp(line, "auth cram-md5c ", 15)) {
		*compatible = true;
		p = line + 15;
	} else if ((size_t)(end - line) > 13 &&
		   !memcmp(line, "auth cram-md5 ", 14)) {
		p = line + 14;
	} else {
		return -1;
	}
	tok = p;
	while (p < end && *p != ' ' && *p != '\n')
		p++;
	tl = (size_t)(p - tok);
	if (tl < 3 || tl >= CRAM_CHAL_MAX || tok[0] != '<' || tok[tl - 1] != '>' ||
	    !memchr(tok, '@', tl))
		return -1;
	memcpy(chal, tok, tl);
	chal[tl] = '\0';
	if (p < end && *p == ' ') {
		int v = 0, digits = 0;

		p++;
		if ((size_t)(end - p) < 5 || memcmp(p, "ssl=", 4))
			return -1;
		p += 4;
		while (p < end && *p >= '0' && *p <= '9' && digits < 3) {
			v = v * 10 + (*p - '0');
			p++;
			digits++;
		}
		if (!digits)
			return -1;
		*ssl = v;
		/* Bareos may add " qualified-name=..." when dumping: skip it */
		if (p < end && *p == ' ')
			p = memchr(p, '\n', (size_t)(end - p)) ? (const char *)memchr(p, '\n', (size_t)(end - p)) : end;
	}
	if (p < end && *p == '\n')
		p++;
	return p == end ? 0 : -1;
}

int cram_response(const char *chal, const char *key, bool compatible,
		  char out[CRAM_RESP_MAX])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;
	int rc = -1;

	if (!chal || !key)
		goto out;
	if (!HMAC(EVP_md5(), key, (int)strlen(key), (const unsigned char *)chal,
		  strlen(chal), mac, &ml) || ml != 16)
		goto out;
	if (bareos_b64_encode(mac, 16, compatible, out, CRAM_RESP_MAX) < 0)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* Constant-time equality of a received string with an expected one. */
static bool ct_equal(const char *want, const char *got, size_t gl)
{
	size_t wl = strlen(want);
	unsigned char diff = (unsigned char)(wl != gl);

	for (size_t i = 0; i < wl; i++)
		diff |= (unsigned char)(want[i] ^ (i < gl ? got[i] : 0));
	return diff == 0;
}

bool cram_verify(const char *chal, const char *key, const char *resp,
		 size_t n)
{
	char a[CRAM_RESP_MAX], b[CRAM_RESP_MAX];
	bool ok = false;

	if (!resp)
		return false;
	if (n && resp[n - 1] == '\0')
		n--;
	if (n == 0 || n >= CRAM_RESP_MAX || memchr(resp, '\0', n))
		return false;
	if (cram_response(chal, key, true, a) || cram_response(chal, key, false, b))
		goto out;
	/* evaluate both, no short-circuit */
	ok = ((int)ct_equal(a, resp, n) | (int)ct_equal(b, resp, n)) != 0;
out:
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return ok;
}
