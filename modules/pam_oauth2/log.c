/* pam_oauth2: syslog LOG_AUTH output (no openlog: the host owns it). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include "oa2.h"

/* Escape everything outside printable ASCII (and backslash) as \xNN. */
void oa2_escape(const char *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return;
	for (size_t i = 0; i < len && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c >= 0x7f || c == '\\' || c == '\'')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

void oa2_log(int prio, const char *service, const char *fmt, ...)
{
	char msg[512], svc[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (service == NULL)
		service = "?";
	oa2_escape(service, strnlen(service, 32), svc, sizeof(svc));
	syslog(LOG_AUTH | prio, "pam_oauth2(%s): %s", svc, msg);
}
