/* pam_oauth2: strict base64url decoding (RFC 4648 §5, no padding). */
#include <stdlib.h>
#include "oa2.h"

static int val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int oa2_b64url_decode(const char *in, size_t len, unsigned char **out,
		      size_t *outlen)
{
	unsigned char *buf;
	size_t o = 0;
	unsigned int acc = 0;
	int bits = 0;

	*out = NULL;
	*outlen = 0;
	if (len % 4 == 1 || len > 4 * 1024 * 1024)
		return OA2_EINVAL;
	buf = malloc(len * 3 / 4 + 1);
	if (buf == NULL)
		return OA2_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int v = val((unsigned char)in[i]);
		if (v < 0) {
			free(buf);
			return OA2_EINVAL;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) { /* non-zero trailing bits: not canonical */
		free(buf);
		return OA2_EINVAL;
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return OA2_OK;
}
