/* bconf.c - pamkit-authd's configuration in Bareos' resource syntax, so
 * the Director and Console resources of an existing bareos-dir.conf (or
 * its bareos-dir.d/ files) serve unchanged:
 *
 *   Director { Name = bareos-dir; Password = "secret"; DirPort = 9101 }
 *   Console { Name = "web admin"; Password = "[md5]5ebe22..."
 *             UsePamAuthentication = yes }
 *   @/etc/bareos/bareos-dir.d/console/\*.conf
 *
 * As in Bareos, keywords are case-insensitive and their spaces do not
 * count ("Dir Port" is "DirPort"), values are words or "quoted strings"
 * (\" and \\ inside), '#' starts a comment, ';' may end an item, and
 * "@path" includes files (glob patterns allowed).  Resources pamkit-authd
 * has no use for (Job, Client, Catalog, ...) are skipped whole; Director
 * and Console items it does not use but Bareos knows are accepted and
 * ignored; an unknown item is an error, as in bareos-dir -t.  The
 * Director may also carry pamkit-authd's own keys (pam_service, pam_threads,
 * ..., written either way: "Pam Threads = 8"). */
#include "conf_int.h"

#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_MAX 1024
#define INCLUDE_DEPTH_MAX 8

enum tok { T_EOF, T_WORD, T_STRING, T_LBRACE, T_RBRACE, T_EQ, T_SEMI, T_INCLUDE, T_ERR };

struct lex {
	const char *p;
	unsigned ln;
	char buf[TOKEN_MAX + 1];
	const char *path;
	char *err;
	size_t errlen;
};

static void skip_space(struct lex *x)
{
	for (;;) {
		while (isspace((unsigned char)*x->p)) {
			if (*x->p == '\n')
				x->ln++;
			x->p++;
		}
		if (*x->p != '#')
			return;
		while (*x->p && *x->p != '\n')
			x->p++;
	}
}

static enum tok next(struct lex *x)
{
	size_t n = 0;

	skip_space(x);
	switch (*x->p) {
	case '\0': return T_EOF;
	case '{': x->p++; return T_LBRACE;
	case '}': x->p++; return T_RBRACE;
	case '=': x->p++; return T_EQ;
	case ';': x->p++; return T_SEMI;
	case '"':
		for (x->p++; *x->p != '"'; x->p++) {
			if (!*x->p || *x->p == '\n') {
				seterr(x->err, x->errlen, x->path, x->ln,
				       "unterminated string");
				return T_ERR;
			}
			if (*x->p == '\\' && x->p[1])
				x->p++;
			if (n == TOKEN_MAX) {
				seterr(x->err, x->errlen, x->path, x->ln,
				       "string too long");
				return T_ERR;
			}
			x->buf[n++] = *x->p;
		}
		x->p++;
		x->buf[n] = '\0';
		return T_STRING;
	case '@':			/* include: the rest of the line */
		x->p++;
		while (*x->p && *x->p != '\n' && n < TOKEN_MAX)
			x->buf[n++] = *x->p++;
		while (n && isspace((unsigned char)x->buf[n - 1]))
			n--;
		x->buf[n] = '\0';
		return T_INCLUDE;
	default:
		while (*x->p && !isspace((unsigned char)*x->p) &&
		       !strchr("{}=;\"#", *x->p)) {
			if (n == TOKEN_MAX) {
				seterr(x->err, x->errlen, x->path, x->ln,
				       "word too long");
				return T_ERR;
			}
			x->buf[n++] = *x->p++;
		}
		x->buf[n] = '\0';
		return T_WORD;
	}
}

/* "Dir Port", "DirPort", "dir_port" -> "dirport" */
static void normalize(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in && o + 1 < outlen; in++)
		if (*in != ' ' && *in != '_' && *in != '\t')
			out[o++] = (char)tolower((unsigned char)*in);
	out[o] = '\0';
}

/* Bareos' own directives pamkit-authd does not need: accepted, ignored. */
static const char *const director_ignored[] = {
	"description", "queryfile", "workingdirectory", "piddirectory",
	"scriptsdirectory", "plugindirectory", "pluginnames", "messages",
	"maximumconcurrentjobs", "maximumconcurrentjobsperclient",
	"auditing", "auditevents", "heartbeatinterval", "fdconnecttimeout",
	"sdconnecttimeout", "statisticsretention", "subscriptions",
	"dirsourceaddress", "backenddirectory", "secureerasecommand",
	"logtimestampformat", "optimizeforsize", "optimizeforspeed",
	"keyencryptionkey", "ndmpsnooping", "ndmploglevel", "absolutejobtimeout",
	"tlsauthenticate", "tlsverifypeer", "tlsallowedcn", "tlscacertificatefile",
	"tlscacertificatedir", "tlscertificaterevocationlist", "tlscipherlist",
	"tlsciphersuites", "tlsdhfile", "tlsprotocol", "tlsenablecertificatecheck",
	"enablejobmanager", "maximumconnections", "verid", "reloadcheck",
};
static const char *const console_ignored[] = {
	/* bconsole.conf's Console resource */
	"director", "heartbeatinterval", "historyfile", "historylength",
	"rcfile", "font",
	"description", "profile", "profiles", "jobacl", "clientacl",
	"storageacl", "scheduleacl", "poolacl", "commandacl", "filesetacl",
	"catalogacl", "whereacl", "pluginoptionsacl", "usernameacl",
	"tlsenable", "tlsrequire", "tlsauthenticate", "tlsverifypeer",
	"tlsallowedcn", "tlscacertificatefile", "tlscacertificatedir",
	"tlscertificaterevocationlist", "tlscertificate", "tlskey",
	"tlscipherlist", "tlsciphersuites", "tlsdhfile", "tlsprotocol",
	"tlspsk", "tlspskenable", "tlspskrequire",
};

static bool in(const char *k, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(k, list[i]))
			return true;
	return false;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* pamkit-authd's own keys (pam_threads, ...) by their normalized name. */
static int own_key(struct authd_conf *c, const char *norm, const char *v)
{
	static const char *const keys[] = {
		"version", "listen_unix", "pam_service", "pam_confdir",
		"pam_tty", "pam_threads", "pam_queue", "pam_rhost",
		"pam_session", "login_timeout_ms", "idle_timeout_ms",
		"fail_delay_ms", "pam_fail_delay_min_ms", "step_timeout_ms",
		"preauth_timeout_ms",
		"max_unauth_per_source", "max_connections",
		"proxy_protocol_sources", "statistics_listen", "pam_users",
		"pam_any_user",
	};
	char nk[64];

	for (size_t i = 0; i < N(keys); i++) {
		normalize(keys[i], nk, sizeof(nk));
		if (!strcmp(norm, nk))
			return conf_global_key(c, keys[i], v);
	}
	return -2;
}

struct parser {
	struct lex x;
	struct authd_conf *c;
	int depth;
	bool had_director;
	int tls_enable, tls_require;	/* -1: not given, else 0/1 */
};

static int err_at(struct parser *ps, const char *fmt, const char *what)
{
	seterr(ps->x.err, ps->x.errlen, ps->x.path, ps->x.ln, fmt, what);
	return -1;
}

/* Skip a nested { ... } (the opening brace was read). */
static int skip_block(struct parser *ps)
{
	for (int level = 1; level;) {
		switch (next(&ps->x)) {
		case T_LBRACE: level++; break;
		case T_RBRACE: level--; break;
		case T_EOF: return err_at(ps, "%s", "missing '}'");
		case T_ERR: return -1;
		default: break;
		}
	}
	return 0;
}

/* DirAddresses = { ip = { addr = 1.2.3.4; port = 9101 } ipv6 = {...} } */
static int dir_addresses(struct parser *ps)
{
	char list[1024] = "", port[16] = "";

	for (;;) {
		enum tok t = next(&ps->x);

		if (t == T_RBRACE)
			break;
		if (t == T_SEMI)
			continue;
		if (t != T_WORD || (strcasecmp(ps->x.buf, "ip") &&
				    strcasecmp(ps->x.buf, "ipv4") &&
				    strcasecmp(ps->x.buf, "ipv6")) ||
		    next(&ps->x) != T_EQ || next(&ps->x) != T_LBRACE)
			return err_at(ps, "%s", "DirAddresses: want ip|ipv4|ipv6 = { addr = ...; port = ... }");
		for (;;) {
			char k[64];

			t = next(&ps->x);
			if (t == T_RBRACE)
				break;
			if (t == T_SEMI)
				continue;
			if (t != T_WORD)
				return err_at(ps, "%s", "DirAddresses: bad item");
			normalize(ps->x.buf, k, sizeof(k));
			t = next(&ps->x);
			if (t != T_EQ || ((t = next(&ps->x)) != T_WORD && t != T_STRING))
				return err_at(ps, "%s", "DirAddresses: bad item");
			if (!strcmp(k, "addr")) {
				if (strlen(list) + strlen(ps->x.buf) + 3 > sizeof(list))
					return err_at(ps, "%s", "DirAddresses: too many");
				if (*list)
					strcat(list, ", ");
				strcat(list, ps->x.buf);
			} else if (!strcmp(k, "port")) {
				if (*port && strcmp(port, ps->x.buf))
					return err_at(ps, "%s", "DirAddresses: one port for all addresses");
				unsigned int pn;
				if (strlen(ps->x.buf) >= sizeof(port) ||
				    parse_uint(ps->x.buf, 65535, &pn))
					return err_at(ps, "%s", "DirAddresses: bad port");
				memcpy(port, ps->x.buf, strlen(ps->x.buf) + 1);
			} else {
				return err_at(ps, "DirAddresses: unknown \"%s\"", k);
			}
		}
	}
	if (*list && set_str(&ps->c->listen_address, list))
		return -1;
	if (*port && conf_global_key(ps->c, "listen_port", port))
		return err_at(ps, "%s", "DirAddresses: bad port");
	return 0;
}

static int director_item(struct parser *ps, const char *k, const char *v)
{
	struct authd_conf *c = ps->c;
	int r;

	if (!strcmp(k, "name"))
		return set_str(&c->director_name, v);
	if (!strcmp(k, "password")) {
		/* the default console (bconsole's Director password) */
		struct console_conf *cc = (struct console_conf *)
			conf_console(c, DEFAULT_CONSOLE);

		if (!cc && !(cc = conf_add_console(c, DEFAULT_CONSOLE, ps->x.path,
						   ps->x.ln, ps->x.err, ps->x.errlen)))
			return -3;
		return conf_password_key(v, &cc->key);
	}
	if (!strcmp(k, "dirport")) {
		unsigned int port;

		if (parse_uint(v, 65535, &port))
			return -1;
		return conf_global_key(c, "listen_port", v);
	}
	/* bconsole.conf names the director's address "Address" */
	if (!strcmp(k, "diraddress") || !strcmp(k, "address"))
		return set_str(&c->listen_address, v);
	if (!strcmp(k, "maximumconsoleconnections"))
		return conf_global_key(c, "max_connections", v);
	if (!strcmp(k, "tlsenable") || !strcmp(k, "tlsrequire")) {
		bool b;

		if (parse_bool(v, &b))
			return -1;
		if (!strcmp(k, "tlsenable"))
			ps->tls_enable = b;
		else
			ps->tls_require = b;
		return 0;
	}
	if (!strcmp(k, "tlscertificate"))
		return set_str(&c->tls_certificate, v);
	if (!strcmp(k, "tlskey"))
		return set_str(&c->tls_key, v);
	if ((r = own_key(c, k, v)) != -2)
		return r;
	return in(k, director_ignored, N(director_ignored)) ? 0 : -2;
}

static int console_item(struct parser *ps, struct console_conf *cc,
			const char *k, const char *v)
{
	if (!strcmp(k, "password"))
		return conf_password_key(v, &cc->key);
	if (!strcmp(k, "usepamauthentication"))
		return parse_bool(v, &cc->pam);
	if (!strcmp(k, "pamservice"))
		return set_str(&cc->pam_service, v);
	(void)ps;
	return in(k, console_ignored, N(console_ignored)) ? 0 : -2;
}

/* Bareos names: letters, digits and ":.-_/ " (the console's may hold
   spaces: "web admin"). */
static bool bareos_name(const char *s)
{
	if (!*s || strlen(s) > 127)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(":.-_/ ", *s))
			return false;
	return true;
}

static int include(struct parser *ps, const char *pattern);

/*
 * Bareos reads times and sizes as the rest of the line ("Heartbeat
 * Interval = 1 min"): unquoted words that follow a value on its line
 * belong to it, unless they end in '=' (then they are the next directive's
 * name, "Maximum Concurrent Jobs = 10 Dir Port = 9101").  A Name stays one
 * word, as in Bareos.
 */
static void more_words(struct lex *x, char *v, size_t cap)
{
	struct lex look = *x;
	char words[TOKEN_MAX + 1] = "";
	unsigned ln = x->ln;
	size_t n = 0;
	enum tok t;

	while ((t = next(&look)) == T_WORD && look.ln == ln) {
		if (strlen(words) + strlen(look.buf) + 2 > sizeof(words))
			return;
		if (n++)
			strcat(words, " ");
		strcat(words, look.buf);
	}
	if (!n || (t == T_EQ && look.ln == ln) ||
	    strlen(v) + strlen(words) + 2 > cap)
		return;
	for (size_t i = 0; i < n; i++)
		next(x);		/* the same words again */
	strcat(v, " ");
	strcat(v, words);
}

/* One resource, its name read; the '{' next. */
static int resource(struct parser *ps, const char *rtype)
{
	char k[64], kraw[TOKEN_MAX + 1], v[TOKEN_MAX + 1];
	bool director = !strcasecmp(rtype, "Director");
	bool console = !strcasecmp(rtype, "Console");
	bool user = !strcasecmp(rtype, "User");	/* who may log in by PAM */
	struct console_conf tmp = { 0 };
	unsigned start = ps->x.ln;
	int rc = -1;

	if (next(&ps->x) != T_LBRACE)
		return err_at(ps, "expected '{' after %s", rtype);
	if (!director && !console && !user)
		return skip_block(ps);		/* Job, Client, Profile, ... */
	if (director && ps->had_director)
		return err_at(ps, "%s", "a second Director resource");
	ps->had_director |= director;
	for (;;) {
		enum tok t = next(&ps->x);
		int r;

		if (t == T_RBRACE)
			break;
		if (t == T_SEMI)
			continue;
		if (t == T_ERR)
			goto out;
		if (t == T_EOF) {
			err_at(ps, "missing '}' of %s", rtype);
			goto out;
		}
		if (t != T_WORD) {
			err_at(ps, "%s", "expected a directive");
			goto out;
		}
		/* the keyword: words up to '=' */
		snprintf(kraw, sizeof(kraw), "%s", ps->x.buf);
		while ((t = next(&ps->x)) == T_WORD)
			if (strlen(kraw) + strlen(ps->x.buf) + 2 < sizeof(kraw)) {
				strcat(kraw, " ");
				strcat(kraw, ps->x.buf);
			}
		if (t == T_ERR)
			goto out;
		if (t != T_EQ) {
			err_at(ps, "expected '=' after \"%s\"", kraw);
			goto out;
		}
		normalize(kraw, k, sizeof(k));
		t = next(&ps->x);
		if (t == T_LBRACE) {
			if (director && !strcmp(k, "diraddresses")) {
				if (dir_addresses(ps))
					goto out;
			} else if (skip_block(ps)) {
				goto out;
			}
			continue;
		}
		if (t == T_ERR)
			goto out;	/* the lexer said why */
		if (t != T_WORD && t != T_STRING) {
			err_at(ps, "expected a value for \"%s\"", kraw);
			goto out;
		}
		snprintf(v, sizeof(v), "%s", ps->x.buf);
		explicit_bzero(ps->x.buf, sizeof(ps->x.buf));
		if (t == T_WORD && strcmp(k, "name"))	/* a name is one word */
			more_words(&ps->x, v, sizeof(v));
		if (user) {
			/* its Name is all that matters here; Profile,
			   Description and the like are the director's */
			if (!strcmp(k, "name") &&
			    conf_add_pam_user(ps->c, v)) {
				err_at(ps, "bad User Name or too many Users (%s)",
				       "at most 1024");
				goto out;
			}
			continue;
		}
		if (console && !strcmp(k, "name")) {
			if (tmp.name || !bareos_name(v) || set_str(&tmp.name, v)) {
				err_at(ps, "bad or second console Name \"%s\"", v);
				goto out;
			}
			continue;
		}
		r = director ? director_item(ps, k, v) : console_item(ps, &tmp, k, v);
		explicit_bzero(v, sizeof(v));
		if (r == -3)
			goto out;
		if (r == -2) {
			err_at(ps, "unknown directive \"%s\"", kraw);
			goto out;
		}
		if (r) {
			err_at(ps, "bad value for \"%s\"", kraw);
			goto out;
		}
	}
	if (console) {
		struct console_conf *cc;

		if (!tmp.name) {
			seterr(ps->x.err, ps->x.errlen, ps->x.path, start,
			       "%s", "Console without a Name");
			goto out;
		}
		if (!(cc = conf_add_console(ps->c, tmp.name, ps->x.path, start,
					    ps->x.err, ps->x.errlen)))
			goto out;
		cc->key = tmp.key;
		cc->pam = tmp.pam;
		cc->pam_service = tmp.pam_service;
		tmp.key = tmp.pam_service = NULL;
	}
	rc = 0;
out:
	free(tmp.name);
	free(tmp.pam_service);
	if (tmp.key) {
		explicit_bzero(tmp.key, strlen(tmp.key));
		free(tmp.key);
	}
	return rc;
}

static int parse_text(struct parser *ps)
{
	for (;;) {
		char rtype[64];

		switch (next(&ps->x)) {
		case T_EOF:
			return 0;
		case T_INCLUDE:
			if (include(ps, ps->x.buf))
				return -1;
			break;
		case T_WORD:
			if (strlen(ps->x.buf) >= sizeof(rtype))
				return err_at(ps, "unknown resource \"%.40s\"", ps->x.buf);
			memcpy(rtype, ps->x.buf, strlen(ps->x.buf) + 1);
			if (resource(ps, rtype))
				return -1;
			break;
		case T_ERR:
			return -1;
		default:
			return err_at(ps, "%s", "expected a resource (Director { ... })");
		}
	}
}

static int include(struct parser *ps, const char *pattern)
{
	glob_t g;
	int rc = 0;

	if (ps->depth >= INCLUDE_DEPTH_MAX)
		return err_at(ps, "%s", "includes nested too deep");
	if (pattern[0] != '/')
		return err_at(ps, "include \"@%s\" needs an absolute path", pattern);
	switch (glob(pattern, 0, NULL, &g)) {
	case 0:
		break;
	case GLOB_NOMATCH:
		return 0;			/* an empty .d directory */
	default:
		return err_at(ps, "cannot expand \"@%s\"", pattern);
	}
	for (size_t i = 0; i < g.gl_pathc && rc == 0; i++) {
		char *text = conf_read_checked(g.gl_pathv[i],
					       ps->c->read_forbid_mode,
					       ps->x.err, ps->x.errlen);

		if (!text) {
			rc = -1;
			break;
		}
		rc = bconf_parse(g.gl_pathv[i], text, ps->c, ps->x.err,
				 ps->x.errlen, ps->depth + 1);
		explicit_bzero(text, strlen(text));
		free(text);
	}
	globfree(&g);
	return rc;
}

bool bconf_is_bareos(const char *text)
{
	struct lex x = { .p = text, .ln = 1, .path = "", .err = NULL };
	char e[8];
	enum tok t;

	x.err = e;
	x.errlen = sizeof(e);
	t = next(&x);
	if (t == T_INCLUDE)
		return true;
	return t == T_WORD && next(&x) == T_LBRACE;
}

int bconf_parse(const char *path, const char *text, struct authd_conf *c,
		char *err, size_t errlen, int depth)
{
	struct parser ps = {
		.x = { .p = text, .ln = 1, .path = path, .err = err,
		       .errlen = errlen },
		.c = c,
		.depth = depth,
		.tls_enable = -1,
		.tls_require = -1,
	};
	int rc = parse_text(&ps);

	/* As Bareos 18.2 and later: TLS (PSK) on and required unless the
	   Director says TLS Require = no (or TLS Enable = no): then cleartext
	   consoles are accepted too. */
	if (rc == 0 && (ps.tls_enable >= 0 || ps.tls_require >= 0))
		c->tls = (ps.tls_require == 0 || ps.tls_enable == 0) ?
			 TLS_OPTIONAL : TLS_REQUIRED;
	explicit_bzero(ps.x.buf, sizeof(ps.x.buf));
	return rc;
}
