/* bclient.h - blocking client for pamkit-authd (and a Bareos director):
 * TLS-PSK, Hello, CRAM-MD5 both ways, interactive or direct PAM, commands. */
#ifndef AUTHD_BCLIENT_H
#define AUTHD_BCLIENT_H

/* The Bareos console protocol level this client speaks, sent in its Hello
   ("Hello NAME calling version 25.1.0"): TLS-PSK first, PAM (18.2 on). */
#define BCLIENT_BAREOS_VERSION "25.1.0"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results; the CLI uses them as exit statuses. */
enum bc_result {
	BC_OK = 0,
	BC_ERR_USAGE = 1,
	BC_ERR_CONNECT = 2,	/* TCP connect / network */
	BC_ERR_TLS = 3,		/* TLS-PSK handshake (wrong console key?) */
	BC_ERR_CONSOLE = 4,	/* CRAM-MD5 console authentication */
	BC_ERR_PAM = 5,		/* PAM refused the login */
	BC_ERR_PROTOCOL = 6,	/* unexpected data from the server */
	BC_ERR_COMMAND = 7,	/* command failed / not supported */
	BC_ERR_INTERNAL = 8,
};

struct bc_conn;

/* TLS records are written with write(2): callers should ignore SIGPIPE
 * (a closed peer is then a BC_ERR_CONNECT, not a signal). */
struct bc_options {
	const char *host;	/* 127.0.0.1, ::1, or "/path" of a UNIX socket */
	const char *port;	/* 9101 */
	const char *console;	/* named console */
	const char *password;	/* console password, or: */
	const char *key_hex;	/* its MD5 hex (as bconsole.conf's "[md5]") */
	bool tls;		/* TLS-PSK (default in the CLI) */
	int timeout_ms;		/* per read/write; 0: 30000 */
	/* Optional: an SSL_CTX from tlspsk_client_ctx() for this console and
	 * key, shared by many connections (the caller frees it); NULL: each
	 * connection builds its own. */
	void *shared_ssl_ctx;
	/* Optional: certificate TLS instead of TLS-PSK, the server verified
	 * against this PEM CA file and the host name or address. */
	const char *ca_file;
};

/* Answer one prompt: fill answer (cap), return 0; non-zero aborts.
 * echo is false for secrets.  For info text (sent as an echo-on prompt
 * by Bareos) the answer may be empty. */
typedef int (*bc_prompt_fn)(const char *text, bool echo, char *answer,
			    size_t cap, void *arg);

const char *bc_result_str(int r);

/* Connect, TLS-PSK, Hello and CRAM-MD5 both ways. */
int bc_connect(const struct bc_options *o, struct bc_conn **out, char *err,
	       size_t errlen);
/* After bc_connect: true when the server asked for PAM (1001). */
bool bc_pam_required(const struct bc_conn *c);
int bc_pam_interactive(struct bc_conn *c, bc_prompt_fn fn, void *arg);
int bc_pam_direct(struct bc_conn *c, const char *user, const char *pass);
/* Read the 1000/1002 greeting; user gets the logged-in name. */
int bc_greeting(struct bc_conn *c, char *user, size_t cap);
/* Run one command; output lines are appended to *out (malloc'd). */
int bc_command(struct bc_conn *c, const char *cmd, char **out);
/* Send BNET_TERMINATE and close.  NULL is fine. */
void bc_close(struct bc_conn *c);

/* Raw frame I/O for tests and tools. */
int bc_send(struct bc_conn *c, const void *data, size_t n);
int bc_send_signal(struct bc_conn *c, int32_t sig);
/* *data malloc'd (NUL added) or NULL for a signal in *sig. */
int bc_recv(struct bc_conn *c, char **data, size_t *n, int32_t *sig);

#endif
