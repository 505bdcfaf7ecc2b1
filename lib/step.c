/*
 * step.c - the stepwise engine: pk_start hands one operation to a borrowed
 * worker; the caller follows it with pk_result/pk_wait/pk_reply, or with an
 * eventfd that is readable exactly when pk_result has news.
 *
 *   IDLE --pk_start--> QUEUED --worker--> RUNNING --conv--> CONV
 *   CONV --pk_reply/cancel/timeout--> RUNNING --op returns--> DONE
 *   DONE --pk_result--> IDLE
 *
 * Every state change goes through pk__set_state().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "spin.h"

static void signal_fd(pk_txn *txn)
{
	uint64_t one = 1;

	if (txn->fd_used && write(txn->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, still readable. */
	}
}

void pk__drain(pk_txn *txn)
{
	uint64_t v;

	if (txn->fd_used && read(txn->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing was pending. */
	}
}

/*
 * The fd becomes readable when a batch or the final code arrives and is
 * drained when pk_result reports it or the state moves on: readable
 * exactly when pk_result has news (level-triggered loops never spin).
 */
void pk__set_state(pk_txn *txn, enum txn_state st)
{
	/* Atomic: pk_wait's spin reads it without the lock. */
	__atomic_store_n(&txn->state, st, __ATOMIC_RELEASE);
	if (st == ST_CONV || st == ST_DONE)
		signal_fd(txn);
	else
		pk__drain(txn);
	pthread_cond_broadcast(&txn->cond);
}

/* On a pool worker: run the queued operation, post its result. */
void pk__run_stepwise(pk_txn *txn)
{
	int rc;

	pthread_mutex_lock(&txn->mu);
	if (txn->cancel) {
		/* Cancelled while queued but already taken off the FIFO. */
		txn->interrupted = -ECANCELED;
		rc = PAM_CONV_ERR;
	} else {
		pk__set_state(txn, ST_RUNNING);
		txn->runner = pthread_self();
		txn->runner_set = true;
		pthread_mutex_unlock(&txn->mu);
		rc = pk__run_op(txn);
		pthread_mutex_lock(&txn->mu);
		/* pk_start_chain: the next operation after a success, unless
		   cancelled or ended meanwhile; the transcript keeps all of
		   theirs */
		while (rc == PAM_SUCCESS && txn->chain_next < txn->chain_len) {
			const struct pk_opcall *c;

			if (__atomic_load_n(&txn->cancel, __ATOMIC_ACQUIRE) ||
			    txn->ending) {
				/* cut short: fail closed, never a success
				   for a chain whose rest did not run */
				txn->interrupted = -ECANCELED;
				rc = PAM_CONV_ERR;
				break;
			}
			c = &txn->chain[txn->chain_next++];
			pk__op_next(txn, c->op, c->flags);
			pthread_mutex_unlock(&txn->mu);
			rc = pk__run_op(txn);
			pthread_mutex_lock(&txn->mu);
		}
		txn->runner_set = false;
	}
	txn->chain_len = txn->chain_next = 0;
	txn->result = rc;
	pk__pool_returning();	/* the next pk_start need not spawn */
	pk__set_state(txn, ST_DONE);
	pk__op_finished(txn);
}

static int check_stepwise(pk_txn *txn)
{
	if (!txn)
		return -EINVAL;
	if (pk__forked(txn))
		return -ECHILD;
	return txn->mode == PK_MODE_STEPWISE ? 0 : -EINVAL;
}

int pk_start(pk_txn *txn, enum pk_op op, int flags)
{
	return pk_start_chain(txn, &(struct pk_opcall){ op, flags }, 1);
}

int pk_start_chain(pk_txn *txn, const struct pk_opcall *ops, size_t n)
{
	int rc = check_stepwise(txn);

	if (rc)
		return rc;
	if (!ops || n == 0 || n > PK_CHAIN_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if ((rc = pk__check_flags(ops[i].op, ops[i].flags)))
			return rc;
		/* get_user has its own prompt argument; not in a chain */
		if (n > 1 && ops[i].op == PK_OP_GET_USER)
			return -EINVAL;
	}
	pthread_mutex_lock(&txn->mu);
	if (txn->ending)
		rc = -EINVAL;
	else if (txn->state != ST_IDLE)
		rc = -EBUSY;
	if (rc == 0) {
		pk__op_reset(txn, ops[0].op, ops[0].flags);
		pk__kept_free(txn);
		memcpy(txn->chain, ops + 1, (n - 1) * sizeof(*ops));
		txn->chain_len = (unsigned int)(n - 1);
		txn->chain_next = 0;
		txn->stepwise_op = true;
		txn->refs++;			/* the operation's reference */
		rc = pk__pool_submit(txn);
		if (rc == 0) {
			pk__set_state(txn, ST_QUEUED);
		} else {
			txn->refs--;
			txn->stepwise_op = false;
			txn->chain_len = 0;
		}
	}
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

enum pk_op pk_txn_op(pk_txn *txn)
{
	enum pk_op op;

	if (!txn || pk__forked(txn))
		return 0;	/* a child never takes a lock the parent had */
	pthread_mutex_lock(&txn->mu);
	op = txn->op;
	pthread_mutex_unlock(&txn->mu);
	return op;
}

/* With txn->mu held.  Reporting a batch consumes the fd's news; reporting
   the final code drains it through the state change. */
static int result_locked(pk_txn *txn)
{
	switch (txn->state) {
	case ST_IDLE:
		return -EINVAL;
	case ST_QUEUED:
	case ST_RUNNING:
		return -EAGAIN;
	case ST_CONV:
		pk__drain(txn);
		return PAM_CONV_AGAIN;
	case ST_DONE:
	default:
		txn->stepwise_op = false;
		pk__set_state(txn, ST_IDLE);	/* blocking callers queue */
		return txn->result;
	}
}

int pk_result(pk_txn *txn)
{
	int rc = check_stepwise(txn);

	if (rc)
		return rc;
	pthread_mutex_lock(&txn->mu);
	rc = result_locked(txn);
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

static bool op_moved_on(const void *arg)
{
	const pk_txn *txn = arg;
	enum txn_state st = __atomic_load_n(&txn->state, __ATOMIC_ACQUIRE);

	return st != ST_RUNNING && st != ST_QUEUED;
}

int pk_wait(pk_txn *txn, int timeout_ms)
{
	struct timespec deadline;
	int rc = check_stepwise(txn);

	if (rc)
		return rc;
	if (timeout_ms >= 0)
		pk__deadline(&deadline, CLOCK_MONOTONIC, (unsigned int)timeout_ms);
	pthread_mutex_lock(&txn->mu);
	if ((rc = result_locked(txn)) == -EAGAIN && timeout_ms != 0) {
		/* The worker is usually a module step away (spin.h). */
		pthread_mutex_unlock(&txn->mu);
		pk__spin_until(op_moved_on, txn);
		pthread_mutex_lock(&txn->mu);
		rc = result_locked(txn);
	}
	/* The condition variable sees every state change: no fd, no poll. */
	while (rc == -EAGAIN) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&txn->cond, &txn->mu);
		} else if (pthread_cond_timedwait(&txn->cond, &txn->mu,
						  &deadline) == ETIMEDOUT) {
			rc = result_locked(txn);
			if (rc == -EAGAIN)
				rc = -ETIMEDOUT;
			break;
		}
		rc = result_locked(txn);
	}
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

static bool batch_has_prompt(const struct pk_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (pk_message_is_prompt(&b->v[i]))
			return true;
	return false;
}

int pk_reply(pk_txn *txn, uint64_t seq, const char *const *replies, size_t n)
{
	struct pam_response *r = NULL;
	int rc = check_stepwise(txn);

	if (rc)
		return rc;
	pthread_mutex_lock(&txn->mu);
	struct pk_batch *b = txn->pending;
	if (txn->state != ST_CONV || txn->replied || !b || b->seq != seq) {
		/* An answer to a batch that is gone must never reach the
		   module's next prompt. */
		rc = (seq != 0 && seq <= txn->batch_seq) ? -ESTALE : -EINVAL;
		goto out;
	}
	size_t want = b->n;
	if (n != want && !(n == 0 && !replies && !batch_has_prompt(b))) {
		rc = -EINVAL;		/* the batch stays pending */
		goto out;
	}
	if (n > 0 && !replies) {
		rc = -EINVAL;
		goto out;
	}
	r = calloc(want, sizeof(*r));
	if (!r) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!pk_message_is_prompt(&b->v[i]) || !replies[i])
			continue;
		r[i].resp = strdup(replies[i]);
		if (!r[i].resp) {
			pk__responses_free(r, want);
			rc = -ENOMEM;
			goto out;
		}
	}
	pk__kept_free(txn);	/* the caller is done with older batches */
	txn->replies = r;
	__atomic_store_n(&txn->replied, true, __ATOMIC_RELEASE);
	pk__set_state(txn, ST_RUNNING);	/* answered: never reported again */
	pthread_cond_signal(&txn->wcond);
out:
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

int pk_begin(pk_txn *txn, enum pk_op op, int flags)
{
	int rc = pk_start(txn, op, flags);

	return rc ? rc : pk_wait(txn, -1);
}

int pk_answer(pk_txn *txn, uint64_t seq, const char *const *replies, size_t n)
{
	int rc = pk_reply(txn, seq, replies, n);

	return rc ? rc : pk_wait(txn, -1);
}

int pk_fd(pk_txn *txn)
{
	if (check_stepwise(txn))
		return -1;
	pthread_mutex_lock(&txn->mu);
	if (!txn->fd_used) {
		/* Blocking users never pay the eventfd writes; the first
		   pk_fd turns them on, in step with the current state. */
		txn->fd_used = true;
		if (txn->state == ST_CONV || txn->state == ST_DONE)
			signal_fd(txn);
	}
	pthread_mutex_unlock(&txn->mu);
	return txn->efd;
}

/* With txn->mu held: what pk_cancel and pk_txn_end share. */
static int cancel_locked(pk_txn *txn)
{
	switch (txn->state) {
	case ST_QUEUED:
		__atomic_store_n(&txn->cancel, true, __ATOMIC_RELEASE);
		if (pk__pool_withdraw(txn)) {
			/* It never ran and never will. */
			txn->interrupted = -ECANCELED;
			txn->result = PAM_CONV_ERR;
			pk__set_state(txn, ST_DONE);
			txn->refs--;	/* the operation's; the app holds one */
		}
		return 0;
	case ST_CONV:
		/* Like an answer, a cancel withdraws the batch at once:
		   pk_result must not report it again before the worker wakes. */
		__atomic_store_n(&txn->cancel, true, __ATOMIC_RELEASE);
		pk__set_state(txn, ST_RUNNING);
		pthread_cond_signal(&txn->wcond);
		return 0;
	case ST_RUNNING:
		__atomic_store_n(&txn->cancel, true, __ATOMIC_RELEASE);
		pthread_cond_signal(&txn->wcond);
		return 0;
	default:
		return -EINVAL;
	}
}

int pk_cancel(pk_txn *txn)
{
	int rc;

	if (!txn)
		return -EINVAL;
	if (pk__forked(txn))
		return -ECHILD;
	pthread_mutex_lock(&txn->mu);
	rc = cancel_locked(txn);
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

/* pk_txn_end's part: cancel whatever runs (txn->mu held). */
void pk__cancel_for_end(pk_txn *txn)
{
	__atomic_store_n(&txn->cancel, true, __ATOMIC_RELEASE);
	cancel_locked(txn);
}

int pk_txn_interrupted(pk_txn *txn)
{
	int rc;

	if (!txn)
		return -EINVAL;
	if (pk__forked(txn))
		return -ECHILD;
	pthread_mutex_lock(&txn->mu);
	rc = txn->interrupted;
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

const struct pk_message *pk_transcript(pk_txn *txn, size_t *n)
{
	const struct pk_message *v = NULL;
	size_t count = 0;

	if (txn && !pk__forked(txn)) {
		pthread_mutex_lock(&txn->mu);
		/* The transcript only grows during an operation and never
		   moves (msg_list_add): (v, n) read together is stable. */
		v = txn->transcript.v;
		count = txn->transcript.n;
		pthread_mutex_unlock(&txn->mu);
	}
	if (n)
		*n = count;
	return v;
}
