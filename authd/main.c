/* main.c - pamkit-authd: single-threaded epoll loop serving Bareos
 * consoles.  Each PAM login is a stepwise libpamkit transaction whose fd
 * is in the epoll set (pamrelay.c): an operation borrows one of
 * libpamkit's workers while it runs; logged-in consoles hold no thread. */
#include "conf.h"
#include "conn.h"
#include "listen.h"
#include "stats.h"
#include "tlspsk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#define MAX_EVENTS 128

/* TLS-PSK: the console's key in the current configuration. */
static const char *key_lookup(const char *console, void *arg)
{
	const struct authd *d = arg;
	const struct console_conf *cc = conf_console(d->conf, console);

	return cc ? cc->key : NULL;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* PAM operations borrow libpamkit's workers: this many at once, then a
   bounded queue (past it a login is refused at once). */
static void configure_pool(const struct authd_conf *cf)
{
	struct pk_pool_config pc = { .max_workers = cf->pam_threads,
				     .max_queue = cf->pam_queue };

	pk_pool_configure(&pc);
}

/*
 * SIGHUP: read the configuration again.  Consoles, keys, PAM settings,
 * timeouts and limits apply to connections accepted from now on; the
 * connections already there (logged-in consoles) keep theirs and stay.
 * What the listeners and the TLS certificate were made from needs a
 * restart: said in the log, the old values stay.
 */
static void reload(struct authd *d, const char *path, const char *port)
{
	struct conf_gen *g = calloc(1, sizeof(*g));
	const struct authd_conf *old = d->conf;
	char err[512];

	if (!g || conf_load(path, &g->cf, err, sizeof(err))) {
		syslog(LOG_ERR, "SIGHUP: configuration not reloaded: %s",
		       g ? err : "out of memory");
		free(g);
		return;
	}
	g->refs = 1;
	if (port) {
		free(g->cf.listen_port);
		g->cf.listen_port = strdup(port);
	}
	/* the running listeners were made from these: keep them */
	char **keep[] = { &g->cf.listen_address, &g->cf.listen_port,
			  &g->cf.listen_unix, &g->cf.tls_certificate,
			  &g->cf.tls_key, &g->cf.statistics_listen };
	char *const *from[] = { &old->listen_address, &old->listen_port,
				&old->listen_unix, &old->tls_certificate,
				&old->tls_key, &old->statistics_listen };
	bool changed = false;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		changed |= !same_str(*keep[i], *from[i]);
		free(*keep[i]);
		*keep[i] = *from[i] ? strdup(*from[i]) : NULL;
	}
	if (changed)
		syslog(LOG_WARNING, "SIGHUP: listen_*, statistics_listen and "
		       "tls_certificate/tls_key changes need a restart; the old "
		       "ones stay");
	conf_gen_unref(d->gen);
	d->gen = g;
	d->conf = &g->cf;
	configure_pool(d->conf);
	syslog(LOG_INFO, "SIGHUP: configuration reloaded (%zu console(s)); "
	       "%zu connection(s) keep theirs", g->cf.nconsoles, d->nconns);
}

/* Out of file descriptors (EMFILE/ENFILE): a level-triggered listener
 * would report the pending connection again at once and the loop would
 * spin.  Give up the reserve fd, take the connection and close it (the
 * client sees a clean close, not a hang), take the reserve back, and stop
 * listening for a moment. */
#define ACCEPT_PAUSE_MS 100

static void pause_accepting(struct authd *d, int lfd)
{
	int fd;

	if (d->reserve_fd >= 0) {
		close(d->reserve_fd);
		d->reserve_fd = -1;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	d->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < d->nlisteners; i++)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->listeners[i].w.fd, NULL);
	d->accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
	log_limited(&d->refusals, now_ms(), LOG_WARNING,
		    "out of file descriptors: refusing connections for %d ms",
		    ACCEPT_PAUSE_MS);
}

static void resume_accepting(struct authd *d)
{
	struct epoll_event ev = { .events = EPOLLIN };

	for (int i = 0; i < d->nlisteners; i++) {
		ev.data.ptr = &d->listeners[i].w;
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->listeners[i].w.fd, &ev);
	}
	d->accept_paused_until = 0;
}

static void accept_all(struct authd *d, int lfd, bool local)
{
	const struct authd_conf *cf = d->conf;

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct epoll_event ev = { 0 };
		char peer[64];
		struct conn *c;
		bool proxied;
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				pause_accepting(d, lfd);
				return;
			}
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_limited(&d->refusals, now_ms(), LOG_ERR,
					    "accept: %m");
			return;
		}
		d->stats.accepted++;
		if (local)
			strcpy(peer, "unix");
		else if (getnameinfo((struct sockaddr *)&ss, sl, peer,
				     sizeof(peer), NULL, 0, NI_NUMERICHOST))
			strcpy(peer, "?");
		if (d->nconns >= cf->max_connections) {
			stats_refusal(d, REF_CONNECTION_LIMIT);
			log_limited(&d->refusals, now_ms(), LOG_WARNING,
				    "connection limit (%u) reached, refusing %s",
				    cf->max_connections, peer);
			close(fd);
			continue;
		}
		/* a trusted balancer: its PROXY header names the client, who
		   is counted then (conn_proxy) */
		proxied = !local && proxy_net_match(cf->proxy_sources,
						    cf->nproxy_sources,
						    (struct sockaddr *)&ss);
		/* one source may hold only so many connections that have not
		   logged in yet: a slow loris starves itself, not the others */
		if (!proxied &&
		    sources_add(&d->sources, peer, cf->max_unauth_per_source)) {
			stats_refusal(d, REF_SOURCE_LIMIT);
			log_limited(&d->refusals, now_ms(), LOG_WARNING,
				    "%s has %u connections not logged in, refusing",
				    peer, cf->max_unauth_per_source);
			close(fd);
			continue;
		}
		if (!local) {
			int one = 1;

			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			if (!proxied)
				sources_del(&d->sources, peer);
			close(fd);
			continue;
		}
		c->d = d;
		c->gen = conf_gen_ref(d->gen);
		c->conf = &c->gen->cf;
		c->fd = fd;
		c->w_sock.kind = WATCH_SOCK;
		c->w_sock.conn = c;
		c->local = local;
		c->unauth_counted = !proxied;
		memcpy(c->peer, peer, sizeof(c->peer));
		/* edge-triggered until the first record is whole (login.c) */
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		ev.data.ptr = &c->w_sock;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			if (!proxied)
				sources_del(&d->sources, peer);
			close(fd);
			free(c);
			continue;
		}
		c->armed = ev.events;
		c->next = d->conns;
		if (d->conns)
			d->conns->prev = c;
		d->conns = c;
		d->nconns++;
		conn_start(c, proxied ? peer : NULL);
	}
}

/* Deadlines that passed: from the heap, earliest first. */
static void run_deadlines(struct authd *d)
{
	uint64_t now = now_ms();
	struct conn *c;

	while ((c = timers_expired(&d->timers, now)))
		conn_on_deadline(c);	/* may free c */
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pamkit-authd [-f] [-t] [-p PORT] -c CONFIG\n"
		   "Authenticate Bareos consoles (bconsole, the web UI) through PAM.\n"
		   "  -c CONFIG  configuration file (see pamkit-authd.conf(5))\n"
		   "  -f         also log to stderr\n"
		   "  -t         check the configuration and exit\n"
		   "  -p PORT    override listen_port (0: any free port)\n"
		   "  -h, --help     show this help\n"
		   "      --version  show the version\n");
}

int main(int argc, char **argv)
{
	struct authd_conf cf;
	struct authd d = { 0 };
	struct watch w_sig = { WATCH_SIGNAL, NULL, NULL, NULL, -1 };
	struct watch w_stats = { WATCH_STATS_LISTEN, NULL, NULL, NULL, -1 };
	struct listener ls[LISTEN_MAX];
	int nls = 0;
	struct epoll_event ev = { 0 }, evs[MAX_EVENTS];
	const char *config = NULL, *port = NULL;
	char err[512], bound[512], stats_desc[128];
	bool fg = false, test_only = false, stop = false;
	int opt, sfd = -1, rc = 1;
	sigset_t mask;

	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	while ((opt = getopt_long(argc, argv, "c:ftp:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'V': printf("pamkit-authd %s\n", PAMKIT_AUTHD_VERSION); return 0;
		case 'c': config = optarg; break;
		case 'f': fg = true; break;
		case 't': test_only = true; break;
		case 'p': port = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!config || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (conf_load(config, &cf, err, sizeof(err))) {
		fprintf(stderr, "pamkit-authd: %s\n", err);
		return 2;
	}
	if (port) {
		char *p = strdup(port);

		if (!p)
			goto out_conf;
		free(cf.listen_port);
		cf.listen_port = p;
	}
	if (cf.nconsoles == 0)
		fprintf(stderr, "pamkit-authd: %s: no console defined: "
			"every login is refused\n", config);
	for (size_t i = 0; i < cf.nconsoles; i++) {
		if (cf.consoles[i].pam && !cf.npam_users && !cf.pam_any_user) {
			fprintf(stderr, "pamkit-authd: %s: no User resource "
				"(pam_users): every PAM login is refused; "
				"pam_any_user = yes admits any user PAM "
				"accepts\n", config);
			break;
		}
	}
	if (test_only) {
		printf("configuration OK: %zu console(s)\n", cf.nconsoles);
		conf_free(&cf);
		return 0;
	}
	/* The process holds console keys and, for a moment, PAM passwords:
	   no core dump, no ptrace by other processes of the same user. */
	struct rlimit no_core = { 0, 0 };
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    setrlimit(RLIMIT_CORE, &no_core) != 0) {
		perror("pamkit-authd: cannot disable core dumps");
		conf_free(&cf);
		return 1;
	}
	/* From here the configuration is a reference-counted generation:
	   SIGHUP swaps in a new one, connections keep theirs. */
	d.gen = calloc(1, sizeof(*d.gen));
	if (!d.gen) {
		conf_free(&cf);
		return 1;
	}
	d.gen->cf = cf;
	d.gen->refs = 1;
	memset(&cf, 0, sizeof(cf));
	d.conf = &d.gen->cf;
	openlog("pamkit-authd", LOG_PID | (fg ? LOG_PERROR : 0), LOG_AUTH);
	d.epfd = -1;
	d.ssl_ctx = tlspsk_server_ctx(key_lookup, &d);
	if (!d.ssl_ctx) {
		fprintf(stderr, "pamkit-authd: cannot set up TLS-PSK\n");
		goto out;
	}
	if (d.conf->tls_certificate &&
	    tlspsk_server_use_cert(d.ssl_ctx, d.conf->tls_certificate,
				   d.conf->tls_key ? d.conf->tls_key : d.conf->tls_certificate,
				   err, sizeof(err))) {
		fprintf(stderr, "pamkit-authd: %s\n", err);
		goto out;
	}
	nls = listen_open(d.conf, ls, LISTEN_MAX, bound, sizeof(bound));
	if (nls < 0) {
		nls = 0;
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) ||
	    (sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
	    (d.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("pamkit-authd: setup");
		goto out;
	}
	ev.events = EPOLLIN;
	for (int i = 0; i < nls; i++) {
		ev.data.ptr = &ls[i].w;
		if (epoll_ctl(d.epfd, EPOLL_CTL_ADD, ls[i].w.fd, &ev))
			goto out;
	}
	ev.data.ptr = &w_sig;
	if (epoll_ctl(d.epfd, EPOLL_CTL_ADD, sfd, &ev))
		goto out;
	if (d.conf->statistics_listen) {
		w_stats.fd = stats_listen(d.conf->statistics_listen, stats_desc,
					  sizeof(stats_desc));
		ev.data.ptr = &w_stats;
		if (w_stats.fd < 0 ||
		    epoll_ctl(d.epfd, EPOLL_CTL_ADD, w_stats.fd, &ev))
			goto out;
		syslog(LOG_INFO, "statistics on %s", stats_desc);
	}
	configure_pool(d.conf);
	syslog(LOG_INFO, "listening on %s (director %s, PAM service %s)", bound,
	       d.conf->director_name, d.conf->pam_service);
	fprintf(stderr, "pamkit-authd: listening on %s\n", bound);
	fflush(stderr);
	d.listeners = ls;
	d.nlisteners = nls;
	d.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	while (!stop) {
		uint64_t now = now_ms();
		/* sleep until the next deadline (the heap's first), or until
		   accepting resumes after running out of fds */
		int cap = log_limited_flush(&d.refusals, now);
		if (d.accept_paused_until) {
			int left = d.accept_paused_until > now ?
				   (int)(d.accept_paused_until - now) : 0;
			if (cap < 0 || left < cap)
				cap = left;
		}
		int timeout = timers_wait_ms(&d.timers, now, cap);
		int n = epoll_wait(d.epfd, evs, MAX_EVENTS, timeout);

		if (n < 0 && errno != EINTR) {
			syslog(LOG_ERR, "epoll_wait: %m");
			goto out;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			switch (w->kind) {
			case WATCH_LISTEN:
				accept_all(&d, w->fd,
					   ((struct listener *)w)->local);
				break;
			case WATCH_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP)
						reload(&d, config, port);
					else
						stop = true;
				}
				break;
			}
			case WATCH_SOCK:
				conn_on_sock(w->conn, evs[i].events);
				break;
			case WATCH_PAM:
				conn_on_pam(w->conn);
				break;
			case WATCH_CLOSING:
				pam_closing_done(&d, w->closing, false);
				break;
			case WATCH_STATS_LISTEN:
				stats_accept(&d, w->fd);
				break;
			case WATCH_STATS:
				stats_on_client(w->sc, evs[i].events);
				break;
			}
		}
		if (d.accept_paused_until && now_ms() >= d.accept_paused_until)
			resume_accepting(&d);
		run_deadlines(&d);
		conn_reap(&d);	/* destroyed conns, after the whole batch */
		stats_reap(&d);
	}
	syslog(LOG_INFO, "shutting down (%zu connection(s) open)", d.nconns);
	rc = 0;
out:
	while (d.conns)
		conn_destroy(d.conns);
	conn_reap(&d);
	while (d.closing)	/* sessions still closing: their workers end them */
		pam_closing_done(&d, d.closing, true);
	stats_free_clients(&d);
	stats_close_listener(d.conf->statistics_listen, w_stats.fd);
	timers_free(&d.timers);
	sources_free(&d.sources);
	if (d.reserve_fd >= 0)
		close(d.reserve_fd);
	if (pk_shutdown(3000))
		syslog(LOG_WARNING, "some PAM modules were still busy at exit");
	listen_close(d.conf, ls, (size_t)nls);
	if (sfd >= 0)
		close(sfd);
	if (d.epfd >= 0)
		close(d.epfd);
	tlspsk_server_ctx_free(d.ssl_ctx);
	closelog();
	conf_gen_unref(d.gen);	/* connections are gone: the last ref */
out_conf:
	conf_free(&cf);		/* empty once d.gen took it over */
	return rc;
}
