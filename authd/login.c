/* login.c - the login state machine of a console connection: the first
 * byte (TLS or not), the TLS handshake, Hello, CRAM-MD5 both ways, the
 * PAM request (1001 and 4001/4002, run by pamrelay.c), then the console.
 * One function per state handles a frame; every state change goes
 * through conn_set_state(). */
#include "conn.h"
#include "psk.h"
#include "tlspsk.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <syslog.h>

#define TLS_FIRST_BYTE 0x16

void conn_set_state(struct conn *c, enum conn_state st)
{
	/* the statistics' PAM time leaves out the client's typing */
	if (st == CS_PAM_PROMPT && c->state != CS_PAM_PROMPT)
		c->prompt_since_us = now_us();
	else if (st != CS_PAM_PROMPT && c->state == CS_PAM_PROMPT)
		c->pam_wait_us += now_us() - c->prompt_since_us;
	c->state = st;
	switch (st) {
	case CS_PAM_MODE:
		/* past CRAM-MD5: PAM may take the rest of login_timeout_ms */
		conn_deadline(c, c->started_ms + c->conf->login_timeout_ms);
		break;
	case CS_CONSOLE:
		conn_deadline(c, c->conf->idle_timeout_ms ?
			      now_ms() + c->conf->idle_timeout_ms : 0);
		break;
	default:
		break;
	}
}

static const char *lookup_key(const struct conn *c)
{
	return c->cc ? c->cc->key : NULL;
}

void conn_login_done(struct conn *c)
{
	char line[512];
	int n;

	c->logged_in = true;
	tlspsk_idle(c->ssl);
	if (c->pam_kind == PAM_LOGIN_INTERACTIVE) {
		/* PAM_SUCCESS type byte, then an empty message (as the director) */
		conn_send(c, "", 1);
		conn_send(c, "", 1);
	}
	n = snprintf(line, sizeof(line), "1000%cOK: %s Version: %s", RS,
		     c->conf->director_name, c->conf->version);
	if (n > 0 && (size_t)n < sizeof(line))
		conn_send(c, line, (size_t)n);
	/* the director's words (bareos-console-pam.rst): the default
	   console (the director's own password) is not a named login */
	if (!c->pam_kind && !strcmp(c->console, DEFAULT_CONSOLE))
		n = snprintf(line, sizeof(line), "1002%cYou are connected "
			     "using the default console", RS);
	else
		n = snprintf(line, sizeof(line), "1002%cYou are logged in as: %s",
			     RS, c->pam_kind ? c->user : c->console);
	if (n > 0 && (size_t)n < sizeof(line))
		conn_send(c, line, (size_t)n);
	struct lognames ln;

	conn_names(c, &ln);
	syslog(LOG_INFO, "login: console=%s user=%s from %s%s%s%s", ln.console,
	       c->pam_kind ? ln.user : "-", c->peer,
	       c->via[0] ? " via " : "", c->via,
	       c->pam_kind ? " (PAM)" : "");
	stats_login(c->d, stats_mode_of(c), true);
	conn_uncount(c);		/* logged in: no longer unauthenticated */
	conn_set_state(c, CS_CONSOLE);
}

/* ---- one function per state: the frame a console sent in it ---------- */

static void on_hello(struct conn *c, const char *data, size_t n)
{
	char chal[CRAM_CHAL_MAX], own[NAME_MAX_LEN + 16];

	if (hello_parse(data, n, c->console)) {
		c->console[0] = '\0';
		conn_fail(c, "malformed Hello", 0);
		return;
	}
	c->hello_version = hello_has_version(data, n);
	c->cc = conf_console(c->conf, c->console);
	if (c->tls) {
		const char *id = tlspsk_peer_identity(c->ssl);

		/* no PSK: certificate TLS (when configured), and CRAM-MD5
		 * alone authenticates the console */
		if (id ? strcmp(id, c->console) != 0 : !c->conf->tls_certificate) {
			conn_fail(c, "Hello name differs from the TLS-PSK identity", 0);
			return;
		}
	}
	snprintf(own, sizeof(own), "R_DIRECTOR::%s", c->conf->director_name);
	for (char *p = own; *p; p++)
		if (*p == ' ')
			*p = '\x01';
	if (cram_make_challenge(own, c->chal, sizeof(c->chal)) ||
	    cram_challenge_line(c->chal, c->tls ? 2 : 0, chal, sizeof(chal)) < 0) {
		conn_fail(c, "cannot make a challenge", 0);
		return;
	}
	conn_send_str(c, chal);
	conn_set_state(c, CS_CRAM_RESP);
}

static void on_cram_resp(struct conn *c, const char *data, size_t n)
{
	/* unknown consoles run the same steps, the HMAC included (the same
	   time and answer as a wrong password), and fail here */
	static const char no_key[MD5_HEX_LEN + 1] =
		"00000000000000000000000000000000";
	const char *key = lookup_key(c);
	bool ok = cram_verify(c->chal, key ? key : no_key, data, n);

	if (!key || !ok) {
		conn_send_str(c, CRAM_FAIL_LINE);
		conn_fail(c, c->cc ? "CRAM-MD5 response wrong" : "unknown console", 0);
		return;
	}
	conn_send_str(c, CRAM_OK_LINE);
	conn_set_state(c, CS_CRAM_CHAL);
}

static void on_cram_chal(struct conn *c, const char *data, size_t n)
{
	char resp[CRAM_RESP_MAX], chal[CRAM_CHAL_MAX], own[NAME_MAX_LEN + 16];
	int ssl;
	bool compat;

	if (cram_parse_challenge_line(data, n, chal, &ssl, &compat)) {
		conn_fail(c, "malformed challenge", 0);
		return;
	}
	snprintf(own, sizeof(own), "@R_DIRECTOR::%s>", c->conf->director_name);
	if (strstr(chal, own)) {
		conn_fail(c, "challenge carries our own name (reflection)", 0);
		return;
	}
	if (cram_response(chal, lookup_key(c), compat, resp)) {
		conn_fail(c, "cannot answer the challenge", 0);
		return;
	}
	conn_send(c, resp, strlen(resp) + 1);
	explicit_bzero(resp, sizeof(resp));
	conn_set_state(c, CS_CRAM_OK);
}

static void on_cram_ok(struct conn *c, const char *data, size_t n)
{
	if (n != strlen(CRAM_OK_LINE) || memcmp(data, CRAM_OK_LINE, n)) {
		conn_fail(c, "console rejected our response", 0);
		return;
	}
	if (!c->cc->pam) {
		conn_login_done(c);
		return;
	}
	/* as the director: PAM only for consoles of Bareos 18.2 and later
	   (their Hello says its version); an older one cannot answer 1001 */
	if (!c->hello_version) {
		conn_fail(c, "PAM console without a version in its Hello "
			  "(older than Bareos 18.2): no PAM login", 0);
		return;
	}
	conn_send_str(c, PAM_REQUIRED_MSG);
	conn_set_state(c, CS_PAM_MODE);
}

static void on_pam_mode(struct conn *c, const char *data, size_t n)
{
	char *u = calloc(1, PAM_FIELD_MAX + 1);
	char *p = calloc(1, PAM_FIELD_MAX + 1);
	int kind;

	if (!u || !p) {
		free(u);
		free(p);
		conn_fail(c, "out of memory", 0);
		return;
	}
	kind = pam_login_parse(data, n, u, p);
	if (kind < 0) {
		free(u);
		pk_free_secret(p);
		conn_fail(c, "malformed PAM login (want 4001 or 4002)", 0);
		return;
	}
	c->pam_kind = kind;
	if (kind == PAM_LOGIN_DIRECT) {
		snprintf(c->user, sizeof(c->user), "%s", u);
	} else {
		pk_free_secret(p);
		p = NULL;
	}
	free(u);
	pam_login_start(c, p);	/* takes p */
}

static void on_console(struct conn *c, const char *data, size_t n)
{
	if (c->conf->idle_timeout_ms)
		conn_deadline(c, now_ms() + c->conf->idle_timeout_ms);
	console_command(c, data, n);
}

/* One complete frame (sig != 0 for a signal). */
static void handle_frame(struct conn *c, int32_t sig, const char *data,
			 size_t n)
{
	if (sig) {
		if (sig == BNET_TERMINATE) {
			conn_hangup(c, c->state == CS_CONSOLE ? NULL : "client terminated");
			return;
		}
		if (c->state == CS_CONSOLE) {
			if (sig == BNET_HEARTBEAT)
				conn_send_signal(c, BNET_HB_RESPONSE);
			return;	/* EOD and the like are harmless here */
		}
		conn_fail(c, "unexpected signal", 0);
		return;
	}
	switch (c->state) {
	case CS_HELLO: on_hello(c, data, n); break;
	case CS_CRAM_RESP: on_cram_resp(c, data, n); break;
	case CS_CRAM_CHAL: on_cram_chal(c, data, n); break;
	case CS_CRAM_OK: on_cram_ok(c, data, n); break;
	case CS_PAM_MODE: on_pam_mode(c, data, n); break;
	case CS_PAM_PROMPT: pam_relay_answer(c, data, n); break;
	case CS_CONSOLE: on_console(c, data, n); break;
	default: break;
	}
}

void conn_read_frames(struct conn *c)
{
	while (!c->dead && conn_reading_state(c->state)) {
		int32_t len = 0, sig = 0;
		size_t need;
		ssize_t r;

		if (c->inlen >= 4) {
			enum frame_kind k = frame_decode_header(c->in, FRAME_AUTHD_MAX,
								&len, &sig);
			if (k == FRAME_TOO_BIG) {
				conn_fail(c, "oversized packet", 0);
				return;
			}
			if (k == FRAME_BAD_SIGNAL) {
				conn_fail(c, "bad signal", 0);
				return;
			}
			if (k == FRAME_SIGNAL || c->inlen == 4 + (size_t)len) {
				size_t used = c->inlen + 1;

				c->in[c->inlen] = '\0';
				c->inlen = 0;
				handle_frame(c, sig, (const char *)c->in + 4,
					     k == FRAME_SIGNAL ? 0 : (size_t)len);
				/* a 4002 frame or a prompt answer holds a
				 * password: it is consumed, wipe it now */
				explicit_bzero(c->in, used);
				/* a peer answers one frame at a time: unless TLS
				 * holds more, let epoll (level-triggered) say
				 * when the next one is there instead of a read
				 * that would only return EAGAIN */
				if (!(c->tls && SSL_has_pending(c->ssl)))
					return;
				continue;
			}
			need = 4 + (size_t)len - c->inlen;
		} else {
			need = 4 - c->inlen;
		}
		r = conn_read(c, c->in + c->inlen, need);
		if (r == -1)
			return;
		if (r == 0) {
			conn_hangup(c, c->state == CS_CONSOLE ? NULL : "client gone during login");
			return;
		}
		if (r < 0) {
			conn_hangup(c, "read error");
			return;
		}
		c->inlen += (size_t)r;
	}
}

/* TLS: the first record (the ClientHello) whole in the socket before any
   SSL object exists.  A client that trickles it (a slow loris) holds this
   connection's 5 KiB, not OpenSSL's ~50 (read buffer, handshake state);
   past the ClientHello a client without the console's PSK gets nowhere.
   Meanwhile the socket is watched edge-triggered (conn_rearm): no spin on
   the bytes that wait. */
#define TLS_RECORD_MAX (16384 + 2048)

static bool tls_record_ready(struct conn *c)
{
	unsigned char h[5];
	ssize_t r = recv(c->fd, h, sizeof(h), MSG_PEEK);
	int avail = 0;
	size_t len;

	if (r < (ssize_t)sizeof(h))
		return false;
	len = ((size_t)h[3] << 8) | h[4];
	if (len == 0 || len > TLS_RECORD_MAX)
		return true;		/* let OpenSSL say what is wrong */
	if (ioctl(c->fd, FIONREAD, &avail) != 0)
		return true;
	return (size_t)avail >= sizeof(h) + len;
}

/*
 * From a trusted balancer: the PROXY header, peeked whole, then taken off
 * the socket to its last byte, so the client's first byte (TLS or Hello)
 * is untouched.  The client it names is what the per-source limit, the
 * log and PAM_RHOST see from here on.  A bad header closes at once.
 */
void conn_proxy(struct conn *c)
{
	uint8_t buf[PROXY_HDR_MAX];
	struct proxy_hdr h;
	char client[sizeof(c->peer)];
	ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_PEEK);
	int n;

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		conn_gone_empty(c);	/* a plain TCP health check */
		return;
	}
	n = proxy_parse(buf, (size_t)r, &h);
	if (n == 0)
		return;		/* the rest comes (edge-triggered: new bytes) */
	if (n < 0) {
		conn_refuse(c, REF_PROXY, "refused %s: %s", c->peer,
			    proxy_strerror(n));
		return;
	}
	if (recv(c->fd, buf, (size_t)n, 0) != n) {
		conn_refuse(c, REF_PROXY, "refused %s: PROXY header read failed",
			    c->peer);
		return;
	}
	if (h.local)
		snprintf(client, sizeof(client), "%s", c->peer);
	else if (getnameinfo((struct sockaddr *)&h.src, h.addrlen, client,
			     sizeof(client), NULL, 0, NI_NUMERICHOST))
		snprintf(client, sizeof(client), "?");
	c->d->stats.proxy_headers++;
	/* a slow loris behind the balancer starves itself, not the others */
	if (sources_add(&c->d->sources, client, c->conf->max_unauth_per_source)) {
		conn_refuse(c, REF_SOURCE_LIMIT,
			    "%s (via %s) has %u connections not logged in, refusing",
			    client, c->via, c->conf->max_unauth_per_source);
		return;
	}
	c->unauth_counted = true;
	memcpy(c->peer, client, sizeof(c->peer));
	conn_deadline(c, c->started_ms + conn_preauth_ms(c));
	conn_set_state(c, CS_DETECT);
}

/* A cleartext Hello while TLS is required: read what came (so the close
   is a FIN, not a reset that eats our answer), answer with the terminate
   signal as the director does, and close once it is out.  Clients then
   report an authentication failure, not a bare connection reset. */
static void refuse_cleartext(struct conn *c)
{
	char sink[4096];

	while (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	explicit_bzero(sink, sizeof(sink));
	stats_refusal(c->d, REF_TLS);
	c->d->fail_count++;
	syslog(LOG_NOTICE, "connection from %s refused: cleartext, and tls = "
	       "required", c->peer);
	conn_send_signal(c, BNET_TERMINATE);
	conn_set_state(c, CS_CLOSING);
	conn_deadline(c, now_ms() + 2000);	/* a client that never reads */
}

void conn_detect(struct conn *c)
{
	unsigned char b;
	ssize_t r = recv(c->fd, &b, 1, MSG_PEEK);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		conn_gone_empty(c);	/* a health check or a port probe */
		return;
	}
	/* "PROXY ..." or the v2 signature: never trusted from here (no
	   Bareos client begins so: it would be a frame of over 200 MB) */
	if (b == 'P' || b == '\r') {
		conn_refuse(c, REF_PROXY, "refused %s%s%s: PROXY header from a "
			    "source not in proxy_protocol_sources", c->peer,
			    c->via[0] ? " via " : "", c->via);
		return;
	}
	if (b == TLS_FIRST_BYTE) {
		if (!tls_record_ready(c))
			return;		/* the rest of the ClientHello */
		c->ssl = SSL_new(c->d->ssl_ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
			conn_hangup(c, "SSL_new failed");
			return;
		}
		c->tls = true;
		conn_set_state(c, CS_TLS_HANDSHAKE);
		return;
	}
	if (c->conf->tls != TLS_OPTIONAL) {
		refuse_cleartext(c);
		return;
	}
	conn_set_state(c, CS_HELLO);
}

void conn_handshake(struct conn *c)
{
	int r, e;

	ERR_clear_error();
	r = SSL_accept(c->ssl);
	if (r == 1) {
		conn_set_state(c, CS_HELLO);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return;
	c->d->fail_count++;
	stats_refusal(c->d, REF_TLS);
	syslog(LOG_NOTICE, "TLS-PSK handshake failed from %s (unknown console or wrong key)",
	       c->peer);
	conn_hangup(c, NULL);
}

/* events: what epoll reported, or 0 when called after a PAM job moved the
 * connection on (then the socket is read only if TLS holds buffered bytes:
 * anything in the kernel is reported by epoll, without a read for EAGAIN). */
