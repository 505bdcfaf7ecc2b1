/*
 * txnops.c - truenas_pypam.Transaction's PAM operations: the blocking
 * call, the stepwise begin/start/poll/reply/answer (with timeouts), cancel
 * and get_user.  The type, its constructor, lifecycle, items and
 * properties are txn.c.
 */
#include <errno.h>
#include <string.h>
#include "pypamkit.h"

static int parse_op(PyObject *args, PyObject *kw, int *op, int *flags)
{
	static char *kwlist[] = { "op", "flags", NULL };
	PyObject *o;

	*flags = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i", kwlist, &o, flags))
		return -1;
	*op = pypk_op_from_str(o);
	return *op < 0 ? -1 : 0;
}

PyObject *pypk_m_call(pypk_txn *self, PyObject *args, PyObject *kw)
{
	int op, flags, rc;

	if (parse_op(args, kw, &op, &flags) < 0)
		return NULL;
	if (op == PK_OP_GET_USER) {
		PyErr_SetString(PyExc_ValueError,
				"use get_user() for pam_get_user");
		return NULL;
	}
	rc = pypk_txn_run(self, op, flags);
	if (rc < 0)
		return NULL;
	return pypk_code_or_raise(self, rc, pk_op_name((enum pk_op)op));
}

static int need_stepwise(pypk_txn *self)
{
	if (!pypk_txn_check_open(self))
		return -1;
	if (!self->stepwise) {
		PyErr_SetString(PyExc_RuntimeError,
				"stepwise calls need Transaction(..., "
				"stepwise=True)");
		return -1;
	}
	return 0;
}

/* A batch was just reported to this caller: its answer must go to it. */
static void expect_pending(pypk_txn *self)
{
	pk_batch *b;

	PK_TXN_NOGIL(self, b = pk_batch_get(self->txn));
	self->expect_seq = pk_batch_seq(b);
	pk_batch_unref(b);
}

static PyObject *after_wait(pypk_txn *self, int rc, const char *what)
{
	if (rc == PAM_CONV_AGAIN)
		expect_pending(self);
	if (rc >= 0 && rc != PAM_CONV_AGAIN) {
		self->started = 0;
		if (pypk_txn_finish_delay(self, rc) < 0)
			return NULL;
	}
	return pypk_code_or_raise(self, rc, what);
}

/* begin/answer with timeout=: PAM must come back (a batch or the end)
   within it, else the operation is cancelled and TimeoutError raised. */
static PyObject *step_with_timeout(pypk_txn *self, int op, int flags,
				   PyObject *replies, int ms)
{
	int timed_out = 0;
	int rc = pypk_txn_step(self, op, flags, replies, ms, &timed_out);

	if (rc < 0)
		return NULL;
	if (timed_out) {
		PyErr_Format(PyExc_TimeoutError, "PAM did not answer within "
			     "%.3g s (the operation was cancelled)", ms / 1000.0);
		return NULL;
	}
	return pypk_code_or_raise(self, rc, pk_op_name((enum pk_op)op));
}

PyObject *pypk_m_begin(pypk_txn *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "op", "flags", "timeout", NULL };
	PyObject *o, *timeout = NULL;
	int op, flags = 0, rc, ms;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i$O", kwlist, &o,
					 &flags, &timeout) ||
	    (op = pypk_op_from_str(o)) < 0 || need_stepwise(self) < 0 ||
	    pypk_seconds_ms(timeout, "timeout", &ms) < 0)
		return NULL;
	if (ms >= 0)
		return step_with_timeout(self, op, flags, NULL, ms);
	if (pypk_audit(self, op, flags) < 0)
		return NULL;
	pypk_busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
	rc = pk_start(self->txn, (enum pk_op)op, flags);
	if (rc == 0)
		rc = pk_wait(self->txn, -1);
	Py_END_ALLOW_THREADS
	pypk_busy_leave(self);
	if (rc == -EBUSY || rc == -EINVAL) {
		PyErr_Format(PyExc_RuntimeError, "begin: %s", pk_strerror(rc));
		return NULL;
	}
	self->started = 1;
	return after_wait(self, rc, pk_op_name((enum pk_op)op));
}

PyObject *pypk_m_start(pypk_txn *self, PyObject *args, PyObject *kw)
{
	int op, flags, rc;

	if (parse_op(args, kw, &op, &flags) < 0 || need_stepwise(self) < 0)
		return NULL;
	if (pypk_audit(self, op, flags) < 0)
		return NULL;
	PK_TXN_NOGIL(self, rc = pk_start(self->txn, (enum pk_op)op, flags));
	if (rc < 0) {
		PyErr_Format(rc == -ENOMEM ? PyExc_MemoryError :
			     PyExc_RuntimeError, "start: %s", pk_strerror(rc));
		return NULL;
	}
	self->started = 1;
	Py_RETURN_NONE;
}

PyObject *pypk_m_poll(pypk_txn *self, PyObject *unused)
{
	int rc;

	(void)unused;
	if (need_stepwise(self) < 0)
		return NULL;
	PK_TXN_NOGIL(self, rc = pk_result(self->txn));
	if (rc == -EAGAIN)
		Py_RETURN_NONE;
	if (rc == -EINVAL) {
		PyErr_SetString(PyExc_RuntimeError,
				"poll: no operation was started");
		return NULL;
	}
	return after_wait(self, rc, "poll");
}

/* Replies for the batch begin/answer/poll reported (expect_seq), or the
   pending one; *seq is the batch they answer. */
static int get_replies(pypk_txn *self, PyObject *replies, char ***r,
		       size_t *n, uint64_t *seq)
{
	pk_batch *b;
	size_t want = 0;
	int rc;

	PK_TXN_NOGIL(self, b = pk_batch_get(self->txn));
	if (!b) {
		/* In a child after fork, say so: the parent's login is not
		   ours to answer. */
		if (pk_txn_last_status(self->txn) == -ECHILD)
			pypk_raise_neg(-ECHILD, "reply");
		else
			PyErr_SetString(PyExc_RuntimeError,
					"no conversation is waiting for answers");
		return -1;
	}
	*seq = pk_batch_seq(b);
	pk_batch_messages(b, &want);
	pk_batch_unref(b);
	if (self->expect_seq && self->expect_seq != *seq) {
		/* The batch Python read timed out; this is another one. */
		pypk_raise_neg(-ESTALE, "reply");
		return -1;
	}
	rc = pypk_replies_from_seq(replies, want, r, n, self->conv_owner == NULL);
	if (rc == 0)
		self->expect_seq = 0;
	return rc;
}

PyObject *pypk_m_reply(pypk_txn *self, PyObject *replies)
{
	char **r = NULL;
	size_t n = 0;
	uint64_t seq = 0;
	int rc;

	if (need_stepwise(self) < 0 ||
	    get_replies(self, replies, &r, &n, &seq) < 0)
		return NULL;
	PK_TXN_NOGIL(self, rc = pk_reply(self->txn, seq,
					 (const char *const *)r, n));
	pypk_replies_free(r, n);
	if (rc < 0)
		return pypk_raise_neg(rc == -EINVAL ? -EBUSY : rc, "reply");
	Py_RETURN_NONE;
}

PyObject *pypk_m_answer(pypk_txn *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "replies", "timeout", NULL };
	PyObject *replies, *timeout = NULL;
	char **r = NULL;
	size_t n = 0;
	uint64_t seq = 0;
	int rc, ms;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$O", kwlist, &replies,
					 &timeout) || pypk_seconds_ms(timeout, "timeout", &ms) < 0)
		return NULL;
	if (ms >= 0) {
		if (need_stepwise(self) < 0)
			return NULL;
		return step_with_timeout(self, 0, 0, replies, ms);
	}
	if (need_stepwise(self) < 0 ||
	    get_replies(self, replies, &r, &n, &seq) < 0)
		return NULL;
	pypk_busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
	rc = pk_reply(self->txn, seq, (const char *const *)r, n);
	if (rc == 0)
		rc = pk_wait(self->txn, -1);
	Py_END_ALLOW_THREADS
	pypk_busy_leave(self);
	pypk_replies_free(r, n);
	if (rc == -EINVAL || rc == -EBUSY) {
		PyErr_Format(PyExc_RuntimeError, "answer: %s", pk_strerror(rc));
		return NULL;
	}
	return after_wait(self, rc, "answer");
}

int pypk_txn_step(pypk_txn *self, int op, int flags, PyObject *replies,
		  int timeout_ms, int *timed_out)
{
	char **r = NULL;
	size_t n = 0;
	uint64_t seq = 0;
	int rc;

	*timed_out = 0;
	if (need_stepwise(self) < 0)
		return -1;
	if (replies ? get_replies(self, replies, &r, &n, &seq) < 0
		    : pypk_audit(self, op, flags) < 0)
		return -1;
	pypk_busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
	rc = replies ? pk_reply(self->txn, seq, (const char *const *)r, n)
		     : pk_start(self->txn, (enum pk_op)op, flags);
	if (rc == 0)
		rc = pk_wait(self->txn, timeout_ms);
	if (rc == -ETIMEDOUT) {
		*timed_out = 1;
		/* cut every further conversation short until the op ends */
		do {
			pk_cancel(self->txn);
			rc = pk_wait(self->txn, -1);
		} while (rc == PAM_CONV_AGAIN);
	}
	Py_END_ALLOW_THREADS
	pypk_busy_leave(self);
	pypk_replies_free(r, n);
	if (rc < 0) {
		PyErr_Format(rc == -ENOMEM ? PyExc_MemoryError :
			     PyExc_RuntimeError, "%s: %s",
			     replies ? "reply" : "start", pk_strerror(rc));
		return -1;
	}
	self->started = rc == PAM_CONV_AGAIN;
	if (rc == PAM_CONV_AGAIN)
		expect_pending(self);
	if (rc != PAM_CONV_AGAIN && pypk_txn_finish_delay(self, rc) < 0)
		return -1;
	return rc;
}

PyObject *pypk_m_fileno(pypk_txn *self, PyObject *unused)
{
	(void)unused;
	if (need_stepwise(self) < 0)
		return NULL;
	return PyLong_FromLong(pk_fd(self->txn));
}

PyObject *pypk_m_cancel(pypk_txn *self, PyObject *unused)
{
	(void)unused;
	if (self->txn)
		PK_TXN_NOGIL(self, pk_cancel(self->txn));
	Py_RETURN_NONE;
}

PyObject *pypk_m_get_user(pypk_txn *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "prompt", NULL };
	const char *prompt = NULL;
	struct pypk_frame fr = { 0 };
	char *user = NULL;
	PyObject *code, *res;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|z", kwlist, &prompt) ||
	    !pypk_txn_check_open(self))
		return NULL;
	pypk_busy_enter(self);
	fr.owner = self;
	pypk_frame_push(&fr);
	fr.tstate = PyEval_SaveThread();
	rc = pk_get_user(self->txn, prompt, &user);
	PyEval_RestoreThread(fr.tstate);
	pypk_frame_pop(&fr);
	pypk_busy_leave(self);
	Py_XSETREF(self->conv_error, fr.exc);
	self->conv_error_raised = fr.exc_raised;
	if (rc < 0) {
		free(user);
		return pypk_raise_neg(rc, "get_user");
	}
	code = pypk_code(pypk_state_of_module(self->module), rc);
	if (!code) {
		free(user);
		return NULL;
	}
	res = Py_BuildValue("(Nz)", code, user);
	free(user);
	return res;
}
