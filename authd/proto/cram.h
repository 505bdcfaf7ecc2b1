/* cram.h - Bareos CRAM-MD5 (lib/cram_md5.cc), both directions.
 *
 * The shared key is the lowercase MD5 hex of the console password (that is
 * what the director stores).  The challenge is "<R.T@QUALIFIED-NAME>", the
 * response is BinToBase64(HMAC-MD5(key, challenge)) sent with a trailing
 * NUL; the challenger answers "1000 OK auth\n" or
 * "1999 Authorization failed.\n". */
#ifndef AUTHD_PROTO_CRAM_H
#define AUTHD_PROTO_CRAM_H

#include <stdbool.h>
#include <stddef.h>

#define CRAM_OK_LINE	"1000 OK auth\n"
#define CRAM_FAIL_LINE	"1999 Authorization failed.\n"
#define CRAM_CHAL_MAX	256	/* challenge text incl. NUL */
#define CRAM_RESP_MAX	32	/* base64 of 16 bytes is 22 chars */
#define MD5_HEX_LEN	32

/* out[33] = lowercase hex MD5 of s.  Returns 0 or -1. */
int md5_hex(const char *s, size_t n, char out[MD5_HEX_LEN + 1]);
/* n bytes as 2n lowercase hex digits and a NUL. */
void hex_lower(const unsigned char *in, size_t n, char *out);

/* Make "<random.time@name>" (name already has spaces bashed).  Returns 0 or
 * -1 (name too long, no randomness). */
int cram_make_challenge(const char *qualified_name, char *out, size_t outcap);

/* Line the challenger sends: "auth cram-md5 <chal> ssl=N\n". */
int cram_challenge_line(const char *chal, int ssl, char *out, size_t outcap);

/* Parse "auth cram-md5[c] <chal> ssl=N\n": fills chal (cap CRAM_CHAL_MAX),
 * *ssl (-1 when absent) and *compatible.  Returns 0 or -1. */
int cram_parse_challenge_line(const char *line, size_t n, char *chal,
			      int *ssl, bool *compatible);

/* Response (NUL-terminated base64) for chal with key. Returns 0 or -1. */
int cram_response(const char *chal, const char *key, bool compatible,
		  char out[CRAM_RESP_MAX]);

/* Check a response (data of the received packet, n bytes, NUL optional)
 * against both variants, in constant time.  True when it matches. */
bool cram_verify(const char *chal, const char *key, const char *resp,
		 size_t n);

#endif
