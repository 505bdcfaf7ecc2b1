/* conf.c - parse pamkit-authd.conf: "key = value" lines, "[console NAME]"
 * sections, '#' comments. */
#include "conf.h"
#include "cram.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_LEN 1024

static void seterr(char *err, size_t n, const char *path, unsigned ln,
		   const char *fmt, ...)
{
	va_list ap;
	int k = snprintf(err, n, "%s:%u: ", path, ln);

	if (k < 0 || (size_t)k >= n)
		return;
	va_start(ap, fmt);
	vsnprintf(err + k, n - (size_t)k, fmt, ap);
	va_end(ap);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int parse_uint(const char *v, unsigned int max, unsigned int *out)
{
	char *end;
	unsigned long x;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *end || x > max)
		return -1;
	*out = (unsigned int)x;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return -1;
	return 0;
}

static int set_str(char **dst, const char *v)
{
	char *d = strdup(v);

	if (!d)
		return -1;
	free(*dst);
	*dst = d;
	return 0;
}

/* The plain keys: strings and bounded numbers, by table. */
static const struct {
	const char *name;
	size_t off;
} str_keys[] = {
	{ "director_name", offsetof(struct authd_conf, director_name) },
	{ "version", offsetof(struct authd_conf, version) },
	{ "listen_address", offsetof(struct authd_conf, listen_address) },
	{ "listen_port", offsetof(struct authd_conf, listen_port) },
	{ "tls_certificate", offsetof(struct authd_conf, tls_certificate) },
	{ "tls_key", offsetof(struct authd_conf, tls_key) },
	{ "pam_service", offsetof(struct authd_conf, pam_service) },
	{ "pam_confdir", offsetof(struct authd_conf, pam_confdir) },
	{ "pam_tty", offsetof(struct authd_conf, pam_tty) },
};

static const struct {
	const char *name;
	size_t off;
	unsigned int min, max;
} uint_keys[] = {
	{ "max_connections", offsetof(struct authd_conf, max_connections), 0, 100000 },
	{ "login_timeout_ms", offsetof(struct authd_conf, login_timeout_ms), 0, 3600000 },
	{ "idle_timeout_ms", offsetof(struct authd_conf, idle_timeout_ms), 0, 86400000 },
	{ "fail_delay_ms", offsetof(struct authd_conf, fail_delay_ms), 0, 60000 },
	{ "step_timeout_ms", offsetof(struct authd_conf, step_timeout_ms), 0, 3600000 },
	{ "preauth_timeout_ms", offsetof(struct authd_conf, preauth_timeout_ms), 1, 3600000 },
	{ "max_unauth_per_source", offsetof(struct authd_conf, max_unauth_per_source), 0, 100000 },
	{ "pam_threads", offsetof(struct authd_conf, pam_threads), 1, 4096 },
	{ "pam_queue", offsetof(struct authd_conf, pam_queue), 1, 1000000 },
};

static int global_key(struct authd_conf *c, const char *k, const char *v)
{
	for (size_t i = 0; i < sizeof(str_keys) / sizeof(str_keys[0]); i++)
		if (!strcmp(k, str_keys[i].name))
			return set_str((char **)((char *)c + str_keys[i].off), v);
	for (size_t i = 0; i < sizeof(uint_keys) / sizeof(uint_keys[0]); i++) {
		unsigned int *dst, x;

		if (strcmp(k, uint_keys[i].name))
			continue;
		dst = (unsigned int *)((char *)c + uint_keys[i].off);
		if (parse_uint(v, uint_keys[i].max, &x) || x < uint_keys[i].min)
			return -1;
		*dst = x;
		return 0;
	}
	if (!strcmp(k, "listen_unix")) {
		if (v[0] != '/' || strlen(v) >= 108)	/* sun_path */
			return -1;
		return set_str(&c->listen_unix, v);
	}
	if (!strcmp(k, "tls")) {
		if (!strcmp(v, "required"))
			c->tls = TLS_REQUIRED;
		else if (!strcmp(v, "optional"))
			c->tls = TLS_OPTIONAL;
		else
			return -1;
		return 0;
	}
	if (!strcmp(k, "pam_rhost"))
		return parse_bool(v, &c->pam_rhost);
	if (!strcmp(k, "pam_session"))
		return parse_bool(v, &c->pam_session);
	return -2;
}

static int console_key(struct console_conf *cc, const char *k, const char *v)
{
	char hex[MD5_HEX_LEN + 1];

	if (!strcmp(k, "password")) {
		if (md5_hex(v, strlen(v), hex))
			return -1;
		return set_str(&cc->key, hex);
	}
	if (!strcmp(k, "pam"))
		return parse_bool(v, &cc->pam);
	if (!strcmp(k, "pam_service"))
		return set_str(&cc->pam_service, v);
	return -2;
}

static int set_defaults(struct authd_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->max_connections = 256;
	c->login_timeout_ms = 30000;
	c->idle_timeout_ms = 600000;
	c->fail_delay_ms = 2000;
	c->step_timeout_ms = 120000;
	c->preauth_timeout_ms = 10000;
	c->max_unauth_per_source = 32;
	c->pam_threads = 64;
	c->pam_queue = 4096;
	c->pam_rhost = false;	/* as the Bareos director (auth_pam.cc) */
	c->pam_session = false;	/* the director: authenticate + acct_mgmt */
	if (set_str(&c->director_name, "pamkit-authd") ||
	    set_str(&c->version, PAMKIT_AUTHD_VERSION) ||
	    set_str(&c->listen_address, "127.0.0.1") ||
	    set_str(&c->listen_port, "9101") ||
	    set_str(&c->pam_service, "bareos"))
		return -1;
	return 0;
}

int conf_load(const char *path, struct authd_conf *c, char *err, size_t errlen)
{
	FILE *f = NULL;
	char line[LINE_MAX_LEN + 2];
	unsigned ln = 0;
	struct console_conf *cur = NULL;
	int rc = -1;

	if (set_defaults(c)) {
		seterr(err, errlen, path, 0, "out of memory");
		goto out;
	}
	f = fopen(path, "re");
	if (!f) {
		seterr(err, errlen, path, 0, "%s", strerror(errno));
		goto out;
	}
	/* It holds the console passwords: as sshd with its host keys, refuse
	 * a file that others may read or change. */
	struct stat st;
	if (fstat(fileno(f), &st) != 0) {
		seterr(err, errlen, path, 0, "%s", strerror(errno));
		goto out;
	}
	if ((st.st_mode & 077) || (st.st_uid != 0 && st.st_uid != geteuid())) {
		seterr(err, errlen, path, 0, "holds console passwords but is "
		       "accessible by others (mode %03o, owner %u): chmod 600 "
		       "and chown to root or the daemon's user",
		       (unsigned)(st.st_mode & 0777), (unsigned)st.st_uid);
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *k, *v;
		int r;

		ln++;
		if (!strchr(line, '\n') && !feof(f)) {
			seterr(err, errlen, path, ln, "line too long");
			goto out;
		}
		s = strchr(line, '#');
		if (s)
			*s = '\0';
		s = trim(line);
		if (!*s)
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');

			if (!e || e[1] || strncmp(s, "[console ", 9)) {
				seterr(err, errlen, path, ln, "bad section, want [console NAME]");
				goto out;
			}
			*e = '\0';
			k = trim(s + 9);
			if (!*k || strlen(k) > 127 || strchr(k, ' ')) {
				seterr(err, errlen, path, ln, "bad console name");
				goto out;
			}
			if (conf_console(c, k)) {
				seterr(err, errlen, path, ln, "duplicate console \"%s\"", k);
				goto out;
			}
			if (c->nconsoles == CONF_MAX_CONSOLES) {
				seterr(err, errlen, path, ln, "too many consoles");
				goto out;
			}
			cur = &c->consoles[c->nconsoles++];
			if (set_str(&cur->name, k)) {
				seterr(err, errlen, path, ln, "out of memory");
				goto out;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			seterr(err, errlen, path, ln, "expected key = value");
			goto out;
		}
		*eq = '\0';
		k = trim(s);
		v = trim(eq + 1);
		if (!*v) {
			seterr(err, errlen, path, ln, "empty value for \"%s\"", k);
			goto out;
		}
		r = cur ? console_key(cur, k, v) : global_key(c, k, v);
		if (r == -2) {
			seterr(err, errlen, path, ln, "unknown key \"%s\"", k);
			goto out;
		}
		if (r) {
			seterr(err, errlen, path, ln, "bad value for \"%s\"", k);
			goto out;
		}
		explicit_bzero(line, sizeof(line));	/* may hold a password */
	}
	if (ferror(f)) {
		seterr(err, errlen, path, ln, "read error");
		goto out;
	}
	for (size_t i = 0; i < c->nconsoles; i++) {
		if (!c->consoles[i].key) {
			seterr(err, errlen, path, ln, "console \"%s\" has no password",
			       c->consoles[i].name);
			goto out;
		}
	}
	if (c->tls_key && !c->tls_certificate) {
		seterr(err, errlen, path, ln, "tls_key without tls_certificate");
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(line, sizeof(line));
	if (f)
		fclose(f);
	if (rc)
		conf_free(c);
	return rc;
}

void conf_free(struct authd_conf *c)
{
	free(c->director_name);
	free(c->version);
	free(c->listen_address);
	free(c->listen_port);
	free(c->listen_unix);
	free(c->tls_certificate);
	free(c->tls_key);
	free(c->pam_service);
	free(c->pam_tty);
	free(c->pam_confdir);
	for (size_t i = 0; i < c->nconsoles; i++) {
		free(c->consoles[i].name);
		free(c->consoles[i].pam_service);
		if (c->consoles[i].key) {
			explicit_bzero(c->consoles[i].key, strlen(c->consoles[i].key));
			free(c->consoles[i].key);
		}
	}
	memset(c, 0, sizeof(*c));
}

const struct console_conf *conf_console(const struct authd_conf *c,
					const char *name)
{
	for (size_t i = 0; i < c->nconsoles; i++)
		if (c->consoles[i].name && !strcmp(c->consoles[i].name, name))
			return &c->consoles[i];
	return NULL;
}
