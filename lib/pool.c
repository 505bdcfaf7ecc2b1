/*
 * pool.c - worker threads borrowed by stepwise operations.
 *
 * A worker runs one operation (pk_start) to its end and takes the next one
 * from a FIFO; no transaction owns a thread (OpenSSH's sshpam_thread lives
 * for one authentication too).  At most max_workers threads exist; past
 * that, operations wait in the FIFO, bounded by max_queue.  Threads are
 * never cancelled: they leave only when idle and the pool keeps more idle
 * threads than max_idle, or on pk_shutdown.  After fork() the child starts
 * with an empty pool (its parent's threads do not exist there).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "spin.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work;		/* the FIFO got an operation */
	pthread_cond_t changed;		/* busy or thread count went down */
	pk_txn *head, *tail;		/* FIFO of queued operations */
	unsigned int n_queued;
	unsigned int n_idle;		/* threads waiting for work */
	unsigned int n_busy;
	unsigned int n_returning;	/* atomic: done, on their way to idle */
	unsigned int n_threads;
	unsigned int max_workers, max_idle, max_queue;
	long spin_ns;			/* atomic: read without the lock */
	bool stopping;
} pool = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.changed = PTHREAD_COND_INITIALIZER,
	.max_workers = 256,
	.max_idle = 16,
	.max_queue = 65536,
	.spin_ns = 50000,
};

static void fifo_remove(pk_txn *txn)
{
	if (txn->q_prev)
		txn->q_prev->q_next = txn->q_next;
	else
		__atomic_store_n(&pool.head, txn->q_next, __ATOMIC_RELEASE);
	if (txn->q_next)
		txn->q_next->q_prev = txn->q_prev;
	else
		pool.tail = txn->q_prev;
	txn->q_prev = txn->q_next = NULL;
	txn->queued = false;
	pool.n_queued--;
}


long pk__spin_ns(void)
{
	static int cpus;	/* 0: not asked yet; benign race, same value */
	int n = __atomic_load_n(&cpus, __ATOMIC_RELAXED);

	if (n == 0) {
		long v = sysconf(_SC_NPROCESSORS_ONLN);
		n = v > 0 ? (int)v : 1;
		__atomic_store_n(&cpus, n, __ATOMIC_RELAXED);
	}
	if (n < 2)
		return 0;	/* the other thread needs this very CPU */
	return __atomic_load_n(&pool.spin_ns, __ATOMIC_RELAXED);
}

static void *worker_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.mu);
	for (;;) {
		while (!pool.head && !pool.stopping) {
			/* An idle worker sleeps at once, never spins: a
			   thread running on the other CPU makes the caller's
			   pam_start/pam_end (dlopen, munmap: TLB shootdowns)
			   35 and 16 us slower on the CI VM. */
			pool.n_idle++;
			pthread_cond_wait(&pool.work, &pool.mu);
			pool.n_idle--;
		}
		pk_txn *txn = pool.head;
		if (!txn)
			break;			/* stopping, nothing queued */
		fifo_remove(txn);
		pool.n_busy++;
		pthread_mutex_unlock(&pool.mu);

		pk__run_stepwise(txn);

		pthread_mutex_lock(&pool.mu);
		__atomic_sub_fetch(&pool.n_returning, 1, __ATOMIC_RELAXED);
		pool.n_busy--;
		pthread_cond_broadcast(&pool.changed);
		if (!pool.head && (pool.stopping || pool.n_idle >= pool.max_idle))
			break;
	}
	pool.n_threads--;
	pthread_cond_broadcast(&pool.changed);
	pthread_mutex_unlock(&pool.mu);
	return NULL;
}

/* With pool.mu held. */
static int spawn(void)
{
	pthread_attr_t attr;
	pthread_t th;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&th, &attr, worker_main, NULL);
	pthread_attr_destroy(&attr);
	if (err)
		return -err;
	pool.n_threads++;
	return 0;
}

int pk__pool_submit(pk_txn *txn)
{
	int rc = 0;

	pthread_mutex_lock(&pool.mu);
	pool.stopping = false;
	if (pool.n_queued >= pool.max_queue) {
		rc = -ENOBUFS;
		goto out;
	}
	/* Waiting idle threads take queued work first, and so does one that
	   just posted its result (an event loop starts the next operation
	   before that worker is back); a new thread only when every existing
	   one is busy and the cap allows it. */
	unsigned int avail = pool.n_idle +
		__atomic_load_n(&pool.n_returning, __ATOMIC_RELAXED);
	if (avail <= pool.n_queued && pool.n_threads < pool.max_workers) {
		rc = spawn();
		if (rc < 0 && pool.n_threads == 0)
			goto out;	/* nobody would ever run it */
		rc = 0;
	}
	txn->q_next = NULL;
	txn->q_prev = pool.tail;
	if (pool.tail)
		pool.tail->q_next = txn;
	else
		__atomic_store_n(&pool.head, txn, __ATOMIC_RELEASE);
	pool.tail = txn;
	txn->queued = true;
	pool.n_queued++;
	pthread_cond_signal(&pool.work);
out:
	pthread_mutex_unlock(&pool.mu);
	return rc;
}

void pk__pool_returning(void)
{
	__atomic_add_fetch(&pool.n_returning, 1, __ATOMIC_RELAXED);
}

bool pk__pool_withdraw(pk_txn *txn)
{
	bool was = false;

	pthread_mutex_lock(&pool.mu);
	if (txn->queued) {
		fifo_remove(txn);
		was = true;
	}
	pthread_mutex_unlock(&pool.mu);
	return was;
}

int pk_pool_configure(const struct pk_pool_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	pthread_mutex_lock(&pool.mu);
	if (cfg->max_workers)
		pool.max_workers = cfg->max_workers;
	if (cfg->max_idle)
		pool.max_idle = cfg->max_idle;
	if (cfg->max_queue)
		pool.max_queue = cfg->max_queue;
	if (cfg->spin_us == PK_POOL_NO_SPIN)
		__atomic_store_n(&pool.spin_ns, 0L, __ATOMIC_RELAXED);
	else if (cfg->spin_us)
		__atomic_store_n(&pool.spin_ns, (long)cfg->spin_us * 1000L,
				 __ATOMIC_RELAXED);
	pthread_mutex_unlock(&pool.mu);
	return 0;
}

void pk_pool_get_stats(struct pk_pool_stats *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&pool.mu);
	st->threads = pool.n_threads;
	st->busy = pool.n_busy;
	st->queued = pool.n_queued;
	st->max_workers = pool.max_workers;
	st->spin_us = (unsigned int)(pool.spin_ns / 1000);
	pthread_mutex_unlock(&pool.mu);
}

/*
 * fork(): the child has none of the parent's threads, and pool.mu may have
 * been held by one of them.  Start over with an empty pool; operations the
 * parent had queued belong to the parent (their transactions refuse every
 * call in the child).
 */
void pk__pool_after_fork_child(void)
{
	pthread_mutex_init(&pool.mu, NULL);
	pthread_cond_init(&pool.work, NULL);
	pthread_cond_init(&pool.changed, NULL);
	pool.head = pool.tail = NULL;
	pool.n_queued = pool.n_idle = pool.n_busy = pool.n_threads = 0;
	pool.n_returning = 0;
	pool.stopping = false;
}

static int wait_pool(bool (*done)(void), const struct timespec *deadline)
{
	while (!done())
		if (pthread_cond_timedwait(&pool.changed, &pool.mu, deadline) ==
		    ETIMEDOUT)
			return done() ? 0 : -ETIMEDOUT;
	return 0;
}

static bool no_busy(void) { return pool.n_busy == 0 && !pool.head; }
static bool no_threads(void) { return pool.n_threads == 0; }

int pk_shutdown(int timeout_ms)
{
	struct timespec deadline;
	int rc;

	/* pool.changed uses the default clock */
	pk__deadline(&deadline, CLOCK_REALTIME,
		     timeout_ms < 0 ? 0 : (unsigned int)timeout_ms);
	pthread_mutex_lock(&pool.mu);
	rc = wait_pool(no_busy, &deadline);
	pool.stopping = true;
	pthread_cond_broadcast(&pool.work);
	if (rc == 0)
		rc = wait_pool(no_threads, &deadline);
	pthread_mutex_unlock(&pool.mu);
	return rc;
}
