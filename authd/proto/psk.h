/* psk.h - TLS-PSK identity and key as Bareos derives them
 * (identity "R_CONSOLE" 0x1E <name>, default console "*UserAgent*";
 * key = ASCII of the lowercase MD5 hex of the console password). */
#ifndef AUTHD_PROTO_PSK_H
#define AUTHD_PROTO_PSK_H

#include <stddef.h>

#define PSK_RECORD_SEP		'\x1e'
#define PSK_CONSOLE_PREFIX	"R_CONSOLE"
#define PSK_DEFAULT_CONSOLE	"*UserAgent*"
#define PSK_IDENTITY_MAX	256

/* "R_CONSOLE\x1e<name>" into out.  Returns length or -1. */
int psk_console_identity(const char *name, char *out, size_t outcap);
/* Parse an identity: the console name into name (cap namecap).  0 or -1. */
int psk_parse_console_identity(const char *id, char *name, size_t namecap);

#endif
