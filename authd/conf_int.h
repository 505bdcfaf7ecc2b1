/* conf_int.h - what conf.c (key lines) and bconf.c (Bareos resources)
 * share.  Setters return 0, -1 for a bad value, -2 for an unknown key. */
#ifndef AUTHD_CONF_INT_H
#define AUTHD_CONF_INT_H

#include "conf.h"

#define CONF_FILE_MAX (1024 * 1024)

void seterr(char *err, size_t n, const char *path, unsigned ln,
	    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int parse_uint(const char *v, unsigned int max, unsigned int *out);
int parse_bool(const char *v, bool *out);
int set_str(char **dst, const char *v);
int conf_defaults(struct authd_conf *c);
/* Keys by their name in the "key = value" form (pam_service, ...). */
int conf_global_key(struct authd_conf *c, const char *k, const char *v);
int conf_console_key(struct console_conf *cc, const char *k, const char *v);
/* "[md5]<hex>" (Bareos' hashed form) or the password: its MD5 hex. */
int conf_password_key(const char *v, char **key);
struct console_conf *conf_add_console(struct authd_conf *c, const char *name,
				      const char *path, unsigned ln,
				      char *err, size_t errlen);
/* The file's text (NUL-terminated; wipe and free it), refused when its
   mode has a bit of forbid (077 for the daemon: others may not read or
   change it), or larger than CONF_FILE_MAX. */
char *conf_read_checked(const char *path, unsigned forbid, char *err,
			size_t errlen);

/* bconf.c */
bool bconf_is_bareos(const char *text);
int bconf_parse(const char *path, const char *text, struct authd_conf *c,
		char *err, size_t errlen, int depth);

#endif
