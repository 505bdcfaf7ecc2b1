/*
 * items.c - PAM items and the PAM environment of a transaction, shared by
 * Transaction's methods and PamContext's properties: str or bytes in (the
 * callers that follow an str-only upstream check first), str out
 * (surrogateescape), the GIL released around each libpamkit call.
 */
#include <stdlib.h>
#include <string.h>

#include "pypamkit.h"

PyObject *pypk_txn_get_item(pypk_txn *self, int item)
{
	char *v = NULL;
	PyObject *r;
	int rc;

	if (!pypk_txn_check_open(self))
		return NULL;
	PK_TXN_NOGIL(self, rc = pk_get_item(self->txn, item, &v));
	if (rc != PAM_SUCCESS) {
		free(v);
		if (rc < 0)
			return pypk_raise_neg(rc, "get_item");
		return pypk_raise_pam(pypk_state_of_module(self->module), rc,
				      "pam_get_item", NULL);
	}
	if (!v)
		Py_RETURN_NONE;
	r = PyUnicode_DecodeUTF8(v, strlen(v), "surrogateescape");
	free(v);
	return r;
}

int pypk_txn_set_item(pypk_txn *self, int item, PyObject *value)
{
	const char *s = NULL;
	int rc;

	if (!pypk_txn_check_open(self))
		return -1;
	if (!value || value == Py_None) {
		PyErr_SetString(PyExc_TypeError,
				"PAM item value must be str or bytes");
		return -1;
	}
	if (pypk_opt_text(value, pk_item_name(item), &s) < 0)
		return -1;
	PK_TXN_NOGIL(self, rc = pk_set_item(self->txn, item, s));
	if (rc < 0) {
		pypk_raise_neg(rc, "set_item");
		return -1;
	}
	if (rc != PAM_SUCCESS) {
		pypk_raise_pam(pypk_state_of_module(self->module), rc,
			       "pam_set_item", NULL);
		return -1;
	}
	return 0;
}

static int env_name(PyObject *name, const char **s)
{
	if (pypk_opt_str(name, "name", s) < 0)
		return -1;
	if (!*s || !**s || strchr(*s, '=')) {
		PyErr_SetString(PyExc_ValueError,
				"environment name must be a non-empty str "
				"without '='");
		return -1;
	}
	return 0;
}

PyObject *pypk_txn_getenv(pypk_txn *self, PyObject *name)
{
	const char *s;
	char *v = NULL;
	PyObject *r;
	int rc;

	if (!pypk_txn_check_open(self) || env_name(name, &s) < 0)
		return NULL;
	PK_TXN_NOGIL(self, rc = pk_getenv(self->txn, s, &v));
	if (rc < 0)
		return pypk_raise_neg(rc, "getenv");
	if (!v)
		Py_RETURN_NONE;
	r = PyUnicode_DecodeUTF8(v, strlen(v), "surrogateescape");
	free(v);
	return r;
}

/* value NULL/None unsets. */
int pypk_txn_setenv(pypk_txn *self, PyObject *name, PyObject *value,
		    int readonly)
{
	const char *s, *v = NULL;
	int rc;

	if (!pypk_txn_check_open(self) || env_name(name, &s) < 0)
		return -1;
	if (value && value != Py_None) {
		if (!PyUnicode_Check(value) && !PyBytes_Check(value)) {
			PyErr_SetString(PyExc_TypeError,
					"environment value must be str or "
					"bytes");
			return -1;
		}
		if (pypk_opt_text(value, "value", &v) < 0)
			return -1;
		PK_TXN_NOGIL(self, rc = readonly ? pk_misc_setenv(self->txn, s, v, true)
			      : pk_setenv(self->txn, s, v));
	} else {
		PK_TXN_NOGIL(self, rc = pk_unsetenv(self->txn, s));
	}
	if (rc < 0) {
		pypk_raise_neg(rc, "setenv");
		return -1;
	}
	/* unsetting an unset variable, and a readonly set that keeps an
	   existing variable (pam_misc_setenv's PAM_PERM_DENIED), are fine */
	if (rc != PAM_SUCCESS && !(v == NULL && rc == PAM_BAD_ITEM) &&
	    !(v && readonly && rc == PAM_PERM_DENIED)) {
		pypk_raise_pam(pypk_state_of_module(self->module), rc,
			       v ? "pam_putenv" : "pam_putenv(unset)", NULL);
		return -1;
	}
	return 0;
}

PyObject *pypk_txn_envdict(pypk_txn *self)
{
	char **list = NULL;
	PyObject *d = NULL;
	int rc;

	if (!pypk_txn_check_open(self))
		return NULL;
	PK_TXN_NOGIL(self, rc = pk_getenvlist(self->txn, &list));
	if (rc < 0)
		return pypk_raise_neg(rc, "getenvlist");
	d = PyDict_New();
	if (!d)
		goto out;
	for (char **p = list; p && *p; p++) {
		char *eq = strchr(*p, '=');
		PyObject *k, *v;
		int r;

		if (!eq)
			continue;
		k = PyUnicode_DecodeUTF8(*p, eq - *p, "surrogateescape");
		v = PyUnicode_DecodeUTF8(eq + 1, strlen(eq + 1),
					 "surrogateescape");
		r = (k && v) ? PyDict_SetItem(d, k, v) : -1;
		Py_XDECREF(k);
		Py_XDECREF(v);
		if (r < 0) {
			Py_CLEAR(d);
			goto out;
		}
	}
out:
	pk_strv_free(list);
	return d;
}
