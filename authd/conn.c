/* conn.c - per-connection state machine of pamkit-authd: TLS-PSK, Hello,
 * CRAM-MD5 both ways, the PAM exchange (1001/4001/4002, driven by
 * pamrelay.c on libpamkit's stepwise engine), then the console. */
#include "conn.h"
#include "psk.h"
#include "tlspsk.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define OUT_MAX (256 * 1024)
#define TLS_FIRST_BYTE 0x16

void conn_deadline(struct conn *c, uint64_t at_ms)
{
	if (timers_set(&c->d->timers, c, at_ms) < 0)
		c->dead = true;		/* out of memory: close rather than hang */
}

/* Logged in or gone: no longer an unauthenticated connection. */
static void uncount(struct conn *c)
{
	if (c->unauth_counted) {
		sources_del(&c->d->sources, c->peer);
		c->unauth_counted = false;
	}
}

struct conf_gen *conf_gen_ref(struct conf_gen *g)
{
	g->refs++;
	return g;
}

void conf_gen_unref(struct conf_gen *g)
{
	if (g && --g->refs == 0) {
		conf_free(&g->cf);
		free(g);
	}
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The console's and the user's names as a log line may show them: both
   come from the client (escaped, log_escape). */
struct lognames {
	char console[LOG_ESCAPED_MAX(NAME_MAX_LEN)];
	char user[LOG_ESCAPED_MAX(PAM_FIELD_MAX)];
};

static const struct lognames *names(const struct conn *c, struct lognames *n)
{
	if (c->console[0])
		log_escape(c->console, n->console, sizeof(n->console));
	else
		strcpy(n->console, "-");
	if (c->user[0])
		log_escape(c->user, n->user, sizeof(n->user));
	else
		strcpy(n->user, "-");
	return n;
}

void conn_fail(struct conn *c, const char *why, unsigned int delay_ms)
{
	unsigned int wait = c->conf->fail_delay_ms;

	if (c->state == CS_FAILING || c->dead)
		return;
	struct lognames ln;

	c->d->fail_count++;
	names(c, &ln);
	syslog(LOG_NOTICE, "login failed: console=%s user=%s from %s: %s",
	       ln.console, ln.user, c->peer, why);
	c->state = CS_FAILING;
	/* libpam's delay (pam_faildelay, pam_unix) is never dropped */
	if (delay_ms > wait)
		wait = delay_ms;
	conn_deadline(c, now_ms() + wait);
	pam_login_abort(c);	/* a waiting conversation fails now */
}

static void fail(struct conn *c, const char *why)
{
	conn_fail(c, why, 0);
}

static void hangup(struct conn *c, const char *why)
{
	struct lognames ln;

	if (why)
		syslog(LOG_INFO, "connection from %s (console %s) closed: %s",
		       c->peer, names(c, &ln)->console, why);
	c->dead = true;
}

/* ---- output ------------------------------------------------------------ */

static int out_reserve(struct conn *c, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (c->outlen + n <= c->outcap)
		return 0;
	if (c->outlen + n > OUT_MAX)
		return -1;
	cap = c->outcap ? c->outcap : 512;
	while (cap < c->outlen + n)
		cap *= 2;
	if (cap > OUT_MAX)
		cap = OUT_MAX;
	p = realloc(c->out, cap);
	if (!p)
		return -1;
	c->out = p;
	c->outcap = cap;
	return 0;
}

int conn_send(struct conn *c, const void *data, size_t n)
{
	if (n > FRAME_BAREOS_MAX || out_reserve(c, 4 + n)) {
		hangup(c, "output buffer full");
		return -1;
	}
	frame_encode_header((int32_t)n, c->out + c->outlen);
	if (n)
		memcpy(c->out + c->outlen + 4, data, n);
	c->outlen += 4 + n;
	return 0;
}

int conn_send_str(struct conn *c, const char *s)
{
	return conn_send(c, s, strlen(s));
}

int conn_send_signal(struct conn *c, int32_t sig)
{
	if (out_reserve(c, 4)) {
		hangup(c, "output buffer full");
		return -1;
	}
	frame_encode_header(sig, c->out + c->outlen);
	c->outlen += 4;
	return 0;
}

/* Write what we can.  Returns 0, or -1 when the connection broke. */
static int flush_out(struct conn *c)
{
	while (c->outlen) {
		ssize_t w;

		if (c->tls) {
			int r, e;

			ERR_clear_error();
			r = SSL_write(c->ssl, c->out, (int)c->outlen);
			if (r <= 0) {
				e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
					return 0;
				return -1;
			}
			w = r;
		} else {
			w = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return errno == EINTR ? flush_out(c) : 0;
				return -1;
			}
		}
		memmove(c->out, c->out + w, c->outlen - (size_t)w);
		c->outlen -= (size_t)w;
	}
	return 0;
}

/* ---- input ------------------------------------------------------------- */

/* >0 bytes, 0 EOF, -1 would block, -2 error */
static ssize_t rd(struct conn *c, void *buf, size_t n)
{
	if (c->tls) {
		int r, e;

		ERR_clear_error();
		r = SSL_read(c->ssl, buf, (int)n);
		if (r > 0)
			return r;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return -1;
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
			return 0;	/* peer closed without close_notify */
		return -2;
	}
	for (;;) {
		ssize_t r = recv(c->fd, buf, n, 0);

		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
	}
}

static bool reading_state(enum conn_state s)
{
	switch (s) {
	case CS_HELLO: case CS_CRAM_RESP: case CS_CRAM_CHAL: case CS_CRAM_OK:
	case CS_PAM_MODE: case CS_PAM_PROMPT: case CS_CONSOLE:
		return true;
	default:
		return false;
	}
}

/* ignored: input epoll reported while the connection was not reading.
 * EPOLLIN stays registered while the connection is not reading (a PAM job
 * runs, the fail delay): a console sends nothing then, so dropping it and
 * adding it back would cost two epoll_ctl calls per login for nothing.
 * Only when input does come meanwhile is it dropped, so that level-
 * triggered epoll does not report the unread bytes again and again. */
static void rearm(struct conn *c, uint32_t ignored)
{
	struct epoll_event ev = { 0 };
	uint32_t want = EPOLLRDHUP;

	if (c->dead)
		return;
	if (c->state == CS_DETECT || c->state == CS_TLS_HANDSHAKE ||
	    reading_state(c->state))
		want |= EPOLLIN;
	else if (!(ignored & (EPOLLIN | EPOLLRDHUP)))
		want |= c->armed & EPOLLIN;
	if (c->outlen || (c->state == CS_TLS_HANDSHAKE && c->ssl &&
			  SSL_want_write(c->ssl)))
		want |= EPOLLOUT;
	if (want == c->armed)
		return;
	ev.events = want;
	ev.data.ptr = &c->w_sock;
	if (epoll_ctl(c->d->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->armed = want;
	else
		hangup(c, "epoll_ctl failed");
}

/* ---- login steps ------------------------------------------------------- */

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
	if (c->pam_kind)
		n = snprintf(line, sizeof(line), "1002%cYou are logged in as: %s",
			     RS, c->user);
	else
		n = snprintf(line, sizeof(line), "1002%cYou are logged in as: %s",
			     RS, c->console);
	if (n > 0 && (size_t)n < sizeof(line))
		conn_send(c, line, (size_t)n);
	struct lognames ln;

	names(c, &ln);
	syslog(LOG_INFO, "login: console=%s user=%s from %s%s", ln.console,
	       c->pam_kind ? ln.user : "-", c->peer,
	       c->pam_kind ? " (PAM)" : "");
	c->state = CS_CONSOLE;
	uncount(c);
	conn_deadline(c, c->conf->idle_timeout_ms ?
		      now_ms() + c->conf->idle_timeout_ms : 0);
}

void conn_on_pam(struct conn *c)
{
	if (c->gone)
		return;
	pam_on_event(c);
	conn_on_sock(c, 0);	/* flush, rearm or destroy */
}

/* One complete frame (sig != 0 for a signal). */
static void handle_frame(struct conn *c, int32_t sig, const char *data,
			 size_t n)
{
	char resp[CRAM_RESP_MAX], chal[CRAM_CHAL_MAX], own[NAME_MAX_LEN + 16];
	int ssl, kind;
	bool compat;

	if (sig) {
		if (sig == BNET_TERMINATE) {
			hangup(c, c->state == CS_CONSOLE ? NULL : "client terminated");
			return;
		}
		if (c->state == CS_CONSOLE) {
			if (sig == BNET_HEARTBEAT)
				conn_send_signal(c, BNET_HB_RESPONSE);
			return;	/* EOD and the like are harmless here */
		}
		fail(c, "unexpected signal");
		return;
	}
	switch (c->state) {
	case CS_HELLO:
		if (hello_parse(data, n, c->console)) {
			c->console[0] = '\0';
			fail(c, "malformed Hello");
			return;
		}
		c->cc = conf_console(c->conf, c->console);
		if (c->tls) {
			const char *id = tlspsk_peer_identity(c->ssl);

			/* no PSK: certificate TLS (when configured), and
			 * CRAM-MD5 alone authenticates the console */
			if (id ? strcmp(id, c->console) != 0 :
				 !c->conf->tls_certificate) {
				fail(c, "Hello name differs from the TLS-PSK identity");
				return;
			}
		}
		snprintf(own, sizeof(own), "R_DIRECTOR::%s", c->conf->director_name);
		for (char *p = own; *p; p++)
			if (*p == ' ')
				*p = '\x01';
		if (cram_make_challenge(own, c->chal, sizeof(c->chal)) ||
		    cram_challenge_line(c->chal, c->tls ? 2 : 0, chal, sizeof(chal)) < 0) {
			fail(c, "cannot make a challenge");
			return;
		}
		conn_send_str(c, chal);
		c->state = CS_CRAM_RESP;
		break;
	case CS_CRAM_RESP:
		/* unknown consoles run the same steps and fail here */
		if (!lookup_key(c) || !cram_verify(c->chal, lookup_key(c), data, n)) {
			conn_send_str(c, CRAM_FAIL_LINE);
			fail(c, c->cc ? "CRAM-MD5 response wrong" : "unknown console");
			return;
		}
		conn_send_str(c, CRAM_OK_LINE);
		c->state = CS_CRAM_CHAL;
		break;
	case CS_CRAM_CHAL:
		if (cram_parse_challenge_line(data, n, chal, &ssl, &compat)) {
			fail(c, "malformed challenge");
			return;
		}
		snprintf(own, sizeof(own), "@R_DIRECTOR::%s>", c->conf->director_name);
		if (strstr(chal, own)) {
			fail(c, "challenge carries our own name (reflection)");
			return;
		}
		if (cram_response(chal, lookup_key(c), compat, resp)) {
			fail(c, "cannot answer the challenge");
			return;
		}
		conn_send(c, resp, strlen(resp) + 1);
		explicit_bzero(resp, sizeof(resp));
		c->state = CS_CRAM_OK;
		break;
	case CS_CRAM_OK:
		if (n != strlen(CRAM_OK_LINE) || memcmp(data, CRAM_OK_LINE, n)) {
			fail(c, "console rejected our response");
			return;
		}
		if (!c->cc->pam) {
			conn_login_done(c);
			break;
		}
		conn_send_str(c, PAM_REQUIRED_MSG);
		c->state = CS_PAM_MODE;
		conn_deadline(c, c->started_ms + c->conf->login_timeout_ms);
		break;
	case CS_PAM_MODE: {
		char *u = calloc(1, PAM_FIELD_MAX + 1);
		char *p = calloc(1, PAM_FIELD_MAX + 1);

		if (!u || !p) {
			free(u);
			free(p);
			fail(c, "out of memory");
			return;
		}
		kind = pam_login_parse(data, n, u, p);
		if (kind < 0) {
			free(u);
			pk_free_secret(p);
			fail(c, "malformed PAM login (want 4001 or 4002)");
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
		break;
	}
	case CS_PAM_PROMPT:
		pam_relay_answer(c, data, n);
		break;
	case CS_CONSOLE:
		if (c->conf->idle_timeout_ms)
			conn_deadline(c, now_ms() + c->conf->idle_timeout_ms);
		console_command(c, data, n);
		break;
	default:
		break;
	}
}

static void read_frames(struct conn *c)
{
	while (!c->dead && reading_state(c->state)) {
		int32_t len = 0, sig = 0;
		size_t need;
		ssize_t r;

		if (c->inlen >= 4) {
			enum frame_kind k = frame_decode_header(c->in, FRAME_AUTHD_MAX,
								&len, &sig);
			if (k == FRAME_TOO_BIG) {
				fail(c, "oversized packet");
				return;
			}
			if (k == FRAME_BAD_SIGNAL) {
				fail(c, "bad signal");
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
		r = rd(c, c->in + c->inlen, need);
		if (r == -1)
			return;
		if (r == 0) {
			hangup(c, c->state == CS_CONSOLE ? NULL : "client gone during login");
			return;
		}
		if (r < 0) {
			hangup(c, "read error");
			return;
		}
		c->inlen += (size_t)r;
	}
}

static void detect(struct conn *c)
{
	unsigned char b;
	ssize_t r = recv(c->fd, &b, 1, MSG_PEEK);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		hangup(c, "closed before sending anything");
		return;
	}
	if (b == TLS_FIRST_BYTE) {
		c->ssl = SSL_new(c->d->ssl_ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
			hangup(c, "SSL_new failed");
			return;
		}
		c->tls = true;
		c->state = CS_TLS_HANDSHAKE;
		return;
	}
	if (c->conf->tls != TLS_OPTIONAL) {
		hangup(c, "cleartext refused (tls = required)");
		return;
	}
	c->state = CS_HELLO;
}

static void handshake(struct conn *c)
{
	int r, e;

	ERR_clear_error();
	r = SSL_accept(c->ssl);
	if (r == 1) {
		c->state = CS_HELLO;
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return;
	c->d->fail_count++;
	syslog(LOG_NOTICE, "TLS-PSK handshake failed from %s (unknown console or wrong key)",
	       c->peer);
	hangup(c, NULL);
}

/* events: what epoll reported, or 0 when called after a PAM job moved the
 * connection on (then the socket is read only if TLS holds buffered bytes:
 * anything in the kernel is reported by epoll, without a read for EAGAIN). */
void conn_on_sock(struct conn *c, uint32_t events)
{
	uint32_t ignored = 0;

	if (c->gone)
		return;
	if (c->state != CS_DETECT && c->state != CS_TLS_HANDSHAKE &&
	    !reading_state(c->state))
		ignored = events;
	if (c->dead)
		goto out;
	if (events & (EPOLLERR | EPOLLHUP)) {
		hangup(c, c->state == CS_CONSOLE ? NULL : "client gone: socket error or hang-up");
		goto out;
	}
	if (c->state == CS_DETECT)
		detect(c);
	if (!c->dead && c->state == CS_TLS_HANDSHAKE) {
		handshake(c);
		/* handshake done: the Hello is read now only if it came with
		 * the Finished, else epoll says when (no read for EAGAIN) */
		if (c->state == CS_HELLO && !SSL_has_pending(c->ssl))
			goto flush;
	}
	if (!c->dead && (events || (c->tls && SSL_has_pending(c->ssl))))
		read_frames(c);
flush:
	if (!c->dead && flush_out(c))
		hangup(c, c->state == CS_CONSOLE || c->state == CS_CLOSING ?
		       NULL : "write error");
	if (!c->dead && c->state == CS_CLOSING && !c->outlen)
		c->dead = true;
	/* logged in, greeting sent: give the record buffers back now (no
	 * read for EAGAIN follows the PAM job, whose end would free the read
	 * buffer); later reads and writes free their own (tlspsk_idle) */
	if (!c->dead && c->tls && c->logged_in && !c->outlen && !c->bufs_freed)
		c->bufs_freed = tlspsk_free_buffers(c->ssl);
	/* peer half-closed while we are not reading (PAM running / failing) */
	if (!c->dead && (events & EPOLLRDHUP) && !reading_state(c->state))
		hangup(c, c->state == CS_FAILING ? NULL : "client gone mid-conversation");
out:
	if (c->dead)
		conn_destroy(c);
	else
		rearm(c, ignored);
}

void conn_on_deadline(struct conn *c)
{
	if (c->state == CS_FAILING) {
		flush_out(c);
		c->dead = true;
	} else if (c->state == CS_CONSOLE) {
		hangup(c, "idle timeout");
	} else if (c->state == CS_CLOSING) {
		c->dead = true;
	} else {
		fail(c, "login timeout");
		/* the fail delay still applies, then close */
	}
	if (c->dead)
		conn_destroy(c);
	else
		rearm(c, 0);
}

void conn_start(struct conn *c)
{
	const struct authd_conf *cf = c->conf;
	unsigned int pre = cf->preauth_timeout_ms < cf->login_timeout_ms ?
			   cf->preauth_timeout_ms : cf->login_timeout_ms;

	/* TLS, Hello and CRAM-MD5 must be done soon (a slow loris gets
	   nowhere); the PAM part may take the rest of login_timeout_ms */
	c->started_ms = now_ms();
	conn_deadline(c, c->started_ms + pre);
	c->state = CS_DETECT;
}

void conn_destroy(struct conn *c)
{
	struct authd *d = c->d;

	if (c->gone)
		return;
	pam_login_release(c);	/* never blocks: workers finish PAM */
	uncount(c);
	conn_deadline(c, 0);
	conf_gen_unref(c->gen);
	c->gen = NULL;
	c->conf = NULL;
	c->cc = NULL;
	if (c->fd >= 0)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl) {
		if (c->state == CS_CONSOLE || c->state == CS_CLOSING)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	if (c->out)
		explicit_bzero(c->out, c->outcap);
	free(c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->nconns--;
	/* freed at the end of the loop iteration: events for this conn may
	 * still be queued in the current epoll batch */
	explicit_bzero(c->in, sizeof(c->in));
	explicit_bzero(c->user, sizeof(c->user));
	c->fd = -1;
	c->ssl = NULL;
	c->out = NULL;
	c->gone = true;
	c->prev = NULL;
	c->next = d->graveyard;
	d->graveyard = c;
}

void conn_reap(struct authd *d)
{
	while (d->graveyard) {
		struct conn *c = d->graveyard;

		d->graveyard = c->next;
		free(c);
	}
}
