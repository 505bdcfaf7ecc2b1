/*
 * pool.c - worker threads for stepwise transactions.
 *
 * A worker is bound to one transaction from pam_start to pam_end (modules
 * such as pam_loginuid care which thread calls them) and then returns to
 * the idle list, so a login costs no thread creation.  Threads are never
 * cancelled; they leave only when idle and the pool is over its cap or shut
 * down.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

#define POOL_MAX_IDLE 64

struct pk_worker {
	pthread_cond_t cond;
	pk_txn *txn;			/* bound transaction, NULL when idle */
	struct pk_worker *next;		/* idle list */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t changed;		/* busy or thread count went down */
	struct pk_worker *idle;
	unsigned int n_idle;
	unsigned int n_busy;
	unsigned int n_threads;
	bool stopping;
} pool = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.changed = PTHREAD_COND_INITIALIZER,
};

static void *worker_main(void *arg)
{
	struct pk_worker *w = arg;

	pthread_mutex_lock(&pool.mu);
	for (;;) {
		while (!w->txn && !pool.stopping)
			pthread_cond_wait(&w->cond, &pool.mu);
		if (!w->txn)
			break;			/* stopping and idle */
		pk_txn *txn = w->txn;
		pthread_mutex_unlock(&pool.mu);

		pk__worker_serve(txn);

		pthread_mutex_lock(&pool.mu);
		w->txn = NULL;
		pool.n_busy--;
		pthread_cond_broadcast(&pool.changed);
		if (pool.stopping || pool.n_idle >= POOL_MAX_IDLE)
			break;
		w->next = pool.idle;
		pool.idle = w;
		pool.n_idle++;
	}
	pool.n_threads--;
	pthread_cond_broadcast(&pool.changed);
	pthread_mutex_unlock(&pool.mu);
	pthread_cond_destroy(&w->cond);
	free(w);
	return NULL;
}

int pk__pool_bind(pk_txn *txn)
{
	struct pk_worker *w;
	int rc = 0;

	pthread_mutex_lock(&pool.mu);
	pool.stopping = false;
	w = pool.idle;
	if (w) {
		pool.idle = w->next;
		pool.n_idle--;
		w->txn = txn;
		pool.n_busy++;
		pthread_cond_signal(&w->cond);
		goto out;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		rc = -ENOMEM;
		goto out;
	}
	pthread_cond_init(&w->cond, NULL);
	w->txn = txn;
	pthread_attr_t attr;
	pthread_t th;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&th, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (err) {
		pthread_cond_destroy(&w->cond);
		free(w);
		rc = -err;
		goto out;
	}
	pool.n_threads++;
	pool.n_busy++;
out:
	if (rc == 0)
		txn->worker = w;
	pthread_mutex_unlock(&pool.mu);
	return rc;
}

static int wait_pool(bool (*done)(void), const struct timespec *deadline)
{
	while (!done())
		if (pthread_cond_timedwait(&pool.changed, &pool.mu, deadline) ==
		    ETIMEDOUT)
			return done() ? 0 : -ETIMEDOUT;
	return 0;
}

static bool no_busy(void) { return pool.n_busy == 0; }
static bool no_threads(void) { return pool.n_threads == 0; }

int pk_shutdown(int timeout_ms)
{
	struct timespec deadline;
	int rc;

	clock_gettime(CLOCK_REALTIME, &deadline);
	if (timeout_ms < 0)
		timeout_ms = 0;
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool.mu);
	rc = wait_pool(no_busy, &deadline);
	pool.stopping = true;
	for (struct pk_worker *w = pool.idle; w; w = w->next)
		pthread_cond_signal(&w->cond);
	pool.idle = NULL;
	pool.n_idle = 0;
	if (rc == 0)
		rc = wait_pool(no_threads, &deadline);
	pthread_mutex_unlock(&pool.mu);
	return rc;
}
