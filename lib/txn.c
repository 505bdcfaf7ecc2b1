/*
 * txn.c - creating and ending transactions, and the blocking calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* How long pk_txn_end waits for a busy worker before leaving the teardown
   to it (a module blocked without conversing cannot be interrupted). */
#define END_GRACE_MS 2000

void pk__txn_free(pk_txn *txn)
{
	msg_list_clear(&txn->batch);
	msg_list_clear(&txn->transcript);
	pk__retired_free(txn);
	free(txn->get_user_prompt);
	if (txn->efd >= 0)
		close(txn->efd);
	pthread_cond_destroy(&txn->cond);
	pthread_mutex_destroy(&txn->mu);
	pk__freezero(txn, sizeof(*txn));
}

void pk__txn_unref(pk_txn *txn)
{
	bool last = --txn->refs == 0;

	pthread_mutex_unlock(&txn->mu);
	if (last)
		pk__txn_free(txn);
}

int pk_txn_create(const struct pk_options *opts, pk_txn **out)
{
	pk_txn *txn = NULL;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!opts || !opts->service || !*opts->service ||
	    (opts->mode != PK_MODE_DIRECT && opts->mode != PK_MODE_STEPWISE))
		return -EINVAL;
	txn = calloc(1, sizeof(*txn));
	if (!txn)
		return -ENOMEM;
	txn->efd = -1;
	pthread_mutex_init(&txn->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&txn->cond, &ca);
	pthread_condattr_destroy(&ca);
	txn->mode = opts->mode;
	txn->conv.conv = pk__conversation;
	txn->conv.appdata_ptr = txn;
	txn->user_conv = opts->conv;
	txn->conv_data = opts->conv_data;
	txn->delay_cb = opts->fail_delay_cb;
	txn->delay_data = opts->fail_delay_data;
	txn->step_timeout_ms = opts->step_timeout_ms;
	txn->refs = 1;

	if (txn->mode == PK_MODE_DIRECT) {
		rc = pk__pam_start(txn, opts);
		if (rc != PAM_SUCCESS)
			goto fail;
		*out = txn;
		return PAM_SUCCESS;
	}

	txn->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (txn->efd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = pk__pool_bind(txn);
	if (rc < 0)
		goto fail;
	/* From here the worker holds a reference and runs PAM. */
	pthread_mutex_lock(&txn->mu);
	txn->refs = 2;
	txn->start_opts = opts;
	txn->job = JOB_START;
	pthread_cond_broadcast(&txn->cond);
	while (!txn->started)
		pthread_cond_wait(&txn->cond, &txn->mu);
	txn->start_opts = NULL;
	rc = txn->start_rc;
	pthread_mutex_unlock(&txn->mu);
	if (rc != PAM_SUCCESS) {
		pk_txn_end(txn);
		return rc;
	}
	*out = txn;
	return PAM_SUCCESS;
fail:
	pk__txn_free(txn);
	return rc;
}

void pk_txn_end(pk_txn *txn)
{
	if (!txn)
		return;
	if (txn->mode == PK_MODE_DIRECT) {
		pk__teardown(txn);
		pk__txn_free(txn);
		return;
	}
	pthread_mutex_lock(&txn->mu);
	txn->ending = true;
	txn->cancel = true;
	if (txn->state == ST_IDLE || txn->state == ST_DONE)
		txn->job = JOB_END;
	/* else the worker posts JOB_END itself once the operation returns */
	pthread_cond_broadcast(&txn->cond);

	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += END_GRACE_MS / 1000;
	while (!txn->ended)
		if (pthread_cond_timedwait(&txn->cond, &txn->mu, &deadline) ==
		    ETIMEDOUT)
			break;		/* the worker finishes alone */
	/* Either way no callback may reach the caller's data afterwards. */
	txn->delay_cb = NULL;
	txn->user_conv = NULL;
	while (txn->in_delay_cb)
		pthread_cond_wait(&txn->cond, &txn->mu);
	pk__txn_unref(txn);
}

enum pk_mode pk_txn_mode(const pk_txn *txn) { return txn->mode; }
pam_handle_t *pk_txn_handle(pk_txn *txn) { return txn ? txn->pamh : NULL; }
void pk_txn_set_userdata(pk_txn *txn, void *u) { txn->userdata = u; }
void *pk_txn_userdata(const pk_txn *txn) { return txn->userdata; }

int pk_txn_last_status(pk_txn *txn)
{
	pthread_mutex_lock(&txn->mu);
	int rc = txn->last_status;
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

int pk_txn_set_conv(pk_txn *txn, pk_conv_fn conv, void *data)
{
	if (!txn)
		return -EINVAL;
	pthread_mutex_lock(&txn->mu);
	txn->user_conv = conv;
	txn->conv_data = data;
	pthread_mutex_unlock(&txn->mu);
	return 0;
}

int pk_txn_set_step_timeout(pk_txn *txn, unsigned int timeout_ms)
{
	if (!txn)
		return -EINVAL;
	pthread_mutex_lock(&txn->mu);
	txn->step_timeout_ms = timeout_ms;
	pthread_mutex_unlock(&txn->mu);
	return 0;
}

/*
 * Blocking calls from several threads queue on the transaction: wait until
 * no operation runs.  A call from inside this transaction's own callback
 * would wait for itself, so it gets -EBUSY instead.
 */
static int wait_idle(pk_txn *txn)
{
	if (txn->busy_owner_set && pthread_equal(txn->busy_owner, pthread_self()))
		return -EBUSY;
	while (txn->state != ST_IDLE && !txn->ending)
		pthread_cond_wait(&txn->cond, &txn->mu);
	return txn->ending ? -EINVAL : 0;
}

/* Stepwise blocking call: the callback runs here, on the caller's thread. */
static int call_stepwise(pk_txn *txn, enum pk_op op, int flags)
{
	int rc;

	do {
		pthread_mutex_lock(&txn->mu);
		rc = wait_idle(txn);
		pthread_mutex_unlock(&txn->mu);
		if (rc)
			return rc;
		rc = pk_start(txn, op, flags);
	} while (rc == -EBUSY);
	if (rc)
		return rc;
	pthread_mutex_lock(&txn->mu);
	txn->busy_owner = pthread_self();
	txn->busy_owner_set = true;
	pthread_mutex_unlock(&txn->mu);
	rc = pk_wait(txn, -1);

	while (rc == PAM_CONV_AGAIN) {
		size_t n;
		const struct pk_message *msgs = pk_messages(txn, &n);
		char **replies = calloc(n ? n : 1, sizeof(*replies));
		struct pam_response *r = calloc(n ? n : 1, sizeof(*r));
		pthread_mutex_lock(&txn->mu);
		pk_conv_fn fn = txn->user_conv;
		void *data = txn->conv_data;
		pthread_mutex_unlock(&txn->mu);
		bool ok = replies && r && fn && msgs &&
			  fn(txn, msgs, n, replies, data) == 0;
		for (size_t i = 0; replies && i < n; i++) {
			if (ok && r && pk_message_is_prompt(&msgs[i])) {
				r[i].resp = replies[i];
				replies[i] = NULL;
			}
			pk_free_secret(replies ? replies[i] : NULL);
		}
		free(replies);
		if (!ok) {
			pk__responses_free(r, n);
			r = NULL;
		}
		pk__reply_owned(txn, r);
		rc = pk_wait(txn, -1);
	}
	pthread_mutex_lock(&txn->mu);
	txn->busy_owner_set = false;
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

int pk_call(pk_txn *txn, enum pk_op op, int flags)
{
	int rc;

	if (!txn)
		return -EINVAL;
	if ((rc = pk__check_flags(op, flags)))
		return rc;
	if (txn->mode == PK_MODE_STEPWISE)
		return call_stepwise(txn, op, flags);

	pthread_mutex_lock(&txn->mu);
	if ((rc = wait_idle(txn))) {
		pthread_mutex_unlock(&txn->mu);
		return rc;
	}
	pk__op_reset(txn, op, flags);
	txn->state = ST_RUNNING;
	txn->busy_owner = pthread_self();
	txn->busy_owner_set = true;
	pthread_mutex_unlock(&txn->mu);

	rc = pk__run_op(txn);

	pthread_mutex_lock(&txn->mu);
	txn->busy_owner_set = false;
	txn->state = ST_IDLE;
	pthread_cond_broadcast(&txn->cond);
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

int pk_authenticate(pk_txn *t, int f) { return pk_call(t, PK_OP_AUTHENTICATE, f); }
int pk_acct_mgmt(pk_txn *t, int f) { return pk_call(t, PK_OP_ACCT_MGMT, f); }
int pk_chauthtok(pk_txn *t, int f) { return pk_call(t, PK_OP_CHAUTHTOK, f); }
int pk_setcred(pk_txn *t, int f) { return pk_call(t, PK_OP_SETCRED, f); }
int pk_open_session(pk_txn *t, int f) { return pk_call(t, PK_OP_OPEN_SESSION, f); }
int pk_close_session(pk_txn *t, int f) { return pk_call(t, PK_OP_CLOSE_SESSION, f); }

int pk_get_user(pk_txn *txn, const char *prompt, char **user)
{
	char *p = NULL;
	int rc;

	if (!txn || !user)
		return -EINVAL;
	*user = NULL;
	if (prompt && !(p = strdup(prompt)))
		return -ENOMEM;
	pthread_mutex_lock(&txn->mu);
	if (txn->state != ST_IDLE) {
		pthread_mutex_unlock(&txn->mu);
		free(p);
		return -EBUSY;
	}
	free(txn->get_user_prompt);
	txn->get_user_prompt = p;
	pthread_mutex_unlock(&txn->mu);
	rc = pk_call(txn, PK_OP_GET_USER, 0);
	if (rc == PAM_SUCCESS) {
		int irc = pk_get_item(txn, PAM_USER, user);
		if (irc != PAM_SUCCESS)
			rc = irc;
	}
	return rc;
}
