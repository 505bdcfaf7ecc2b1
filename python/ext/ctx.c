/*
 * ctx.c - the seed's PamContext and get_context(): a thin layer over the
 * Transaction core that raises PAMError for PAM failures.
 */
#include <stdint.h>
#include <string.h>
#include "pypamkit.h"
#include <structmember.h>

typedef struct {
	PyObject_HEAD
	pypk_txn *txn;			/* DIRECT-mode Transaction */
	PyObject *weakreflist;
} pypk_ctx;

static pypk_state *ctx_state(pypk_ctx *self)
{
	return pypk_state_of_type(Py_TYPE(self));
}

/* Run op; raise PAMError (conversation exception chained) on failure. */
static PyObject *run(pypk_ctx *self, int op, int flags, const char *loc)
{
	int rc = pypk_txn_run(self->txn, op, flags);

	if (rc < 0)
		return NULL;
	if (rc != PAM_SUCCESS)
		return pypk_raise_pam(ctx_state(self), rc, loc,
				      self->txn->conv_error);
	Py_RETURN_NONE;
}

#define FLAG(v, f) ((v) ? (f) : 0)

static PyObject *ctx_authenticate(pypk_ctx *self, PyObject *args,
				  PyObject *kw)
{
	static char *kwlist[] = { "silent", "disallow_null_authtok", NULL };
	int silent = 0, dna = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$pp", kwlist, &silent,
					 &dna))
		return NULL;
	return run(self, PK_OP_AUTHENTICATE, FLAG(silent, PAM_SILENT) |
		   FLAG(dna, PAM_DISALLOW_NULL_AUTHTOK), "pam_authenticate");
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

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$p", kwlist, &silent))
		return NULL;
	return run(self, PK_OP_OPEN_SESSION, FLAG(silent, PAM_SILENT),
		   "pam_open_session");
}

static PyObject *ctx_close_session(pypk_ctx *self, PyObject *args,
				   PyObject *kw)
{
	static char *kwlist[] = { "silent", NULL };
	int silent = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$p", kwlist, &silent))
		return NULL;
	return run(self, PK_OP_CLOSE_SESSION, FLAG(silent, PAM_SILENT),
		   "pam_close_session");
}

static PyObject *ctx_setcred(pypk_ctx *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "operation", "silent", NULL };
	PyObject *opobj = NULL;
	int silent = 0;
	long op = PAM_ESTABLISH_CRED;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$Op", kwlist, &opobj,
					 &silent))
		return NULL;
	if (opobj) {
		if (!PyLong_Check(opobj) || PyBool_Check(opobj)) {
			PyErr_SetString(PyExc_TypeError,
					"operation must be a CredOp");
			return NULL;
		}
		op = PyLong_AsLong(opobj);
		if (op == -1 && PyErr_Occurred())
			return NULL;
		if (op != PAM_ESTABLISH_CRED && op != PAM_DELETE_CRED &&
		    op != PAM_REINITIALIZE_CRED && op != PAM_REFRESH_CRED) {
			PyErr_Format(PyExc_ValueError,
				     "%ld is not a valid CredOp", op);
			return NULL;
		}
	}
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
	PyObject *name, *value = Py_None;
	int ro = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "$O|Op", kwlist, &name,
					 &value, &ro))
		return NULL;
	if (pypk_txn_setenv(self->txn, name, value, ro) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *ctx_env_dict(pypk_ctx *self, PyObject *unused)
{
	(void)unused;
	return pypk_txn_envdict(self->txn);
}

static PyObject *ctx_messages(pypk_ctx *self, PyObject *unused)
{
	const struct pk_message *m;
	size_t n = 0;
	PyObject *t;

	(void)unused;
	if (!self->txn->txn)
		return PyTuple_New(0);
	PK_NOGIL(m = pk_transcript(self->txn->txn, &n));
	t = pypk_messages_list(ctx_state(self), m, m ? n : 0, 1);
	if (!t)
		return NULL;
	return Py_BuildValue("(N)", t);
}

static PyObject *ctx_set_conversation(pypk_ctx *self, PyObject *args,
				      PyObject *kw)
{
	static char *kwlist[] = { "conversation_function", NULL };
	PyObject *conv;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "$O", kwlist, &conv))
		return NULL;
	if (!PyCallable_Check(conv)) {
		PyErr_SetString(PyExc_TypeError,
				"conversation_function must be callable");
		return NULL;
	}
	if (pypk_txn_set_conv(self->txn, conv) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *ctx_get_item(pypk_ctx *self, void *closure)
{
	return pypk_txn_get_item(self->txn, (int)(intptr_t)closure);
}

static int ctx_set_item(pypk_ctx *self, PyObject *value, void *closure)
{
	if (!value) {
		PyErr_SetString(PyExc_TypeError, "PAM items cannot be deleted");
		return -1;
	}
	if (!PyUnicode_Check(value)) {
		PyErr_Format(PyExc_TypeError, "PAM item must be str, not %s",
			     Py_TYPE(value)->tp_name);
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
	{ "env_dict", (PyCFunction)ctx_env_dict, METH_NOARGS, NULL },
	{ "messages", (PyCFunction)ctx_messages, METH_NOARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

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
	{ Py_tp_doc, "A PAM handle created by get_context()." },
	{ 0, NULL },
};

static PyType_Spec ctx_spec = {
	.name = "truenas_pypam.PamContext",
	.basicsize = sizeof(pypk_ctx),
	.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
		 Py_TPFLAGS_DISALLOW_INSTANTIATION,
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

static int need_str(PyObject *o, const char *name, int optional,
		    const char **out)
{
	Py_ssize_t len;

	*out = NULL;
	if (!o || o == Py_None) {
		if (optional)
			return 0;
		PyErr_Format(PyExc_ValueError, "%s is required", name);
		return -1;
	}
	if (!PyUnicode_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s must be str, not %s", name,
			     Py_TYPE(o)->tp_name);
		return -1;
	}
	*out = PyUnicode_AsUTF8AndSize(o, &len);
	if (!*out)
		return -1;
	if (strlen(*out) != (size_t)len || (!optional && !len)) {
		PyErr_Format(PyExc_ValueError,
			     "%s must be a non-empty str without NUL", name);
		return -1;
	}
	return 0;
}

PyObject *pypk_get_context(PyObject *module, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "service_name", "user",
		"conversation_function", "conversation_private_data",
		"confdir", "rhost", "ruser", "fail_delay", NULL };
	PyObject *service = NULL, *user = NULL, *conv = NULL, *priv = NULL,
		 *confdir = NULL, *rhost = NULL, *ruser = NULL, *fd = NULL;
	pypk_state *st = pypk_state_of_module(module);
	struct pk_options o = { 0 };
	pypk_ctx *self = NULL;
	pypk_txn *txn;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$OOOOOOOO", kwlist,
			&service, &user, &conv, &priv, &confdir, &rhost,
			&ruser, &fd))
		return NULL;
	if (!user) {
		PyErr_SetString(PyExc_ValueError,
				"get_context(): user is required");
		return NULL;
	}
	if (!conv || conv == Py_None) {
		PyErr_SetString(PyExc_ValueError,
				"get_context(): conversation_function is "
				"required");
		return NULL;
	}
	if (!PyCallable_Check(conv)) {
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
	if (fd && fd != Py_None) {
		long v;

		if (!PyLong_Check(fd) || PyBool_Check(fd)) {
			PyErr_SetString(PyExc_TypeError,
					"fail_delay must be an int");
			return NULL;
		}
		v = PyLong_AsLong(fd);
		if (v == -1 && PyErr_Occurred())
			return NULL;
		if (v < 0 || v > (long)UINT_MAX) {
			PyErr_SetString(PyExc_ValueError,
					"fail_delay out of range");
			return NULL;
		}
		o.has_fail_delay = true;
		o.fail_delay_usec = (unsigned int)v;
	}
	o.mode = PK_MODE_DIRECT;

	self = PyObject_GC_New(pypk_ctx, st->ctx_type);
	if (!self)
		return NULL;
	self->txn = NULL;
	self->weakreflist = NULL;
	PyObject_GC_Track(self);
	txn = (pypk_txn *)pypk_txn_new(st, module, &o);
	if (!txn) {
		Py_DECREF(self);
		return NULL;
	}
	self->txn = txn;
	txn->conv = Py_NewRef(conv);
	txn->conv_private = Py_XNewRef(priv);
	txn->conv_owner = (PyObject *)self;
	return (PyObject *)self;
}
