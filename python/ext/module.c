/*
 * module.c - the truenas_pypam module: multi-phase init, per-module state,
 * get_context() and the lazy `aio` attribute.
 */
#include <string.h>
#include "pypamkit.h"

pypk_state *pypk_state_of_module(PyObject *module)
{
	return PyModule_GetState(module);
}

pypk_state *pypk_state_of_type(PyTypeObject *tp)
{
	PyObject *m = PyType_GetModuleByDef(tp, &pypk_module);

	return m ? PyModule_GetState(m) : NULL;
}

static PyStructSequence_Field msg_fields[] = {
	{ "msg_style", "MSGStyle of the message" },
	{ "msg", "text of the message" },
	{ NULL, NULL },
};

static PyStructSequence_Desc msg_desc = {
	"truenas_pypam.struct_pam_message",
	"One PAM conversation message (msg_style, msg).",
	msg_fields,
	2,
};

static PyObject *mod_get_context(PyObject *module, PyObject *args,
				 PyObject *kw)
{
	return pypk_get_context(module, args, kw);
}

/* PEP 562: truenas_pypam.aio is the pure-Python truenas_pypam_aio. */
static PyObject *mod_getattr(PyObject *module, PyObject *name)
{
	(void)module;
	if (PyUnicode_Check(name) &&
	    PyUnicode_CompareWithASCIIString(name, "aio") == 0)
		return PyImport_ImportModule("truenas_pypam_aio");
	PyErr_Format(PyExc_AttributeError,
		     "module 'truenas_pypam' has no attribute %R", name);
	return NULL;
}

static PyObject *mod_strerror(PyObject *module, PyObject *arg)
{
	long code;

	(void)module;
	code = PyLong_AsLong(arg);
	if (code == -1 && PyErr_Occurred())
		return NULL;
	if (code < 0 || code > pk_max_code()) {
		PyErr_Format(PyExc_ValueError, "%ld is not a PAM code", code);
		return NULL;
	}
	return PyUnicode_FromString(pk_strerror((int)code));
}

static PyMethodDef mod_methods[] = {
	{ "pam_strerror", mod_strerror, METH_O,
	  "pam_strerror(code) -> str" },
	{ "get_context", (PyCFunction)(void (*)(void))mod_get_context,
	  METH_VARARGS | METH_KEYWORDS,
	  "get_context(*, service_name='login', user, conversation_function, "
	  "conversation_private_data=None, confdir=None, rhost=None, "
	  "ruser=None, fail_delay=None) -> PamContext" },
	{ "__getattr__", mod_getattr, METH_O, NULL },
	{ NULL, NULL, 0, NULL },
};

static int mod_exec(PyObject *module)
{
	pypk_state *st = pypk_state_of_module(module);

	st->msg_type = PyStructSequence_NewType(&msg_desc);
	if (!st->msg_type)
		return -1;
	if (PyModule_AddObjectRef(module, "struct_pam_message",
				  (PyObject *)st->msg_type) < 0 ||
	    PyModule_AddObjectRef(module, "Message",
				  (PyObject *)st->msg_type) < 0)
		return -1;
	if (pypk_enums_init(module, st) < 0 ||
	    pypk_error_init(module, st) < 0 ||
	    pypk_txn_type_init(module, st) < 0 ||
	    pypk_ctx_type_init(module, st) < 0)
		return -1;
	if (PyModule_AddStringConstant(module, "PAMKIT_VERSION",
				       PAMKIT_VERSION) < 0)
		return -1;
	return 0;
}

static int mod_traverse(PyObject *module, visitproc visit, void *arg)
{
	pypk_state *st = pypk_state_of_module(module);

	if (!st)
		return 0;
	Py_VISIT(st->txn_type);
	Py_VISIT(st->ctx_type);
	Py_VISIT(st->msg_type);
	Py_VISIT(st->pam_code);
	Py_VISIT(st->msg_style);
	Py_VISIT(st->cred_op);
	Py_VISIT(st->code_members);
	Py_VISIT(st->style_members);
	Py_VISIT(st->pam_error);
	return 0;
}

static int mod_clear(PyObject *module)
{
	pypk_state *st = pypk_state_of_module(module);

	if (!st)
		return 0;
	Py_CLEAR(st->txn_type);
	Py_CLEAR(st->ctx_type);
	Py_CLEAR(st->msg_type);
	Py_CLEAR(st->pam_code);
	Py_CLEAR(st->msg_style);
	Py_CLEAR(st->cred_op);
	Py_CLEAR(st->code_members);
	Py_CLEAR(st->style_members);
	Py_CLEAR(st->pam_error);
	return 0;
}

static void mod_free(void *module)
{
	mod_clear(module);
}

static PyModuleDef_Slot mod_slots[] = {
	{ Py_mod_exec, mod_exec },
	{ 0, NULL },
};

PyModuleDef pypk_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "truenas_pypam",
	.m_doc = "PAM bindings over libpamkit (truenas_pypam API).",
	.m_size = sizeof(pypk_state),
	.m_methods = mod_methods,
	.m_slots = mod_slots,
	.m_traverse = mod_traverse,
	.m_clear = mod_clear,
	.m_free = mod_free,
};

PyMODINIT_FUNC PyInit_truenas_pypam(void)
{
	return PyModuleDef_Init(&pypk_module);
}
