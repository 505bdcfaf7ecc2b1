/*
 * pamkit-bench - libpamkit against the raw libpam loop, side by side in one
 * run: (a) pam_start/pam_authenticate/pam_end with a plain conversation,
 * (b) the same through libpamkit's blocking calls, (c) through stepwise
 * calls with the one prompt answered; ratios b/a and c/a, the median
 * stepwise round trip (pk_reply until the final code) in µs against this
 * machine's floor for handing work to another thread and back (a plain
 * condvar ping-pong between two threads), the RSS of 1,000 conversations
 * pending at once, and the threads held by 1,000 logged-in idle
 * transactions.
 *
 * usage: pamkit-bench [ITERATIONS]     (default 5000; best of 5 rounds)
 */
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pamkit/pamkit.h"

#define ROUNDS 5
#define PENDING 1000

static char confdir[] = "/tmp/pamkit-bench-XXXXXX";
static const char *const service = "fast";

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int raw_conv(int n, const struct pam_message **msg,
		    struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc(n, sizeof(*r));
	(void)data;
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF)
			r[i].resp = strdup("x");
	*resp = r;
	return PAM_SUCCESS;
}

static int loop_raw(int n)
{
	struct pam_conv conv = { raw_conv, NULL };
	for (int i = 0; i < n; i++) {
		pam_handle_t *pamh;
		if (pam_start_confdir(service, "alice", &conv, confdir, &pamh))
			return -1;
		int rc = pam_authenticate(pamh, 0);
		pam_end(pamh, rc);
		if (rc != PAM_SUCCESS)
			return -1;
	}
	return 0;
}

static int pk_conv(pk_txn *txn, const struct pk_message *m, size_t n,
		   char **replies, void *data)
{
	(void)txn; (void)data;
	for (size_t i = 0; i < n; i++)
		if (pk_message_is_prompt(&m[i]) && !(replies[i] = strdup("x")))
			return -1;
	return 0;
}

static int loop_blocking(int n)
{
	struct pk_options o = { .service = service, .user = "alice",
				.confdir = confdir, .conv = pk_conv };
	for (int i = 0; i < n; i++) {
		pk_txn *txn;
		if (pk_txn_create(&o, &txn))
			return -1;
		int rc = pk_authenticate(txn, 0);
		pk_txn_end(txn);
		if (rc != PAM_SUCCESS)
			return -1;
	}
	return 0;
}

static double *rtt, *first;	/* pk_answer and pk_begin latencies */
static size_t nrtt, nfirst;

static int loop_stepwise(int n)
{
	struct pk_options o = { .service = service, .user = "alice",
				.confdir = confdir, .mode = PK_MODE_STEPWISE };
	const char *answer[] = { "x" };
	for (int i = 0; i < n; i++) {
		pk_txn *txn;
		if (pk_txn_create(&o, &txn))
			return -1;
		double tb = now_us();
		int rc = pk_begin(txn, PK_OP_AUTHENTICATE, 0);
		if (first)
			first[nfirst++] = now_us() - tb;
		if (rc == PAM_CONV_AGAIN) {
			uint64_t seq;
			pk_messages(txn, NULL, &seq);
			double t0 = now_us();
			rc = pk_answer(txn, seq, answer, 1);
			if (rtt)
				rtt[nrtt++] = now_us() - t0;
		}
		pk_txn_end(txn);
		if (rc != PAM_SUCCESS)
			return -1;
	}
	return 0;
}

/* Best of ROUNDS, in µs per login; the rounds of a, b, c interleave so
   machine noise hits all three alike. */
static int measure(int n, double best[3])
{
	int (*loops[3])(int) = { loop_raw, loop_blocking, loop_stepwise };
	for (int k = 0; k < 3; k++)
		best[k] = 1e30;
	for (int r = 0; r < ROUNDS; r++)
		for (int k = 0; k < 3; k++) {
			double t0 = now_us();
			if (loops[k](n) < 0)
				return -1;
			double per = (now_us() - t0) / n;
			if (per < best[k])
				best[k] = per;
		}
	return 0;
}

/* The floor: one round trip of work handed to a waiting thread and back,
   with a mutex and two condition variables (what pk_reply/pk_wait do at
   the least). */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t to_worker, to_caller;
	int turn;		/* 0 caller, 1 worker, -1 stop */
} pp = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	 PTHREAD_COND_INITIALIZER, 0 };

static void *pingpong_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pp.mu);
	for (;;) {
		while (pp.turn == 0)
			pthread_cond_wait(&pp.to_worker, &pp.mu);
		if (pp.turn < 0)
			break;
		pp.turn = 0;
		pthread_cond_signal(&pp.to_caller);
	}
	pthread_mutex_unlock(&pp.mu);
	return NULL;
}

static int cmp_double(const void *a, const void *b);

static double pingpong_median(int n)
{
	double *t = calloc((size_t)n, sizeof(*t)), med;
	pthread_t th;

	if (!t || pthread_create(&th, NULL, pingpong_worker, NULL)) {
		free(t);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		double t0 = now_us();
		pthread_mutex_lock(&pp.mu);
		pp.turn = 1;
		pthread_cond_signal(&pp.to_worker);
		while (pp.turn == 1)
			pthread_cond_wait(&pp.to_caller, &pp.mu);
		pthread_mutex_unlock(&pp.mu);
		t[i] = now_us() - t0;
	}
	pthread_mutex_lock(&pp.mu);
	pp.turn = -1;
	pthread_cond_signal(&pp.to_worker);
	pthread_mutex_unlock(&pp.mu);
	pthread_join(th, NULL);
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	med = t[n / 2];
	free(t);
	return med;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static long status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtol(line + strlen(key), NULL, 10);
	fclose(f);
	return v;
}

static int pending_rss(long *before, long *after)
{
	static pk_txn *txns[PENDING];
	struct pk_options o = { .service = service, .user = "alice",
				.confdir = confdir, .mode = PK_MODE_STEPWISE };
	int rc = 0;

	*before = status_kib("VmRSS:");
	for (int i = 0; i < PENDING; i++) {
		if (pk_txn_create(&o, &txns[i]) ||
		    pk_begin(txns[i], PK_OP_AUTHENTICATE, 0) != PAM_CONV_AGAIN) {
			rc = -1;
			break;
		}
	}
	*after = status_kib("VmRSS:");
	for (int i = 0; i < PENDING; i++)
		pk_txn_end(txns[i]);
	return rc;
}

/* 1,000 logged-in transactions (authenticate + open_session), idle. */
static int idle_sessions(long *rss_kib, long *threads, unsigned int *busy)
{
	static pk_txn *txns[PENDING];
	struct pk_options o = { .service = service, .user = "alice",
				.confdir = confdir, .conv = pk_conv,
				.mode = PK_MODE_STEPWISE };
	/* heap bytes in use: RSS keeps the pages the pending test freed */
	size_t before = mallinfo2().uordblks;
	int rc = 0;

	/* authenticate stepwise (a worker is borrowed and given back), then
	   open the session blocking, on this thread */
	const char *answer[] = { "x" };
	for (int i = 0; i < PENDING; i++) {
		uint64_t seq = 0;
		if (pk_txn_create(&o, &txns[i]) ||
		    pk_begin(txns[i], PK_OP_AUTHENTICATE, 0) != PAM_CONV_AGAIN ||
		    !pk_messages(txns[i], NULL, &seq) ||
		    pk_answer(txns[i], seq, answer, 1) != PAM_SUCCESS ||
		    pk_open_session(txns[i], 0) != PAM_SUCCESS) {
			rc = -1;
			break;
		}
	}
	struct pk_pool_stats ps;
	pk_pool_get_stats(&ps);
	*busy = ps.busy;		/* workers held by the 1,000: none */
	/* The pool's idle threads leave too: only the main thread stays. */
	if (pk_shutdown(5000) != 0)
		fprintf(stderr, "pamkit-bench: pk_shutdown timed out\n");
	for (int i = 0; i < 100 && status_kib("Threads:") > 1; i++)
		usleep(10000);		/* detached threads finish exiting */
	*rss_kib = (long)((mallinfo2().uordblks - before) / 1024);
	*threads = status_kib("Threads:");
	for (int i = 0; i < PENDING; i++)
		pk_txn_end(txns[i]);
	return rc;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5000;
	double best[3];
	char path[PATH_MAX];
	int rc = 1;

	if (n <= 0 || !mkdtemp(confdir))
		return 2;
	snprintf(path, sizeof(path), "%s/%s", confdir, service);
	FILE *f = fopen(path, "w");
	if (!f)
		return 2;
	fprintf(f, "auth required %s setcred=skip prompt_off=Password:|x\n"
		"session required %s\n", PKTEST_MODULE_PATH,
		PKTEST_MODULE_PATH);
	fclose(f);
	/* 1,000 conversations pending at once each hold a worker. */
	struct pk_pool_config pc = { .max_workers = PENDING + 64 };
	pk_pool_configure(&pc);
	double floor = pingpong_median(20000);

	if (measure(n, best) < 0) {
		fprintf(stderr, "pamkit-bench: a login failed\n");
		goto out;
	}
	rtt = calloc(n, sizeof(*rtt));
	first = calloc(n, sizeof(*first));
	if (!rtt || !first || loop_stepwise(n) < 0)
		goto out;
	qsort(rtt, nrtt, sizeof(*rtt), cmp_double);
	qsort(first, nfirst, sizeof(*first), cmp_double);
	long before, after;
	if (pending_rss(&before, &after) < 0) {
		fprintf(stderr, "pamkit-bench: pending logins failed\n");
		goto out;
	}

	long idle_kib, idle_threads;
	unsigned int idle_busy;
	if (idle_sessions(&idle_kib, &idle_threads, &idle_busy) < 0) {
		fprintf(stderr, "pamkit-bench: idle sessions failed\n");
		goto out;
	}

	printf("pamkit-bench: %d logins x %d rounds (best round), service "
	       "pam_pktest one prompt\n", n, ROUNDS);
	printf("  (a) raw libpam loop          %8.1f us/login  %8.0f logins/s\n",
	       best[0], 1e6 / best[0]);
	printf("  (b) libpamkit blocking       %8.1f us/login  %8.0f logins/s\n",
	       best[1], 1e6 / best[1]);
	printf("  (c) libpamkit stepwise       %8.1f us/login  %8.0f logins/s\n",
	       best[2], 1e6 / best[2]);
	printf("  ratio b/a                    %8.3f   (target <= 1.03)\n",
	       best[1] / best[0]);
	printf("  ratio c/a                    %8.3f   (target <= 1.25)\n",
	       best[2] / best[0]);
	printf("  stepwise cost over raw       %8.1f us/login\n",
	       best[2] - best[0]);
	printf("  median stepwise round trip   %8.1f us  (p90 %.1f us)\n",
	       rtt[nrtt / 2], rtt[nrtt * 9 / 10]);
	printf("  median pk_begin to 1st batch %8.1f us  (worker hop + PAM up "
	       "to the prompt)\n", first[nfirst / 2]);
	printf("  two-thread floor (condvar)   %8.1f us  median ping-pong\n",
	       floor);
	printf("  round trip / floor           %8.3f   (target <= 1.5)\n",
	       rtt[nrtt / 2] / floor);
	printf("  RSS with %d pending          %8.1f MiB  (process total %.1f "
	       "MiB, target < 300)\n", PENDING, (after - before) / 1024.0,
	       after / 1024.0);
	printf("  %d idle logged-in txns      %8.1f KiB heap each, %u workers held, "
	       "%ld threads in the process (1 = main only)\n", PENDING,
	       (double)idle_kib / PENDING, idle_busy, idle_threads);
	rc = 0;
out:
	free(rtt);
	free(first);
	unlink(path);
	rmdir(confdir);
	pk_shutdown(5000);
	return rc;
}
