/*
 * conv.c - the PAM conversation function libpamkit installs on every handle.
 *
 * A blocking call runs the application's callback on its own thread.  A
 * stepwise operation (on its borrowed worker) publishes the batch, signals
 * the caller and waits for pk_reply, the step timeout or a cancel.  Either
 * way a failure returns PAM_CONV_ERR with every partial reply wiped and
 * freed, never a half-filled array.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "spin.h"

void msg_list_clear(struct msg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((char *)l->v[i].msg);
	while (l->arr) {
		struct msg_arr *prev = l->arr->prev;

		free(l->arr);
		l->arr = prev;
	}
	l->v = NULL;
	l->n = l->cap = 0;
}

int msg_list_add(struct msg_list *l, int style, const char *text)
{
	if (l->n == l->cap) {
		/* Never realloc: a reader may still walk the old array (the
		   transcript grows while pk_transcript's pointer is out). */
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct msg_arr *a = malloc(sizeof(*a) + cap * sizeof(a->v[0]));
		if (!a)
			return -ENOMEM;
		if (l->n)
			memcpy(a->v, l->v, l->n * sizeof(a->v[0]));
		a->prev = l->arr;
		l->arr = a;
		l->v = a->v;
		l->cap = cap;
	}
	char *copy = strdup(text ? text : "");
	if (!copy)
		return -ENOMEM;
	l->v[l->n].style = style;
	l->v[l->n].msg = copy;
	l->n++;
	return 0;
}

bool pk_message_is_prompt(const struct pk_message *m)
{
	return m && (m->style == PAM_PROMPT_ECHO_OFF ||
		     m->style == PAM_PROMPT_ECHO_ON);
}

void pk__responses_free(struct pam_response *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		pk_free_secret(r[i].resp);
	pk__freezero(r, n * sizeof(*r));
}

/* Check PAM's messages and copy info/error texts to the transcript. */
static int check_and_log(pk_txn *txn, int n, const struct pam_message **msg)
{
	int rc = 0;

	for (int i = 0; i < n; i++) {
		if (!msg[i])
			return -EINVAL;
		int style = msg[i]->msg_style;
		if (style != PAM_PROMPT_ECHO_OFF && style != PAM_PROMPT_ECHO_ON &&
		    style != PAM_ERROR_MSG && style != PAM_TEXT_INFO)
			return -EINVAL;
	}
	pthread_mutex_lock(&txn->mu);
	for (int i = 0; i < n && rc == 0; i++)
		if (msg[i]->msg_style == PAM_ERROR_MSG ||
		    msg[i]->msg_style == PAM_TEXT_INFO)
			rc = msg_list_add(&txn->transcript, msg[i]->msg_style,
					  msg[i]->msg);
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

/* A blocking call: run the application's callback here, on its thread. */
static int converse_callback(pk_txn *txn, const struct pk_batch *b,
			     struct pam_response **resp)
{
	size_t n = b->n;
	char **replies = calloc(n, sizeof(*replies));
	struct pam_response *r = calloc(n, sizeof(*r));
	int rc = PAM_CONV_ERR;

	if (!replies || !r) {
		rc = PAM_BUF_ERR;
		goto out;
	}
	pthread_mutex_lock(&txn->mu);
	bool cancelled = txn->cancel;
	pk_conv_fn fn = txn->user_conv;
	void *data = txn->conv_data;
	txn->in_conv = !cancelled;
	if (cancelled)
		txn->interrupted = -ECANCELED;
	pthread_mutex_unlock(&txn->mu);
	if (cancelled || !fn)
		goto out;

	int cb = fn(txn, b->v, n, replies, data);

	pthread_mutex_lock(&txn->mu);
	txn->in_conv = false;
	/* pk_txn_end from inside the callback: its answers go nowhere. */
	if (txn->cancel) {
		txn->interrupted = -ECANCELED;
		cb = -1;
	}
	pthread_mutex_unlock(&txn->mu);
	if (cb != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (pk_message_is_prompt(&b->v[i])) {
			r[i].resp = replies[i];
			replies[i] = NULL;
		}
	}
	*resp = r;
	r = NULL;
	rc = PAM_SUCCESS;
out:
	if (replies) {
		for (size_t i = 0; i < n; i++)
			pk_free_secret(replies[i]);
		free(replies);
	}
	pk__responses_free(r, n);
	return rc;
}

void pk__deadline(struct timespec *ts, clockid_t clock, unsigned int ms)
{
	clock_gettime(clock, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool answered_or_cancelled(const void *arg)
{
	const pk_txn *txn = arg;

	return __atomic_load_n(&txn->replied, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&txn->cancel, __ATOMIC_ACQUIRE);
}

/*
 * A stepwise operation on its borrowed worker: publish the batch, wake the
 * caller and wait for pk_reply, the step timeout or a cancel.  Takes the
 * reference to b.
 */
static int converse_stepwise(pk_txn *txn, struct pk_batch *b,
			     struct pam_response **resp)
{
	struct pam_response *r = NULL;
	int rc = PAM_CONV_ERR;

	pthread_mutex_lock(&txn->mu);
	if (txn->cancel) {
		txn->interrupted = -ECANCELED;
		pk_batch_unref(b);
		goto out;
	}
	b->seq = ++txn->batch_seq;
	txn->pending = b;
	txn->replies = NULL;
	__atomic_store_n(&txn->replied, false, __ATOMIC_RELEASE);
	txn->in_conv = true;
	pk__set_state(txn, ST_CONV);

	struct timespec deadline;
	unsigned int timeout = txn->step_timeout_ms;
	if (timeout)
		pk__deadline(&deadline, CLOCK_MONOTONIC, timeout);
	/* A thread that answers at once is cheaper to wait for on the CPU
	   than to be woken by (spin.h); a remote user is not. */
	if (!txn->fd_used) {
		pthread_mutex_unlock(&txn->mu);
		pk__spin_until(answered_or_cancelled, txn);
		pthread_mutex_lock(&txn->mu);
	}
	while (!txn->replied && !txn->cancel) {
		if (!timeout) {
			pthread_cond_wait(&txn->wcond, &txn->mu);
		} else if (pthread_cond_timedwait(&txn->wcond, &txn->mu,
						  &deadline) == ETIMEDOUT &&
			   !txn->replied && !txn->cancel) {
			txn->interrupted = -ETIMEDOUT;
			break;
		}
	}
	if (txn->cancel && !txn->replied)
		txn->interrupted = -ECANCELED;
	if (txn->replied && txn->replies) {
		r = txn->replies;
		rc = PAM_SUCCESS;
	}
	/* Readers hold their own references: dropping ours frees nothing
	   under them. */
	pk_batch_unref(txn->pending);
	txn->pending = NULL;
	txn->replies = NULL;
	__atomic_store_n(&txn->replied, false, __ATOMIC_RELEASE);
	txn->in_conv = false;
	if (txn->state == ST_CONV)	/* timed out: withdraw it */
		pk__set_state(txn, ST_RUNNING);
out:
	pthread_mutex_unlock(&txn->mu);
	if (rc == PAM_SUCCESS)
		*resp = r;
	return rc;
}

int pk__conversation(int n, const struct pam_message **msg,
		     struct pam_response **resp, void *appdata)
{
	pk_txn *txn = appdata;
	struct pk_batch *b;
	int rc;

	/* Some modules (pam_matrix) pass no resp for messages alone. */
	struct pam_response *unwanted = NULL;
	size_t nmsg = n > 0 ? (size_t)n : 0;

	if (!resp)
		resp = &unwanted;
	if (!txn || !msg || n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	*resp = NULL;
	rc = check_and_log(txn, n, msg);
	if (rc == -ENOMEM)
		return PAM_BUF_ERR;
	if (rc < 0)
		return PAM_CONV_ERR;
	if (!(b = pk__batch_new(n, msg)))
		return PAM_BUF_ERR;
	if (txn->stepwise_op) {
		rc = converse_stepwise(txn, b, resp);	/* takes b */
	} else {
		rc = converse_callback(txn, b, resp);
		pk_batch_unref(b);
	}
	pk__responses_free(unwanted, nmsg);
	return rc;
}

void pk__fail_delay(int retval, unsigned int usec_delay, void *appdata)
{
	pk_txn *txn = appdata;
	pk_fail_delay_fn cb;
	void *data;

	if (!txn)
		return;
	/* pk_txn_end may have given up on a busy worker and returned: its
	   caller then frees delay_data, so read the callback under the lock
	   (pk_txn_end clears it) and let pk_txn_end wait for a call under
	   way. */
	pthread_mutex_lock(&txn->mu);
	txn->delay_usec = retval == PAM_SUCCESS ? 0 : usec_delay;
	cb = txn->delay_cb;
	data = txn->delay_data;
	if (cb)
		txn->in_delay_cb++;
	pthread_mutex_unlock(&txn->mu);
	if (!cb)
		return;
	cb(txn, retval, usec_delay, data);
	pthread_mutex_lock(&txn->mu);
	txn->in_delay_cb--;
	pthread_cond_broadcast(&txn->cond);
	pthread_mutex_unlock(&txn->mu);
}
