/*
 * ops.c - pam_start, one PAM operation, and the teardown.  Each runs on
 * the thread that asked for it: the caller, or for pk_start the worker the
 * operation borrowed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_modules.h>

#include "internal.h"

static const char *const op_names[] = {
	[PK_OP_AUTHENTICATE] = "authenticate",
	[PK_OP_ACCT_MGMT] = "acct_mgmt",
	[PK_OP_CHAUTHTOK] = "chauthtok",
	[PK_OP_SETCRED] = "setcred",
	[PK_OP_OPEN_SESSION] = "open_session",
	[PK_OP_CLOSE_SESSION] = "close_session",
	[PK_OP_GET_USER] = "get_user",
};

const char *pk_op_name(enum pk_op op)
{
	if ((int)op < PK_OP_AUTHENTICATE || op > PK_OP_GET_USER)
		return NULL;
	return op_names[op];
}

/* The flags PAM defines for each call; anything else is -EINVAL. */
int pk__check_flags(enum pk_op op, int flags)
{
	int allowed, cred;

	switch (op) {
	case PK_OP_AUTHENTICATE:
	case PK_OP_ACCT_MGMT:
		allowed = PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK;
		break;
	case PK_OP_CHAUTHTOK:
		allowed = PAM_SILENT | PAM_CHANGE_EXPIRED_AUTHTOK;
		break;
	case PK_OP_SETCRED:
		cred = flags & ~PAM_SILENT;
		if (cred != PAM_ESTABLISH_CRED && cred != PAM_DELETE_CRED &&
		    cred != PAM_REINITIALIZE_CRED && cred != PAM_REFRESH_CRED)
			return -EINVAL;
		return 0;
	case PK_OP_OPEN_SESSION:
	case PK_OP_CLOSE_SESSION:
	case PK_OP_GET_USER:
		allowed = PAM_SILENT;
		break;
	default:
		return -EINVAL;
	}
	return (flags & ~allowed) ? -EINVAL : 0;
}

/* With txn->mu held: the next operation of a chain (pk_start_chain) keeps
   the cancel request and the transcript of the ones before it. */
void pk__op_next(pk_txn *txn, enum pk_op op, int flags)
{
	txn->op = op;
	txn->flags = flags;
	txn->interrupted = 0;
	txn->delay_usec = 0;
}

/* Called with txn->mu held before an operation starts. */
void pk__op_reset(pk_txn *txn, enum pk_op op, int flags)
{
	pk__op_next(txn, op, flags);
	__atomic_store_n(&txn->cancel, false, __ATOMIC_RELEASE);
	txn->result = PAM_SUCCESS;
	msg_list_clear(&txn->transcript);
}

int pk__run_op(pk_txn *txn)
{
	pam_handle_t *pamh = txn->pamh;
	int flags = txn->flags;
	const char *user = NULL;
	int rc;

	switch (txn->op) {
	case PK_OP_AUTHENTICATE:
		rc = pam_authenticate(pamh, flags);
		break;
	case PK_OP_ACCT_MGMT:
		rc = pam_acct_mgmt(pamh, flags);
		break;
	case PK_OP_CHAUTHTOK:
		rc = pam_chauthtok(pamh, flags);
		break;
	case PK_OP_SETCRED:
		rc = pam_setcred(pamh, flags);
		if (rc == PAM_SUCCESS) {
			int cred = flags & ~PAM_SILENT;
			if (cred == PAM_ESTABLISH_CRED)
				txn->cred_established = true;
			else if (cred == PAM_DELETE_CRED)
				txn->cred_established = false;
		}
		break;
	case PK_OP_OPEN_SESSION:
		rc = pam_open_session(pamh, flags);
		if (rc == PAM_SUCCESS)
			txn->session_open = true;
		break;
	case PK_OP_CLOSE_SESSION:
		rc = pam_close_session(pamh, flags);
		txn->session_open = false;
		break;
	case PK_OP_GET_USER:
		rc = pam_get_user(pamh, &user, txn->get_user_prompt);
		break;
	default:
		rc = PAM_SYSTEM_ERR;
		break;
	}
	/* PAM_CONV_AGAIN is reserved for "a batch waits"; a module's own
	   PAM_CONV_AGAIN means the operation is incomplete. */
	if (rc == PAM_CONV_AGAIN)
		rc = PAM_INCOMPLETE;
	txn->last_status = rc;
	return rc;
}

static int set_opt_item(pam_handle_t *pamh, int type, const char *value)
{
	return value ? pam_set_item(pamh, type, value) : PAM_SUCCESS;
}

int pk__pam_start(pk_txn *txn, const struct pk_options *o)
{
	int rc;

	rc = pam_start_confdir(o->service, o->user, &txn->conv, o->confdir,
			       &txn->pamh);
	if (rc != PAM_SUCCESS) {
		txn->pamh = NULL;	/* libpam frees what it built */
		return rc;
	}
	if ((rc = set_opt_item(txn->pamh, PAM_RHOST, o->rhost)) ||
	    (rc = set_opt_item(txn->pamh, PAM_RUSER, o->ruser)) ||
	    (rc = set_opt_item(txn->pamh, PAM_TTY, o->tty)) ||
	    (rc = set_opt_item(txn->pamh, PAM_XDISPLAY, o->xdisplay)) ||
	    (rc = set_opt_item(txn->pamh, PAM_USER_PROMPT, o->user_prompt)) ||
	    (rc = set_opt_item(txn->pamh, PAM_AUTHTOK_TYPE, o->authtok_type)))
		goto fail;
	if (o->has_fail_delay &&
	    (rc = pam_fail_delay(txn->pamh, o->fail_delay_usec)) != PAM_SUCCESS)
		goto fail;
	/* Without a hook libpam sleeps itself (PK_DELAY_LIBPAM). */
	if (o->fail_delay_cb || o->delay_mode == PK_DELAY_REPORT) {
		void (*fn)(int, unsigned int, void *) = pk__fail_delay;
		rc = pam_set_item(txn->pamh, PAM_FAIL_DELAY, (const void *)fn);
		if (rc != PAM_SUCCESS)
			goto fail;
	}
	return PAM_SUCCESS;
fail:
	pam_end(txn->pamh, rc);
	txn->pamh = NULL;
	return rc;
}

static int null_conv(int n, const struct pam_message **msg,
		     struct pam_response **resp, void *appdata)
{
	(void)n; (void)msg; (void)resp; (void)appdata;
	return PAM_CONV_ERR;
}

/* OpenSSH's order: no more conversation, undo what was set up, pam_end. */
void pk__teardown(pk_txn *txn)
{
	static const struct pam_conv silent = { null_conv, NULL };

	if (!txn->pamh)
		return;
	pam_set_item(txn->pamh, PAM_CONV, &silent);
	if (txn->session_open)
		pam_close_session(txn->pamh, PAM_SILENT);
	if (txn->cred_established)
		pam_setcred(txn->pamh, PAM_DELETE_CRED | PAM_SILENT);
	txn->session_open = txn->cred_established = false;
	pam_end(txn->pamh, txn->last_status);
	txn->pamh = NULL;
}
