/*
 * pamkit.h - libpamkit public API: PAM transactions with a blocking or a
 * stepwise conversation.
 *
 * Return values: every function returning int returns either a PAM code
 * (>= 0, PAM_SUCCESS == 0, see <security/_pam_types.h>) or a negative
 * pamkit error (-EINVAL, -EBUSY, -ENOMEM, ...) for misuse or resource
 * failure that never reached PAM.  pk_code_name() and pk_strerror() turn
 * either into text.
 *
 * Threading: any function may be called from any thread.  One transaction's
 * calls are serialised by the transaction's own lock; different
 * transactions never share state except the worker pool, which has its own.
 */
#ifndef PAMKIT_PAMKIT_H
#define PAMKIT_PAMKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <security/pam_appl.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAMKIT_VERSION "0.1.0"

typedef struct pk_txn pk_txn;

/* The PAM operations a transaction can run. */
enum pk_op {
	PK_OP_AUTHENTICATE = 1,	/* pam_authenticate: PAM_SILENT, PAM_DISALLOW_NULL_AUTHTOK */
	PK_OP_ACCT_MGMT,	/* pam_acct_mgmt: PAM_SILENT, PAM_DISALLOW_NULL_AUTHTOK */
	PK_OP_CHAUTHTOK,	/* pam_chauthtok: PAM_SILENT, PAM_CHANGE_EXPIRED_AUTHTOK */
	PK_OP_SETCRED,		/* pam_setcred: PAM_SILENT | exactly one of PAM_ESTABLISH_CRED,
				   PAM_DELETE_CRED, PAM_REINITIALIZE_CRED, PAM_REFRESH_CRED */
	PK_OP_OPEN_SESSION,	/* pam_open_session: PAM_SILENT */
	PK_OP_CLOSE_SESSION,	/* pam_close_session: PAM_SILENT */
	PK_OP_GET_USER,		/* pam_get_user (may prompt); read the result with
				   pk_get_item(txn, PAM_USER, ...) */
};

/* "authenticate", "acct_mgmt", ... ; NULL for an unknown op. */
const char *pk_op_name(enum pk_op op);

/* One PAM message as the conversation sees it. */
struct pk_message {
	int style;		/* PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON,
				   PAM_ERROR_MSG, PAM_TEXT_INFO */
	const char *msg;	/* never NULL (an empty string instead) */
};

/* True for PAM_PROMPT_ECHO_OFF and PAM_PROMPT_ECHO_ON. */
bool pk_message_is_prompt(const struct pk_message *m);

/*
 * Blocking conversation callback.  Fill replies[i] (already NULL) with a
 * malloc'd string for each prompt; replies to info/error messages are
 * ignored.  Ownership of the strings passes to the library (then to PAM,
 * which wipes them).  Return 0 on success; any other value fails the
 * conversation with PAM_CONV_ERR and the library wipes and frees whatever
 * was filled in.  Runs on the thread that made the blocking call; it may call
 * pk_get_item/pk_set_item/pk_getenv... on the same transaction.
 */
typedef int (*pk_conv_fn)(pk_txn *txn, const struct pk_message *msgs,
			  size_t n, char **replies, void *data);

/* PAM_FAIL_DELAY callback: PAM calls it instead of sleeping. */
typedef void (*pk_fail_delay_fn)(pk_txn *txn, int retval,
				 unsigned int usec_delay, void *data);

/* Transaction modes. */
enum pk_mode {
	/*
	 * PAM runs on the calling thread; only blocking calls.  The fastest
	 * form: no thread hop at all.
	 */
	PK_MODE_DIRECT = 0,
	/*
	 * PAM runs on a worker thread pinned to this transaction from
	 * pam_start to pam_end (modules such as pam_loginuid care).
	 * Stepwise and blocking calls are both available; a blocking call
	 * runs the conversation callback on the calling thread.
	 */
	PK_MODE_STEPWISE = 1,
};

/* Options for pk_txn_create.  Zero-initialise, then fill what you need. */
struct pk_options {
	const char *service;		/* required */
	const char *user;		/* NULL: PAM asks */
	const char *confdir;		/* pam_start_confdir; NULL: /etc/pam.d */
	const char *rhost;
	const char *ruser;
	const char *tty;
	const char *xdisplay;
	const char *user_prompt;
	const char *authtok_type;
	enum pk_mode mode;
	/* pam_fail_delay(usec) after pam_start when has_fail_delay is set. */
	bool has_fail_delay;
	unsigned int fail_delay_usec;
	pk_fail_delay_fn fail_delay_cb;	/* optional PAM_FAIL_DELAY hook */
	void *fail_delay_data;
	pk_conv_fn conv;		/* for blocking calls; may be NULL */
	void *conv_data;
	/* Stepwise: an unanswered batch older than this fails the conversation
	   with PAM_CONV_ERR.  0: wait forever. */
	unsigned int step_timeout_ms;
};

/*
 * Start a transaction (pam_start_confdir and the items in opts).  On success
 * returns PAM_SUCCESS and *out; on failure *out is NULL and the return is
 * the PAM code of pam_start/pam_set_item or a negative error.
 */
int pk_txn_create(const struct pk_options *opts, pk_txn **out);

/*
 * End the transaction in any state: cancels a pending conversation, closes a
 * session and deletes credentials the transaction set up (with a null
 * conversation swapped in), pam_end with the last status, returns the
 * worker to the pool, wipes and frees everything.  Never hangs: if a module
 * is blocked without conversing, the worker finishes the teardown alone
 * (and never calls the conversation or fail delay callback after
 * pk_txn_end has returned: their data may be freed then).
 * NULL is accepted.
 */
void pk_txn_end(pk_txn *txn);

enum pk_mode pk_txn_mode(const pk_txn *txn);
/* The raw handle for calls the library does not wrap.  Do not pam_end it. */
pam_handle_t *pk_txn_handle(pk_txn *txn);
/* PAM code of the last operation that finished (PAM_SUCCESS initially). */
int pk_txn_last_status(pk_txn *txn);
/* Replace the blocking conversation callback. */
int pk_txn_set_conv(pk_txn *txn, pk_conv_fn conv, void *data);
/* Change the step timeout (ms, 0 = none); applies to the next wait. */
int pk_txn_set_step_timeout(pk_txn *txn, unsigned int timeout_ms);
/* Opaque pointer for the application (not used by the library). */
void pk_txn_set_userdata(pk_txn *txn, void *userdata);
void *pk_txn_userdata(const pk_txn *txn);

/* ---- Blocking calls (both modes). ---------------------------------------
 * Run one PAM operation to its end, answering prompts with the conversation
 * callback.  Return the PAM code, or a negative error (-EINVAL for bad
 * flags, -EBUSY if a stepwise operation is in progress). */
int pk_call(pk_txn *txn, enum pk_op op, int flags);
int pk_authenticate(pk_txn *txn, int flags);
int pk_acct_mgmt(pk_txn *txn, int flags);
int pk_chauthtok(pk_txn *txn, int flags);
int pk_setcred(pk_txn *txn, int flags);
int pk_open_session(pk_txn *txn, int flags);
int pk_close_session(pk_txn *txn, int flags);
/* pam_get_user with an optional prompt; *user is a malloc'd copy. */
int pk_get_user(pk_txn *txn, const char *prompt, char **user);

/* ---- Stepwise calls (PK_MODE_STEPWISE). ---------------------------------
 *
 *   rc = pk_begin(txn, PK_OP_AUTHENTICATE, 0);
 *   while (rc == PAM_CONV_AGAIN) {
 *           msgs = pk_messages(txn, &n);
 *           ... get answers from the remote user ...
 *           rc = pk_answer(txn, replies, n);
 *   }
 *   // rc is the final PAM code of pam_authenticate
 *
 * PAM_CONV_AGAIN here always means "a batch of messages waits for replies";
 * a final result never takes that value (a module's PAM_CONV_AGAIN reaches
 * the application as PAM_INCOMPLETE).
 *
 * For event loops use the non-blocking trio pk_start / pk_result / pk_reply
 * with pk_fd: the fd is readable exactly when pk_result has something new.
 */

/* Submit an operation to the worker; returns 0 at once or a negative error
   (-EBUSY: one is already running, -EINVAL: bad op/flags or direct mode). */
int pk_start(pk_txn *txn, enum pk_op op, int flags);
/*
 * Non-blocking: -EAGAIN while the worker is busy; PAM_CONV_AGAIN when a batch
 * waits (read it with pk_messages); otherwise the operation's final PAM
 * code, after which the transaction is idle again.  -EINVAL when nothing was
 * started.  Drains pk_fd.
 */
int pk_result(pk_txn *txn);
/* pk_result, waiting up to timeout_ms (-1: forever); -ETIMEDOUT when the
   wait (not the step) timed out. */
int pk_wait(pk_txn *txn, int timeout_ms);
/* The pending batch (valid until this caller's pk_reply, pk_cancel or
   pk_txn_end; a step timeout or another thread's cancel withdraws it but
   does not free it before then). */
const struct pk_message *pk_messages(pk_txn *txn, size_t *n);
/*
 * Answer the pending batch: n must equal the batch size (or replies NULL and
 * n 0 for a batch with no prompt).  Replies to prompts are copied for PAM at
 * once; replies to info/error messages are ignored; NULL for a prompt is
 * passed to PAM as a NULL resp.  On -EINVAL (wrong n) the batch stays
 * pending and nothing is lost.  -EBUSY while a blocking call's callback
 * handles the batch on its own thread.
 * Returns 0 or a negative error; does not wait.
 */
int pk_reply(pk_txn *txn, const char *const *replies, size_t n);
/* pk_start + pk_wait(-1). */
int pk_begin(pk_txn *txn, enum pk_op op, int flags);
/* pk_reply + pk_wait(-1). */
int pk_answer(pk_txn *txn, const char *const *replies, size_t n);
/* Readable when pk_result has a batch or result; -1 in direct mode. */
int pk_fd(pk_txn *txn);
/*
 * From any thread: the waiting (or next) conversation of the running
 * operation returns PAM_CONV_ERR, so the operation unwinds.  Returns 0, or
 * -EINVAL when no operation is running.
 */
int pk_cancel(pk_txn *txn);
/* Why the last operation's conversation was cut short: 0, -ETIMEDOUT (step
   timeout) or -ECANCELED (pk_cancel / pk_txn_end). */
int pk_txn_interrupted(pk_txn *txn);

/*
 * Info and error messages of the current (or last) operation, in order:
 * never lost even when a prompt came in the same batch.  Valid until the next
 * operation starts.
 */
const struct pk_message *pk_transcript(pk_txn *txn, size_t *n);

/* ---- Items. --------------------------------------------------------------
 * String items: PAM_SERVICE, PAM_USER, PAM_TTY, PAM_RHOST, PAM_RUSER,
 * PAM_USER_PROMPT, PAM_XDISPLAY, PAM_AUTHTOK_TYPE (and PAM_AUTHTOK /
 * PAM_OLDAUTHTOK as far as libpam lets an application).  PAM_CONV and
 * PAM_FAIL_DELAY belong to the library (-EINVAL).  Allowed while no
 * operation runs or while it waits in a conversation; -EBUSY otherwise. */
int pk_set_item(pk_txn *txn, int item_type, const char *value);
/* *value is a malloc'd copy, or NULL when the item is unset. */
int pk_get_item(pk_txn *txn, int item_type, char **value);
/* "PAM_USER" -> PAM_USER etc. (also "user"); -1 when unknown. */
int pk_item_from_name(const char *name);
const char *pk_item_name(int item_type);
/* pam_fail_delay on the handle. */
int pk_fail_delay(pk_txn *txn, unsigned int usec);

/* ---- PAM environment. --------------------------------------------------- */
/* *value malloc'd; PAM_SUCCESS with NULL when unset. */
int pk_getenv(pk_txn *txn, const char *name, char **value);
/* pam_putenv("NAME=value"). */
int pk_setenv(pk_txn *txn, const char *name, const char *value);
/* pam_misc_setenv: with readonly, an existing variable is kept as it is. */
int pk_misc_setenv(pk_txn *txn, const char *name, const char *value,
		   bool readonly);
int pk_unsetenv(pk_txn *txn, const char *name);
/* NULL-terminated malloc'd "NAME=value" array; free with pk_strv_free. */
int pk_getenvlist(pk_txn *txn, char ***list);
void pk_strv_free(char **strv);

/* ---- Errors. ------------------------------------------------------------- */
/* "PAM_AUTH_ERR", ... or "PK_EINVAL" style for negative codes; never NULL. */
const char *pk_code_name(int code);
/* pam_strerror text, or the strerror text for negative codes; never NULL. */
const char *pk_strerror(int code);
/* "PAM_AUTH_ERR" -> PAM_AUTH_ERR; -1 when unknown. */
int pk_code_from_name(const char *name);
/* Highest PAM code this libpam defines (PAM_CONV_AGAIN, PAM_INCOMPLETE). */
int pk_max_code(void);

/* ---- Library. ------------------------------------------------------------ */
/*
 * Wait up to timeout_ms for detached teardowns, then stop idle workers.
 * Optional (for leak checkers and clean exits).  Returns 0, or -ETIMEDOUT
 * when some worker is still busy inside a module.
 */
int pk_shutdown(int timeout_ms);
/* Wipe a secret: explicit_bzero over strlen, then free. NULL is fine. */
void pk_free_secret(char *s);

#ifdef __cplusplus
}
#endif
#endif
