/* conn.c - a console connection's life: accepted (conn_start), driven by
 * socket, PAM and deadline events, failed or hung up, destroyed and freed
 * after the loop's batch.  The login states are login.c, the buffered
 * I/O connio.c, PAM pamrelay.c. */
#include "conn.h"
#include "psk.h"
#include "tlspsk.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>


void conn_deadline(struct conn *c, uint64_t at_ms)
{
	if (timers_set(&c->d->timers, c, at_ms) < 0)
		c->dead = true;		/* out of memory: close rather than hang */
}

/* Logged in or gone: no longer an unauthenticated connection. */
void conn_uncount(struct conn *c)
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

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t now_ms(void)
{
	return now_us() / 1000u;
}

const struct lognames *conn_names(const struct conn *c, struct lognames *n)
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

static void fail_after(struct conn *c, const char *why, unsigned int wait);

/* Why a login failed, for the statistics: the state it failed in. */
static enum refusal fail_reason(const struct conn *c)
{
	bool pam = c->state == CS_PAM_MODE || c->state == CS_PAM_RUN ||
		   c->state == CS_PAM_PROMPT;

	if (c->timed_out)
		return pam ? REF_LOGIN_TIMEOUT : REF_PREAUTH_TIMEOUT;
	if (c->state == CS_DETECT || c->state == CS_TLS_HANDSHAKE)
		return REF_TLS;
	return pam ? REF_PAM : REF_CRAM;
}

void conn_fail(struct conn *c, const char *why, unsigned int delay_ms)
{
	unsigned int wait = c->conf->fail_delay_ms;

	/* libpam's delay (pam_faildelay, pam_unix) is never dropped */
	fail_after(c, why, delay_ms > wait ? delay_ms : wait);
}

/* A PAM failure: the delay the stack asked for (its PAM_FAIL_DELAY
   callback, libpamkit's PK_DELAY_REPORT), at least pam_fail_delay_min_ms
   (0 by default: as on the director, a stack that asks for none gets
   none). */
void conn_fail_pam(struct conn *c, const char *why, unsigned int pam_delay_ms)
{
	unsigned int min = c->conf->pam_fail_delay_min_ms;

	fail_after(c, why, pam_delay_ms > min ? pam_delay_ms : min);
}

static void fail_after(struct conn *c, const char *why, unsigned int wait)
{
	if (c->state == CS_FAILING || c->dead)
		return;
	struct lognames ln;

	c->d->fail_count++;
	stats_refusal(c->d, fail_reason(c));
	stats_login(c->d, stats_mode_of(c), false);
	conn_names(c, &ln);
	syslog(LOG_NOTICE, "login failed: console=%s user=%s from %s%s%s: %s",
	       ln.console, ln.user, c->peer, c->via[0] ? " via " : "", c->via,
	       why);
	conn_set_state(c, CS_FAILING);
	/* a timer: no thread sleeps through it */
	conn_deadline(c, now_ms() + wait);
	pam_login_abort(c);	/* a waiting conversation fails now */
}

static void fail(struct conn *c, const char *why)
{
	conn_fail(c, why, 0);
}

void conn_refuse(struct conn *c, enum refusal r, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	stats_refusal(c->d, r);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* an attacker may repeat it at will: rate-limited */
	log_limited(&c->d->refusals, now_ms(), LOG_NOTICE, "%s", line);
	c->dead = true;
}

void conn_gone_empty(struct conn *c)
{
	c->d->stats.empty++;
	c->dead = true;
}

void conn_hangup(struct conn *c, const char *why)
{
	struct lognames ln;

	if (why)
		syslog(LOG_INFO, "connection from %s (console %s) closed: %s",
		       c->peer, conn_names(c, &ln)->console, why);
	c->dead = true;
}

/* ---- output ------------------------------------------------------------ */

void conn_on_pam(struct conn *c)
{
	if (c->gone)
		return;
	pam_on_event(c);
	conn_on_sock(c, 0);	/* flush, rearm or destroy */
}

/* One complete frame (sig != 0 for a signal). */
void conn_on_sock(struct conn *c, uint32_t events)
{
	uint32_t ignored = 0;

	if (c->gone)
		return;
	if (c->state != CS_PROXY && c->state != CS_DETECT &&
	    c->state != CS_TLS_HANDSHAKE && !conn_reading_state(c->state))
		ignored = events;
	if (c->dead)
		goto out;
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* a balancer's health check may end with a reset */
		if (c->state == CS_PROXY || c->state == CS_DETECT)
			conn_gone_empty(c);
		else
			conn_hangup(c, c->state == CS_CONSOLE ? NULL : "client gone: socket error or hang-up");
		goto out;
	}
	if (c->state == CS_PROXY)
		conn_proxy(c);
	/* the client's first bytes may have come with the header */
	if (!c->dead && c->state == CS_DETECT)
		conn_detect(c);
	if (!c->dead && c->state == CS_TLS_HANDSHAKE) {
		conn_handshake(c);
		/* handshake done: the Hello is read now only if it came with
		 * the Finished, else epoll says when (no read for EAGAIN) */
		if (c->state == CS_HELLO && !SSL_has_pending(c->ssl))
			goto flush;
	}
	if (!c->dead && (events || (c->tls && SSL_has_pending(c->ssl))))
		conn_read_frames(c);
flush:
	if (!c->dead && conn_flush(c))
		conn_hangup(c, c->state == CS_CONSOLE || c->state == CS_CLOSING ?
		       NULL : "write error");
	if (!c->dead && c->state == CS_CLOSING && !c->outlen)
		c->dead = true;
	/* logged in, greeting sent: give the record buffers back now (no
	 * read for EAGAIN follows the PAM job, whose end would free the read
	 * buffer); later reads and writes free their own (tlspsk_idle) */
	if (!c->dead && c->tls && c->logged_in && !c->outlen && !c->bufs_freed)
		c->bufs_freed = tlspsk_free_buffers(c->ssl);
	/* peer half-closed while we are not reading (PAM running / failing) */
	if (!c->dead && (events & EPOLLRDHUP) && !conn_reading_state(c->state))
		conn_hangup(c, c->state == CS_FAILING ? NULL : "client gone mid-conversation");
out:
	if (c->dead)
		conn_destroy(c);
	else
		conn_rearm(c, ignored);
}

void conn_on_deadline(struct conn *c)
{
	if (c->state == CS_PROXY) {
		conn_refuse(c, REF_PROXY, "no PROXY header from %s within %u ms",
			    c->peer, (unsigned)PROXY_HEADER_TIMEOUT_MS);
	} else if (c->state == CS_FAILING) {
		conn_flush(c);
		c->dead = true;
	} else if (c->state == CS_CONSOLE) {
		conn_hangup(c, "idle timeout");
	} else if (c->state == CS_CLOSING) {
		c->dead = true;
	} else {
		c->timed_out = true;
		fail(c, "login timeout");
		/* the fail delay still applies, then close */
	}
	if (c->dead)
		conn_destroy(c);
	else
		conn_rearm(c, 0);
}

unsigned int conn_preauth_ms(const struct conn *c)
{
	const struct authd_conf *cf = c->conf;

	return cf->preauth_timeout_ms < cf->login_timeout_ms ?
	       cf->preauth_timeout_ms : cf->login_timeout_ms;
}

void conn_start(struct conn *c, const char *via)
{
	unsigned int pre = conn_preauth_ms(c);

	/* TLS, Hello and CRAM-MD5 must be done soon (a slow loris gets
	   nowhere); the PAM part may take the rest of login_timeout_ms */
	c->started_ms = now_ms();
	if (via) {
		/* a balancer sends its header at once: a short deadline */
		snprintf(c->via, sizeof(c->via), "%s", via);
		conn_deadline(c, c->started_ms + (pre < PROXY_HEADER_TIMEOUT_MS ?
						  pre : PROXY_HEADER_TIMEOUT_MS));
		conn_set_state(c, CS_PROXY);
		return;
	}
	conn_deadline(c, c->started_ms + pre);
	conn_set_state(c, CS_DETECT);
}

void conn_destroy(struct conn *c)
{
	struct authd *d = c->d;

	if (c->gone)
		return;
	pam_login_release(c);	/* never blocks: workers finish PAM */
	conn_uncount(c);
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
