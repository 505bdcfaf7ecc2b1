/* guard.h - per-source counts, the deadline heap, rate-limited logging. */
#ifndef AUTHD_GUARD_H
#define AUTHD_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;

#define SOURCE_BUCKETS 1024
struct source {
	char addr[64];
	unsigned int count;
	struct source *next;
};
struct sources {
	struct source *bucket[SOURCE_BUCKETS];
};
/* Count one more unauthenticated connection from addr; -1 when it would
   pass limit (0: no limit) or on allocation failure. */
int sources_add(struct sources *t, const char *addr, unsigned int limit);
void sources_del(struct sources *t, const char *addr);
void sources_free(struct sources *t);

/* A min-heap of connection deadlines (conn->deadline_ms, heap_idx). */
struct timers {
	struct conn **v;
	size_t n, cap;
};
/* (Re)arm c's deadline; 0 disarms.  -1 when out of memory. */
int timers_set(struct timers *h, struct conn *c, uint64_t deadline_ms);
/* The next connection whose deadline passed (disarmed), or NULL. */
struct conn *timers_expired(struct timers *h, uint64_t now);
/* How long the loop may sleep: until the first deadline, at most cap_ms
   (-1: no cap). */
int timers_wait_ms(const struct timers *h, uint64_t now, int cap_ms);
void timers_free(struct timers *h);

/* At most LOG_LIMIT_PER_S such lines a second; then one line saying how
   many were dropped (an attacker must not fill the log). */
#define LOG_LIMIT_PER_S 10
struct log_limit {
	uint64_t window_ms;
	unsigned int used, dropped;
};
/* Log the count of dropped lines once their second is over; returns the
   ms until that is due (-1: nothing pending), for the loop's sleep. */
int log_limited_flush(struct log_limit *l, uint64_t now);
void log_limited(struct log_limit *l, uint64_t now, int prio,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
