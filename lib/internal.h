/*
 * internal.h - libpamkit's private structures, shared by lib/ only.
 */
#ifndef PAMKIT_INTERNAL_H
#define PAMKIT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pamkit/pamkit.h"

/* Where a transaction's current operation stands. */
enum txn_state {
	ST_IDLE,	/* no operation; items and env are free to use */
	ST_RUNNING,	/* a PAM call runs (worker or caller thread) */
	ST_CONV,	/* stepwise: a batch waits for pk_reply */
	ST_DONE,	/* stepwise: the final code waits for pk_result */
};

/* What the caller asks the pinned worker to do next. */
enum txn_job {
	JOB_NONE,
	JOB_START,	/* pam_start and the initial items */
	JOB_OP,		/* run txn->op with txn->flags */
	JOB_END,	/* teardown and pam_end, then leave the transaction */
};

struct pk_worker;

/* One array of a msg_list; a grown list keeps its older arrays (prev) until
   it is cleared, so a pointer pk_transcript handed out never dangles. */
struct msg_arr {
	struct msg_arr *prev;
	struct pk_message v[];
};

/* A growable list of messages with owned texts. */
struct msg_list {
	struct pk_message *v;		/* arr->v */
	size_t n;
	size_t cap;
	struct msg_arr *arr;
};

/* A batch withdrawn by a timeout or a cancel while its reader may still
   hold pk_messages' pointer: freed by the next pk_reply, pk_start or
   pk_txn_end, never by the worker on its own. */
struct msg_retired {
	struct msg_list l;
	struct msg_retired *next;
};

struct pk_txn {
	pthread_mutex_t mu;
	/* Broadcast on every state change; the worker and callers each wait
	   for their own predicate. */
	pthread_cond_t cond;

	enum pk_mode mode;
	pam_handle_t *pamh;
	struct pam_conv conv;		/* {conv trampoline, this txn} */
	const struct pk_options *start_opts; /* only during pk_txn_create */
	int start_rc;

	pk_conv_fn user_conv;
	void *conv_data;
	pk_fail_delay_fn delay_cb;
	void *delay_data;
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
	char *get_user_prompt;		/* for PK_OP_GET_USER */
	int result;			/* final code in ST_DONE */
	int interrupted;		/* 0, -ETIMEDOUT, -ECANCELED */
	bool cancel;			/* pk_cancel / pk_txn_end asked */
	bool in_conv;			/* a module waits inside the conversation */
	pthread_t busy_owner;		/* thread of the running blocking call */
	bool busy_owner_set;

	/* The pending batch (ST_CONV) and its answer. */
	struct msg_list batch;
	struct pam_response *replies;	/* handed over by pk_reply */
	bool replied;			/* replies (possibly NULL = fail) given */
	struct msg_list transcript;	/* info/error messages of this op */
	struct msg_retired *retired;	/* withdrawn batches, see above */

	/* Stepwise only. */
	int efd;			/* eventfd: readable when pk_result has news */
	struct pk_worker *worker;
	enum txn_job job;
	bool started;			/* JOB_START finished */
	bool ending;			/* pk_txn_end was called */
	bool ended;			/* pam_end done, worker gone */
	unsigned int refs;		/* caller + worker */
};

/* conv.c */
int pk__conversation(int n, const struct pam_message **msg,
		     struct pam_response **resp, void *appdata);
void pk__fail_delay(int retval, unsigned int usec_delay, void *appdata);
void msg_list_clear(struct msg_list *l);
int msg_list_add(struct msg_list *l, int style, const char *text);
void pk__responses_free(struct pam_response *r, size_t n);
void pk__retired_free(pk_txn *txn);	/* with txn->mu held */

/* ops.c */
int pk__check_flags(enum pk_op op, int flags);
int pk__run_op(pk_txn *txn);		/* runs txn->op on this thread */
int pk__pam_start(pk_txn *txn, const struct pk_options *opts);
void pk__teardown(pk_txn *txn);
void pk__op_reset(pk_txn *txn, enum pk_op op, int flags);

/* pool.c: a worker runs pk__worker_serve(txn) until the txn is ended. */
int pk__pool_bind(pk_txn *txn);
void pk__worker_serve(pk_txn *txn);

/* step.c */
void pk__signal(pk_txn *txn);
void pk__drain(pk_txn *txn);
void pk__txn_unref(pk_txn *txn);	/* called with txn->mu held; unlocks */
int pk__reply_owned(pk_txn *txn, struct pam_response *r);

/* txn.c */
void pk__txn_free(pk_txn *txn);

/* Wipe then free a buffer of known size. */
void pk__freezero(void *p, size_t len);

#endif
