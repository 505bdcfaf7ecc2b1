/* guard.c - what keeps one source from starving the others: a count of
 * unauthenticated connections per source address, a min-heap of
 * connection deadlines the loop sleeps on, and a rate limit for the log
 * lines that refusals write. */
#include "guard.h"
#include "conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* ---- per-source counts -------------------------------------------------- */

static unsigned int hash(const char *s)
{
	unsigned int h = 2166136261u;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % SOURCE_BUCKETS;
}

static struct source **slot(struct sources *t, const char *addr)
{
	struct source **p = &t->bucket[hash(addr)];

	while (*p && strcmp((*p)->addr, addr))
		p = &(*p)->next;
	return p;
}

int sources_add(struct sources *t, const char *addr, unsigned int limit)
{
	struct source **p = slot(t, addr);

	if (!*p) {
		struct source *s = calloc(1, sizeof(*s));

		if (!s)
			return -1;
		snprintf(s->addr, sizeof(s->addr), "%s", addr);
		*p = s;
	}
	if (limit && (*p)->count >= limit)
		return -1;
	(*p)->count++;
	return 0;
}

void sources_del(struct sources *t, const char *addr)
{
	struct source **p = slot(t, addr), *s = *p;

	if (!s)
		return;
	if (--s->count == 0) {
		*p = s->next;
		free(s);
	}
}

void sources_free(struct sources *t)
{
	for (size_t i = 0; i < SOURCE_BUCKETS; i++)
		while (t->bucket[i]) {
			struct source *s = t->bucket[i];

			t->bucket[i] = s->next;
			free(s);
		}
}

/* ---- deadlines ------------------------------------------------------------ */

static bool before(const struct conn *a, const struct conn *b)
{
	return a->deadline_ms < b->deadline_ms;
}

static void place(struct timers *h, size_t i, struct conn *c)
{
	h->v[i] = c;
	c->heap_idx = i + 1;
}

static void sift_up(struct timers *h, size_t i)
{
	struct conn *c = h->v[i];

	while (i > 0 && before(c, h->v[(i - 1) / 2])) {
		place(h, i, h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(h, i, c);
}

static void sift_down(struct timers *h, size_t i)
{
	struct conn *c = h->v[i];

	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct conn *best = c;

		if (l < h->n && before(h->v[l], best))
			m = l, best = h->v[l];
		if (l + 1 < h->n && before(h->v[l + 1], best))
			m = l + 1, best = h->v[l + 1];
		if (m == i)
			break;
		place(h, i, best);
		i = m;
	}
	place(h, i, c);
}

static void remove_at(struct timers *h, size_t i)
{
	struct conn *last = h->v[--h->n];

	h->v[i]->heap_idx = 0;
	if (i == h->n)
		return;
	place(h, i, last);
	sift_down(h, i);
	sift_up(h, last->heap_idx - 1);
}

int timers_set(struct timers *h, struct conn *c, uint64_t deadline_ms)
{
	if (c->heap_idx)
		remove_at(h, c->heap_idx - 1);
	c->deadline_ms = deadline_ms;
	if (!deadline_ms)
		return 0;
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct conn **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	place(h, h->n++, c);
	sift_up(h, h->n - 1);
	return 0;
}

struct conn *timers_expired(struct timers *h, uint64_t now)
{
	struct conn *c;

	if (!h->n || h->v[0]->deadline_ms > now)
		return NULL;
	c = h->v[0];
	remove_at(h, 0);
	c->deadline_ms = 0;
	return c;
}

int timers_wait_ms(const struct timers *h, uint64_t now, int cap_ms)
{
	if (!h->n)
		return cap_ms;
	if (h->v[0]->deadline_ms <= now)
		return 0;
	uint64_t left = h->v[0]->deadline_ms - now;
	return cap_ms >= 0 && left > (uint64_t)cap_ms ? cap_ms : (int)left;
}

void timers_free(struct timers *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

/* ---- rate-limited log lines ----------------------------------------------- */

int log_limited_flush(struct log_limit *l, uint64_t now)
{
	if (now >= l->window_ms + 1000) {
		if (l->dropped)
			syslog(LOG_WARNING, "%u more such lines in the last "
			       "second not logged", l->dropped);
		l->window_ms = now;
		l->used = 0;
		l->dropped = 0;
		return -1;
	}
	return l->dropped ? (int)(l->window_ms + 1000 - now) : -1;
}

void log_limited(struct log_limit *l, uint64_t now, int prio,
		 const char *fmt, ...)
{
	va_list ap;

	log_limited_flush(l, now);
	if (l->used >= LOG_LIMIT_PER_S) {
		l->dropped++;
		return;
	}
	l->used++;
	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
}
