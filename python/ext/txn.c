/*
 * txn.c - truenas_pypam.Transaction: the general PAM transaction type over
 * libpamkit (docs/python-core.md): its constructor, lifecycle, items,
 * environment and properties; the PAM operations are txnops.c.  Methods
 * return PAMCode and never raise for a PAM failure.
 */
#include <errno.h>
#include <string.h>
#include "pypamkit.h"
#include <structmember.h>

static void txn_end_raw(pypk_txn *self);

/* A call is about to release the GIL with self->txn in use (a blocking
   call, or a quick one: end() from another thread must not free the handle
   under it either). */
void pypk_busy_enter(pypk_txn *self)
{
	self->busy++;
}

/* ... and is back: an end() that came meanwhile happens now. */
void pypk_busy_leave(pypk_txn *self)
{
	if (--self->busy == 0 && self->end_pending) {
		self->end_pending = 0;
		txn_end_raw(self);
	}
}

/*
 * The pending batch (transcript=0) or a snapshot of the transcript as a
 * list (or tuple) of Message.  libpamkit hands out reference-counted,
 * immutable batches: no lock and no copy of our own.
 */
PyObject *pypk_txn_batch(pypk_txn *self, int transcript, int as_tuple)
{
	pk_batch *b;
	PyObject *res;
	size_t n = 0;

	/* Inside our own callback: the batch it is handling. */
	PyObject *cb = transcript ? NULL : pypk_frame_batch(self);
	if (cb)
		return as_tuple ? PySequence_Tuple(cb) : PySequence_List(cb);
	if (!self->txn || (!transcript && !self->stepwise))
		return as_tuple ? PyTuple_New(0) : PyList_New(0);
	pypk_busy_enter(self);
	Py_BEGIN_ALLOW_THREADS
	b = transcript ? pk_transcript_get(self->txn) : pk_batch_get(self->txn);
	Py_END_ALLOW_THREADS
	pypk_busy_leave(self);
	if (!b && transcript)
		return PyErr_NoMemory();
	const struct pk_message *m = pk_batch_messages(b, &n);
	res = pypk_messages_list(pypk_state_of_module(self->module), m, n,
				 as_tuple);
	pk_batch_unref(b);
	return res;
}

int pypk_op_from_str(PyObject *op)
{
	const char *s;

	if (!PyUnicode_Check(op)) {
		PyErr_Format(PyExc_TypeError, "op must be str, not %s",
			     Py_TYPE(op)->tp_name);
		return -1;
	}
	Py_ssize_t len;
	s = PyUnicode_AsUTF8AndSize(op, &len);
	if (!s)
		return -1;
	/* the names are libpamkit's (pk_op_name): ops are 1..n, no gaps;
	   "authenticate\0x" is no name */
	for (int i = PK_OP_AUTHENTICATE; pk_op_name((enum pk_op)i); i++)
		if ((size_t)len == strlen(pk_op_name((enum pk_op)i)) &&
		    strcmp(s, pk_op_name((enum pk_op)i)) == 0)
			return i;
	PyErr_Format(PyExc_ValueError, "unknown PAM operation %R", op);
	return -1;
}

pypk_txn *pypk_txn_check_open(pypk_txn *self)
{
	if (!self->txn) {
		PyErr_SetString(PyExc_RuntimeError, "transaction has ended");
		return NULL;
	}
	return self;
}

/* sys.audit("truenas_pypam.<op>", user, flags): never a secret. */
int pypk_audit(pypk_txn *self, int op, int flags)
{
	char event[64];
	char *user = NULL;
	int rc;

	if (op == PK_OP_GET_USER)
		return 0;
	snprintf(event, sizeof(event), "truenas_pypam.%s",
		 pk_op_name((enum pk_op)op));
	PK_TXN_NOGIL(self, rc = pk_get_item(self->txn, PAM_USER, &user));
	if (rc < 0)
		user = NULL;
	if (!self->seed_audit) {
		rc = PySys_Audit(event, "(zi)", user, flags);
	} else if (op == PK_OP_SETCRED) {
		pypk_state *st = pypk_state_of_module(self->module);
		PyObject *cop = PyObject_CallFunction(st->cred_op, "i",
						      flags & ~PAM_SILENT);

		rc = cop ? PySys_Audit(event, "(zO)", user, cop) : -1;
		Py_XDECREF(cop);
	} else {
		rc = PySys_Audit(event, "(z)", user);
	}
	free(user);
	return rc;
}

/*
 * With a Python fail_delay_callback the transaction is PK_DELAY_REPORT:
 * libpamkit records the delay libpam computed instead of sleeping, and the
 * callback gets it here, on the Python thread that collected the result of
 * operation rc (never inside PAM, which may be a worker).
 */
int pypk_txn_finish_delay(pypk_txn *self, int rc)
{
	unsigned int usec;
	PyObject *r;

	if (!self->fd_callback || !self->txn || rc == PAM_SUCCESS || rc < 0)
		return 0;
	usec = pk_txn_fail_delay_usec(self->txn);
	if (!usec)
		return 0;
	r = PyObject_CallFunction(self->fd_callback, "iI", rc, usec);
	if (!r)
		return -1;
	Py_DECREF(r);
	return 0;
}

static void store_conv_error(pypk_txn *self, PyObject *exc)
{
	/* steals exc */
	Py_XSETREF(self->conv_error, exc);
}

int pypk_txn_run(pypk_txn *self, int op, int flags)
{
	struct pypk_frame fr = { 0 };
	int rc;

	if (!pypk_txn_check_open(self) || pypk_audit(self, op, flags) < 0)
		return -1;
	pypk_busy_enter(self);
	fr.owner = self;
	pypk_frame_push(&fr);
	fr.tstate = PyEval_SaveThread();
	rc = pk_call(self->txn, (enum pk_op)op, flags);
	PyEval_RestoreThread(fr.tstate);
	pypk_frame_pop(&fr);
	pypk_busy_leave(self);
	store_conv_error(self, fr.exc);
	self->conv_error_raised = fr.exc_raised;
	/* Ctrl-C or sys.exit() in the conversation is never swallowed, not
	   even when PAM went on and succeeded (an info message). */
	if (fr.exc && !PyObject_IsInstance(fr.exc, PyExc_Exception)) {
		PyErr_SetObject(PyExceptionInstance_Class(fr.exc), fr.exc);
		return -1;
	}
	if (pypk_txn_finish_delay(self, rc) < 0)
		return -1;
	if (rc < 0) {
		pypk_raise_neg(rc, pk_op_name((enum pk_op)op));
		return -1;
	}
	return rc;
}

PyObject *pypk_code_or_raise(pypk_txn *self, int rc, const char *what)
{
	if (rc < 0)
		return pypk_raise_neg(rc, what);
	return pypk_code(pypk_state_of_module(self->module), rc);
}

PyObject *pypk_txn_new(pypk_state *st, PyObject *module,
		       const struct pk_options *o)
{
	pypk_txn *self;
	struct pk_options opts = *o;
	int rc;

	self = PyObject_GC_New(pypk_txn, st->txn_type);
	if (!self)
		return NULL;
	self->txn = NULL;
	self->module = Py_NewRef(module);
	self->conv = NULL;
	self->conv_owner = NULL;
	self->conv_private = NULL;
	self->conv_error = NULL;
	self->conv_error_raised = 0;
	self->history = NULL;
	self->seed_audit = 0;
	self->fd_callback = NULL;
	self->stepwise = opts.mode == PK_MODE_STEPWISE;
	self->started = 0;
	self->busy = 0;
	self->end_pending = 0;
	self->weakreflist = NULL;
	self->expect_seq = 0;
	PyObject_GC_Track(self);

	opts.conv = pypk_conv_cb;
	opts.conv_data = self;
	/* Only a Python fail-delay callback takes the delay over (see
	   pypk_txn_finish_delay); otherwise libpam sleeps, with the GIL
	   released (or on the stepwise worker). */
	Py_BEGIN_ALLOW_THREADS
	rc = pk_txn_create(&opts, &self->txn);
	Py_END_ALLOW_THREADS
	if (rc != PAM_SUCCESS) {
		if (rc < 0)
			pypk_raise_neg(rc, "pam_start");
		else
			pypk_raise_pam(st, rc, "pam_start", NULL);
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

/* ---- constructor -------------------------------------------------------- */

static int text_arg(PyObject *o, const char *name, const char **out,
		    int allow_bytes)
{
	Py_ssize_t len;

	if (!o || o == Py_None) {
		*out = NULL;
		return 0;
	}
	if (allow_bytes && PyBytes_Check(o)) {
		/* borrowed from the caller's argument, alive for the call */
		*out = PyBytes_AS_STRING(o);
		len = PyBytes_GET_SIZE(o);
	} else if (!PyUnicode_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s must be %s or None, not %s",
			     name, allow_bytes ? "str, bytes" : "str",
			     Py_TYPE(o)->tp_name);
		return -1;
	} else {
		*out = PyUnicode_AsUTF8AndSize(o, &len);
		if (!*out)
			return -1;
	}
	if (strlen(*out) != (size_t)len) {
		PyErr_Format(PyExc_ValueError, "%s contains a NUL character",
			     name);
		return -1;
	}
	return 0;
}

int pypk_opt_str(PyObject *o, const char *name, const char **out)
{
	return text_arg(o, name, out, 0);
}

int pypk_opt_text(PyObject *o, const char *name, const char **out)
{
	return text_arg(o, name, out, 1);
}

/* Seconds (int or float, not bool; None: no limit) as ms, at least 1:
   step_timeout= and the begin/answer timeout= alike. */
int pypk_seconds_ms(PyObject *o, const char *name, int *ms)
{
	double t;

	*ms = -1;
	if (!o || o == Py_None)
		return 0;
	if ((!PyLong_Check(o) && !PyFloat_Check(o)) || PyBool_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s must be a number of seconds "
			     "or None, not %s", name, Py_TYPE(o)->tp_name);
		return -1;
	}
	t = PyFloat_AsDouble(o);
	if (t == -1.0 && PyErr_Occurred())
		return -1;
	if (!(t > 0) || t > PYPK_SECONDS_MAX) {
		PyErr_Format(PyExc_ValueError, "%s must be > 0 and <= %d seconds",
			     name, PYPK_SECONDS_MAX);
		return -1;
	}
	*ms = (int)(t * 1000.0);
	if (*ms == 0)
		*ms = 1;
	return 0;
}

/* usec as an unsigned int: TypeError for non-int (bool too), ValueError
   out of range. */
static int usec_arg(PyObject *v, const char *name, unsigned int *out)
{
	long l;

	if (!PyLong_Check(v) || PyBool_Check(v)) {
		/* (ASCII only: PyErr_Format's format must be) */
		PyErr_Format(PyExc_TypeError, "%s must be an int "
			     "(microseconds), not %s", name,
			     Py_TYPE(v)->tp_name);
		return -1;
	}
	l = PyLong_AsLong(v);
	if (l == -1 && PyErr_Occurred()) {
		if (!PyErr_ExceptionMatches(PyExc_OverflowError))
			return -1;
		PyErr_Clear();
		l = -1;
	}
	if (l < 0 || l > (long)UINT_MAX) {
		PyErr_Format(PyExc_ValueError, "%s out of range", name);
		return -1;
	}
	*out = (unsigned int)l;
	return 0;
}

int pypk_parse_fail_delay(PyObject *v, const char *name,
			  struct pk_options *o)
{
	if (!v || v == Py_None)
		return 0;
	if (usec_arg(v, name, &o->fail_delay_usec) < 0)
		return -1;
	o->has_fail_delay = true;
	return 0;
}

static PyObject *txn_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "service", "user", "confdir", "rhost",
		"ruser", "tty", "xdisplay", "user_prompt", "authtok_type",
		"fail_delay", "fail_delay_callback", "conversation",
		"stepwise", "step_timeout", NULL };
	PyObject *service, *user = NULL, *confdir = NULL, *rhost = NULL,
		 *ruser = NULL, *tty = NULL, *xdisplay = NULL,
		 *user_prompt = NULL, *authtok_type = NULL,
		 *fail_delay = NULL, *fd_cb = NULL, *conv = NULL,
		 *step_timeout = NULL;
	int stepwise = 0;
	struct pk_options o = { 0 };
	pypk_state *st = pypk_state_of_type(type);
	PyObject *module;
	pypk_txn *self;

	if (!st)
		return NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O$OOOOOOOOOOpO", kwlist,
			&service, &user, &confdir, &rhost, &ruser, &tty,
			&xdisplay, &user_prompt, &authtok_type, &fail_delay,
			&fd_cb, &conv, &stepwise, &step_timeout))
		return NULL;
	/* bytes too: PAM strings are bytes, and a name that is not UTF-8
	   must still reach PAM as it is (pamphlet accepts them) */
	if (!PyUnicode_Check(service) && !PyBytes_Check(service)) {
		PyErr_Format(PyExc_TypeError,
			     "service must be str or bytes, not %s",
			     Py_TYPE(service)->tp_name);
		return NULL;
	}
	if (pypk_opt_text(service, "service", &o.service) < 0 ||
	    pypk_opt_text(user, "user", &o.user) < 0 ||
	    pypk_opt_text(confdir, "confdir", &o.confdir) < 0 ||
	    pypk_opt_text(rhost, "rhost", &o.rhost) < 0 ||
	    pypk_opt_text(ruser, "ruser", &o.ruser) < 0 ||
	    pypk_opt_text(tty, "tty", &o.tty) < 0 ||
	    pypk_opt_text(xdisplay, "xdisplay", &o.xdisplay) < 0 ||
	    pypk_opt_text(user_prompt, "user_prompt", &o.user_prompt) < 0 ||
	    pypk_opt_text(authtok_type, "authtok_type", &o.authtok_type) < 0)
		return NULL;
	if (!*o.service) {
		PyErr_SetString(PyExc_ValueError, "service must not be empty");
		return NULL;
	}
	if (pypk_parse_fail_delay(fail_delay, "fail_delay", &o) < 0)
		return NULL;
	if (fd_cb == Py_None)
		fd_cb = NULL;
	if (conv == Py_None)
		conv = NULL;
	if ((fd_cb && !PyCallable_Check(fd_cb)) ||
	    (conv && !PyCallable_Check(conv))) {
		PyErr_SetString(PyExc_TypeError,
				"conversation and fail_delay_callback must be "
				"callable");
		return NULL;
	}
	{
		int ms;

		if (pypk_seconds_ms(step_timeout, "step_timeout", &ms))
			return NULL;
		if (ms > 0)
			o.step_timeout_ms = (unsigned int)ms;
	}
	o.mode = stepwise ? PK_MODE_STEPWISE : PK_MODE_DIRECT;
	if (fd_cb)
		o.delay_mode = PK_DELAY_REPORT;
	module = PyType_GetModuleByDef(type, &pypk_module);
	if (!module)
		return NULL;
	self = (pypk_txn *)pypk_txn_new(st, module, &o);
	if (!self)
		return NULL;
	Py_XINCREF(conv);
	self->conv = conv;
	Py_XINCREF(fd_cb);
	self->fd_callback = fd_cb;
	return (PyObject *)self;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void txn_end_raw(pypk_txn *self)
{
	pk_txn *t = self->txn;

	self->txn = NULL;
	if (!t)
		return;
	Py_BEGIN_ALLOW_THREADS
	pk_txn_end(t);
	Py_END_ALLOW_THREADS
}

static int txn_clear(pypk_txn *self)
{
	Py_CLEAR(self->conv);
	Py_CLEAR(self->conv_private);
	Py_CLEAR(self->conv_error);
	Py_CLEAR(self->history);
	Py_CLEAR(self->fd_callback);
	return 0;
}

static int txn_traverse(pypk_txn *self, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE(self));
	Py_VISIT(self->module);
	Py_VISIT(self->conv);
	Py_VISIT(self->conv_private);
	Py_VISIT(self->conv_error);
	Py_VISIT(self->history);
	Py_VISIT(self->fd_callback);
	return 0;
}

static void txn_dealloc(pypk_txn *self)
{
	PyTypeObject *tp = Py_TYPE(self);

	PyObject_GC_UnTrack(self);
	if (self->weakreflist)
		PyObject_ClearWeakRefs((PyObject *)self);
	txn_end_raw(self);
	txn_clear(self);
	Py_CLEAR(self->module);
	tp->tp_free(self);
	Py_DECREF(tp);
}

static PyObject *txn_end(pypk_txn *self, PyObject *unused)
{
	(void)unused;
	if (self->busy && self->txn) {
		/* another thread is inside a blocking call on this handle:
		   cut its conversation short; it ends the handle on return */
		self->end_pending = 1;
		PK_NOGIL(pk_cancel(self->txn));
		Py_RETURN_NONE;
	}
	txn_end_raw(self);
	Py_RETURN_NONE;
}

/* ---- items and environment ---------------------------------------------- */

static int item_of(PyObject *name)
{
	const char *s;
	int it;

	if (!PyUnicode_Check(name)) {
		PyErr_SetString(PyExc_TypeError, "item name must be str");
		return -1;
	}
	s = PyUnicode_AsUTF8(name);
	if (!s)
		return -1;
	it = pk_item_from_name(s);
	if (it < 0)
		PyErr_Format(PyExc_ValueError, "unknown PAM item %R", name);
	return it;
}

static PyObject *txn_get_item_m(pypk_txn *self, PyObject *name)
{
	int it = item_of(name);

	return it < 0 ? NULL : pypk_txn_get_item(self, it);
}

static PyObject *txn_set_item_m(pypk_txn *self, PyObject *args)
{
	PyObject *name, *value;
	int it;

	if (!PyArg_ParseTuple(args, "OO", &name, &value))
		return NULL;
	it = item_of(name);
	if (it < 0 || pypk_txn_set_item(self, it, value) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *txn_getenv(pypk_txn *self, PyObject *name)
{
	return pypk_txn_getenv(self, name);
}

static PyObject *txn_setenv(pypk_txn *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name", "value", "readonly", NULL };
	PyObject *name, *value;
	int ro = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|p", kwlist, &name,
					 &value, &ro))
		return NULL;
	if (value == Py_None) {
		PyErr_SetString(PyExc_TypeError,
				"value must be str or bytes (use unsetenv)");
		return NULL;
	}
	if (pypk_txn_setenv(self, name, value, ro) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *txn_unsetenv(pypk_txn *self, PyObject *name)
{
	if (pypk_txn_setenv(self, name, NULL, 0) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *txn_getenvlist(pypk_txn *self, PyObject *unused)
{
	(void)unused;
	return pypk_txn_envdict(self);
}

int pypk_txn_set_conv(pypk_txn *self, PyObject *conv)
{
	if (conv == Py_None)
		conv = NULL;
	if (conv && !PyCallable_Check(conv)) {
		PyErr_SetString(PyExc_TypeError,
				"conversation function must be callable");
		return -1;
	}
	Py_XINCREF(conv);
	Py_XSETREF(self->conv, conv);
	return 0;
}

static PyObject *txn_set_conversation(pypk_txn *self, PyObject *conv)
{
	if (pypk_txn_set_conv(self, conv) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *txn_fail_delay(pypk_txn *self, PyObject *arg)
{
	unsigned int v;
	int rc;

	if (!pypk_txn_check_open(self) || usec_arg(arg, "usec", &v) < 0)
		return NULL;
	PK_TXN_NOGIL(self, rc = pk_fail_delay(self->txn, v));
	return pypk_code_or_raise(self, rc, "fail_delay");
}

/* ---- properties --------------------------------------------------------- */

static PyObject *txn_messages(pypk_txn *self, void *c)
{
	(void)c;
	return pypk_txn_batch(self, 0, 0);
}

static PyObject *txn_transcript(pypk_txn *self, void *c)
{
	(void)c;
	return pypk_txn_batch(self, 1, 0);
}

static PyObject *txn_interrupted(pypk_txn *self, void *c)
{
	int r;

	(void)c;
	if (!self->txn)
		Py_RETURN_NONE;
	PK_TXN_NOGIL(self, r = pk_txn_interrupted(self->txn));
	if (r == -ETIMEDOUT)
		return PyUnicode_FromString("timeout");
	if (r == -ECANCELED)
		return PyUnicode_FromString("cancelled");
	Py_RETURN_NONE;
}

static PyObject *txn_last_status(pypk_txn *self, void *c)
{
	(void)c;
	if (!pypk_txn_check_open(self))
		return NULL;
	int rc;

	PK_TXN_NOGIL(self, rc = pk_txn_last_status(self->txn));
	return pypk_code_or_raise(self, rc, "last_status");
}

static PyObject *txn_conv_error(pypk_txn *self, void *c)
{
	(void)c;
	return Py_NewRef(self->conv_error ? self->conv_error : Py_None);
}

static PyObject *txn_ended(pypk_txn *self, void *c)
{
	(void)c;
	return PyBool_FromLong(self->txn == NULL);
}

static PyObject *txn_inherited(pypk_txn *self, void *c)
{
	(void)c;
	return PyBool_FromLong(self->txn && pk_txn_inherited(self->txn));
}

static PyObject *txn_is_stepwise(pypk_txn *self, void *c)
{
	(void)c;
	return PyBool_FromLong(self->stepwise);
}

static PyGetSetDef txn_getset[] = {
	{ "messages", (getter)txn_messages, NULL,
	  "pending batch of messages", NULL },
	{ "transcript", (getter)txn_transcript, NULL,
	  "info/error messages of the current or last operation", NULL },
	{ "interrupted", (getter)txn_interrupted, NULL,
	  "'timeout', 'cancelled' or None", NULL },
	{ "last_status", (getter)txn_last_status, NULL,
	  "PAMCode of the last finished operation", NULL },
	{ "conversation_error", (getter)txn_conv_error, NULL,
	  "exception raised by the last conversation callback", NULL },
	{ "ended", (getter)txn_ended, NULL, "end() was called", NULL },
	{ "stepwise", (getter)txn_is_stepwise, NULL, "stepwise mode", NULL },
	{ "inherited", (getter)txn_inherited, NULL,
	  "True in a child after fork(): the parent's transaction, which "
	  "this process must not touch (end() only frees memory)", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyMethodDef txn_methods[] = {
	{ "call", (PyCFunction)(void (*)(void))pypk_m_call,
	  METH_VARARGS | METH_KEYWORDS, "call(op, flags=0) -> PAMCode" },
	{ "begin", (PyCFunction)(void (*)(void))pypk_m_begin,
	  METH_VARARGS | METH_KEYWORDS,
	  "begin(op, flags=0, *, timeout=None) -> PAMCode; timeout: seconds "
	  "PAM may take to come back (TimeoutError, operation cancelled)" },
	{ "answer", (PyCFunction)(void (*)(void))pypk_m_answer,
	  METH_VARARGS | METH_KEYWORDS,
	  "answer(replies, *, timeout=None) -> PAMCode" },
	{ "start", (PyCFunction)(void (*)(void))pypk_m_start,
	  METH_VARARGS | METH_KEYWORDS, "start(op, flags=0)" },
	{ "poll", (PyCFunction)pypk_m_poll, METH_NOARGS,
	  "poll() -> PAMCode | None" },
	{ "reply", (PyCFunction)pypk_m_reply, METH_O, "reply(replies)" },
	{ "fileno", (PyCFunction)pypk_m_fileno, METH_NOARGS, "pollable fd" },
	{ "cancel", (PyCFunction)pypk_m_cancel, METH_NOARGS,
	  "fail the pending conversation" },
	{ "end", (PyCFunction)txn_end, METH_NOARGS, "end the transaction" },
	{ "get_item", (PyCFunction)txn_get_item_m, METH_O, "get_item(name)" },
	{ "set_item", (PyCFunction)txn_set_item_m, METH_VARARGS,
	  "set_item(name, value)" },
	{ "get_user", (PyCFunction)(void (*)(void))pypk_m_get_user,
	  METH_VARARGS | METH_KEYWORDS, "get_user(prompt=None)" },
	{ "getenv", (PyCFunction)txn_getenv, METH_O, "getenv(name)" },
	{ "setenv", (PyCFunction)(void (*)(void))txn_setenv,
	  METH_VARARGS | METH_KEYWORDS, "setenv(name, value, readonly=False)" },
	{ "unsetenv", (PyCFunction)txn_unsetenv, METH_O, "unsetenv(name)" },
	{ "getenvlist", (PyCFunction)txn_getenvlist, METH_NOARGS,
	  "getenvlist() -> dict" },
	{ "set_conversation", (PyCFunction)txn_set_conversation, METH_O,
	  "set_conversation(callable)" },
	{ "fail_delay", (PyCFunction)txn_fail_delay, METH_O,
	  "fail_delay(usec)" },
	{ NULL, NULL, 0, NULL },
};

static PyMemberDef txn_members[] = {
	{ "__weaklistoffset__", T_PYSSIZET,
	  offsetof(pypk_txn, weakreflist), READONLY, NULL },
	{ NULL, 0, 0, 0, NULL },
};

static PyType_Slot txn_slots[] = {
	{ Py_tp_new, txn_new },
	{ Py_tp_dealloc, txn_dealloc },
	{ Py_tp_traverse, txn_traverse },
	{ Py_tp_clear, txn_clear },
	{ Py_tp_methods, txn_methods },
	{ Py_tp_getset, txn_getset },
	{ Py_tp_members, txn_members },
	{ Py_tp_doc, "A PAM transaction over libpamkit." },
	{ 0, NULL },
};

static PyType_Spec txn_spec = {
	.name = "truenas_pypam.Transaction",
	.basicsize = sizeof(pypk_txn),
	.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.slots = txn_slots,
};

int pypk_txn_type_init(PyObject *module, pypk_state *st)
{
	st->txn_type = (PyTypeObject *)PyType_FromModuleAndSpec(module,
							&txn_spec, NULL);
	if (!st->txn_type)
		return -1;
	return PyModule_AddType(module, st->txn_type);
}
