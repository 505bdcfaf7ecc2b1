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
 * Threading (OpenSSH's auth-pam.c model): a transaction owns no thread.
 * pk_txn_create, every blocking call, items, env and pk_txn_end run PAM on
 * the thread that calls them, exactly like pamtester or login (the kernel
 * lets only the main thread write /proc/self/loginuid, which Debian's login
 * and sshd stacks need in open_session).  Only a stepwise operation
 * (pk_start) borrows a worker from a bounded pool, for as long as that one
 * operation runs; the next operation may run on another thread or on the
 * caller's.  Idle and logged-in transactions hold no thread.
 *
 * Any function may be called from any thread; one transaction's calls are
 * serialised by its own lock (blocking calls queue).  Different
 * transactions share nothing but the worker pool, which has its own lock.
 *
 * fork(): a child never touches its parent's PAM session.  In the child
 * every call on an inherited transaction returns -ECHILD, and pk_txn_end
 * only frees memory (pam_end with PAM_DATA_SILENT, no close_session or
 * setcred teardown).
 */
#ifndef PAMKIT_PAMKIT_H
#define PAMKIT_PAMKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <security/pam_appl.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PAMKIT_VERSION "0.1.0"

typedef struct pk_txn pk_txn;
/* An immutable, reference-counted batch of conversation messages. */
typedef struct pk_batch pk_batch;

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

/*
 * PAM_FAIL_DELAY callback: PAM calls it instead of sleeping.  Installing one
 * takes the delay over: the callback (or the front behind it) must wait
 * usec_delay before it reports the failure (brute-force throttling).  It
 * runs on the thread that runs the PAM call (a worker for pk_start).
 */
typedef void (*pk_fail_delay_fn)(pk_txn *txn, int retval,
				 unsigned int usec_delay, void *data);

/* Transaction modes. */
enum pk_mode {
	/* Blocking calls only; no pollable fd. */
	PK_MODE_DIRECT = 0,
	/*
	 * Blocking calls (on the caller's thread, as in direct mode) and
	 * stepwise calls: pk_start runs one operation on a borrowed worker
	 * and hands each conversation batch back through pk_fd/pk_result.
	 */
	PK_MODE_STEPWISE = 1,
};

/* Who waits out the delay libpam computes after a failure. */
enum pk_delay_mode {
	/*
	 * libpam sleeps (pam_faildelay, pam_unix's 2 s ...) on the thread that
	 * runs the operation, before the failure is reported: the default.
	 */
	PK_DELAY_LIBPAM = 0,
	/*
	 * The library records the delay instead of sleeping; read it with
	 * pk_txn_fail_delay_usec() and wait it out (an event loop arms a
	 * timer) before reporting the failure.  Never drop it.
	 */
	PK_DELAY_REPORT = 1,
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
	enum pk_delay_mode delay_mode;
};

/*
 * Start a transaction (pam_start_confdir and the items in opts).  On success
 * returns PAM_SUCCESS and *out; on failure *out is NULL and the return is
 * the PAM code of pam_start/pam_set_item or a negative error.
 */
int pk_txn_create(const struct pk_options *opts, pk_txn **out);

/*
 * End the transaction in any state, from any thread: cancels a pending
 * conversation (or a queued stepwise operation), closes a session and
 * deletes credentials the transaction set up (with a null conversation
 * swapped in), pam_end with the last status, wipes and frees everything.
 * The teardown runs on the calling thread.  Never hangs: if a module is
 * blocked without conversing, pk_txn_end waits at most a short grace (2 s)
 * and the thread running that module finishes the teardown alone (and
 * never calls the conversation or fail delay callback after pk_txn_end has
 * returned: their data may be freed then).
 * From inside the transaction's own conversation or fail-delay callback the
 * end is deferred: the conversation fails, and the teardown runs when the
 * PAM call returns, before the blocking call does.
 * In a child after fork(): frees memory only (see Threading above).
 * NULL is accepted.
 */
void pk_txn_end(pk_txn *txn);
/*
 * pk_txn_end for an event loop: never waits.  An operation that is still
 * running is cancelled and the worker running it tears down and frees the
 * transaction when it returns (a queued one is withdrawn at once); with no
 * operation running the teardown runs here, as in pk_txn_end, so close a
 * session first (pk_start(PK_OP_CLOSE_SESSION)) if its modules may block.
 */
void pk_txn_end_nowait(pk_txn *txn);

enum pk_mode pk_txn_mode(const pk_txn *txn);
/* True in a child after fork(): the transaction is the parent's (every
   call but pk_txn_end is -ECHILD).  A front's own teardown skips it. */
bool pk_txn_inherited(const pk_txn *txn);
/* The raw handle for calls the library does not wrap.  Do not pam_end it. */
pam_handle_t *pk_txn_handle(pk_txn *txn);
/* PAM code of the last operation that finished (PAM_SUCCESS initially). */
int pk_txn_last_status(pk_txn *txn);
/* Replace the blocking conversation callback. */
int pk_txn_set_conv(pk_txn *txn, pk_conv_fn conv, void *data);
/* Change the step timeout (ms, 0 = none); applies to the next wait. */
int pk_txn_set_step_timeout(pk_txn *txn, unsigned int timeout_ms);
/*
 * PK_DELAY_REPORT (or with a fail_delay_cb): the delay in microseconds that
 * libpam asked for after the last operation failed; 0 after a success or
 * when no module asked.  The caller must wait it out before reporting.
 */
unsigned int pk_txn_fail_delay_usec(pk_txn *txn);
/* Opaque pointer for the application (not used by the library). */
void pk_txn_set_userdata(pk_txn *txn, void *userdata);
void *pk_txn_userdata(const pk_txn *txn);

/* ---- Blocking calls (both modes). ---------------------------------------
 * Run one PAM operation to its end on the calling thread, answering prompts
 * with the conversation callback (no callback: the conversation fails).
 * Blocking calls from several threads queue.  Return the PAM code, or a
 * negative error (-EINVAL for bad flags, -EBUSY from inside this
 * transaction's own callback, -ECHILD in a child after fork). */
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
 *           msgs = pk_messages(txn, &n, &seq);
 *           ... get answers from the remote user ...
 *           rc = pk_answer(txn, seq, replies, n);
 *   }
 *   // rc is the final PAM code of pam_authenticate
 *
 * PAM_CONV_AGAIN here always means "a batch of messages waits for replies";
 * a final result never takes that value (a module's PAM_CONV_AGAIN reaches
 * the application as PAM_INCOMPLETE).
 *
 * For event loops use the non-blocking trio pk_start / pk_result / pk_reply
 * with pk_fd: the fd is readable exactly when pk_result has something new.
 *
 * Every batch carries a sequence number (1, 2, ... per transaction, never
 * reused); a reply names the batch it answers, and a reply to any batch but
 * the pending one is refused with -ESTALE, so a late answer after a step
 * timeout can never answer the module's next prompt.
 */

/*
 * Borrow a worker for one operation; returns 0 at once or a negative error
 * (-EBUSY: one is already running, -EINVAL: bad op/flags or direct mode,
 * -ENOBUFS: the pool's queue is full).  When every worker is busy and the
 * pool is at its cap, the operation waits in a FIFO queue (pk_result says
 * -EAGAIN meanwhile); a cancelled queued operation never runs.
 */
int pk_start(pk_txn *txn, enum pk_op op, int flags);
/*
 * One operation of a chain (pk_start_chain).
 */
struct pk_opcall {
	enum pk_op op;
	int flags;
};
#define PK_CHAIN_MAX 4
/*
 * pk_start for up to PK_CHAIN_MAX operations run in a row on one borrowed
 * worker (authenticate, acct_mgmt, open_session of a login): the next one
 * starts only after PAM_SUCCESS, so pk_result's final code is the first
 * failure or PAM_SUCCESS of the last; pk_txn_op says which operation that
 * was.  Saves a worker hand-off per operation.  Batches and the transcript
 * (all its operations') work as for one; pk_cancel stops the chain, and a
 * chain cut short is PAM_CONV_ERR (pk_txn_interrupted -ECANCELED) even if
 * the operation before the cut succeeded: never a success for a chain
 * whose rest did not run.
 * -EINVAL for n 0 or over PK_CHAIN_MAX, PK_OP_GET_USER, or a bad op/flags:
 * nothing runs then.
 */
int pk_start_chain(pk_txn *txn, const struct pk_opcall *ops, size_t n);
/* The operation running, or the last one run (0 before any, and in a
   child after fork). */
enum pk_op pk_txn_op(pk_txn *txn);
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
/*
 * The pending batch and its sequence number (seq may be NULL); NULL with
 * *n == 0 when none waits.  The pointer stays valid until this caller's
 * next pk_reply, pk_start or pk_txn_end, even if a step timeout or another
 * thread's cancel withdraws the batch meanwhile.
 */
const struct pk_message *pk_messages(pk_txn *txn, size_t *n, uint64_t *seq);
/*
 * A new reference to the pending batch (NULL when none waits): it stays
 * valid, unchanged, until pk_batch_unref, whatever the transaction does.
 */
pk_batch *pk_batch_get(pk_txn *txn);
const struct pk_message *pk_batch_messages(const pk_batch *b, size_t *n);
uint64_t pk_batch_seq(const pk_batch *b);
pk_batch *pk_batch_ref(pk_batch *b);
void pk_batch_unref(pk_batch *b);	/* NULL is fine */
/*
 * Answer batch seq: n must equal the batch size (or replies NULL and n 0 for
 * a batch with no prompt).  Replies to prompts are copied for PAM at once;
 * replies to info/error messages are ignored; NULL for a prompt is passed
 * to PAM as a NULL resp.  -ESTALE: seq is not the pending batch (answered,
 * timed out or withdrawn); -EINVAL (wrong n): the batch stays pending and
 * nothing is lost.  Returns 0 or a negative error; does not wait.
 */
int pk_reply(pk_txn *txn, uint64_t seq, const char *const *replies,
	     size_t n);
/* pk_start + pk_wait(-1). */
int pk_begin(pk_txn *txn, enum pk_op op, int flags);
/* pk_reply + pk_wait(-1). */
int pk_answer(pk_txn *txn, uint64_t seq, const char *const *replies,
	      size_t n);
/* Readable when pk_result has a batch or result; -1 in direct mode. */
int pk_fd(pk_txn *txn);
/*
 * From any thread: the waiting (or next) conversation of the running
 * operation returns PAM_CONV_ERR, so the operation unwinds; a queued one is
 * withdrawn and never runs (its result is PAM_CONV_ERR at once).  Returns
 * 0, or -EINVAL when no operation is running.
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
/* A snapshot of the transcript as a batch of its own (seq 0), safe to keep
   and read from any thread; NULL when out of memory. */
pk_batch *pk_transcript_get(pk_txn *txn);

/* ---- Items. --------------------------------------------------------------
 * String items: PAM_SERVICE, PAM_USER, PAM_TTY, PAM_RHOST, PAM_RUSER,
 * PAM_USER_PROMPT, PAM_XDISPLAY, PAM_AUTHTOK_TYPE (and PAM_AUTHTOK /
 * PAM_OLDAUTHTOK as far as libpam lets an application).  PAM_CONV and
 * PAM_FAIL_DELAY belong to the library (-EINVAL).  Allowed while no
 * operation runs or while it waits in a conversation (from the
 * conversation callback too), except that PAM_USER and PAM_SERVICE are
 * not changed under a waiting module (it may hold the old value's
 * pointer): -EBUSY then, as while an operation runs. */
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

/* ---- Worker pool (stepwise operations only). ------------------------------ */
struct pk_pool_config {
	unsigned int max_workers;	/* threads at most (default 256) */
	unsigned int max_idle;		/* idle threads kept (default 16) */
	unsigned int max_queue;		/* queued operations at most, then
					   pk_start says -ENOBUFS (default
					   65536) */
	/* How long a thread waiting for another thread's quick answer spins
	   before it sleeps (default 50 us; PK_POOL_NO_SPIN: never).  Only on
	   machines with several CPUs, and not in a conversation whose
	   transaction's pk_fd is in use (a remote answer is never quick). */
	unsigned int spin_us;
};
#define PK_POOL_NO_SPIN 0xffffffffu
/* Change the limits (0 in a field: keep it).  Applies to the next borrow. */
int pk_pool_configure(const struct pk_pool_config *cfg);
struct pk_pool_stats {
	unsigned int threads;		/* worker threads alive */
	unsigned int busy;		/* running an operation */
	unsigned int queued;		/* operations waiting for a worker */
	unsigned int max_workers;
	unsigned int spin_us;
};
void pk_pool_get_stats(struct pk_pool_stats *st);

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
