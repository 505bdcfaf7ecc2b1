/* lines.h - the text lines of the Bareos console login: Hello, the PAM
 * exchange (1001 / 4001 / 4002) and the 1000/1002 greeting. */
#ifndef AUTHD_PROTO_LINES_H
#define AUTHD_PROTO_LINES_H

#include <stdbool.h>
#include <stddef.h>

#define RS			'\x1e'
#define NAME_MAX_LEN		127
#define PAM_FIELD_MAX		512
#define PAM_REQUIRED_MSG	"1001\x1e"
#define PAM_INTERACTIVE_MSG	"4001\x1e"

/* "Hello NAME calling[ version ...]\n": name (spaces un-bashed from 0x01),
 * at most NAME_MAX_LEN, printable.  Returns 0 or -1. */
int hello_parse(const char *line, size_t n, char name[NAME_MAX_LEN + 1]);
/* A valid Hello with " calling version ..." (Bareos 18.2 and later, the
   first with PAM), not the bare "... calling" of older consoles. */
bool hello_has_version(const char *line, size_t n);
/* Build the console Hello line; returns length or -1. */
int hello_build(const char *name, const char *version, char *out,
		size_t outcap);

enum pam_login_kind { PAM_LOGIN_INTERACTIVE = 1, PAM_LOGIN_DIRECT = 2 };

/* Parse "4001<RS>" or "4002<RS>user<RS>password".  user/pass get
 * NUL-terminated copies (caps PAM_FIELD_MAX + 1).  Returns the kind or -1. */
int pam_login_parse(const char *data, size_t n, char *user, char *pass);

/* One PAM prompt as the director sends it: style byte packet, then the
 * text with a trailing NUL.  Style codes on the wire. */
#define WIRE_PAM_SUCCESS	0
#define WIRE_PAM_ECHO_OFF	1
#define WIRE_PAM_ECHO_ON	2
#define WIRE_PAM_ERROR_MSG	3
#define WIRE_PAM_TEXT_INFO	4

/* True when s (n bytes) is valid UTF-8 without NUL. */
bool utf8_valid(const char *s, size_t n);

/* Attacker-controlled text for a log line: printable ASCII kept, every
 * other byte (newline, ESC, UTF-8, the backslash itself) as \xNN, so a
 * user name can never forge a second line or a terminal sequence.  Cut to
 * outlen - 1 bytes at a whole character; returns the length written. */
size_t log_escape(const char *in, char *out, size_t outlen);
#define LOG_ESCAPED_MAX(n) (4 * (n) + 1)

#endif
