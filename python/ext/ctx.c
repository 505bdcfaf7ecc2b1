/*
 * ctx.c - the seed's PamContext and get_context(): a thin layer over the
 * Transaction core that raises PAMError for PAM failures.
 */
#include <stdint.h>
#include <string.h>
#include "pypamkit.h"
#include <structmember.h>

/* Where a context without a conversation function is in its one
   begin_authentication / continue_authentication exchange. */
enum { AUTH_IDLE, AUTH_PENDING, AUTH_DONE };

typedef struct {
	PyObject_HEAD
	/* DIRECT-mode Transaction with a conversation function; without one
	   STEPWISE (begin_authentication / continue_authentication) */
	pypk_txn *txn;
	int threaded;			/* no conversation_function */
	int auth_state;			/* AUTH_* (threaded contexts) */
	/* The order truenas/truenas_pypam enforces before PAM is called:
	   a session needs a successful authentication, one at a time. */
	int authenticated;
	int session_open;
	PyObject *weakreflist;
} pypk_ctx;

static pypk_state *ctx_state(pypk_ctx *self)
{
	return pypk_state_of_type(Py_TYPE(self));
}

/* Run op; raise PAMError on failure.  An exception the conversation
   function itself raised propagates unchanged, the same object, as in
   truenas/truenas_pypam, whatever PAM made of the failed conversation (a
   module may go on after an info message); an answer of the wrong shape
   is a PAMError (PAM_CONV_ERR) with our TypeError/ValueError chained. */
static PyObject *run(pypk_ctx *self, int op, int flags, const char *loc)
{
	int rc = pypk_txn_run(self->txn, op, flags);
	PyObject *exc = self->txn->conv_error;

	if (rc < 0)
		return NULL;
	if (exc && self->txn->conv_error_raised) {
		PyErr_SetObject(PyExceptionInstance_Class(exc), exc);
		return NULL;
	}
	if (rc != PAM_SUCCESS)
		return pypk_raise_pam(ctx_state(self), rc, loc, exc);
	Py_RETURN_NONE;
}

#define FLAG(v, f) ((v) ? (f) : 0)

static PyObject *ctx_authenticate(pypk_ctx *self, PyObject *args,
				  PyObject *kw)
{
	static char *kwlist[] = { "silent", "disallow_null_authtok", NULL };
	int silent = 0, dna = 0;

	PyObject *r;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$pp", kwlist, &silent,
					 &dna))
		return NULL;
	r = run(self, PK_OP_AUTHENTICATE, FLAG(silent, PAM_SILENT) |
		FLAG(dna, PAM_DISALLOW_NULL_AUTHTOK), "pam_authenticate");
	self->authenticated = r != NULL;
	return r;
}

static PyObject *ctx_acct_mgmt(pypk_ctx *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "silent", "disallow_null_authtok", NULL };
	int silent = 0, dna = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$pp", kwlist, &silent,
					 &dna))
		return NULL;
	return run(self, PK_OP_ACCT_MGMT, FLAG(silent, PAM_SILENT) |
		   FLAG(dna, PAM_DISALLOW_NULL_AUTHTOK), "pam_acct_mgmt");
}

static PyObject *ctx_chauthtok(pypk_ctx *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "silent", "change_expired_authtok", NULL };
	int silent = 0, cea = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$pp", kwlist, &silent,
					 &cea))
		return NULL;
	return run(self, PK_OP_CHAUTHTOK, FLAG(silent, PAM_SILENT) |
		   FLAG(cea, PAM_CHANGE_EXPIRED_AUTHTOK), "pam_chauthtok");
}

static PyObject *ctx_open_session(pypk_ctx *self, PyObject *args,
				  PyObject *kw)
{
	static char *kwlist[] = { "silent", NULL };
	int silent = 0;

	PyObject *r;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$p", kwlist, &silent))
		return NULL;
	if (!self->authenticated) {
		PyErr_SetString(PyExc_ValueError, "open_session() requires a "
				"successful authentication first");
		return NULL;
	}
	if (self->session_open) {
		PyErr_SetString(PyExc_ValueError,
				"a PAM session is already open");
		return NULL;
	}
	r = run(self, PK_OP_OPEN_SESSION, FLAG(silent, PAM_SILENT),
		"pam_open_session");
	self->session_open = r != NULL;
	return r;
}

static PyObject *ctx_close_session(pypk_ctx *self, PyObject *args,
				   PyObject *kw)
{
	static char *kwlist[] = { "silent", NULL };
	int silent = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$p", kwlist, &silent))
		return NULL;
	if (!self->session_open) {
		PyErr_SetString(PyExc_ValueError,
				"close_session() requires an open session");
		return NULL;
	}
	self->session_open = 0;		/* closed, whatever PAM says */
	return run(self, PK_OP_CLOSE_SESSION, FLAG(silent, PAM_SILENT),
		   "pam_close_session");
}

static PyObject *ctx_setcred(pypk_ctx *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "operation", "silent", NULL };
	PyObject *opobj = NULL;
	int silent = 0;
	long op;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$Op", kwlist, &opobj,
					 &silent))
		return NULL;
	/* as truenas/truenas_pypam: the operation is required, and only a
	   CredOp member will do (not 2, not "establish") */
	if (!opobj) {
		PyErr_SetString(PyExc_TypeError, "operation is required");
		return NULL;
	}
	int is_member = PyObject_IsInstance(opobj, ctx_state(self)->cred_op);
	if (is_member < 0)
		return NULL;
	if (!is_member) {
		PyErr_SetString(PyExc_TypeError,
				"operation must be a CredOp enum member");
		return NULL;
	}
	op = PyLong_AsLong(opobj);
	if (op == -1 && PyErr_Occurred())
		return NULL;
	return run(self, PK_OP_SETCRED, (int)op | FLAG(silent, PAM_SILENT),
		   "pam_setcred");
}

static PyObject *ctx_get_env(pypk_ctx *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name", NULL };
	PyObject *name;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O", kwlist, &name))
		return NULL;
	return pypk_txn_getenv(self->txn, name);
}

static PyObject *ctx_set_env(pypk_ctx *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name", "value", "readonly", NULL };
	PyObject *name = NULL, *value = Py_None;
	int ro = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$OOp", kwlist, &name,
					 &value, &ro))
		return NULL;
	if (!name) {
		PyErr_SetString(PyExc_TypeError,
				"set_env() missing required keyword argument "
				"'name'");
		return NULL;
	}
	/* str only, as upstream (Transaction takes bytes too) */
	if (value != Py_None && !PyUnicode_Check(value)) {
		PyErr_SetString(PyExc_TypeError,
				"environment value must be str");
		return NULL;
	}
	if (pypk_txn_setenv(self->txn, name, value, ro) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *ctx_env_dict(pypk_ctx *self, PyObject *unused)
{
	(void)unused;
	return pypk_txn_envdict(self->txn);
}

/* Every batch of messages PAM sent, in order: a tuple of tuples. */
static PyObject *ctx_messages(pypk_ctx *self, PyObject *unused)
{
	(void)unused;
	if (!self->txn || !self->txn->history)
		return PyTuple_New(0);
	return PyList_AsTuple(self->txn->history);
}

/* timeout (seconds, 0 = none, at most 300 as the seed project) -> ms. */
#define PYPK_TIMEOUT_MAX_SECS 300U

static int timeout_ms(unsigned int secs, int *ms)
{
	if (secs > PYPK_TIMEOUT_MAX_SECS) {
		PyErr_Format(PyExc_ValueError,
			     "timeout must not exceed %u seconds",
			     PYPK_TIMEOUT_MAX_SECS);
		return -1;
	}
	*ms = secs ? (int)(secs * 1000U) : -1;
	return 0;
}

/* After a step: the batch (recorded in messages()), None on success, or
   PAMError / TimeoutError. */
static PyObject *step_result(pypk_ctx *self, int rc, int timed_out)
{
	PyObject *batch;

	if (rc < 0) {
		self->auth_state = AUTH_DONE;
		return NULL;
	}
	if (rc == PAM_CONV_AGAIN) {
		batch = pypk_txn_batch(self->txn, 0, 1);
		if (!batch || PyList_Append(self->txn->history, batch) < 0) {
			Py_XDECREF(batch);
			return NULL;
		}
		return batch;
	}
	self->auth_state = AUTH_DONE;
	if (timed_out) {
		PyErr_SetString(PyExc_TimeoutError, "authentication timed out");
		return NULL;
	}
	if (rc != PAM_SUCCESS) {
		self->authenticated = 0;
		return pypk_raise_pam(ctx_state(self), rc, "pam_authenticate",
				      NULL);
	}
	self->authenticated = 1;
	Py_RETURN_NONE;
}

static int need_threaded(pypk_ctx *self, const char *what)
{
	if (self->threaded)
		return 0;
	PyErr_Format(PyExc_RuntimeError, "%s() requires a context created "
		     "without a conversation_function", what);
	return -1;
}

static PyObject *ctx_begin_auth(pypk_ctx *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "silent", "disallow_null_authtok",
		"timeout", NULL };
	int silent = 0, dna = 0, ms, timed_out, rc;
	unsigned int secs = 0;

	if (need_threaded(self, "begin_authentication") < 0 ||
	    !PyArg_ParseTupleAndKeywords(args, kw, "|$ppI", kwlist, &silent,
					 &dna, &secs) ||
	    timeout_ms(secs, &ms) < 0)
		return NULL;
	if (self->auth_state != AUTH_IDLE) {
		PyErr_SetString(PyExc_RuntimeError, "authentication already in "
				"progress or completed");
		return NULL;
	}
	self->auth_state = AUTH_PENDING;
	rc = pypk_txn_step(self->txn, PK_OP_AUTHENTICATE,
			   FLAG(silent, PAM_SILENT) |
			   FLAG(dna, PAM_DISALLOW_NULL_AUTHTOK), NULL, ms,
			   &timed_out);
	if (rc < 0 && !self->txn->started) {
		/* refused before PAM ran (e.g. by an audit hook): retryable */
		self->auth_state = AUTH_IDLE;
		return NULL;
	}
	return step_result(self, rc, timed_out);
}

static PyObject *ctx_continue_auth(pypk_ctx *self, PyObject *args,
				   PyObject *kw)
{
	static char *kwlist[] = { "responses", "timeout", NULL };
	PyObject *responses;
	unsigned int secs = 0;
	int ms, timed_out, rc;

	if (need_threaded(self, "continue_authentication") < 0 ||
	    !PyArg_ParseTupleAndKeywords(args, kw, "O|$I", kwlist, &responses,
					 &secs))
		return NULL;
	if (self->auth_state != AUTH_PENDING) {
		PyErr_SetString(PyExc_RuntimeError, "no conversation pending; "
				"call begin_authentication() first or check "
				"the return value of the previous call");
		return NULL;
	}
	if (timeout_ms(secs, &ms) < 0)
		return NULL;
	rc = pypk_txn_step(self->txn, 0, 0, responses, ms, &timed_out);
	if (rc < 0 && PyErr_ExceptionMatches(PyExc_ValueError))
		return NULL;		/* wrong length: the batch stays */
	if (rc < 0 && PyErr_ExceptionMatches(PyExc_TypeError))
		return NULL;
	return step_result(self, rc, timed_out);
}

static PyObject *ctx_set_conversation(pypk_ctx *self, PyObject *args,
				      PyObject *kw)
{
	static char *kwlist[] = { "conversation_function", NULL };
	PyObject *conv = NULL;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$O", kwlist, &conv))
		return NULL;
	if (self->threaded) {
		PyErr_SetString(PyExc_RuntimeError,
				"set_conversation() is only available on "
				"contexts created with a "
				"conversation_function");
		return NULL;
	}
	if (!conv) {
		PyErr_SetString(PyExc_ValueError,
				"conversation_function is required");
		return NULL;
	}
	if (!PyCallable_Check(conv)) {
		PyErr_SetString(PyExc_TypeError,
				"conversation_function must be callable");
		return NULL;
	}
	if (pypk_txn_set_conv(self->txn, conv) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static const struct {
	int item;
	const char *attr;
} item_attrs[] = {
	{ PAM_USER, "user" }, { PAM_RUSER, "ruser" }, { PAM_RHOST, "rhost" },
	{ PAM_TTY, "tty" }, { PAM_XDISPLAY, "xdisplay" },
	{ PAM_AUTHTOK_TYPE, "authtok_type" },
	{ PAM_USER_PROMPT, "user_prompt" }, { PAM_SERVICE, "service" },
};

static const char *item_attr(int item)
{
	for (size_t i = 0; i < sizeof(item_attrs) / sizeof(item_attrs[0]); i++)
		if (item_attrs[i].item == item)
			return item_attrs[i].attr;
	return "item";
}

static PyObject *ctx_get_item(pypk_ctx *self, void *closure)
{
	return pypk_txn_get_item(self->txn, (int)(intptr_t)closure);
}

static int ctx_set_item(pypk_ctx *self, PyObject *value, void *closure)
{
	const char *name = item_attr((int)(intptr_t)closure);

	if (!value) {
		PyErr_Format(PyExc_TypeError, "Cannot delete %s attribute",
			     name);
		return -1;
	}
	if (!PyUnicode_Check(value)) {
		PyErr_Format(PyExc_TypeError, "%s must be a string", name);
		return -1;
	}
	return pypk_txn_set_item(self->txn, (int)(intptr_t)closure, value);
}

#define ITEM(n, i) { n, (getter)ctx_get_item, (setter)ctx_set_item, \
		     "PAM item " #i, (void *)(intptr_t)(i) }
static PyGetSetDef ctx_getset[] = {
	ITEM("user", PAM_USER),
	ITEM("ruser", PAM_RUSER),
	ITEM("rhost", PAM_RHOST),
	ITEM("tty", PAM_TTY),
	ITEM("xdisplay", PAM_XDISPLAY),
	ITEM("authtok_type", PAM_AUTHTOK_TYPE),
	ITEM("user_prompt", PAM_USER_PROMPT),
	ITEM("service", PAM_SERVICE),
	{ NULL, NULL, NULL, NULL, NULL },
};

#define KWM(n, f) { n, (PyCFunction)(void (*)(void))f, \
		    METH_VARARGS | METH_KEYWORDS, NULL }
static PyMethodDef ctx_methods[] = {
	KWM("authenticate", ctx_authenticate),
	KWM("acct_mgmt", ctx_acct_mgmt),
	KWM("chauthtok", ctx_chauthtok),
	KWM("open_session", ctx_open_session),
	KWM("close_session", ctx_close_session),
	KWM("setcred", ctx_setcred),
	KWM("get_env", ctx_get_env),
	KWM("set_env", ctx_set_env),
	KWM("set_conversation", ctx_set_conversation),
	KWM("begin_authentication", ctx_begin_auth),
	KWM("continue_authentication", ctx_continue_auth),
	{ "env_dict", (PyCFunction)ctx_env_dict, METH_NOARGS, NULL },
	{ "messages", (PyCFunction)ctx_messages, METH_NOARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

/* pypk_opt_str; unless optional also present and non-empty. */
static int need_str(PyObject *o, const char *name, int optional,
		    const char **out)
{
	/* a required string: None is as wrong as 5, and said the same way */
	if (!optional && o && o != Py_None && !PyUnicode_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s must be a str, not %s", name,
			     Py_TYPE(o)->tp_name);
		return -1;
	}
	if (pypk_opt_str(o, name, out) < 0)
		return -1;
	if (!optional && !*out) {
		PyErr_Format(PyExc_ValueError, "%s is required", name);
		return -1;
	}
	if (!optional && !**out) {
		PyErr_Format(PyExc_ValueError, "%s must not be empty", name);
		return -1;
	}
	return 0;
}

static PyObject *ctx_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "service_name", "user",
		"conversation_function", "conversation_private_data",
		"confdir", "rhost", "ruser", "fail_delay", NULL };
	PyObject *service = NULL, *user = NULL, *conv = NULL, *priv = NULL,
		 *confdir = NULL, *rhost = NULL, *ruser = NULL, *fd = NULL;
	pypk_state *st = pypk_state_of_type(type);
	PyObject *module = PyType_GetModuleByDef(type, &pypk_module);
	struct pk_options o = { 0 };
	pypk_ctx *self = NULL;
	pypk_txn *txn;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$OOOOOOOO", kwlist,
			&service, &user, &conv, &priv, &confdir, &rhost,
			&ruser, &fd))
		return NULL;
	if (!st || !module)
		return NULL;
	if (!user) {
		PyErr_SetString(PyExc_ValueError, "user is required");
		return NULL;
	}
	/* omitted: a threaded context (begin/continue_authentication), as
	   the seed project; None is not callable there either */
	if (conv && !PyCallable_Check(conv)) {
		PyErr_SetString(PyExc_TypeError,
				"conversation_function must be callable");
		return NULL;
	}
	o.service = "login";
	if ((service && need_str(service, "service_name", 0, &o.service) < 0) ||
	    need_str(user, "user", 0, &o.user) < 0 ||
	    need_str(confdir, "confdir", 1, &o.confdir) < 0 ||
	    need_str(rhost, "rhost", 1, &o.rhost) < 0 ||
	    need_str(ruser, "ruser", 1, &o.ruser) < 0)
		return NULL;
	if (pypk_parse_fail_delay(fd, "fail_delay", &o) < 0)
		return NULL;
	o.mode = conv ? PK_MODE_DIRECT : PK_MODE_STEPWISE;

	self = PyObject_GC_New(pypk_ctx, type);
	if (!self)
		return NULL;
	self->txn = NULL;
	self->threaded = conv == NULL;
	self->auth_state = AUTH_IDLE;
	self->authenticated = 0;
	self->session_open = 0;
	self->weakreflist = NULL;
	PyObject_GC_Track(self);
	txn = (pypk_txn *)pypk_txn_new(st, module, &o);
	if (!txn) {
		Py_DECREF(self);
		return NULL;
	}
	self->txn = txn;
	txn->history = PyList_New(0);
	if (!txn->history) {
		Py_DECREF(self);
		return NULL;
	}
	txn->seed_audit = 1;
	txn->conv = Py_XNewRef(conv);
	txn->conv_private = Py_XNewRef(priv);
	txn->conv_owner = (PyObject *)self;
	return (PyObject *)self;
}

PyObject *pypk_get_context(PyObject *module, PyObject *args, PyObject *kw)
{
	return ctx_new(pypk_state_of_module(module)->ctx_type, args, kw);
}

static int ctx_traverse(pypk_ctx *self, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE(self));
	Py_VISIT(self->txn);
	return 0;
}

static int ctx_clear(pypk_ctx *self)
{
	if (self->txn)
		self->txn->conv_owner = NULL;
	Py_CLEAR(self->txn);
	return 0;
}

static void ctx_dealloc(pypk_ctx *self)
{
	PyTypeObject *tp = Py_TYPE(self);

	PyObject_GC_UnTrack(self);
	if (self->weakreflist)
		PyObject_ClearWeakRefs((PyObject *)self);
	ctx_clear(self);
	tp->tp_free(self);
	Py_DECREF(tp);
}

static PyMemberDef ctx_members[] = {
	{ "__weaklistoffset__", T_PYSSIZET,
	  offsetof(pypk_ctx, weakreflist), READONLY, NULL },
	{ NULL, 0, 0, 0, NULL },
};

static PyType_Slot ctx_slots[] = {
	{ Py_tp_members, ctx_members },
	{ Py_tp_dealloc, ctx_dealloc },
	{ Py_tp_traverse, ctx_traverse },
	{ Py_tp_clear, ctx_clear },
	{ Py_tp_methods, ctx_methods },
	{ Py_tp_getset, ctx_getset },
	{ Py_tp_new, ctx_new },
	{ Py_tp_doc, "PamContext(*, service_name='login', user, "
	  "conversation_function=None, conversation_private_data=None, "
	  "confdir=None, rhost=None, ruser=None, fail_delay=None): a PAM "
	  "handle (also made by get_context()).  Without a "
	  "conversation_function, authenticate with begin_authentication() "
	  "and continue_authentication()." },
	{ 0, NULL },
};

static PyType_Spec ctx_spec = {
	.name = "truenas_pypam.PamContext",
	.basicsize = sizeof(pypk_ctx),
	.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.slots = ctx_slots,
};

int pypk_ctx_type_init(PyObject *module, pypk_state *st)
{
	st->ctx_type = (PyTypeObject *)PyType_FromModuleAndSpec(module,
							&ctx_spec, NULL);
	if (!st->ctx_type)
		return -1;
	return PyModule_AddType(module, st->ctx_type);
}

