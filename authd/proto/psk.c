/* psk.c - Bareos TLS-PSK identities. */
#include "psk.h"

#include <stdio.h>
#include <string.h>

int psk_console_identity(const char *name, char *out, size_t outcap)
{
	int n;

	if (!name || !*name)
		return -1;
	n = snprintf(out, outcap, "%s%c%s", PSK_CONSOLE_PREFIX,
		     PSK_RECORD_SEP, name);
	return (n < 0 || (size_t)n >= outcap) ? -1 : n;
}

int psk_parse_console_identity(const char *id, char *name, size_t namecap)
{
	size_t pl = strlen(PSK_CONSOLE_PREFIX), nl;

	if (!id || strncmp(id, PSK_CONSOLE_PREFIX, pl) || id[pl] != PSK_RECORD_SEP)
		return -1;
	nl = strlen(id + pl + 1);
	if (nl == 0 || nl >= namecap)
		return -1;
	memcpy(name, id + pl + 1, nl + 1);
	return 0;
}
