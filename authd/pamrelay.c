/* pamrelay.c - a console's PAM login on libpamkit's stepwise engine.
 *
 * Each login owns a stepwise transaction whose pk_fd is in the loop's
 * epoll set.  pam_start runs here (as in sshd's monitor); the login's
 * operations (authenticate, acct_mgmt, open_session when configured) run
 * as one chain on a borrowed libpamkit worker; its batches come back through
 * pk_fd and are answered by sequence number: from the 4002 frame (direct)
 * or relayed to the console one message at a time (4001, interactive).
 * libpam's fail delay is reported (PK_DELAY_REPORT) and waited out by the
 * loop's timer before the failure is answered.  A logged-in console holds
 * no thread. */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <syslog.h>

/* Drop the batch being relayed and the answers collected so far. */
static void drop_batch(struct conn *c)
{
	if (c->replies) {
		for (size_t i = 0; i < c->nmsgs; i++)
			pk_free_secret(c->replies[i]);
		free(c->replies);
		c->replies = NULL;
	}
	pk_batch_unref(c->batch);
	c->batch = NULL;
	c->nmsgs = c->msg_idx = 0;
}

static void drop_pass(struct conn *c)
{
	pk_free_secret(c->pass);
	c->pass = NULL;
}

/* A PAM failure: the reason for the log, and libpam's delay. */
static void pam_failed(struct conn *c, int rc, const char *what)
{
	char why[160];
	unsigned int usec = c->txn ? pk_txn_fail_delay_usec(c->txn) : 0;
	int n = snprintf(why, sizeof(why), "PAM %s: %s", what,
			 rc < 0 ? pk_strerror(rc) : pk_code_name(rc));

	if (usec && n > 0 && (size_t)n < sizeof(why))
		snprintf(why + n, sizeof(why) - (size_t)n,
			 " (the stack's fail delay: %u ms)", usec / 1000);
	conn_fail_pam(c, why, usec / 1000);
}

/* The login's PAM calls as one chain on one borrowed worker (one hand-off,
   not one per call): authenticate, acct_mgmt as the director, then
   open_session if configured; the first failure stops it. */
static int start_login_ops(struct conn *c)
{
	/* PAM_DISALLOW_NULL_AUTHTOK (the director passes 0): an empty
	   password never logs a console in, even where the stack says
	   nullok for local logins */
	const struct pk_opcall ops[] = {
		{ PK_OP_AUTHENTICATE, PAM_DISALLOW_NULL_AUTHTOK },
		{ PK_OP_ACCT_MGMT, PAM_DISALLOW_NULL_AUTHTOK },
		{ PK_OP_OPEN_SESSION, 0 },
	};
	int rc;

	c->pam_started_us = now_us();
	c->pam_wait_us = 0;
	rc = pk_start_chain(c->txn, ops, c->conf->pam_session ? 3 : 2);
	c->op = PK_OP_AUTHENTICATE;
	if (rc == -ENOBUFS) {
		conn_fail(c, "too many PAM logins at once", 0);
		return -1;
	}
	if (rc) {
		pam_failed(c, rc, pk_op_name(c->op));
		return -1;
	}
	conn_set_state(c, CS_PAM_RUN);
	return 0;
}

void pam_login_start(struct conn *c, char *pass)
{
	const struct authd_conf *cf = c->conf;
	struct pk_options o = { 0 };
	struct epoll_event ev = { 0 };
	char rhost[sizeof(c->peer)];
	int rc;

	c->pass = pass;
	o.service = c->cc->pam_service ? c->cc->pam_service : cf->pam_service;
	o.confdir = cf->pam_confdir;
	o.mode = PK_MODE_STEPWISE;
	o.delay_mode = PK_DELAY_REPORT;	/* the loop's timer waits it out */
	o.step_timeout_ms = cf->step_timeout_ms;
	/* The items the Bareos director sets: PAM_USER and PAM_RUSER are the
	   4002 user (interactive: PAM asks), no PAM_TTY, no PAM_RHOST;
	   pam_tty and pam_rhost add them. */
	if (c->pam_kind == PAM_LOGIN_DIRECT) {
		o.user = c->user;
		o.ruser = c->user;
	}
	o.tty = cf->pam_tty;
	if (cf->pam_rhost && !c->local) {
		snprintf(rhost, sizeof(rhost), "%s", c->peer);
		o.rhost = rhost;
	}
	rc = pk_txn_create(&o, &c->txn);
	if (rc != PAM_SUCCESS) {
		c->txn = NULL;
		drop_pass(c);
		pam_failed(c, rc, "start");
		return;
	}
	c->w_pam.kind = WATCH_PAM;
	c->w_pam.conn = c;
	ev.events = EPOLLIN;
	ev.data.ptr = &c->w_pam;
	if (epoll_ctl(c->d->epfd, EPOLL_CTL_ADD, pk_fd(c->txn), &ev)) {
		drop_pass(c);
		conn_fail(c, "epoll_ctl failed", 0);
		return;
	}
	c->pam_watched = true;
	start_login_ops(c);
}

/* Send the next message of the batch; all answered: to PAM with them. */
void pam_relay_next(struct conn *c)
{
	size_t n;
	const struct pk_message *m = pk_batch_messages(c->batch, &n);
	int rc;

	if (c->msg_idx < n) {
		uint8_t style;

		/* info and error text go out as echo-on prompts, the only kind
		 * a real bconsole shows; unlike the director we read (and
		 * drop) the answer, so the two sides stay in step. */
		style = m[c->msg_idx].style == PAM_PROMPT_ECHO_OFF ?
			WIRE_PAM_ECHO_OFF : WIRE_PAM_ECHO_ON;
		if (conn_send(c, &style, 1) == 0)
			conn_send(c, m[c->msg_idx].msg,
				  strlen(m[c->msg_idx].msg) + 1);
		conn_set_state(c, CS_PAM_PROMPT);
		return;
	}
	rc = pk_reply(c->txn, pk_batch_seq(c->batch),
		      (const char *const *)c->replies, n);
	drop_batch(c);
	conn_set_state(c, CS_PAM_RUN);
	if (rc == -ESTALE) {
		/* the step timed out while the console typed: the operation
		   ends with PAM_CONV_ERR, pk_fd says so */
		return;
	}
	if (rc)
		pam_failed(c, rc, "reply");
}

/* An answer from the console for message msg_idx (4001). */
void pam_relay_answer(struct conn *c, const char *data, size_t n)
{
	size_t nmsgs;
	const struct pk_message *m = pk_batch_messages(c->batch, &nmsgs);

	if (n && data[n - 1] == '\0')
		n--;
	if (!m || c->msg_idx >= nmsgs || n > PAM_FIELD_MAX ||
	    memchr(data, '\0', n)) {
		conn_fail(c, "bad PAM answer", 0);
		return;
	}
	if (pk_message_is_prompt(&m[c->msg_idx])) {
		char *a = malloc(n + 1);

		if (!a) {
			conn_fail(c, "out of memory", 0);
			return;
		}
		memcpy(a, data, n);
		a[n] = '\0';
		c->replies[c->msg_idx] = a;
	}
	c->msg_idx++;
	pam_relay_next(c);
}

/* 4002: answer from the frame, as the director's conversation does:
   the user for an echo-on prompt, the password for the first echo-off. */
static void answer_direct(struct conn *c, pk_batch *b)
{
	size_t n;
	const struct pk_message *m = pk_batch_messages(b, &n);
	const char **r = calloc(n ? n : 1, sizeof(*r));
	int rc;

	if (!r) {
		conn_fail(c, "out of memory", 0);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (m[i].style == PAM_PROMPT_ECHO_ON) {
			r[i] = c->user;
		} else if (m[i].style == PAM_PROMPT_ECHO_OFF && c->pass) {
			r[i] = c->pass;
			c->pass_used = true;
		}
	}
	rc = pk_reply(c->txn, pk_batch_seq(b), r, n);
	free(r);
	/* PAM has its copy: ours goes at once (a second prompt gets none) */
	if (c->pass_used)
		drop_pass(c);
	if (rc && rc != -ESTALE)
		pam_failed(c, rc, "reply");
}

static void on_batch(struct conn *c)
{
	pk_batch *b = pk_batch_get(c->txn);
	size_t n;

	if (!b)
		return;		/* withdrawn meanwhile (timeout) */
	if (c->pam_kind == PAM_LOGIN_DIRECT) {
		answer_direct(c, b);
		pk_batch_unref(b);
		return;
	}
	drop_batch(c);
	c->batch = b;
	pk_batch_messages(b, &n);
	c->nmsgs = n;
	c->replies = calloc(n ? n : 1, sizeof(char *));
	if (!c->replies) {
		conn_fail(c, "out of memory", 0);
		return;
	}
	pam_relay_next(c);
}

static void on_done(struct conn *c, int rc)
{
	char *user = NULL;

	drop_batch(c);
	drop_pass(c);
	uint64_t now = now_us(), wait = c->pam_wait_us;

	if (c->state == CS_PAM_PROMPT)	/* ended (step timeout) mid-relay */
		wait += now - c->prompt_since_us;
	stats_pam_time(c->d, now - c->pam_started_us - wait);
	c->op = pk_txn_op(c->txn);	/* the call the chain ended with */
	if (rc != PAM_SUCCESS) {
		pam_failed(c, rc, pk_op_name(c->op));
		return;
	}
	if (c->op == PK_OP_OPEN_SESSION)
		c->session_open = true;
	/* logged in: who PAM says it is (4001 asked for the name) */
	if (pk_get_item(c->txn, PAM_USER, &user) == PAM_SUCCESS && user)
		snprintf(c->user, sizeof(c->user), "%s", user);
	free(user);
	/* as the director: only a user it has a User resource for */
	if (!conf_pam_user_allowed(c->conf, c->user)) {
		conn_fail_pam(c, "PAM said yes, but no User resource "
			      "(pam_users) names this user", 0);
		return;
	}
	conn_login_done(c);
}

void pam_on_event(struct conn *c)
{
	for (;;) {
		int rc;

		if (c->gone || c->dead || !c->txn)
			return;
		if (c->state != CS_PAM_RUN && c->state != CS_PAM_PROMPT) {
			/* failing (cancelled) or closing: collect and drop */
			rc = pk_result(c->txn);
			if (rc == -EAGAIN || rc == -EINVAL)
				return;
			if (rc == PAM_CONV_AGAIN)
				pk_cancel(c->txn);
			continue;
		}
		rc = pk_result(c->txn);
		if (rc == -EAGAIN)
			return;
		if (rc == PAM_CONV_AGAIN) {
			if (c->state == CS_PAM_PROMPT)
				return;	/* still relaying the last one */
			on_batch(c);
			return;
		}
		if (c->state == CS_PAM_PROMPT)
			drop_batch(c);	/* ended (step timeout) mid-relay */
		on_done(c, rc);
		return;
	}
}

void pam_login_abort(struct conn *c)
{
	drop_pass(c);
	if (c->txn)
		pk_cancel(c->txn);	/* a waiting conversation fails now */
}

/*
 * The connection goes away.  Nothing here may block the loop: a running
 * operation is cancelled and left to its worker (pk_txn_end_nowait); an
 * open session is closed by a borrowed worker too, and the transaction
 * ended when that is done (pam_closing, driven by the loop).
 */
void pam_login_release(struct conn *c)
{
	struct authd *d = c->d;
	pk_txn *txn = c->txn;

	drop_batch(c);
	drop_pass(c);
	if (!txn)
		return;
	c->txn = NULL;
	if (c->pam_watched) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, pk_fd(txn), NULL);
		c->pam_watched = false;
	}
	if (c->session_open) {
		struct closing *cl = calloc(1, sizeof(*cl));
		struct epoll_event ev = { .events = EPOLLIN };

		if (cl && pk_start(txn, PK_OP_CLOSE_SESSION, 0) == 0) {
			cl->txn = txn;
			cl->w.kind = WATCH_CLOSING;
			cl->w.closing = cl;
			ev.data.ptr = &cl->w;
			if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, pk_fd(txn), &ev) == 0) {
				cl->next = d->closing;
				d->closing = cl;
				d->nclosing++;
				return;
			}
		}
		free(cl);
	}
	pk_txn_end_nowait(txn);
}

/* A session close finished (or never will: shutdown). */
void pam_closing_done(struct authd *d, struct closing *cl, bool force)
{
	int rc = pk_result(cl->txn);

	if (!force && (rc == -EAGAIN || rc == PAM_CONV_AGAIN)) {
		if (rc == PAM_CONV_AGAIN)
			pk_cancel(cl->txn);	/* nobody is there to answer */
		return;
	}
	if (rc > 0)
		syslog(LOG_NOTICE, "PAM close_session: %s", pk_code_name(rc));
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, pk_fd(cl->txn), NULL);
	pk_txn_end_nowait(cl->txn);
	for (struct closing **p = &d->closing; *p; p = &(*p)->next)
		if (*p == cl) {
			*p = cl->next;
			break;
		}
	d->nclosing--;
	free(cl);
}
