/*
 * step.c - the stepwise engine: the pinned worker's job loop and the
 * caller's start/result/reply, with an eventfd that is readable exactly when
 * pk_result has news.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define WAIT_SLICE_MS 50

void pk__signal(pk_txn *txn)
{
	uint64_t one = 1;

	if (txn->efd >= 0 && write(txn->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, still readable. */
	}
}

void pk__drain(pk_txn *txn)
{
	uint64_t v;

	if (txn->efd >= 0 && read(txn->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing was pending. */
	}
}

/* Runs on the bound worker until the transaction has been ended. */
void pk__worker_serve(pk_txn *txn)
{
	pthread_mutex_lock(&txn->mu);
	for (;;) {
		while (txn->job == JOB_NONE)
			pthread_cond_wait(&txn->cond, &txn->mu);
		enum txn_job job = txn->job;
		txn->job = JOB_NONE;
		pthread_mutex_unlock(&txn->mu);

		int rc = PAM_SUCCESS;
		if (job == JOB_START)
			rc = pk__pam_start(txn, txn->start_opts);
		else if (job == JOB_OP)
			rc = pk__run_op(txn);
		else
			pk__teardown(txn);

		pthread_mutex_lock(&txn->mu);
		if (job == JOB_START) {
			txn->start_rc = rc;
			txn->started = true;
		} else if (job == JOB_OP) {
			txn->result = rc;
			txn->state = ST_DONE;
			pk__signal(txn);
			if (txn->ending)
				txn->job = JOB_END;
		} else {
			txn->ended = true;
			txn->state = ST_IDLE;
			pthread_cond_broadcast(&txn->cond);
			pk__txn_unref(txn);	/* unlocks */
			return;
		}
		pthread_cond_broadcast(&txn->cond);
	}
}

static int check_stepwise(pk_txn *txn)
{
	if (!txn)
		return -EINVAL;
	return txn->mode == PK_MODE_STEPWISE ? 0 : -EINVAL;
}

int pk_start(pk_txn *txn, enum pk_op op, int flags)
{
	int rc = check_stepwise(txn);

	if (rc)
		return rc;
	if ((rc = pk__check_flags(op, flags)))
		return rc;
	pthread_mutex_lock(&txn->mu);
	if (txn->ending)
		rc = -EINVAL;
	else if (txn->state != ST_IDLE)
		rc = -EBUSY;
	if (rc == 0) {
		pk__op_reset(txn, op, flags);
		pk__retired_free(txn);
		pk__drain(txn);
		txn->state = ST_RUNNING;
		txn->job = JOB_OP;
		pthread_cond_broadcast(&txn->cond);
	}
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

int pk_result(pk_txn *txn)
{
	int rc = check_stepwise(txn);

	if (rc)
		return rc;
	pthread_mutex_lock(&txn->mu);
	switch (txn->state) {
	case ST_IDLE:
		rc = -EINVAL;
		break;
	case ST_RUNNING:
		rc = -EAGAIN;
		break;
	case ST_CONV:
		rc = PAM_CONV_AGAIN;
		break;
	case ST_DONE:
		rc = txn->result;
		txn->state = ST_IDLE;
		pthread_cond_broadcast(&txn->cond);	/* blocking callers queue */
		break;
	}
	pk__drain(txn);
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

int pk_wait(pk_txn *txn, int timeout_ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int rc = pk_result(txn);
		if (rc != -EAGAIN)
			return rc;
		int left = -1;
		if (timeout_ms >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long spent = (now.tv_sec - start.tv_sec) * 1000L +
				     (now.tv_nsec - start.tv_nsec) / 1000000L;
			if (spent >= timeout_ms)
				return -ETIMEDOUT;
			left = timeout_ms - (int)spent;
		}
		/* Another consumer's pk_result may drain the eventfd between
		   ours and this poll: never sleep on it longer than a slice. */
		if (left < 0 || left > WAIT_SLICE_MS)
			left = WAIT_SLICE_MS;
		struct pollfd p = { .fd = txn->efd, .events = POLLIN };
		if (poll(&p, 1, left) < 0 && errno != EINTR)
			return -errno;
	}
}

const struct pk_message *pk_messages(pk_txn *txn, size_t *n)
{
	const struct pk_message *v = NULL;
	size_t count = 0;

	if (txn) {
		pthread_mutex_lock(&txn->mu);
		if (txn->state == ST_CONV && !txn->replied) {
			v = txn->batch.v;
			count = txn->batch.n;
		}
		pthread_mutex_unlock(&txn->mu);
	}
	if (n)
		*n = count;
	return v;
}

static bool batch_has_prompt(const struct msg_list *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (pk_message_is_prompt(&b->v[i]))
			return true;
	return false;
}

int pk_reply(pk_txn *txn, const char *const *replies, size_t n)
{
	struct pam_response *r = NULL;
	int rc = check_stepwise(txn);

	if (rc)
		return rc;
	pthread_mutex_lock(&txn->mu);
	pk__retired_free(txn);	/* the caller is done with any older batch */
	if (txn->state != ST_CONV || txn->replied) {
		rc = txn->interrupted ? txn->interrupted : -EINVAL;
		goto out;
	}
	if (txn->busy_owner_set) {
		/* A blocking call's callback is reading this batch on its own
		   thread: an answer from here would free it under it. */
		rc = -EBUSY;
		goto out;
	}
	size_t want = txn->batch.n;
	if (n != want && !(n == 0 && !replies && !batch_has_prompt(&txn->batch))) {
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
		if (!pk_message_is_prompt(&txn->batch.v[i]) || !replies[i])
			continue;
		r[i].resp = strdup(replies[i]);
		if (!r[i].resp) {
			pk__responses_free(r, want);
			r = NULL;
			rc = -ENOMEM;
			goto out;
		}
	}
	txn->replies = r;
	txn->replied = true;
	txn->state = ST_RUNNING;	/* the batch is answered: no stale replay */
	pk__drain(txn);
	pthread_cond_broadcast(&txn->cond);
out:
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

/* Blocking-call helper: fail the pending conversation (PAM_CONV_ERR) or hand
   over responses the library already owns. */
int pk__reply_owned(pk_txn *txn, struct pam_response *r)
{
	int rc = 0;

	pthread_mutex_lock(&txn->mu);
	pk__retired_free(txn);
	if (txn->state != ST_CONV || txn->replied) {
		rc = -EINVAL;
		pk__responses_free(r, txn->batch.n);
	} else {
		txn->replies = r;
		txn->replied = true;
		txn->state = ST_RUNNING;
		pk__drain(txn);
		pthread_cond_broadcast(&txn->cond);
	}
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

int pk_begin(pk_txn *txn, enum pk_op op, int flags)
{
	int rc = pk_start(txn, op, flags);

	return rc ? rc : pk_wait(txn, -1);
}

int pk_answer(pk_txn *txn, const char *const *replies, size_t n)
{
	int rc = pk_reply(txn, replies, n);

	return rc ? rc : pk_wait(txn, -1);
}

int pk_fd(pk_txn *txn)
{
	return (txn && txn->mode == PK_MODE_STEPWISE) ? txn->efd : -1;
}

int pk_cancel(pk_txn *txn)
{
	int rc = 0;

	if (!txn)
		return -EINVAL;
	pthread_mutex_lock(&txn->mu);
	if (txn->state == ST_RUNNING || txn->state == ST_CONV) {
		txn->cancel = true;
		/* Like an answer, a cancel withdraws the pending batch at once:
		   pk_result must not report it again while the worker has yet
		   to wake.  The worker retires it when it does; it is freed at
		   this caller's next pk_reply, pk_start or pk_txn_end. */
		if (txn->state == ST_CONV) {
			txn->state = ST_RUNNING;
			pk__drain(txn);
		}
		pthread_cond_broadcast(&txn->cond);
	} else {
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

int pk_txn_interrupted(pk_txn *txn)
{
	int rc;

	if (!txn)
		return -EINVAL;
	pthread_mutex_lock(&txn->mu);
	rc = txn->interrupted;
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

const struct pk_message *pk_transcript(pk_txn *txn, size_t *n)
{
	const struct pk_message *v = NULL;
	size_t count = 0;

	if (txn) {
		pthread_mutex_lock(&txn->mu);
		/* Stable while nothing runs or the module waits in conv. */
		if (txn->state != ST_RUNNING || txn->in_conv ||
		    txn->mode == PK_MODE_DIRECT) {
			v = txn->transcript.v;
			count = txn->transcript.n;
		}
		pthread_mutex_unlock(&txn->mu);
	}
	if (n)
		*n = count;
	return v;
}
