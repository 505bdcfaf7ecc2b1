/* conn.h - one console connection: I/O buffers, TLS and the login state
 * machine.  Driven by the event loop in main.c. */
#ifndef AUTHD_CONN_H
#define AUTHD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/ssl.h>
#include <pamkit/pamkit.h>

#include "conf.h"
#include "cram.h"
#include "frame.h"
#include "guard.h"
#include "lines.h"
#include "stats.h"

enum conn_state {
	CS_DETECT = 0,		/* waiting for the first byte (TLS or not) */
	CS_TLS_HANDSHAKE,
	CS_HELLO,		/* waiting for "Hello NAME calling" */
	CS_CRAM_RESP,		/* sent our challenge, waiting for the hash */
	CS_CRAM_CHAL,		/* waiting for the console's challenge */
	CS_CRAM_OK,		/* sent our hash, waiting for "1000 OK auth" */
	CS_PAM_MODE,		/* sent 1001, waiting for 4001 / 4002 */
	CS_PAM_RUN,		/* a PAM operation runs on a borrowed worker */
	CS_PAM_PROMPT,		/* relayed a message, waiting for the answer */
	CS_CONSOLE,		/* logged in */
	CS_FAILING,		/* fail delay, then close */
	CS_CLOSING,		/* flush output, then close */
	CS_PROXY,		/* from a trusted balancer: its PROXY header */
};

/* epoll tags so one handler can tell the socket from the PAM fd. */
struct watch {
	int kind;		/* WATCH_LISTEN, WATCH_SOCK, WATCH_SIGNAL, ... */
	struct conn *conn;	/* WATCH_SOCK, WATCH_PAM */
	struct closing *closing;	/* WATCH_CLOSING */
	struct stats_client *sc;	/* WATCH_STATS */
	int fd;			/* listeners */
};
#define WATCH_LISTEN	1
#define WATCH_SOCK	2
#define WATCH_SIGNAL	4
#define WATCH_PAM	5	/* pk_fd of a connection's transaction */
#define WATCH_CLOSING	6	/* pk_fd of a session being closed */
#define WATCH_STATS_LISTEN 7	/* statistics_listen */
#define WATCH_STATS	8	/* a scraper's connection */

struct authd;
struct listener;

/* A gone console's session, closed by a borrowed worker (pamrelay.c). */
struct closing {
	struct watch w;
	pk_txn *txn;
	struct closing *next;
};

/* One loaded configuration; a connection keeps the one it started with
   (SIGHUP loads a new one), the daemon holds the current one. */
struct conf_gen {
	struct authd_conf cf;
	unsigned int refs;
};
struct conf_gen *conf_gen_ref(struct conf_gen *g);
void conf_gen_unref(struct conf_gen *g);

struct conn {
	struct authd *d;
	struct conf_gen *gen;	/* a reference */
	const struct authd_conf *conf;	/* &gen->cf */
	struct conn *prev, *next;
	struct watch w_sock;
	int fd;
	SSL *ssl;
	bool tls;
	bool local;		/* came through the UNIX socket: no PAM_RHOST */
	enum conn_state state;
	uint64_t deadline_ms;	/* 0: none; set through conn_deadline() */
	size_t heap_idx;	/* in d->timers, 1-based; 0: not armed */
	bool unauth_counted;	/* in d->sources until logged in or gone */
	char peer[64];		/* the client (from the PROXY header if any) */
	char via[64];		/* the balancer it came through, or "" */
	/* input: one frame at a time */
	uint8_t in[4 + FRAME_AUTHD_MAX + 1];
	size_t inlen;
	/* output buffer, capped */
	uint8_t *out;
	size_t outlen, outcap;
	uint32_t armed;		/* epoll events currently registered */
	/* login */
	char console[NAME_MAX_LEN + 1];
	const struct console_conf *cc;
	char chal[CRAM_CHAL_MAX];
	bool hello_version;	/* "calling version ...": 18.2+, may do PAM */
	int pam_kind;		/* PAM_LOGIN_INTERACTIVE / DIRECT */
	/* PAM (pamrelay.c) */
	pk_txn *txn;		/* stepwise, from the 4001/4002 frame on */
	struct watch w_pam;	/* its pk_fd in epoll */
	bool pam_watched;
	enum pk_op op;		/* the running (or last) operation */
	pk_batch *batch;	/* 4001 batch being relayed */
	size_t nmsgs, msg_idx;
	char **replies;
	char *pass;		/* 4002 password, until PAM asked for it */
	bool pass_used;
	bool session_open;
	char user[PAM_FIELD_MAX + 1];
	bool logged_in;
	bool bufs_freed;	/* TLS buffers given back after login */
	bool gone;		/* destroyed, waiting in the graveyard */
	bool dead;		/* destroy when the current handler returns */
	bool timed_out;		/* the login deadline passed */
	uint64_t started_ms;
	/* PAM time for the statistics: the client's typing excluded */
	uint64_t pam_started_us, pam_wait_us, prompt_since_us;
};

struct authd {
	struct conf_gen *gen;		/* the current configuration */
	const struct authd_conf *conf;	/* &gen->cf */
	SSL_CTX *ssl_ctx;
	int epfd;
	struct closing *closing;	/* sessions being closed */
	size_t nclosing;
	struct timers timers;		/* connection deadlines */
	struct sources sources;		/* unauthenticated, per address */
	struct log_limit refusals;	/* log lines of refused connections */
	int reserve_fd;			/* given up to accept at EMFILE */
	struct listener *listeners;
	int nlisteners;
	uint64_t accept_paused_until;
	struct conn *conns;
	size_t nconns;
	uint64_t fail_count;
	struct conn *graveyard;
	struct stats stats;
	struct stats_client *stats_clients, *stats_clients_tail;
	struct stats_client *stats_graveyard;
	size_t nstats_clients;
};

uint64_t now_ms(void);
uint64_t now_us(void);
/* Arm (0: disarm) the connection's deadline in the loop's timer heap. */
void conn_deadline(struct conn *c, uint64_t at_ms);
/* Accept-time setup; the conn is already in the list and the socket in
 * epoll.  via: the trusted balancer's address (a PROXY header comes
 * first), or NULL. */
void conn_start(struct conn *c, const char *via);
/* How long TLS, Hello and CRAM-MD5 may take from the accept. */
unsigned int conn_preauth_ms(const struct conn *c);
/* A trusted balancer's PROXY header must be whole this soon. */
#define PROXY_HEADER_TIMEOUT_MS 2000
/* Socket event. */
void conn_on_sock(struct conn *c, uint32_t events);
/* pk_fd of the connection's transaction is readable. */
void conn_on_pam(struct conn *c);
/* A login failed: log why, answer after max(fail_delay_ms, delay_ms). */
void conn_fail(struct conn *c, const char *why, unsigned int delay_ms);
/* PAM said no: after the delay the stack asked for (or the minimum). */
void conn_fail_pam(struct conn *c, const char *why, unsigned int pam_delay_ms);
/* PAM said yes: greet and go to the console state. */
void conn_login_done(struct conn *c);
/* Deadline passed. */
void conn_on_deadline(struct conn *c);
/* Close now: cancels PAM, frees everything, unlinks. */
void conn_destroy(struct conn *c);
/* Free destroyed conns (end of a loop iteration). */
void conn_reap(struct authd *d);

/* conn.c */
void conn_hangup(struct conn *c, const char *why);	/* why NULL: quiet */
/* The console's and the user's names as a log line may show them: both
   come from the client (escaped, log_escape). */
struct lognames {
	char console[LOG_ESCAPED_MAX(NAME_MAX_LEN)];
	char user[LOG_ESCAPED_MAX(PAM_FIELD_MAX)];
};
const struct lognames *conn_names(const struct conn *c, struct lognames *n);
void conn_uncount(struct conn *c);	/* no longer unauthenticated */
/* Refuse the connection at once (no fail delay): a rate-limited log line
   and the statistics' reason. */
void conn_refuse(struct conn *c, enum refusal r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Gone before sending a byte (a health check, a port probe): quiet. */
void conn_gone_empty(struct conn *c);

/* login.c: the login state machine */
void conn_set_state(struct conn *c, enum conn_state st);	/* the one place */
void conn_proxy(struct conn *c);	/* the balancer's PROXY header */
void conn_detect(struct conn *c);	/* TLS or cleartext, first byte */
void conn_handshake(struct conn *c);
void conn_read_frames(struct conn *c);

/* connio.c: buffered frames out, reads in, epoll interest */
int conn_send(struct conn *c, const void *data, size_t n);
int conn_send_str(struct conn *c, const char *s);
int conn_send_signal(struct conn *c, int32_t sig);
int conn_flush(struct conn *c);		/* 0, or -1 when it broke */
ssize_t conn_read(struct conn *c, void *buf, size_t n);
bool conn_reading_state(enum conn_state s);
void conn_rearm(struct conn *c, uint32_t ignored);

/* pamrelay.c */
void pam_login_start(struct conn *c, char *pass);	/* takes pass */
void pam_on_event(struct conn *c);
void pam_relay_next(struct conn *c);
void pam_relay_answer(struct conn *c, const char *data, size_t n);
void pam_login_abort(struct conn *c);
void pam_login_release(struct conn *c);
void pam_closing_done(struct authd *d, struct closing *cl, bool force);

/* console.c: run one command line from a logged-in console. */
void console_command(struct conn *c, const char *cmd, size_t n);

#endif
