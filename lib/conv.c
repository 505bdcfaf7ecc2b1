/*
 * conv.c - the PAM conversation function libpamkit installs on every handle.
 *
 * Direct mode calls the application's callback on this thread.  Stepwise mode
 * publishes the batch, signals the fd and waits for pk_reply, the step
 * timeout or a cancel.  Either way a failure returns PAM_CONV_ERR with every
 * partial reply wiped and freed, never a half-filled array.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

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

void pk__retired_free(pk_txn *txn)
{
	while (txn->retired) {
		struct msg_retired *next = txn->retired->next;

		msg_list_clear(&txn->retired->l);
		free(txn->retired);
		txn->retired = next;
	}
}

void pk__responses_free(struct pam_response *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		pk_free_secret(r[i].resp);
	pk__freezero(r, n * sizeof(*r));
}

/* Copy PAM's messages into a batch; info/error also go to the transcript. */
static int build_batch(pk_txn *txn, int n, const struct pam_message **msg,
		       struct msg_list *batch)
{
	for (int i = 0; i < n; i++) {
		if (!msg[i])
			return -EINVAL;
		int style = msg[i]->msg_style;
		if (style != PAM_PROMPT_ECHO_OFF && style != PAM_PROMPT_ECHO_ON &&
		    style != PAM_ERROR_MSG && style != PAM_TEXT_INFO)
			return -EINVAL;
		if (msg_list_add(batch, style, msg[i]->msg) < 0)
			return -ENOMEM;
	}
	pthread_mutex_lock(&txn->mu);
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++)
		if (!pk_message_is_prompt(&batch->v[i]))
			rc = msg_list_add(&txn->transcript, batch->v[i].style,
					  batch->v[i].msg);
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

/* Direct mode: run the callback here and turn its strings into responses. */
static int converse_direct(pk_txn *txn, struct msg_list *batch,
			   struct pam_response **resp)
{
	size_t n = batch->n;
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
	pthread_mutex_unlock(&txn->mu);
	if (cancelled || !fn)
		goto out;

	int cb = fn(txn, batch->v, n, replies, data);

	pthread_mutex_lock(&txn->mu);
	txn->in_conv = false;
	pthread_mutex_unlock(&txn->mu);
	if (cb != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (pk_message_is_prompt(&batch->v[i])) {
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

static void deadline_after(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Stepwise mode: hand the batch to the caller and wait for its answer. */
static int converse_stepwise(pk_txn *txn, struct msg_list *batch,
			     struct pam_response **resp)
{
	struct pam_response *r = NULL;
	int rc = PAM_CONV_ERR;
	/* Ready before the batch is out: a timeout or cancel retires it. */
	struct msg_retired *ret = calloc(1, sizeof(*ret));

	if (!ret)
		return PAM_BUF_ERR;
	pthread_mutex_lock(&txn->mu);
	if (txn->cancel) {
		txn->interrupted = -ECANCELED;
		goto out;
	}
	txn->batch = *batch;
	memset(batch, 0, sizeof(*batch));
	txn->replies = NULL;
	txn->replied = false;
	txn->in_conv = true;
	txn->state = ST_CONV;
	pk__signal(txn);

	struct timespec deadline;
	unsigned int timeout = txn->step_timeout_ms;
	if (timeout)
		deadline_after(&deadline, timeout);
	while (!txn->replied && !txn->cancel) {
		if (!timeout) {
			pthread_cond_wait(&txn->cond, &txn->mu);
		} else if (pthread_cond_timedwait(&txn->cond, &txn->mu,
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
	if (txn->replied) {
		*batch = txn->batch;	/* answered: freed by the caller */
	} else {
		/* Timed out or cancelled: whoever read pk_messages may still
		   be reading; the batch lives on until its reader's next
		   pk_reply (or pk_start, pk_txn_end). */
		ret->l = txn->batch;
		ret->next = txn->retired;
		txn->retired = ret;
		ret = NULL;
	}
	memset(&txn->batch, 0, sizeof(txn->batch));
	txn->replies = NULL;
	txn->replied = false;
	txn->in_conv = false;
	if (txn->state == ST_CONV) {	/* timed out or cancelled */
		txn->state = ST_RUNNING;
		pk__drain(txn);
	}
out:
	pthread_mutex_unlock(&txn->mu);
	free(ret);
	if (rc == PAM_SUCCESS)
		*resp = r;
	return rc;
}

int pk__conversation(int n, const struct pam_message **msg,
		     struct pam_response **resp, void *appdata)
{
	pk_txn *txn = appdata;
	struct msg_list batch = { 0 };
	int rc;

	/* Some modules (pam_matrix) pass no resp for messages alone. */
	struct pam_response *unwanted = NULL;
	size_t nmsg = n > 0 ? (size_t)n : 0;

	if (!resp)
		resp = &unwanted;
	if (!txn || !msg || n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	*resp = NULL;
	rc = build_batch(txn, n, msg, &batch);
	if (rc == -ENOMEM) {
		rc = PAM_BUF_ERR;
		goto out;
	}
	if (rc < 0) {
		rc = PAM_CONV_ERR;
		goto out;
	}
	if (txn->mode == PK_MODE_DIRECT)
		rc = converse_direct(txn, &batch, resp);
	else
		rc = converse_stepwise(txn, &batch, resp);
out:
	msg_list_clear(&batch);
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
