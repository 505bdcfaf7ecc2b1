/*
 * enums.c - the PAMCode, MSGStyle and CredOp IntEnums and the plain
 * PAM_* int constants.
 */
#include "pypamkit.h"

struct pair {
	const char *name;
	int value;
};

static const struct pair styles[] = {
	{ "PAM_PROMPT_ECHO_OFF", PAM_PROMPT_ECHO_OFF },
	{ "PAM_PROMPT_ECHO_ON", PAM_PROMPT_ECHO_ON },
	{ "PAM_ERROR_MSG", PAM_ERROR_MSG },
	{ "PAM_TEXT_INFO", PAM_TEXT_INFO },
	{ NULL, 0 },
};

static const struct pair credops[] = {
	{ "PAM_ESTABLISH_CRED", PAM_ESTABLISH_CRED },
	{ "PAM_DELETE_CRED", PAM_DELETE_CRED },
	{ "PAM_REINITIALIZE_CRED", PAM_REINITIALIZE_CRED },
	{ "PAM_REFRESH_CRED", PAM_REFRESH_CRED },
	{ NULL, 0 },
};

static const struct pair flags[] = {
	{ "PAM_SILENT", PAM_SILENT },
	{ "PAM_DISALLOW_NULL_AUTHTOK", PAM_DISALLOW_NULL_AUTHTOK },
	{ "PAM_CHANGE_EXPIRED_AUTHTOK", PAM_CHANGE_EXPIRED_AUTHTOK },
	{ NULL, 0 },
};

/* The item types, from libpam's own header (pamphlet exports them). */
static const struct pair items[] = {
	{ "PAM_SERVICE", PAM_SERVICE }, { "PAM_USER", PAM_USER },
	{ "PAM_TTY", PAM_TTY }, { "PAM_RHOST", PAM_RHOST },
	{ "PAM_CONV", PAM_CONV }, { "PAM_AUTHTOK", PAM_AUTHTOK },
	{ "PAM_OLDAUTHTOK", PAM_OLDAUTHTOK }, { "PAM_RUSER", PAM_RUSER },
	{ "PAM_USER_PROMPT", PAM_USER_PROMPT },
	{ "PAM_FAIL_DELAY", PAM_FAIL_DELAY },
	{ "PAM_XDISPLAY", PAM_XDISPLAY }, { "PAM_XAUTHDATA", PAM_XAUTHDATA },
	{ "PAM_AUTHTOK_TYPE", PAM_AUTHTOK_TYPE },
	{ NULL, 0 },
};

/* enum.IntEnum(name, [(k, v), ...], module='truenas_pypam') */
static PyObject *make_enum(PyObject *intenum, const char *name,
			   PyObject *members)
{
	PyObject *args = NULL, *kw = NULL, *res = NULL;

	args = Py_BuildValue("(sO)", name, members);
	if (!args)
		goto out;
	kw = Py_BuildValue("{ss}", "module", "truenas_pypam");
	if (!kw)
		goto out;
	res = PyObject_Call(intenum, args, kw);
out:
	Py_XDECREF(args);
	Py_XDECREF(kw);
	return res;
}

static PyObject *pairs_list(const struct pair *p, PyObject *module)
{
	PyObject *l = PyList_New(0);

	if (!l)
		return NULL;
	for (; p->name; p++) {
		PyObject *t = Py_BuildValue("(si)", p->name, p->value);

		if (!t || PyList_Append(l, t) < 0) {
			Py_XDECREF(t);
			Py_DECREF(l);
			return NULL;
		}
		Py_DECREF(t);
		if (module && PyModule_AddIntConstant(module, p->name,
						      p->value) < 0) {
			Py_DECREF(l);
			return NULL;
		}
	}
	return l;
}

static PyObject *codes_list(PyObject *module)
{
	PyObject *l = PyList_New(0);
	int max = pk_max_code();

	if (!l)
		return NULL;
	for (int i = 0; i <= max; i++) {
		const char *name = pk_code_name(i);
		PyObject *t;

		if (strncmp(name, "PAM_", 4) != 0)
			continue;
		t = Py_BuildValue("(si)", name, i);
		if (!t || PyList_Append(l, t) < 0 ||
		    PyModule_AddIntConstant(module, name, i) < 0) {
			Py_XDECREF(t);
			Py_DECREF(l);
			return NULL;
		}
		Py_DECREF(t);
	}
	return l;
}

/* (E(0), ..., E(max)); a value E does not define stays a plain int. */
static PyObject *members(PyObject *e, int max)
{
	PyObject *t = PyTuple_New(max + 1);

	if (!t)
		return NULL;
	for (int i = 0; i <= max; i++) {
		PyObject *v = PyObject_CallFunction(e, "i", i);

		if (!v && PyErr_ExceptionMatches(PyExc_ValueError)) {
			PyErr_Clear();
			v = PyLong_FromLong(i);
		}
		if (!v) {
			Py_DECREF(t);
			return NULL;
		}
		PyTuple_SET_ITEM(t, i, v);
	}
	return t;
}

int pypk_enums_init(PyObject *module, pypk_state *st)
{
	PyObject *enum_mod = NULL, *intenum = NULL, *l = NULL;
	int rc = -1;

	enum_mod = PyImport_ImportModule("enum");
	if (!enum_mod)
		goto out;
	intenum = PyObject_GetAttrString(enum_mod, "IntEnum");
	if (!intenum)
		goto out;

	if (!(l = codes_list(module)))
		goto out;
	st->pam_code = make_enum(intenum, "PAMCode", l);
	Py_CLEAR(l);
	if (!st->pam_code)
		goto out;

	if (!(l = pairs_list(styles, module)))
		goto out;
	st->msg_style = make_enum(intenum, "MSGStyle", l);
	Py_CLEAR(l);
	if (!st->msg_style)
		goto out;

	if (!(l = pairs_list(credops, module)))
		goto out;
	st->cred_op = make_enum(intenum, "CredOp", l);
	Py_CLEAR(l);
	if (!st->cred_op)
		goto out;

	if (!(l = pairs_list(flags, module)))
		goto out;
	Py_CLEAR(l);
	if (!(l = pairs_list(items, module)))
		goto out;
	Py_CLEAR(l);

	st->code_members = members(st->pam_code, pk_max_code());
	if (!st->code_members)
		goto out;
	st->style_members = members(st->msg_style, PAM_TEXT_INFO);
	if (!st->style_members)
		goto out;

	if (PyModule_AddObjectRef(module, "PAMCode", st->pam_code) < 0 ||
	    PyModule_AddObjectRef(module, "MSGStyle", st->msg_style) < 0 ||
	    PyModule_AddObjectRef(module, "CredOp", st->cred_op) < 0)
		goto out;
	rc = 0;
out:
	Py_XDECREF(l);
	Py_XDECREF(intenum);
	Py_XDECREF(enum_mod);
	return rc;
}

static PyObject *member(PyObject *table, int v)
{
	if (v >= 0 && v < PyTuple_GET_SIZE(table))
		return Py_NewRef(PyTuple_GET_ITEM(table, v));
	return PyLong_FromLong(v);
}

PyObject *pypk_code(pypk_state *st, int code)
{
	return member(st->code_members, code);
}

PyObject *pypk_style(pypk_state *st, int style)
{
	return member(st->style_members, style);
}
