/* pampool.h - a fixed pool of threads that runs whole direct-PAM (4002)
 * logins on direct-mode libpamkit transactions, and their teardowns.
 *
 * Why: with stepwise transactions every PAM operation is a thread hop to the
 * pinned worker and back, and a logged-in console pins that worker (its
 * stack) for as long as it stays connected.  A 4002 login needs no relaying,
 * so one job runs pam_start, authenticate, acct_mgmt and open_session on a
 * pool thread (one hop), and the open session is then held by a
 * direct-mode transaction that costs no thread at all.  pam_end (with the
 * session close) runs as another job, never on the event loop. */
#ifndef AUTHD_PAMPOOL_H
#define AUTHD_PAMPOOL_H

#include <stdbool.h>
#include <pamkit/pamkit.h>

#include "lines.h"

/* PAM_TTY of every transaction, as sshd sets "ssh" for sessions without a
 * terminal: modules and audit records see what the login came through, and
 * libaudit does not probe fds 0-2 for a tty on each of its records. */
#define AUTHD_PAM_TTY "bareos"

struct pampool;
struct conn;

/* One login (or teardown).  The loop thread owns conn; workers never touch
 * it.  Strings are copies: the connection may go away while the job runs. */
struct pamjob {
	struct pamjob *next;
	bool end_only;			/* just pk_txn_end(txn) */
	struct conn *conn;		/* NULL once the connection is gone */
	/* in */
	const char *service, *confdir;	/* owned by the configuration */
	char rhost[64];
	char ruser[NAME_MAX_LEN + 1];
	char user[PAM_FIELD_MAX + 1];
	char *pass;			/* wiped and freed by the job */
	/* out */
	pk_txn *txn;			/* open session on success */
	int rc;				/* PAM code or negative errno */
	enum pk_op op;			/* operation rc belongs to */
	const char *why;		/* short reason on failure (static) */
};

/* Start n threads; *efd receives the eventfd the loop watches. */
struct pampool *pampool_new(unsigned int n, int *efd);
/* Queue a login job; takes ownership of job.  0 or -1 (stopping). */
int pampool_submit(struct pampool *p, struct pamjob *job);
/* End a transaction on a pool thread (session close, pam_end). */
void pampool_end(struct pampool *p, pk_txn *txn);
/* Take the finished login jobs (loop thread, after the eventfd fired). */
struct pamjob *pampool_done(struct pampool *p);
/* Wipe and free a job (its txn must have been taken or ended). */
void pamjob_free(struct pamjob *job);
/* Run every queued teardown, end the transactions of finished logins
 * nobody collected, stop and join the threads. */
void pampool_free(struct pampool *p);

#endif
