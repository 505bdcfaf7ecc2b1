/*
 * conv.c - calling the Python conversation callback from a blocking PAM
 * call.  The call runs on the thread that made it with the GIL released;
 * the callback re-takes the GIL with the thread state saved in the
 * per-thread frame (never PyGILState_Ensure).  A raising callback or a
 * wrong-length/wrong-type answer fails the conversation (PAM_CONV_ERR) and
 * the exception is kept for chaining.
 */
#include <string.h>
#include "pypamkit.h"

static _Thread_local struct pypk_frame *cur_frame;

void pypk_frame_push(struct pypk_frame *f)
{
	f->prev = cur_frame;
	cur_frame = f;
}

void pypk_frame_pop(struct pypk_frame *f)
{
	cur_frame = f->prev;
}

/* The frame of this thread's blocking call on owner, or NULL. */
static struct pypk_frame *frame_of(const void *owner)
{
	for (struct pypk_frame *f = cur_frame; f; f = f->prev)
		if (f->owner == owner)
			return f;
	return NULL;
}

PyObject *pypk_frame_batch(const void *owner)
{
	struct pypk_frame *f = frame_of(owner);

	return f ? f->batch : NULL;
}

PyObject *pypk_messages_list(pypk_state *st, const struct pk_message *m,
			     size_t n, int as_tuple)
{
	PyObject *l = as_tuple ? PyTuple_New((Py_ssize_t)n)
			       : PyList_New((Py_ssize_t)n);

	if (!l)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		PyObject *o = PyStructSequence_New(st->msg_type);
		PyObject *style, *text;

		if (!o)
			goto fail;
		style = pypk_style(st, m[i].style);
		text = PyUnicode_DecodeUTF8(m[i].msg, strlen(m[i].msg),
					    "replace");
		if (!style || !text) {
			Py_XDECREF(style);
			Py_XDECREF(text);
			Py_DECREF(o);
			goto fail;
		}
		PyStructSequence_SetItem(o, 0, style);
		PyStructSequence_SetItem(o, 1, text);
		if (as_tuple)
			PyTuple_SET_ITEM(l, (Py_ssize_t)i, o);
		else
			PyList_SET_ITEM(l, (Py_ssize_t)i, o);
	}
	return l;
fail:
	Py_DECREF(l);
	return NULL;
}

void pypk_replies_free(char **r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		pk_free_secret(r[i]);
	free(r);
}

int pypk_replies_from_seq(PyObject *seq, size_t want, char ***out, size_t *n,
			  int allow_bytes)
{
	PyObject *fast = NULL;
	char **r = NULL;
	size_t len = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (PyUnicode_Check(seq) || PyBytes_Check(seq)) {
		PyErr_SetString(PyExc_TypeError,
				"replies must be a list of str or None");
		goto out;
	}
	fast = PySequence_Fast(seq, "replies must be a list of str or None");
	if (!fast)
		goto out;
	len = (size_t)PySequence_Fast_GET_SIZE(fast);
	if (len != want) {
		PyErr_Format(PyExc_ValueError,
			     "expected %zu replies, got %zu", want, len);
		goto out;
	}
	r = calloc(len ? len : 1, sizeof(*r));
	if (!r) {
		PyErr_NoMemory();
		goto out;
	}
	for (size_t i = 0; i < len; i++) {
		PyObject *it = PySequence_Fast_GET_ITEM(fast, (Py_ssize_t)i);
		const char *s;
		Py_ssize_t sl;

		if (it == Py_None)
			continue;
		if (allow_bytes && PyBytes_Check(it)) {
			/* the bytes as they are: a latin-1 password must reach
			   PAM unchanged, not re-encoded */
			s = PyBytes_AS_STRING(it);
			sl = PyBytes_GET_SIZE(it);
		} else if (!PyUnicode_Check(it)) {
			PyErr_Format(PyExc_TypeError,
				     allow_bytes ? "reply %zu must be str, bytes "
				     "or None, not %s" : "reply %zu must be str or "
				     "None, not %s", i, Py_TYPE(it)->tp_name);
			goto out;
		} else if (!(s = PyUnicode_AsUTF8AndSize(it, &sl))) {
			goto out;
		}
		if (strlen(s) != (size_t)sl) {
			PyErr_Format(PyExc_ValueError,
				     "reply %zu contains a NUL character", i);
			goto out;
		}
		r[i] = strdup(s);
		if (!r[i]) {
			PyErr_NoMemory();
			goto out;
		}
	}
	*out = r;
	*n = len;
	r = NULL;
	rc = 0;
out:
	pypk_replies_free(r, len);
	Py_XDECREF(fast);
	return rc;
}

static void keep_exception(struct pypk_frame *f)
{
	PyObject *t, *v, *tb;

	PyErr_Fetch(&t, &v, &tb);
	PyErr_NormalizeException(&t, &v, &tb);
	if (v && tb)
		PyException_SetTraceback(v, tb);
	Py_XDECREF(t);
	Py_XDECREF(tb);
	if (!f->exc)
		f->exc = v;
	else
		Py_XDECREF(v);
}

int pypk_conv_cb(pk_txn *txn, const struct pk_message *msgs, size_t n,
		 char **replies, void *data)
{
	pypk_txn *self = data;
	struct pypk_frame *f = cur_frame;
	pypk_state *st;
	PyObject *conv, *list = NULL, *res = NULL;
	char **r = NULL;
	size_t rn = 0;
	int rc = 1;

	(void)txn;
	if (!f)
		return 1;	/* no Python caller on this thread: fail closed */
	PyEval_RestoreThread(f->tstate);

	st = pypk_state_of_module(self->module);
	conv = self->conv;
	if (!conv) {
		PyErr_SetString(PyExc_RuntimeError,
				"PAM asked a question but no conversation "
				"function is set");
		goto out;
	}
	Py_INCREF(conv);
	list = pypk_messages_list(st, msgs, n, self->conv_owner != NULL);
	if (!list || (self->history && PyList_Append(self->history, list) < 0))
		goto out_conv;
	f->batch = list;	/* .messages inside the callback shows it */
	if (self->conv_owner)
		res = PyObject_CallFunctionObjArgs(conv, self->conv_owner, list,
			self->conv_private ? self->conv_private : Py_None,
			NULL);
	else
		res = PyObject_CallOneArg(conv, list);
	f->batch = NULL;
	if (!res) {
		if (!f->exc)
			f->exc_raised = 1;	/* the callable's own exception */
		goto out_conv;
	}
	/* the seed's PamContext takes str only, as truenas/truenas_pypam;
	   the Transaction core (pamphlet, draxoft) also bytes */
	if (pypk_replies_from_seq(res, n, &r, &rn, self->conv_owner == NULL) < 0)
		goto out_conv;
	for (size_t i = 0; i < n; i++) {
		if (pk_message_is_prompt(&msgs[i])) {
			replies[i] = r[i];
			r[i] = NULL;
		}
	}
	rc = 0;
out_conv:
	f->batch = NULL;
	Py_DECREF(conv);
out:
	pypk_replies_free(r, rn);
	Py_XDECREF(res);
	Py_XDECREF(list);
	if (rc)
		keep_exception(f);
	f->tstate = PyEval_SaveThread();
	return rc;
}
