/* pampool.h - PAM logins as jobs on direct-mode libpamkit transactions:
 * 4002 on a fixed pool of threads, 4001 on a thread of its own whose
 * conversation the event loop relays; and their teardowns.
 *
 * Why: with libpamkit's stepwise transactions every PAM operation is a
 * thread hop to the pinned worker and back, and a logged-in console pins
 * that worker (its stack) for as long as it stays connected.  Here one job
 * runs pam_start, authenticate, acct_mgmt and open_session (one hop for
 * 4002); the open session is then held by a direct-mode transaction that
 * costs no thread at all, and pam_end (with the session close) runs as a
 * pool job, never on the event loop. */
#ifndef AUTHD_PAMPOOL_H
#define AUTHD_PAMPOOL_H

#include <pthread.h>
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
	bool interactive;		/* 4001: PAM asks, the loop relays */
	const char *service, *confdir;	/* owned by the configuration */
	char rhost[64];
	char ruser[NAME_MAX_LEN + 1];
	char user[PAM_FIELD_MAX + 1];	/* 4002 in; 4001 out (PAM_USER) */
	char *pass;			/* wiped and freed by the job */
	unsigned int step_timeout_ms;	/* 4001: wait for one batch */
	/* 4001 conversation, under the pool's lock */
	struct pampool *pool;
	pthread_cond_t cv;
	const struct pk_message *msgs;	/* the batch PAM waits on, or NULL */
	size_t nmsgs;
	char **answers;			/* PAM's reply array for that batch */
	unsigned int batch;		/* counts batches */
	bool answered, cancelled, in_prompts;
	struct pamjob *pnext;		/* on the prompt list */
	struct pamjob *lnext;		/* loop thread: the list that
					   pampool_prompts returned */
	/* out */
	pk_txn *txn;			/* open session on success */
	int rc;				/* PAM code or negative errno */
	enum pk_op op;			/* operation rc belongs to */
	const char *why;		/* short reason on failure (static) */
};

/* Start n threads; *efd receives the eventfd the loop watches. */
struct pampool *pampool_new(unsigned int n, int *efd);
/* Queue a login job; takes ownership of job.  0 or -1 (stopping).  A
 * 4001 job gets a thread of its own (it waits for a person); the thread
 * ends with the login, so a logged-in console holds none. */
int pampool_submit(struct pampool *p, struct pamjob *job);

/* 4001: the jobs whose PAM conversation waits for the console (loop
 * thread), linked by lnext (never pnext: a job's thread re-links pnext
 * when its next batch comes).  For each, pampool_copy_batch gives the
 * messages (copies). */
struct pamjob *pampool_prompts(struct pampool *p);
/* Copy the batch a job waits on into *msgs (strdup'ed texts, free with
 * pampool_free_batch); returns its count and *batch, or 0 if none. */
size_t pampool_copy_batch(struct pampool *p, struct pamjob *job,
			  struct pk_message **msgs, unsigned int *batch);
void pampool_free_batch(struct pk_message *msgs, size_t n);
/* Hand the answers of that batch to PAM: takes replies[0..n) (each may be
 * NULL); they are wiped and freed if the batch is no longer waiting. */
void pampool_answer(struct pampool *p, struct pamjob *job, unsigned int batch,
		    char **replies, size_t n);
/* Fail the conversation of a running job (client gone, timeout). */
void pampool_cancel(struct pampool *p, struct pamjob *job);
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
