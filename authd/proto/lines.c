/* lines.c - parse and build the Bareos console login lines. */
#include "lines.h"

#include <stdio.h>
#include <string.h>

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t k;
		unsigned int cp;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += k + 1;
	}
	return true;
}

int hello_parse(const char *line, size_t n, char name[NAME_MAX_LEN + 1])
{
	static const char pre[] = "Hello ";
	const char *p, *end = line + n, *tok;
	size_t tl;

	if (n && line[n - 1] == '\0')
		end--;
	if ((size_t)(end - line) < sizeof(pre) - 1 ||
	    memcmp(line, pre, sizeof(pre) - 1) ||
	    !utf8_valid(line, (size_t)(end - line)))
		return -1;
	p = tok = line + sizeof(pre) - 1;
	while (p < end && *p != ' ' && *p != '\n')
		p++;
	tl = (size_t)(p - tok);
	if (tl == 0 || tl > NAME_MAX_LEN)
		return -1;
	if ((size_t)(end - p) < 8 || memcmp(p, " calling", 8))
		return -1;
	p += 8;
	if (p < end && *p == ' ') {	/* " version ..." up to the newline */
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		p = nl ? nl : end;
	}
	if (p < end && *p == '\n')
		p++;
	if (p != end)
		return -1;
	for (size_t i = 0; i < tl; i++) {
		unsigned char c = (unsigned char)tok[i];

		if (c == 0x01)	/* Bareos BashSpaces */
			c = ' ';
		else if (c < 0x20 || c == 0x7f)
			return -1;
		name[i] = (char)c;
	}
	name[tl] = '\0';
	return 0;
}

bool hello_has_version(const char *line, size_t n)
{
	char name[NAME_MAX_LEN + 1];
	const char *p;

	if (hello_parse(line, n, name))
		return false;
	p = memmem(line, n, " calling version ", 17);
	return p != NULL && p + 17 < line + n && p[17] != '\n';
}

int hello_build(const char *name, const char *version, char *out,
		size_t outcap)
{
	char bashed[NAME_MAX_LEN + 1];
	size_t l = name ? strlen(name) : 0;
	int n;

	if (l == 0 || l > NAME_MAX_LEN)
		return -1;
	for (size_t i = 0; i <= l; i++)
		bashed[i] = name[i] == ' ' ? '\x01' : name[i];
	if (version)
		n = snprintf(out, outcap, "Hello %s calling version %s\n",
			     bashed, version);
	else
		n = snprintf(out, outcap, "Hello %s calling\n", bashed);
	return (n < 0 || (size_t)n >= outcap) ? -1 : n;
}

/* Copy one RS-delimited field [s, e) as a C string. */
static int copy_field(const char *s, const char *e, char *out)
{
	size_t l = (size_t)(e - s);

	if (l == 0 || l > PAM_FIELD_MAX || !utf8_valid(s, l))
		return -1;
	memcpy(out, s, l);
	out[l] = '\0';
	return 0;
}

int pam_login_parse(const char *data, size_t n, char *user, char *pass)
{
	const char *end = data + n, *sep;

	if (n && data[n - 1] == '\0')
		end--;
	if ((size_t)(end - data) < 5 || data[4] != RS)
		return -1;
	if (!memcmp(data, "4001", 4))
		return (size_t)(end - data) == 5 ? PAM_LOGIN_INTERACTIVE : -1;
	if (memcmp(data, "4002", 4))
		return -1;
	sep = memchr(data + 5, RS, (size_t)(end - data - 5));
	if (!sep || copy_field(data + 5, sep, user))
		return -1;
	/* the password may hold no RS either (Bareos splits on it) */
	if (memchr(sep + 1, RS, (size_t)(end - sep - 1)) ||
	    copy_field(sep + 1, end, pass)) {
		explicit_bzero(pass, PAM_FIELD_MAX + 1);
		user[0] = '\0';
		return -1;
	}
	return PAM_LOGIN_DIRECT;
}

size_t log_escape(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!outlen)
		return 0;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		char esc[4];
		size_t k = 0;

		if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
			esc[k++] = (char)*p;
		} else {
			esc[k++] = '\\';
			esc[k++] = 'x';
			esc[k++] = hex[*p >> 4];
			esc[k++] = hex[*p & 15];
		}
		if (o + k >= outlen)
			break;		/* cut at a whole character */
		memcpy(out + o, esc, k);
		o += k;
	}
	out[o] = '\0';
	return o;
}
