/* stats.c - counters and the statistics endpoint (stats.h).
 *
 * A scrape is one short HTTP/1.0 exchange on the loop's thread: the
 * request is read (at most STATS_REQ_MAX bytes), the text rendered from
 * the counters, written, and the connection closed.  At most
 * STATS_CLIENTS_MAX scrapers at once; one more pushes out the oldest, so
 * an idle client cannot hold the endpoint. */
#include "conn.h"
#include "listen.h"
#include "stats.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define STATS_REQ_MAX 2048
#define STATS_BODY_MAX (32 * 1024)
#define STATS_CLIENTS_MAX 16

struct stats_client {
	struct watch w;
	struct authd *d;
	int fd;
	char req[STATS_REQ_MAX];
	size_t reqlen;
	char *out;		/* the whole response */
	size_t outlen, outoff;
	struct stats_client *prev, *next;	/* oldest first */
	bool gone;		/* closed; freed by stats_reap */
};

/* Upper bounds of the PAM time buckets, in microseconds. */
static const uint64_t pam_le_us[STATS_PAM_BUCKETS] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000,
};

static const char *const mode_names[LM_COUNT] = {
	"none", "cram", "interactive", "direct",
};

static const char *const refusal_names[REF_COUNT] = {
	"connection_limit", "source_limit", "proxy", "preauth_timeout",
	"login_timeout", "tls", "cram", "pam",
};

void stats_login(struct authd *d, enum login_mode m, bool ok)
{
	d->stats.logins[m][ok]++;
}

void stats_refusal(struct authd *d, enum refusal r)
{
	d->stats.refusals[r]++;
}

void stats_pam_time(struct authd *d, uint64_t us)
{
	struct stats *s = &d->stats;

	for (size_t i = 0; i < STATS_PAM_BUCKETS; i++)
		if (us <= pam_le_us[i])
			s->pam_buckets[i]++;
	s->pam_count++;
	s->pam_sum_us += us;
}

enum login_mode stats_mode_of(const struct conn *c)
{
	if (!c->cc)
		return LM_NONE;
	if (!c->cc->pam)
		return LM_CRAM;
	if (c->pam_kind == PAM_LOGIN_INTERACTIVE)
		return LM_INTERACTIVE;
	if (c->pam_kind == PAM_LOGIN_DIRECT)
		return LM_DIRECT;
	return LM_NONE;
}

/* ---- rendering ---------------------------------------------------------- */

struct text {
	char *buf;
	size_t n, len;
	bool full;
};

static void put(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (t->full)
		return;
	va_start(ap, fmt);
	k = vsnprintf(t->buf + t->len, t->n - t->len, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= t->n - t->len)
		t->full = true;
	else
		t->len += (size_t)k;
}

static void head(struct text *t, const char *name, const char *type,
		 const char *help)
{
	put(t, "# HELP pamkit_authd_%s %s\n# TYPE pamkit_authd_%s %s\n",
	    name, help, name, type);
}

enum { G_PROXY, G_PREAUTH, G_PAM, G_CONSOLE, G_CLOSING, G_COUNT };
static const char *const group_names[G_COUNT] = {
	"proxy_header", "preauth", "pam", "console", "closing",
};

static int state_group(enum conn_state s)
{
	switch (s) {
	case CS_PROXY: return G_PROXY;
	case CS_DETECT: case CS_TLS_HANDSHAKE: case CS_HELLO:
	case CS_CRAM_RESP: case CS_CRAM_CHAL: case CS_CRAM_OK:
		return G_PREAUTH;
	case CS_PAM_MODE: case CS_PAM_RUN: case CS_PAM_PROMPT:
		return G_PAM;
	case CS_CONSOLE: return G_CONSOLE;
	default: return G_CLOSING;
	}
}

size_t stats_render(struct authd *d, char *buf, size_t n)
{
	const struct stats *s = &d->stats;
	struct text t = { buf, n, 0, false };
	size_t by_group[G_COUNT] = { 0 };
	struct pk_pool_stats ps;

	for (const struct conn *c = d->conns; c; c = c->next)
		by_group[state_group(c->state)]++;
	pk_pool_get_stats(&ps);

	head(&t, "logins_total", "counter",
	     "Console logins by result and mode (none: failed before a mode was chosen).");
	for (int ok = 1; ok >= 0; ok--)
		for (int m = 0; m < LM_COUNT; m++)
			put(&t, "pamkit_authd_logins_total{result=\"%s\",mode=\"%s\"} %llu\n",
			    ok ? "success" : "failure", mode_names[m],
			    (unsigned long long)s->logins[m][ok]);
	head(&t, "refusals_total", "counter",
	     "Connections refused and logins failed, by reason.");
	for (int r = 0; r < REF_COUNT; r++)
		put(&t, "pamkit_authd_refusals_total{reason=\"%s\"} %llu\n",
		    refusal_names[r], (unsigned long long)s->refusals[r]);
	head(&t, "pam_seconds", "histogram",
	     "PAM time of one login (the client's typing excluded).");
	for (size_t i = 0; i < STATS_PAM_BUCKETS; i++)
		put(&t, "pamkit_authd_pam_seconds_bucket{le=\"%g\"} %llu\n",
		    (double)pam_le_us[i] / 1e6,
		    (unsigned long long)s->pam_buckets[i]);
	put(&t, "pamkit_authd_pam_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)s->pam_count);
	put(&t, "pamkit_authd_pam_seconds_sum %.6f\n",
	    (double)s->pam_sum_us / 1e6);
	put(&t, "pamkit_authd_pam_seconds_count %llu\n",
	    (unsigned long long)s->pam_count);
	head(&t, "connections", "gauge", "Open console connections by state.");
	for (size_t g = 0; g < G_COUNT; g++)
		put(&t, "pamkit_authd_connections{state=\"%s\"} %zu\n",
		    group_names[g], by_group[g]);
	head(&t, "connections_accepted_total", "counter",
	     "Connections accepted (before any limit).");
	put(&t, "pamkit_authd_connections_accepted_total %llu\n",
	    (unsigned long long)s->accepted);
	head(&t, "empty_connections_total", "counter",
	     "Connections closed before sending a byte (health checks, probes).");
	put(&t, "pamkit_authd_empty_connections_total %llu\n",
	    (unsigned long long)s->empty);
	head(&t, "proxy_headers_total", "counter",
	     "PROXY protocol headers accepted from trusted balancers.");
	put(&t, "pamkit_authd_proxy_headers_total %llu\n",
	    (unsigned long long)s->proxy_headers);
	head(&t, "sessions_closing", "gauge",
	     "PAM sessions of gone consoles being closed.");
	put(&t, "pamkit_authd_sessions_closing %zu\n", d->nclosing);
	head(&t, "pam_workers", "gauge",
	     "libpamkit worker threads: running a PAM operation or idle.");
	put(&t, "pamkit_authd_pam_workers{state=\"busy\"} %u\n", ps.busy);
	put(&t, "pamkit_authd_pam_workers{state=\"idle\"} %u\n",
	    ps.threads > ps.busy ? ps.threads - ps.busy : 0);
	head(&t, "pam_workers_max", "gauge", "The worker bound (pam_threads).");
	put(&t, "pamkit_authd_pam_workers_max %u\n", ps.max_workers);
	head(&t, "pam_queued", "gauge", "PAM operations waiting for a worker.");
	put(&t, "pamkit_authd_pam_queued %u\n", ps.queued);
	head(&t, "scrapes_total", "counter", "Requests to this endpoint.");
	put(&t, "pamkit_authd_scrapes_total %llu\n",
	    (unsigned long long)s->scrapes);
	return t.full ? 0 : t.len;
}

/* ---- the endpoint ------------------------------------------------------- */

int stats_listen(const char *spec, char *desc, size_t desclen)
{
	char host[64], port[8], bound[8];

	desc[0] = '\0';
	if (spec[0] == '/')
		return listen_unix(spec, desc, desclen);
	/* conf.c checked the form: a loopback address and a port */
	if (conf_split_hostport(spec, host, port)) {
		fprintf(stderr, "pamkit-authd: statistics_listen %s: bad address\n",
			spec);
		return -1;
	}
	return listen_tcp(host, port, bound, sizeof(bound), desc, desclen);
}

void stats_close_listener(const char *spec, int fd)
{
	if (fd < 0)
		return;
	close(fd);
	if (spec && spec[0] == '/')
		unlink(spec);
}

/* Closed now, freed after the loop's batch: an event for it may still be
   queued there. */
static void client_close(struct stats_client *sc)
{
	struct authd *d = sc->d;

	epoll_ctl(d->epfd, EPOLL_CTL_DEL, sc->fd, NULL);
	close(sc->fd);
	sc->fd = -1;
	sc->gone = true;
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		d->stats_clients = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	else
		d->stats_clients_tail = sc->prev;
	d->nstats_clients--;
	free(sc->out);
	sc->out = NULL;
	sc->prev = NULL;
	sc->next = d->stats_graveyard;
	d->stats_graveyard = sc;
}

void stats_reap(struct authd *d)
{
	while (d->stats_graveyard) {
		struct stats_client *sc = d->stats_graveyard;

		d->stats_graveyard = sc->next;
		free(sc);
	}
}

void stats_free_clients(struct authd *d)
{
	while (d->stats_clients)
		client_close(d->stats_clients);
	stats_reap(d);
}

void stats_accept(struct authd *d, int lfd)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct stats_client *sc;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;		/* EAGAIN, or out of fds: try later */
		if (d->nstats_clients == STATS_CLIENTS_MAX)
			client_close(d->stats_clients);	/* the oldest */
		sc = calloc(1, sizeof(*sc));
		if (!sc) {
			close(fd);
			continue;
		}
		sc->w.kind = WATCH_STATS;
		sc->w.sc = sc;
		sc->d = d;
		sc->fd = fd;
		ev.data.ptr = &sc->w;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(sc);
			continue;
		}
		sc->prev = d->stats_clients_tail;
		if (sc->prev)
			sc->prev->next = sc;
		else
			d->stats_clients = sc;
		d->stats_clients_tail = sc;
		d->nstats_clients++;
	}
}

static void respond(struct stats_client *sc, const char *status,
		    const char *body, size_t bodylen)
{
	char hdr[256];
	int h = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.0 %s\r\n"
			 "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", status, bodylen);

	sc->out = malloc((size_t)h + bodylen);
	if (!sc->out)
		return;
	memcpy(sc->out, hdr, (size_t)h);
	memcpy(sc->out + h, body, bodylen);
	sc->outlen = (size_t)h + bodylen;
}

/* The request is whole: GET (or HEAD) of / or /metrics. */
static void answer(struct stats_client *sc)
{
	char body[STATS_BODY_MAX];
	const char *r = sc->req;
	bool get = !strncmp(r, "GET ", 4), headreq = !strncmp(r, "HEAD ", 5);
	const char *path = r + (get ? 4 : 5);
	size_t plen = strcspn(path, " \r\n?");

	if (!get && !headreq) {
		respond(sc, "405 Method Not Allowed", "only GET\n", 9);
		return;
	}
	if (!((plen == 1 && path[0] == '/') ||
	      (plen == 8 && !memcmp(path, "/metrics", 8)))) {
		respond(sc, "404 Not Found", "try /metrics\n", 13);
		return;
	}
	sc->d->stats.scrapes++;
	size_t n = stats_render(sc->d, body, sizeof(body));

	if (!n) {
		respond(sc, "500 Internal Server Error", "too long\n", 9);
		return;
	}
	respond(sc, "200 OK", body, n);
	if (headreq && sc->out)
		sc->outlen -= n;	/* the header alone */
}

void stats_on_client(struct stats_client *sc, uint32_t events)
{
	if (sc->gone)
		return;
	if (events & (EPOLLERR | EPOLLHUP))
		goto done;
	if (!sc->out) {
		ssize_t r = recv(sc->fd, sc->req + sc->reqlen,
				 sizeof(sc->req) - 1 - sc->reqlen, 0);

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0)
			goto done;
		sc->reqlen += (size_t)r;
		sc->req[sc->reqlen] = '\0';
		if (!strstr(sc->req, "\r\n\r\n") && !strstr(sc->req, "\n\n")) {
			if (sc->reqlen < sizeof(sc->req) - 1)
				return;
			respond(sc, "431 Request Header Fields Too Large", "", 0);
		} else {
			answer(sc);
		}
		if (!sc->out)
			goto done;
	}
	if (sc->outoff == sc->outlen && sc->outlen) {
		/* answered, our side shut: read what the client still sends
		   until it closes, so the close is not a reset that could
		   eat the answer */
		char sink[4096];
		ssize_t r = recv(sc->fd, sink, sizeof(sink), 0);

		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r > 0)
			return;
		goto done;
	}
	while (sc->outoff < sc->outlen) {
		ssize_t w = send(sc->fd, sc->out + sc->outoff,
				 sc->outlen - sc->outoff, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct epoll_event ev = { .events = EPOLLOUT };

			ev.data.ptr = &sc->w;
			epoll_ctl(sc->d->epfd, EPOLL_CTL_MOD, sc->fd, &ev);
			return;
		}
		if (w <= 0)
			goto done;
		sc->outoff += (size_t)w;
	}
	if (shutdown(sc->fd, SHUT_WR) == 0) {
		struct epoll_event ev = { .events = EPOLLIN };

		ev.data.ptr = &sc->w;
		if (epoll_ctl(sc->d->epfd, EPOLL_CTL_MOD, sc->fd, &ev) == 0)
			return;		/* drain until the client closes */
	}
done:
	client_close(sc);
}
