/*
 * internal.h - libpamkit's private structures, shared by lib/ only.
 */
#ifndef PAMKIT_INTERNAL_H
#define PAMKIT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pamkit/pamkit.h"

/*
 * Where a transaction's current operation stands.  Every change goes
 * through txn_set_state() (step.c), which wakes waiters and the fd.
 */
enum txn_state {
	ST_IDLE,	/* no operation; items and env are free to use */
	ST_QUEUED,	/* stepwise: waiting in the pool's FIFO for a worker */
	ST_RUNNING,	/* a PAM call runs (worker or caller thread) */
	ST_CONV,	/* stepwise: a batch waits for pk_reply */
	ST_DONE,	/* stepwise: the final code waits for pk_result */
};

/* An immutable batch; texts live in the same allocation. */
struct pk_batch {
	unsigned int refs;		/* atomic */
	uint64_t seq;
	size_t n;
	struct pk_batch *next_kept;	/* txn->kept list (under txn->mu) */
	struct pk_message v[];
};

/* One array of a msg_list; a grown list keeps its older arrays (prev) until
   it is cleared, so a pointer pk_transcript handed out never dangles. */
struct msg_arr {
	struct msg_arr *prev;
	struct pk_message v[];
};

/* A growable list of messages with owned texts (the transcript). */
struct msg_list {
	struct pk_message *v;		/* arr->v */
	size_t n;
	size_t cap;
	struct msg_arr *arr;
};

struct pk_txn {
	pthread_mutex_t mu;
	pthread_cond_t cond;		/* callers: every state change */
	pthread_cond_t wcond;		/* the conversing worker: reply/cancel */

	enum pk_mode mode;
	unsigned int fork_gen;		/* pk__fork_gen at creation */
	pam_handle_t *pamh;
	struct pam_conv conv;		/* {conv trampoline, this txn} */

	pk_conv_fn user_conv;
	void *conv_data;
	pk_fail_delay_fn delay_cb;
	void *delay_data;
	enum pk_delay_mode delay_mode;
	unsigned int delay_usec;	/* recorded by the hook (last op) */
	unsigned int in_delay_cb;	/* delay_cb calls under way */
	void *userdata;
	unsigned int step_timeout_ms;

	int last_status;
	bool session_open;		/* pam_open_session succeeded */
	bool cred_established;		/* pam_setcred(ESTABLISH) succeeded */

	/* The current operation. */
	enum txn_state state;
	enum pk_op op;
	int flags;
	bool stepwise_op;		/* pk_start (worker) vs pk_call */
	struct pk_opcall chain[PK_CHAIN_MAX];	/* pk_start_chain's rest */
	unsigned int chain_len, chain_next;
	char *get_user_prompt;		/* for PK_OP_GET_USER */
	int result;			/* final code in ST_DONE */
	int interrupted;		/* 0, -ETIMEDOUT, -ECANCELED */
	bool cancel;			/* pk_cancel / pk_txn_end asked */
	bool in_conv;			/* a module waits inside the conversation */
	pthread_t runner;		/* thread inside PAM for this txn */
	bool runner_set;

	/* The pending batch (ST_CONV) and its answer. */
	struct pk_batch *pending;
	uint64_t batch_seq;		/* last seq handed out */
	struct pam_response *replies;	/* handed over by pk_reply */
	bool replied;			/* replies (possibly NULL = fail) given */
	struct pk_batch *kept;		/* batches pk_messages handed out */
	struct msg_list transcript;	/* info/error messages of this op */

	/* Stepwise only. */
	int efd;			/* eventfd: readable when pk_result has news */
	bool fd_used;			/* pk_fd was called: keep efd in step */
	struct pk_txn *q_prev, *q_next;	/* pool FIFO (under the pool lock) */
	bool queued;			/* in the FIFO (under the pool lock) */

	/* Ending. */
	bool ending;			/* pk_txn_end was called */
	bool end_deferred;		/* ... from inside our own PAM call */
	bool orphaned;			/* ... and gave up waiting: the runner
					   tears down and frees */
	unsigned int refs;		/* application + running operation */
};

/* batch.c */
struct pk_batch *pk__batch_new(int n, const struct pam_message **msg);
void pk__kept_free(pk_txn *txn);	/* with txn->mu held */

/* conv.c */
int pk__conversation(int n, const struct pam_message **msg,
		     struct pam_response **resp, void *appdata);
void pk__fail_delay(int retval, unsigned int usec_delay, void *appdata);
void msg_list_clear(struct msg_list *l);
int msg_list_add(struct msg_list *l, int style, const char *text);
void pk__responses_free(struct pam_response *r, size_t n);

/* ops.c */
int pk__check_flags(enum pk_op op, int flags);
int pk__run_op(pk_txn *txn);		/* runs txn->op on this thread */
int pk__pam_start(pk_txn *txn, const struct pk_options *opts);
void pk__teardown(pk_txn *txn);
void pk__op_reset(pk_txn *txn, enum pk_op op, int flags);
void pk__op_next(pk_txn *txn, enum pk_op op, int flags);

/* pool.c */
int pk__pool_submit(pk_txn *txn);	/* txn->mu held; FIFO */
bool pk__pool_withdraw(pk_txn *txn);	/* txn->mu held; true if dequeued */
void pk__pool_after_fork_child(void);
void pk__pool_returning(void);		/* this worker is about to go idle */

/* step.c */
void pk__set_state(pk_txn *txn, enum txn_state st);	/* txn->mu held */
void pk__drain(pk_txn *txn);
void pk__run_stepwise(pk_txn *txn);	/* a worker runs the queued op */
void pk__cancel_for_end(pk_txn *txn);	/* txn->mu held */

/* txn.c */
extern unsigned int pk__fork_gen;	/* atomic; bumped in a fork child */
bool pk__forked(const pk_txn *txn);
void pk__txn_unref(pk_txn *txn);	/* called with txn->mu held; unlocks */
/* A running operation has returned (txn->mu held; unlocks): the teardown
   if the transaction was ended meanwhile, then the operation's reference. */
void pk__op_finished(pk_txn *txn);
void pk__finish_end(pk_txn *txn);	/* teardown + drop the app's ref */

/* *ts = now on clock + ms (a condition variable's deadline). */
void pk__deadline(struct timespec *ts, clockid_t clock, unsigned int ms);

/* Wipe then free a buffer of known size. */
void pk__freezero(void *p, size_t len);

#endif
