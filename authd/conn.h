/* conn.h - one console connection: I/O buffers, TLS and the login state
 * machine.  Driven by the event loop in main.c. */
#ifndef AUTHD_CONN_H
#define AUTHD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include <pamkit/pamkit.h>

#include "conf.h"
#include "cram.h"
#include "frame.h"
#include "lines.h"
#include "pampool.h"

enum conn_state {
	CS_DETECT = 0,		/* waiting for the first byte (TLS or not) */
	CS_TLS_HANDSHAKE,
	CS_HELLO,		/* waiting for "Hello NAME calling" */
	CS_CRAM_RESP,		/* sent our challenge, waiting for the hash */
	CS_CRAM_CHAL,		/* waiting for the console's challenge */
	CS_CRAM_OK,		/* sent our hash, waiting for "1000 OK auth" */
	CS_PAM_MODE,		/* sent 1001, waiting for 4001 / 4002 */
	CS_PAM_RUN,		/* PAM operation running on the worker */
	CS_PAM_PROMPT,		/* relayed a message, waiting for the answer */
	CS_CONSOLE,		/* logged in */
	CS_FAILING,		/* fail delay, then close */
	CS_CLOSING,		/* flush output, then close */
};

/* epoll tags so one handler can tell the socket from the PAM fd. */
struct watch {
	int kind;		/* WATCH_LISTEN, WATCH_SOCK, WATCH_SIGNAL, WATCH_POOL */
	struct conn *conn;
	int fd;			/* listeners */
};
#define WATCH_LISTEN	1
#define WATCH_SOCK	2
#define WATCH_SIGNAL	4
#define WATCH_POOL	5

struct authd;

struct conn {
	struct authd *d;
	struct conn *prev, *next;
	struct watch w_sock;
	int fd;
	SSL *ssl;
	bool tls;
	bool local;		/* came through the UNIX socket: no PAM_RHOST */
	enum conn_state state;
	uint64_t deadline_ms;
	char peer[64];
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
	int pam_kind;		/* PAM_LOGIN_INTERACTIVE / DIRECT */
	struct pamjob *job;	/* direct login running on the pool */
	pk_txn *txn;		/* direct-mode, holds the session */
	enum pk_op op;
	struct pk_message *msgs;	/* 4001 batch being relayed (copies) */
	unsigned int batch;
	size_t nmsgs, msg_idx;
	char **replies;
	char user[PAM_FIELD_MAX + 1];
	bool logged_in;
	bool bufs_freed;	/* TLS buffers given back after login */
	bool gone;		/* destroyed, waiting in the graveyard */
	bool dead;		/* destroy when the current handler returns */
	uint64_t started_ms;
};

struct authd {
	const struct authd_conf *conf;
	SSL_CTX *ssl_ctx;
	struct pampool *pool;
	int epfd;
	struct conn *conns;
	size_t nconns;
	uint64_t fail_count;
	struct conn *graveyard;
};

uint64_t now_ms(void);
/* Accept-time setup; the conn is already in the list and the socket in
 * epoll.  */
void conn_start(struct conn *c);
/* Socket event. */
void conn_on_sock(struct conn *c, uint32_t events);
/* The pool's eventfd fired: relay 4001 batches, finish the logins. */
void conn_on_pool(struct authd *d);
/* Deadline passed. */
void conn_on_deadline(struct conn *c);
/* Close now: cancels PAM, frees everything, unlinks. */
void conn_destroy(struct conn *c);
/* Free destroyed conns (end of a loop iteration). */
void conn_reap(struct authd *d);

/* Used by console.c */
int conn_send(struct conn *c, const void *data, size_t n);
int conn_send_str(struct conn *c, const char *s);
int conn_send_signal(struct conn *c, int32_t sig);

/* console.c: run one command line from a logged-in console. */
void console_command(struct conn *c, const char *cmd, size_t n);

#endif
