/* stats.h - the daemon's counters and the read-only statistics endpoint
 * (statistics_listen: a UNIX socket or a loopback port) that serves them
 * in the Prometheus text format over HTTP/1.0.  No user or console names,
 * no secrets: counts and times only. */
#ifndef AUTHD_STATS_H
#define AUTHD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct authd;
struct conn;

enum login_mode {
	LM_NONE = 0,		/* failed before a PAM mode was chosen */
	LM_CRAM,		/* a console without PAM: CRAM-MD5 alone */
	LM_INTERACTIVE,		/* PAM, 4001 */
	LM_DIRECT,		/* PAM, 4002 */
	LM_COUNT
};

enum refusal {
	REF_CONNECTION_LIMIT = 0,	/* max_connections */
	REF_SOURCE_LIMIT,	/* max_unauth_per_source */
	REF_PROXY,		/* bad, slow or untrusted PROXY header */
	REF_PREAUTH_TIMEOUT,	/* TLS, Hello, CRAM-MD5 not done in time */
	REF_LOGIN_TIMEOUT,	/* PAM not done within login_timeout_ms */
	REF_TLS,		/* handshake failed, cleartext refused */
	REF_CRAM,		/* Hello or CRAM-MD5 failed */
	REF_PAM,		/* PAM said no (or could not run) */
	REF_COUNT
};

#define STATS_PAM_BUCKETS 12

struct stats {
	uint64_t logins[LM_COUNT][2];		/* [mode][succeeded] */
	uint64_t refusals[REF_COUNT];
	uint64_t accepted;			/* connections */
	uint64_t proxy_headers;			/* accepted PROXY headers */
	uint64_t empty;				/* closed before a byte */
	uint64_t pam_buckets[STATS_PAM_BUCKETS];	/* cumulative */
	uint64_t pam_count;
	uint64_t pam_sum_us;
	uint64_t scrapes;
};

/* Counting (the loop's thread only: no lock). */
void stats_login(struct authd *d, enum login_mode m, bool ok);
void stats_refusal(struct authd *d, enum refusal r);
void stats_pam_time(struct authd *d, uint64_t us);
enum login_mode stats_mode_of(const struct conn *c);

/* The endpoint. */
struct stats_client;
/* Listen on spec ("/path" or "127.0.0.1:PORT", "[::1]:PORT"); the fd
   (non-blocking) or -1 with a message on stderr. */
int stats_listen(const char *spec, char *desc, size_t desclen);
void stats_close_listener(const char *spec, int fd);
void stats_accept(struct authd *d, int lfd);
void stats_on_client(struct stats_client *sc, uint32_t events);
void stats_reap(struct authd *d);	/* end of a loop iteration */
void stats_free_clients(struct authd *d);
/* The exposition text (for tests and the endpoint); its length, or 0
   when buf is too small. */
size_t stats_render(struct authd *d, char *buf, size_t n);

#endif
