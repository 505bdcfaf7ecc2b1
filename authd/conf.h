/* conf.h - pamkit-authd configuration (see docs/pamkit-authd.conf.5). */
#ifndef AUTHD_CONF_H
#define AUTHD_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy.h"

#define CONF_MAX_CONSOLES 64
#define CONF_MAX_PROXY_NETS 32
#define CONF_MAX_USERS 1024
/* The console bconsole uses with the Director's own password. */
#define DEFAULT_CONSOLE "*UserAgent*"

struct console_conf {
	char *name;
	char *key;		/* lowercase md5 hex of the password */
	bool pam;		/* PAM login required after CRAM-MD5 */
	char *pam_service;	/* NULL: the global pam_service */
};

enum tls_mode { TLS_REQUIRED = 0, TLS_OPTIONAL };

struct authd_conf {
	char *director_name;
	char *version;
	char *listen_address;
	char *listen_port;
	char *listen_unix;	/* UNIX socket path or NULL */
	char *pam_service;
	char *pam_confdir;	/* NULL: /etc/pam.d */
	enum tls_mode tls;
	char *tls_certificate;	/* PEM chain: certificate TLS besides PSK */
	char *tls_key;
	unsigned int max_connections;
	unsigned int login_timeout_ms;
	unsigned int idle_timeout_ms;
	unsigned int fail_delay_ms;		/* before PAM (CRAM-MD5, ...) */
	unsigned int pam_fail_delay_min_ms;	/* after PAM: at least this */
	unsigned int step_timeout_ms;
	unsigned int preauth_timeout_ms;	/* TLS, Hello and CRAM-MD5 */
	unsigned int max_unauth_per_source;	/* 0: no limit */
	unsigned int pam_threads;	/* PAM operations running at once */
	unsigned int pam_queue;		/* ... and waiting for a worker */
	bool pam_rhost;			/* set PAM_RHOST to the peer address */
	bool pam_session;		/* also open a session for the login */
	char *pam_tty;			/* PAM_TTY, or NULL (the director: none) */
	/* Balancers whose PROXY header (v1/v2) names the client; from them
	   a header is required, from anyone else it is refused. */
	struct proxy_net proxy_sources[CONF_MAX_PROXY_NETS];
	size_t nproxy_sources;
	char *statistics_listen;	/* "/path" or "127.0.0.1:PORT", or NULL */
	/* PAM users that may log in (the director's User resources); any
	   user PAM accepts only with pam_any_user, an explicit opt-in */
	char *pam_users[CONF_MAX_USERS];
	size_t npam_users;
	bool pam_any_user;
	/* loading: mode bits a file (and its @includes) must not have */
	unsigned int read_forbid_mode;
	struct console_conf consoles[CONF_MAX_CONSOLES];
	size_t nconsoles;
};

/* Parse path into *c (zeroed first, defaults set).  On error returns -1 and
 * writes "path:line: reason" into err. */
int conf_load(const char *path, struct authd_conf *c, char *err, size_t errlen);
void conf_free(struct authd_conf *c);
/* A console's view (pamkit-console -c bconsole.conf): the same parser;
   the file may be group-readable (root:bareos 0640, as Bareos ships it),
   not world-readable nor writable by others. */
int conf_load_client(const char *path, struct authd_conf *c, char *err,
		     size_t errlen);
const struct console_conf *conf_console(const struct authd_conf *c,
					const char *name);
/* "127.0.0.1:9188" or "[::1]:9188" into host and port (a number, 0
   allowed); -1 when it is neither. */
int conf_split_hostport(const char *v, char host[64], char port[8]);
/* May this PAM user log in (a User resource, pam_users, pam_any_user)? */
bool conf_pam_user_allowed(const struct authd_conf *c, const char *user);
/* Add one allowed PAM user; -1 when too many or out of memory. */
int conf_add_pam_user(struct authd_conf *c, const char *user);

#endif
