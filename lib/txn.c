/*
 * txn.c - creating and ending transactions, and the blocking calls.
 *
 * Everything here runs PAM on the calling thread (pamtester's and
 * OpenSSH's model): pam_start, each blocking operation, the teardown and
 * pam_end.  Only pk_start (step.c) hands an operation to a worker.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* How long pk_txn_end waits for a running operation before leaving the
   teardown to the thread that runs it (a module blocked without conversing
   cannot be interrupted). */
#define END_GRACE_MS 2000

/* Bumped in the child after fork(): a transaction created under an older
   generation belongs to the parent process. */
unsigned int pk__fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_child(void)
{
	__atomic_add_fetch(&pk__fork_gen, 1, __ATOMIC_RELAXED);
	pk__pool_after_fork_child();
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

bool pk__forked(const pk_txn *txn)
{
	return txn->fork_gen != __atomic_load_n(&pk__fork_gen, __ATOMIC_RELAXED);
}

static void txn_free(pk_txn *txn)
{
	pk_batch_unref(txn->pending);
	pk__kept_free(txn);
	msg_list_clear(&txn->transcript);
	free(txn->get_user_prompt);
	if (txn->efd >= 0)
		close(txn->efd);
	pthread_cond_destroy(&txn->wcond);
	pthread_cond_destroy(&txn->cond);
	pthread_mutex_destroy(&txn->mu);
	pk__freezero(txn, sizeof(*txn));
}

void pk__txn_unref(pk_txn *txn)
{
	bool last = --txn->refs == 0;

	pthread_mutex_unlock(&txn->mu);
	if (last)
		txn_free(txn);
}

void pk__op_finished(pk_txn *txn)
{
	if (txn->orphaned || txn->end_deferred) {
		/* Ended from the operation's own callback (the application's
		   reference is still ours to drop), or by a pk_txn_end that
		   gave up waiting (it dropped it): the teardown is ours. */
		bool app_ref = !txn->orphaned;

		pthread_mutex_unlock(&txn->mu);
		pk__teardown(txn);
		pthread_mutex_lock(&txn->mu);
		if (app_ref)
			txn->refs--;
	}
	pk__txn_unref(txn);
}

int pk_txn_create(const struct pk_options *opts, pk_txn **out)
{
	pk_txn *txn = NULL;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!opts || !opts->service || !*opts->service ||
	    (opts->mode != PK_MODE_DIRECT && opts->mode != PK_MODE_STEPWISE) ||
	    (opts->delay_mode != PK_DELAY_LIBPAM &&
	     opts->delay_mode != PK_DELAY_REPORT))
		return -EINVAL;
	pthread_once(&atfork_once, register_atfork);
	txn = calloc(1, sizeof(*txn));
	if (!txn)
		return -ENOMEM;
	txn->efd = -1;
	txn->fork_gen = __atomic_load_n(&pk__fork_gen, __ATOMIC_RELAXED);
	pthread_mutex_init(&txn->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&txn->cond, &ca);
	pthread_cond_init(&txn->wcond, &ca);
	pthread_condattr_destroy(&ca);
	txn->mode = opts->mode;
	txn->conv.conv = pk__conversation;
	txn->conv.appdata_ptr = txn;
	txn->user_conv = opts->conv;
	txn->conv_data = opts->conv_data;
	txn->delay_cb = opts->fail_delay_cb;
	txn->delay_data = opts->fail_delay_data;
	txn->delay_mode = opts->delay_mode;
	txn->step_timeout_ms = opts->step_timeout_ms;
	txn->refs = 1;

	if (txn->mode == PK_MODE_STEPWISE) {
		txn->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (txn->efd < 0) {
			rc = -errno;
			goto fail;
		}
	}
	rc = pk__pam_start(txn, opts);
	if (rc != PAM_SUCCESS)
		goto fail;
	*out = txn;
	return PAM_SUCCESS;
fail:
	txn_free(txn);
	return rc;
}

/* A child after fork(): the session is the parent's.  Free our memory;
   pam_end with PAM_DATA_SILENT tells modules' cleanups to leave what lives
   outside this process alone.  Never takes txn->mu (a parent thread may
   have held it at fork time). */
static void end_in_child(pk_txn *txn)
{
	if (txn->pamh && txn->state == ST_IDLE)
		pam_end(txn->pamh, txn->last_status | PAM_DATA_SILENT);
	/* else the handle was inside a PAM call in the parent: leak it. */
	pk_batch_unref(txn->pending);
	pk__kept_free(txn);
	msg_list_clear(&txn->transcript);
	free(txn->get_user_prompt);
	if (txn->efd >= 0)
		close(txn->efd);
	pk__freezero(txn, sizeof(*txn));
}

/* The teardown, on this thread, then the application's reference. */
void pk__finish_end(pk_txn *txn)
{
	pk__teardown(txn);
	pthread_mutex_lock(&txn->mu);
	pk__txn_unref(txn);
}

/* pk_txn_end, waiting at most grace_ms for a running operation. */
static void end_txn(pk_txn *txn, int grace_ms)
{
	if (!txn)
		return;
	if (pk__forked(txn)) {
		end_in_child(txn);
		return;
	}
	pthread_mutex_lock(&txn->mu);
	if (txn->ending) {		/* a second end: a caller's bug */
		pthread_mutex_unlock(&txn->mu);
		return;
	}
	txn->ending = true;
	if (txn->runner_set && pthread_equal(txn->runner, pthread_self())) {
		/* From inside our own conversation or fail-delay callback:
		   the PAM call is still on this stack.  It unwinds first
		   (the conversation fails); the runner tears down. */
		__atomic_store_n(&txn->cancel, true, __ATOMIC_RELEASE);
		txn->end_deferred = true;
		pthread_mutex_unlock(&txn->mu);
		return;
	}
	pk__cancel_for_end(txn);

	struct timespec deadline;
	pk__deadline(&deadline, CLOCK_MONOTONIC, (unsigned int)grace_ms);
	while (grace_ms > 0 && (txn->state == ST_RUNNING ||
				txn->state == ST_CONV || txn->state == ST_QUEUED))
		if (pthread_cond_timedwait(&txn->cond, &txn->mu, &deadline) ==
		    ETIMEDOUT)
			break;
	if (txn->state == ST_IDLE || txn->state == ST_DONE) {
		pthread_mutex_unlock(&txn->mu);
		pk__finish_end(txn);
		return;
	}
	/* A module is stuck: whoever runs it finishes the teardown alone,
	   and no callback may reach the caller's data after we return. */
	txn->orphaned = true;
	txn->delay_cb = NULL;
	txn->user_conv = NULL;
	while (txn->in_delay_cb)
		pthread_cond_wait(&txn->cond, &txn->mu);
	pk__txn_unref(txn);
}

void pk_txn_end(pk_txn *txn)
{
	end_txn(txn, END_GRACE_MS);
}

void pk_txn_end_nowait(pk_txn *txn)
{
	end_txn(txn, 0);
}

enum pk_mode pk_txn_mode(const pk_txn *txn) { return txn->mode; }
bool pk_txn_inherited(const pk_txn *txn) { return txn && pk__forked(txn); }
void pk_txn_set_userdata(pk_txn *txn, void *u) { txn->userdata = u; }
void *pk_txn_userdata(const pk_txn *txn) { return txn->userdata; }

pam_handle_t *pk_txn_handle(pk_txn *txn)
{
	return (txn && !pk__forked(txn)) ? txn->pamh : NULL;
}

int pk_txn_last_status(pk_txn *txn)
{
	if (!txn)
		return -EINVAL;
	if (pk__forked(txn))
		return -ECHILD;
	pthread_mutex_lock(&txn->mu);
	int rc = txn->last_status;
	pthread_mutex_unlock(&txn->mu);
	return rc;
}

unsigned int pk_txn_fail_delay_usec(pk_txn *txn)
{
	if (!txn || pk__forked(txn))
		return 0;
	pthread_mutex_lock(&txn->mu);
	unsigned int usec = txn->delay_usec;
	pthread_mutex_unlock(&txn->mu);
	return usec;
}

int pk_txn_set_conv(pk_txn *txn, pk_conv_fn conv, void *data)
{
	if (!txn)
		return -EINVAL;
	if (pk__forked(txn))
		return -ECHILD;
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
	if (pk__forked(txn))
		return -ECHILD;
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
	if (txn->runner_set && pthread_equal(txn->runner, pthread_self()))
		return -EBUSY;
	while (txn->state != ST_IDLE && !txn->ending)
		pthread_cond_wait(&txn->cond, &txn->mu);
	return txn->ending ? -EINVAL : 0;
}

int pk_call(pk_txn *txn, enum pk_op op, int flags)
{
	int rc;

	if (!txn)
		return -EINVAL;
	if (pk__forked(txn))
		return -ECHILD;
	if ((rc = pk__check_flags(op, flags)))
		return rc;

	pthread_mutex_lock(&txn->mu);
	if ((rc = wait_idle(txn))) {
		pthread_mutex_unlock(&txn->mu);
		return rc;
	}
	pk__op_reset(txn, op, flags);
	txn->stepwise_op = false;
	txn->runner = pthread_self();
	txn->runner_set = true;
	txn->refs++;			/* the operation's reference */
	pk__set_state(txn, ST_RUNNING);
	pthread_mutex_unlock(&txn->mu);

	rc = pk__run_op(txn);

	pthread_mutex_lock(&txn->mu);
	txn->runner_set = false;
	pk__set_state(txn, ST_IDLE);
	pk__op_finished(txn);
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
	if (pk__forked(txn))
		return -ECHILD;
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
