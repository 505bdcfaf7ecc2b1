/*
 * pypamkit.h - shared declarations of the truenas_pypam extension.
 */
#ifndef PYPAMKIT_H
#define PYPAMKIT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <pamkit/pamkit.h>

/* Run a libpamkit call with the GIL released: a transaction's lock may be
   held by a thread that waits for the GIL in its conversation callback, so
   the GIL is never held while waiting for that lock. */
#define PK_NOGIL(stmt) do { Py_BEGIN_ALLOW_THREADS stmt; \
			    Py_END_ALLOW_THREADS } while (0)

typedef struct {
	PyTypeObject *txn_type;
	PyTypeObject *ctx_type;
	PyTypeObject *msg_type;		/* struct_pam_message (structseq) */
	PyObject *pam_code;		/* PAMCode IntEnum */
	PyObject *msg_style;		/* MSGStyle IntEnum */
	PyObject *cred_op;		/* CredOp IntEnum */
	/* Members made once at import: calling an Enum class per message or
	   result runs Python code in enum.py (about a microsecond each). */
	PyObject *code_members;		/* tuple: PAMCode(i) or int i */
	PyObject *style_members;	/* tuple: MSGStyle(i) or int i */
	PyObject *pam_error;		/* PAMError(RuntimeError) */
} pypk_state;

/* The Transaction object: the one C core every Python front uses. */
typedef struct {
	PyObject_HEAD
	pk_txn *txn;
	PyObject *module;		/* strong: keeps the state alive */
	PyObject *conv;			/* callable or NULL */
	PyObject *conv_owner;		/* borrowed PamContext for the seed's
					   (ctx, messages, private) signature */
	PyObject *conv_private;
	PyObject *conv_error;		/* exception of the last conversation */
	int conv_error_raised;		/* raised by the callable itself */
	PyObject *history;		/* PamContext: list of message batches
					   (tuples), or NULL */
	int seed_audit;			/* PamContext: audit args as the seed
					   project: (user,), setcred (user, op) */
	PyObject *fd_callback;		/* fail delay callback */
	int stepwise;
	int started;			/* start() issued, result not yet read */
	int busy;			/* calls running without the GIL on
					   self->txn (GIL-guarded) */
	int end_pending;		/* end() came while busy */
	uint64_t expect_seq;		/* seq of the batch begin/answer/poll
					   last reported; replies go to it or
					   fail (ESTALE); 0: the pending one */
	PyObject *weakreflist;
} pypk_txn;

extern PyModuleDef pypk_module;

pypk_state *pypk_state_of_type(PyTypeObject *tp);
pypk_state *pypk_state_of_module(PyObject *module);

/* enums.c */
int pypk_enums_init(PyObject *module, pypk_state *st);
PyObject *pypk_code(pypk_state *st, int code);	/* PAMCode(code) or int */
PyObject *pypk_style(pypk_state *st, int style); /* MSGStyle(style) or int */

/* error.c */
int pypk_error_init(PyObject *module, pypk_state *st);
/* Raise PAMError for a PAM code; chain cause (may be NULL). Returns NULL. */
PyObject *pypk_raise_pam(pypk_state *st, int code, const char *location,
			 PyObject *cause);
/* Raise the Python exception matching a negative libpamkit error. */
PyObject *pypk_raise_neg(int err, const char *what);

/* conv.c */
int pypk_conv_cb(pk_txn *txn, const struct pk_message *msgs, size_t n,
		 char **replies, void *data);
PyObject *pypk_messages_list(pypk_state *st, const struct pk_message *m,
			     size_t n, int as_tuple);
/* Replies list -> malloc'd array of malloc'd strings; wipe with
   pypk_replies_free.  Returns -1 with an exception set. */
int pypk_replies_from_seq(PyObject *seq, size_t want, char ***out,
			  size_t *n, int allow_bytes);
void pypk_replies_free(char **r, size_t n);

/* Per-thread frame of a blocking call: the conversation callback re-takes
   the GIL with the saved thread state. */
struct pypk_frame {
	PyThreadState *tstate;
	PyObject *exc;			/* first exception from the callback */
	int exc_raised;			/* ... raised by the callable itself
					   (not our check of its answer) */
	struct pypk_frame *prev;
	const void *owner;		/* the pypk_txn of the blocking call */
	PyObject *batch;		/* borrowed: the list the callback is
					   handling, while it runs */
};
/* The batch this thread's callback on owner handles now (borrowed), or NULL. */
PyObject *pypk_frame_batch(const void *owner);
void pypk_frame_push(struct pypk_frame *f);
void pypk_frame_pop(struct pypk_frame *f);

/* txn.c */
int pypk_txn_type_init(PyObject *module, pypk_state *st);
int pypk_op_from_str(PyObject *op);
/* Blocking operation with GIL released and audit event.  Returns the PAM
   code (>= 0) or -1 with an exception set. */
int pypk_txn_run(pypk_txn *self, int op, int flags);
int pypk_txn_finish_delay(pypk_txn *self, int rc);
/* Around a GIL-free section using self->txn: end() from another thread
   waits for it (the handle must outlive every call under way). */
void pypk_busy_enter(pypk_txn *self);
void pypk_busy_leave(pypk_txn *self);
#define PK_TXN_NOGIL(self, stmt) do { pypk_busy_enter(self); \
				       PK_NOGIL(stmt); \
				       pypk_busy_leave(self); } while (0)
/* The pending batch (transcript=0) or the transcript as a list (or tuple)
   of Message, from libpamkit's reference-counted batches. */
PyObject *pypk_txn_batch(pypk_txn *self, int transcript, int as_tuple);
PyObject *pypk_txn_new(pypk_state *st, PyObject *module,
		       const struct pk_options *o);
int pypk_audit(pypk_txn *self, int op, int flags);
/* One stepwise step for the seed's begin/continue_authentication: start op
   (replies NULL) or answer the pending batch with replies, then wait up to
   timeout_ms (-1: forever) with the GIL released.  A timeout cancels the
   conversation, collects the operation's end and sets *timed_out.  Returns
   PAM_CONV_AGAIN, the final PAM code, or -1 with an exception set. */
int pypk_txn_step(pypk_txn *self, int op, int flags, PyObject *replies,
		  int timeout_ms, int *timed_out);
/* None/absent -> NULL; else a str without NUL (TypeError, ValueError). */
int pypk_opt_str(PyObject *o, const char *name, const char **out);
/* Seconds (int/float, not bool; None: no limit -> *ms = -1) as ms >= 1;
   TypeError / ValueError past PYPK_SECONDS_MAX. */
#define PYPK_SECONDS_MAX 86400
int pypk_seconds_ms(PyObject *o, const char *name, int *ms);
/* the same, bytes accepted too (borrowed: valid while o is) */
int pypk_opt_text(PyObject *o, const char *name, const char **out);
/* fail_delay argument (None or int µs) into o; -1 with an exception set. */
int pypk_parse_fail_delay(PyObject *v, const char *name,
			  struct pk_options *o);

/* The PAM code as a PAMCode, or the Python error for a negative one. */
PyObject *pypk_code_or_raise(pypk_txn *self, int rc, const char *what);

/* txnops.c: the Transaction methods that run PAM operations */
PyObject *pypk_m_call(pypk_txn *self, PyObject *args, PyObject *kw);
PyObject *pypk_m_begin(pypk_txn *self, PyObject *args, PyObject *kw);
PyObject *pypk_m_start(pypk_txn *self, PyObject *args, PyObject *kw);
PyObject *pypk_m_poll(pypk_txn *self, PyObject *unused);
PyObject *pypk_m_reply(pypk_txn *self, PyObject *replies);
PyObject *pypk_m_answer(pypk_txn *self, PyObject *args, PyObject *kw);
PyObject *pypk_m_fileno(pypk_txn *self, PyObject *unused);
PyObject *pypk_m_cancel(pypk_txn *self, PyObject *unused);
PyObject *pypk_m_get_user(pypk_txn *self, PyObject *args, PyObject *kw);

/* The transaction, or NULL with RuntimeError once it has ended. */
pypk_txn *pypk_txn_check_open(pypk_txn *self);
/* items.c */
PyObject *pypk_txn_get_item(pypk_txn *self, int item);
int pypk_txn_set_item(pypk_txn *self, int item, PyObject *value);
PyObject *pypk_txn_getenv(pypk_txn *self, PyObject *name);
int pypk_txn_setenv(pypk_txn *self, PyObject *name, PyObject *value,
		    int readonly);
PyObject *pypk_txn_envdict(pypk_txn *self);
int pypk_txn_set_conv(pypk_txn *self, PyObject *conv);

/* ctx.c */
int pypk_ctx_type_init(PyObject *module, pypk_state *st);
PyObject *pypk_get_context(PyObject *module, PyObject *args, PyObject *kw);

#endif
