/* conf.c - pamkit-authd's configuration: reading the file safely, the
 * setters both syntaxes share, and the "key = value" / "[console NAME]"
 * form.  The Bareos resource form is bconf.c. */
#include "conf.h"
#include "conf_int.h"
#include "cram.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_LEN 1024

void seterr(char *err, size_t n, const char *path, unsigned ln,
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

int parse_uint(const char *v, unsigned int max, unsigned int *out)
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

int parse_bool(const char *v, bool *out)
{
	/* Bareos writes yes/no, true/false in any case */
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return -1;
	return 0;
}

int set_str(char **dst, const char *v)
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
	{ "pam_fail_delay_min_ms", offsetof(struct authd_conf, pam_fail_delay_min_ms), 0, 60000 },
	{ "step_timeout_ms", offsetof(struct authd_conf, step_timeout_ms), 0, 3600000 },
	{ "preauth_timeout_ms", offsetof(struct authd_conf, preauth_timeout_ms), 1, 3600000 },
	{ "max_unauth_per_source", offsetof(struct authd_conf, max_unauth_per_source), 0, 100000 },
	{ "pam_threads", offsetof(struct authd_conf, pam_threads), 1, 4096 },
	{ "pam_queue", offsetof(struct authd_conf, pam_queue), 1, 1000000 },
};

/* "10.0.0.0/8, 192.0.2.7 2001:db8::/32": commas and/or spaces; the
   whole list replaces the one before. */
static int parse_proxy_sources(struct authd_conf *c, const char *v)
{
	char *list = strdup(v), *save = NULL;
	size_t n = 0;
	int rc = -1;

	if (!list)
		return -1;
	for (char *t = strtok_r(list, ", \t", &save); t;
	     t = strtok_r(NULL, ", \t", &save)) {
		if (n == CONF_MAX_PROXY_NETS ||
		    proxy_net_parse(t, &c->proxy_sources[n]))
			goto out;
		n++;
	}
	if (n == 0)
		goto out;
	c->nproxy_sources = n;
	rc = 0;
out:
	free(list);
	return rc;
}

int conf_add_pam_user(struct authd_conf *c, const char *user)
{
	if (c->npam_users == CONF_MAX_USERS || !*user ||
	    strlen(user) > 512)
		return -1;
	c->pam_users[c->npam_users] = strdup(user);
	if (!c->pam_users[c->npam_users])
		return -1;
	c->npam_users++;
	return 0;
}

/* "alice, bob": added to those named before (and User resources). */
static int parse_pam_users(struct authd_conf *c, const char *v)
{
	char *list = strdup(v), *save = NULL;
	int rc = -1;

	if (!list)
		return -1;
	for (char *t = strtok_r(list, ", \t", &save); t;
	     t = strtok_r(NULL, ", \t", &save))
		if (conf_add_pam_user(c, t))
			goto out;
	rc = 0;
out:
	free(list);
	return rc;
}

bool conf_pam_user_allowed(const struct authd_conf *c, const char *user)
{
	if (c->pam_any_user)
		return true;
	for (size_t i = 0; i < c->npam_users; i++)
		if (!strcmp(c->pam_users[i], user))
			return true;
	return false;
}

int conf_split_hostport(const char *v, char host[64], char port[8])
{
	const char *colon, *h = v;
	size_t hl;
	unsigned int p;

	if (v[0] == '[') {
		const char *e = strchr(v, ']');

		if (!e || e[1] != ':')
			return -1;
		h = v + 1;
		hl = (size_t)(e - h);
		colon = e + 1;
	} else {
		colon = strrchr(v, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - v);
	}
	if (hl == 0 || hl >= 64 || strlen(colon + 1) >= 8 ||
	    parse_uint(colon + 1, 65535, &p))	/* 0: any free port */
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

/* Local only: a UNIX socket path, or a loopback address and port
   ("127.0.0.1:9188", "[::1]:9188"). */
static int check_statistics_listen(const char *v)
{
	char host[64], port[8];
	struct in_addr a4;
	struct in6_addr a6;

	if (v[0] == '/')
		return strlen(v) < 108 ? 0 : -1;	/* sun_path */
	if (conf_split_hostport(v, host, port))
		return -1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127 ? 0 : -1;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ? 0 : -1;
	return -1;
}

int conf_global_key(struct authd_conf *c, const char *k, const char *v)
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
	if (!strcmp(k, "proxy_protocol_sources"))
		return parse_proxy_sources(c, v);
	if (!strcmp(k, "statistics_listen")) {
		if (check_statistics_listen(v))
			return -1;
		return set_str(&c->statistics_listen, v);
	}
	if (!strcmp(k, "pam_users"))
		return parse_pam_users(c, v);
	if (!strcmp(k, "pam_any_user"))
		return parse_bool(v, &c->pam_any_user);
	if (!strcmp(k, "pam_rhost"))
		return parse_bool(v, &c->pam_rhost);
	if (!strcmp(k, "pam_session"))
		return parse_bool(v, &c->pam_session);
	return -2;
}

/* A password as Bareos stores it: "[md5]" and the MD5 hex of the
   password (what CRAM-MD5 keys with), or the password itself. */
int conf_password_key(const char *v, char **key)
{
	char hex[MD5_HEX_LEN + 1];
	int rc;

	if (!strncmp(v, "[md5]", 5)) {
		const char *h = v + 5;

		if (strlen(h) != MD5_HEX_LEN)
			return -1;
		for (size_t i = 0; i < MD5_HEX_LEN; i++) {
			if (!isxdigit((unsigned char)h[i]))
				return -1;
			hex[i] = (char)tolower((unsigned char)h[i]);
		}
		hex[MD5_HEX_LEN] = '\0';
	} else if (md5_hex(v, strlen(v), hex)) {
		return -1;
	}
	rc = set_str(key, hex);
	explicit_bzero(hex, sizeof(hex));
	return rc;
}

int conf_console_key(struct console_conf *cc, const char *k, const char *v)
{
	if (!strcmp(k, "password"))
		return conf_password_key(v, &cc->key);
	if (!strcmp(k, "pam"))
		return parse_bool(v, &cc->pam);
	if (!strcmp(k, "pam_service"))
		return set_str(&cc->pam_service, v);
	return -2;
}

int conf_defaults(struct authd_conf *c)
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

/* The whole file, or NULL with err set.  It holds console passwords: as
   sshd with its host keys, a file others may read or change is refused. */
char *conf_read_checked(const char *path, unsigned forbid, char *err,
			size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		seterr(err, errlen, path, 0, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0) {
		seterr(err, errlen, path, 0, "%s", strerror(errno));
		goto out;
	}
	if ((st.st_mode & forbid) ||
	    (st.st_uid != 0 && st.st_uid != geteuid())) {
		seterr(err, errlen, path, 0, "holds console passwords but is "
		       "accessible by others (mode %03o, owner %u): chmod 600 "
		       "and chown to root or the daemon's user",
		       (unsigned)(st.st_mode & 0777), (unsigned)st.st_uid);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONF_FILE_MAX) {
		seterr(err, errlen, path, 0, "not a regular file of at most %d "
		       "bytes", CONF_FILE_MAX);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		seterr(err, errlen, path, 0, "out of memory");
		goto out;
	}
	len = fread(text, 1, (size_t)st.st_size, f);
	if (ferror(f) || memchr(text, '\0', len)) {
		explicit_bzero(text, len);
		free(text);
		text = NULL;
		seterr(err, errlen, path, 0, "read error or NUL byte");
		goto out;
	}
	text[len] = '\0';
out:
	fclose(f);
	return text;
}

/* The "key = value" lines and "[console NAME]" sections. */
static int ini_parse(const char *path, const char *text, struct authd_conf *c,
		     char *err, size_t errlen)
{
	char line[LINE_MAX_LEN + 2];
	unsigned ln = 0;
	struct console_conf *cur = NULL;
	int rc = -1;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *s, *eq, *k, *v;
		int r;

		ln++;
		if (n > LINE_MAX_LEN) {
			seterr(err, errlen, path, ln, "line too long");
			goto out;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (nl ? 1 : 0);
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
			if (!(cur = conf_add_console(c, k, path, ln, err, errlen)))
				goto out;
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
		r = cur ? conf_console_key(cur, k, v) : conf_global_key(c, k, v);
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
	rc = 0;
out:
	explicit_bzero(line, sizeof(line));
	return rc;
}

struct console_conf *conf_add_console(struct authd_conf *c, const char *name,
				      const char *path, unsigned ln,
				      char *err, size_t errlen)
{
	struct console_conf *cc;

	if (conf_console(c, name)) {
		seterr(err, errlen, path, ln, "duplicate console \"%s\"", name);
		return NULL;
	}
	if (c->nconsoles == CONF_MAX_CONSOLES) {
		seterr(err, errlen, path, ln, "too many consoles");
		return NULL;
	}
	cc = &c->consoles[c->nconsoles++];
	if (set_str(&cc->name, name)) {
		seterr(err, errlen, path, ln, "out of memory");
		return NULL;
	}
	return cc;
}

static int load(const char *path, struct authd_conf *c, unsigned forbid,
		char *err, size_t errlen)
{
	char *text = NULL;
	int rc = -1;

	if (conf_defaults(c)) {
		seterr(err, errlen, path, 0, "out of memory");
		goto out;
	}
	c->read_forbid_mode = forbid;
	if (!(text = conf_read_checked(path, forbid, err, errlen)))
		goto out;
	/* Bareos resources ("Director {", "Console {") or our key lines */
	if (bconf_is_bareos(text) ? bconf_parse(path, text, c, err, errlen, 0)
				  : ini_parse(path, text, c, err, errlen))
		goto out;
	for (size_t i = 0; i < c->nconsoles; i++) {
		if (!c->consoles[i].key) {
			seterr(err, errlen, path, 0, "console \"%s\" has no password",
			       c->consoles[i].name);
			goto out;
		}
	}
	if (c->tls_key && !c->tls_certificate) {
		seterr(err, errlen, path, 0, "tls_key without tls_certificate");
		goto out;
	}
	rc = 0;
out:
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	if (rc)
		conf_free(c);
	return rc;
}

int conf_load(const char *path, struct authd_conf *c, char *err, size_t errlen)
{
	return load(path, c, 077, err, errlen);
}

int conf_load_client(const char *path, struct authd_conf *c, char *err,
		     size_t errlen)
{
	return load(path, c, 027, err, errlen);
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
	free(c->statistics_listen);
	for (size_t i = 0; i < c->npam_users; i++)
		free(c->pam_users[i]);
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
