/*
 * error.c - PAMError: a RuntimeError carrying the PAM code, its name, the
 * pam_strerror text and where the call failed.
 */
#include <errno.h>
#include "pypamkit.h"

int pypk_error_init(PyObject *module, pypk_state *st)
{
	PyObject *dict = Py_BuildValue("{s:i,s:s,s:s,s:s,s:s}", "code",
				       PAM_SUCCESS, "name", "", "err_str", "",
				       "message", "", "location", "");

	if (!dict)
		return -1;
	st->pam_error = PyErr_NewExceptionWithDoc(
		"truenas_pypam.PAMError",
		"A PAM call failed: .code (PAMCode), .name, .err_str, "
		".message and .location.",
		PyExc_RuntimeError, dict);
	Py_DECREF(dict);
	if (!st->pam_error)
		return -1;
	return PyModule_AddObjectRef(module, "PAMError", st->pam_error);
}

static int set_str(PyObject *o, const char *attr, const char *v)
{
	PyObject *s = PyUnicode_FromString(v);
	int rc;

	if (!s)
		return -1;
	rc = PyObject_SetAttrString(o, attr, s);
	Py_DECREF(s);
	return rc;
}

PyObject *pypk_raise_pam(pypk_state *st, int code, const char *location,
			 PyObject *cause)
{
	PyObject *exc = NULL, *pycode = NULL, *msg = NULL, *str = NULL;
	const char *name = pk_code_name(code);
	const char *text = pk_strerror(code);

	msg = PyUnicode_FromFormat("%s() failed: %s", location, text);
	if (!msg)
		goto out;
	str = PyUnicode_FromFormat("[%s]: %U", name, msg);
	if (!str)
		goto out;
	exc = PyObject_CallOneArg(st->pam_error, str);
	if (!exc)
		goto out;
	pycode = pypk_code(st, code);
	if (!pycode || PyObject_SetAttrString(exc, "code", pycode) < 0 ||
	    set_str(exc, "name", name) < 0 ||
	    set_str(exc, "err_str", text) < 0 ||
	    PyObject_SetAttrString(exc, "message", msg) < 0 ||
	    set_str(exc, "location", location) < 0)
		goto out;
	if (cause) {
		/* both steal a reference */
		Py_INCREF(cause);
		PyException_SetCause(exc, cause);
		Py_INCREF(cause);
		PyException_SetContext(exc, cause);
	}
	PyErr_SetObject(st->pam_error, exc);
out:
	Py_XDECREF(exc);
	Py_XDECREF(pycode);
	Py_XDECREF(msg);
	Py_XDECREF(str);
	return NULL;
}

PyObject *pypk_raise_neg(int err, const char *what)
{
	PyObject *type = PyExc_RuntimeError;

	switch (-err) {
	case ENOMEM:
		return PyErr_NoMemory();
	case EINVAL:
		type = PyExc_ValueError;
		break;
	case EBUSY:
		type = PyExc_RuntimeError;
		break;
	case ETIMEDOUT:
		type = PyExc_TimeoutError;
		break;
	default:
		break;
	}
	PyErr_Format(type, "%s: %s", what, pk_strerror(err));
	return NULL;
}
