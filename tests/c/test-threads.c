/*
 * test-threads.c - libpamkit's thread model against the real libpam:
 * where PAM runs (pam_pktest's log= records pid and tid of every call and
 * of pam_end), borrowed workers and the bounded pool, ending from inside
 * callbacks, fork(), and libpam's fail delay through every path.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pamkit/pamkit.h"

#define MOD PKTEST_MODULE_PATH
#define FAILDELAY "pam_faildelay.so delay=1000000"

static char confdir[] = "/tmp/pamkit-threads-XXXXXX";
static char logpath[PATH_MAX];

static int write_service(const char *name, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", confdir, name);
	if (!(f = fopen(path, "w")))
		return -1;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	return fclose(f);
}

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(confdir))
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/calls.log", confdir);
	/* Every call of every group logs its pid and tid. */
	if (write_service("traced",
		"auth required %s setcred=skip log=%s prompt_off=Password:|secret\n"
		"account required %s log=%s\n"
		"session required %s log=%s\n", MOD, logpath, MOD, logpath,
		MOD, logpath) ||
	    write_service("pw",
		"auth required %s setcred=skip prompt_off=Password:|secret\n"
		"session required %s\n", MOD, MOD) ||
	    write_service("slow",
		"auth required %s setcred=skip log=%s delay_ms=300 "
		"prompt_off=Password:|secret\n", MOD, logpath) ||
	    write_service("faildelay",
		"auth optional " FAILDELAY "\n"
		"auth required %s setcred=skip prompt_off=Password:|secret\n",
		MOD))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", confdir);
	if (system(cmd) != 0)
		return -1;
	return pk_shutdown(10000) == 0 ? 0 : -1;
}

/* A test that hangs fails: SIGALRM's default action ends the run. */
static int arm_watchdog(void **state)
{
	(void)state;
	unlink(logpath);
	alarm(120);
	return 0;
}

static int disarm_watchdog(void **state)
{
	(void)state;
	alarm(0);
	return 0;
}

static int answer_secret(pk_txn *txn, const struct pk_message *m, size_t n,
			 char **replies, void *data)
{
	(void)txn;
	(void)data;
	for (size_t i = 0; i < n; i++)
		if (pk_message_is_prompt(&m[i]) && !(replies[i] = strdup("secret")))
			return -1;
	return 0;
}

static int answer_wrong(pk_txn *txn, const struct pk_message *m, size_t n,
			char **replies, void *data)
{
	(void)txn;
	(void)data;
	for (size_t i = 0; i < n; i++)
		if (pk_message_is_prompt(&m[i]) && !(replies[i] = strdup("nope")))
			return -1;
	return 0;
}

static int answer_secret_of(pk_txn *txn, const struct pk_message *m,
			    size_t n, char **replies, void *data)
{
	(void)txn;
	for (size_t i = 0; i < n; i++)
		if (pk_message_is_prompt(&m[i]) && !(replies[i] = strdup(data)))
			return -1;
	return 0;
}

static pk_txn *open_txn(const char *service, enum pk_mode mode,
			pk_conv_fn conv, void *data)
{
	struct pk_options o = {
		.service = service, .user = "alice", .confdir = confdir,
		.mode = mode, .conv = conv, .conv_data = data,
	};
	pk_txn *txn = NULL;

	assert_int_equal(pk_txn_create(&o, &txn), PAM_SUCCESS);
	assert_non_null(txn);
	return txn;
}

static uint64_t seq_of(pk_txn *txn)
{
	uint64_t seq = 0;

	pk_messages(txn, NULL, &seq);
	return seq;
}

/* The tid (or, for kind "END", the whole line) of the log's calls. */
struct call {
	char op[32];
	long pid, tid;
	int silent;
};

static size_t read_log(struct call *calls, size_t max)
{
	FILE *f = fopen(logpath, "r");
	char line[256];
	size_t n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		struct call *c = &calls[n];
		c->silent = -1;
		int got = sscanf(line, "%31s pid=%ld tid=%ld silent=%d", c->op,
				 &c->pid, &c->tid, &c->silent);
		if (got >= 3)
			n++;
	}
	fclose(f);
	return n;
}

static long my_tid(void)
{
	return (long)gettid();
}

/* Blocking calls, pam_start and pam_end run on the caller's thread in both
   modes; a stepwise operation runs on a borrowed worker and the next
   blocking call on the caller again. */
static void test_where_pam_runs(void **state)
{
	struct call c[16];
	size_t n;

	(void)state;
	for (int mode = PK_MODE_DIRECT; mode <= PK_MODE_STEPWISE; mode++) {
		unlink(logpath);
		pk_txn *txn = open_txn("traced", mode, answer_secret, NULL);
		assert_int_equal(pk_authenticate(txn, 0), PAM_SUCCESS);
		assert_int_equal(pk_acct_mgmt(txn, 0), PAM_SUCCESS);
		assert_int_equal(pk_open_session(txn, 0), PAM_SUCCESS);
		assert_int_equal(pk_close_session(txn, 0), PAM_SUCCESS);
		pk_txn_end(txn);
		n = read_log(c, 16);
		assert_int_equal(n, 5);
		assert_string_equal(c[0].op, "AUTH");
		assert_string_equal(c[3].op, "CLOSE_SESSION");
		assert_string_equal(c[4].op, "END");	/* pam_end's cleanup */
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(c[i].pid, getpid());
			assert_int_equal(c[i].tid, my_tid());
		}
		assert_int_equal(c[4].silent, 0);
	}

	/* Stepwise: authenticate on a worker, the session on the caller. */
	unlink(logpath);
	pk_txn *txn = open_txn("traced", PK_MODE_STEPWISE, NULL, NULL);
	const char *pw[] = { "secret" };
	assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0), PAM_CONV_AGAIN);
	assert_int_equal(pk_answer(txn, seq_of(txn), pw, 1), PAM_SUCCESS);
	assert_int_equal(pk_open_session(txn, 0), PAM_SUCCESS);
	struct pk_pool_stats st;
	pk_pool_get_stats(&st);
	assert_int_equal(st.busy, 0);	/* a logged-in txn holds no worker */
	pk_txn_end(txn);			/* closes the session here */
	n = read_log(c, 16);
	assert_int_equal(n, 4);
	assert_string_equal(c[0].op, "AUTH");
	assert_int_not_equal(c[0].tid, my_tid());
	assert_string_equal(c[1].op, "OPEN_SESSION");
	assert_int_equal(c[1].tid, my_tid());
	assert_string_equal(c[2].op, "CLOSE_SESSION");
	assert_int_equal(c[2].tid, my_tid());
	assert_string_equal(c[3].op, "END");
	assert_int_equal(c[3].tid, my_tid());
}

/* pk_txn_end from inside the transaction's own conversation callback (it
   hung forever on a freed mutex before): deferred until PAM returns. */
static int end_inside_conv(pk_txn *txn, const struct pk_message *m, size_t n,
			   char **replies, void *data)
{
	int *calls = data;

	(*calls)++;
	pk_txn_end(txn);
	/* Answers after the end go nowhere (the conversation fails). */
	return answer_secret(txn, m, n, replies, NULL);
}

static void test_end_inside_conversation(void **state)
{
	(void)state;
	for (int mode = PK_MODE_DIRECT; mode <= PK_MODE_STEPWISE; mode++) {
		int calls = 0;
		unlink(logpath);
		pk_txn *txn = open_txn("traced", mode, end_inside_conv, &calls);
		int rc = pk_authenticate(txn, 0);
		/* txn is gone now: only the return value is ours. */
		assert_int_equal(rc, PAM_CONV_ERR);
		assert_int_equal(calls, 1);
		struct call c[8];
		size_t n = read_log(c, 8);
		assert_int_equal(n, 2);
		assert_string_equal(c[1].op, "END");
		assert_int_equal(c[1].tid, my_tid());
	}
}

/* ... and from inside the fail-delay callback, blocking and stepwise. */
static void end_inside_delay(pk_txn *txn, int retval, unsigned int usec,
			     void *data)
{
	int *calls = data;

	(void)retval;
	(void)usec;
	__atomic_add_fetch(calls, 1, __ATOMIC_SEQ_CST);
	pk_txn_end(txn);
}

static void test_end_inside_fail_delay(void **state)
{
	(void)state;
	for (int stepwise = 0; stepwise <= 1; stepwise++) {
		int calls = 0;
		struct pk_options o = {
			.service = "faildelay", .user = "alice",
			.confdir = confdir,
			.mode = stepwise ? PK_MODE_STEPWISE : PK_MODE_DIRECT,
			.conv = answer_wrong, .fail_delay_cb = end_inside_delay,
			.fail_delay_data = &calls,
		};
		pk_txn *txn = NULL;

		assert_int_equal(pk_txn_create(&o, &txn), PAM_SUCCESS);
		if (!stepwise) {
			assert_int_equal(pk_authenticate(txn, 0), PAM_AUTH_ERR);
			assert_int_equal(__atomic_load_n(&calls, __ATOMIC_SEQ_CST), 1);
			continue;		/* ended inside */
		}
		assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0),
				 PAM_CONV_AGAIN);
		const char *bad[] = { "nope" };
		/* The worker ends the transaction from the delay hook and
		   frees it when the operation returns: reply, then let go. */
		assert_int_equal(pk_reply(txn, seq_of(txn), bad, 1), 0);
		for (int i = 0; i < 200 && !__atomic_load_n(&calls, __ATOMIC_SEQ_CST); i++)
			usleep(10000);
		assert_int_equal(__atomic_load_n(&calls, __ATOMIC_SEQ_CST), 1);
		usleep(100000);	/* the worker's teardown; ASan sees leaks */
	}
}

static double now_s(void);

/* The conversation callback may set an item; the module sees it after
   the prompt.  Not PAM_USER (the module may hold its pointer). */
static int set_rhost_then_answer(pk_txn *txn, const struct pk_message *m,
				 size_t n, char **replies, void *data)
{
	int *rc = data;

	rc[0] = pk_set_item(txn, PAM_RHOST, "cb.example");
	rc[1] = pk_set_item(txn, PAM_USER, "eve");
	return answer_secret(txn, m, n, replies, NULL);
}

static void test_set_item_inside_conversation(void **state)
{
	int rc[2] = { -1, -1 };

	(void)state;
	assert_int_equal(write_service("rhostcheck",
		"auth required %s setcred=skip prompt_off=Password:|secret "
		"check_item=rhost:cb.example user=alice\n", MOD), 0);
	pk_txn *txn = open_txn("rhostcheck", PK_MODE_DIRECT,
			       set_rhost_then_answer, rc);
	assert_int_equal(pk_authenticate(txn, 0), PAM_SUCCESS);
	assert_int_equal(rc[0], PAM_SUCCESS);
	assert_int_equal(rc[1], -EBUSY);
	pk_txn_end(txn);
}

/* pk_txn_end_nowait never waits, even for a module that sleeps; the
   worker tears down when the module returns (the log shows END). */
static void test_end_nowait(void **state)
{
	(void)state;
	pk_txn *txn = open_txn("slow", PK_MODE_STEPWISE, NULL, NULL);
	assert_int_equal(pk_start(txn, PK_OP_AUTHENTICATE, 0), 0);
	usleep(50000);			/* inside delay_ms=300 */
	double t0 = now_s();
	pk_txn_end_nowait(txn);
	assert_true(now_s() - t0 < 0.1);
	struct pk_pool_stats ps;
	for (int i = 0; i < 200; i++) {
		pk_pool_get_stats(&ps);
		if (ps.busy == 0)
			break;
		usleep(10000);
	}
	assert_int_equal(ps.busy, 0);
	struct call c[8];
	size_t n = read_log(c, 8);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].op, "AUTH");
	assert_string_equal(c[1].op, "END");
	assert_int_equal(c[1].tid, c[0].tid);	/* the worker's teardown */
	/* idle: the teardown runs here */
	unlink(logpath);
	txn = open_txn("traced", PK_MODE_DIRECT, answer_secret, NULL);
	assert_int_equal(pk_authenticate(txn, 0), PAM_SUCCESS);
	pk_txn_end_nowait(txn);
	n = read_log(c, 8);
	assert_int_equal(n, 2);
	assert_int_equal(c[1].tid, my_tid());
	pk_txn_end_nowait(NULL);
}

/* The pool's cap holds: 64 threads x STRESS_N stepwise logins, 8 workers. */
#define STRESS_THREADS 64
static int stress_n = 1000;

struct stress {
	int failures;
	unsigned int max_threads;
};

static void *stress_thread(void *arg)
{
	struct stress *st = arg;
	const char *pw[] = { "secret" };

	for (int i = 0; i < stress_n; i++) {
		pk_txn *txn = NULL;
		struct pk_options o = {
			.service = "pw", .user = "alice", .confdir = confdir,
			.mode = PK_MODE_STEPWISE,
		};
		int rc = pk_txn_create(&o, &txn);
		if (rc == PAM_SUCCESS)
			rc = pk_begin(txn, PK_OP_AUTHENTICATE, 0);
		if (rc == PAM_CONV_AGAIN)
			rc = pk_answer(txn, seq_of(txn), pw, 1);
		if (rc == PAM_SUCCESS)
			rc = pk_open_session(txn, 0);	/* on this thread */
		if (rc != PAM_SUCCESS)
			__atomic_add_fetch(&st->failures, 1, __ATOMIC_RELAXED);
		struct pk_pool_stats ps;
		pk_pool_get_stats(&ps);
		unsigned int seen = __atomic_load_n(&st->max_threads,
						    __ATOMIC_RELAXED);
		while (ps.threads > seen &&
		       !__atomic_compare_exchange_n(&st->max_threads, &seen,
						    ps.threads, false,
						    __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED))
			;
		pk_txn_end(txn);
	}
	return NULL;
}

static void test_pool_cap_64_threads(void **state)
{
	struct pk_pool_config cap = { .max_workers = 8 };
	struct pk_pool_config wide = { .max_workers = 256 };
	pthread_t th[STRESS_THREADS];
	struct stress st = { 0 };
	const char *env = getenv("PAMKIT_STRESS_N");

	(void)state;
	if (env && atoi(env) > 0)
		stress_n = atoi(env);
	assert_int_equal(pk_shutdown(5000), 0);	/* start from no thread */
	assert_int_equal(pk_pool_configure(&cap), 0);
	for (int i = 0; i < STRESS_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, stress_thread,
						&st), 0);
	for (int i = 0; i < STRESS_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(st.failures, 0);
	assert_true(st.max_threads <= 8);
	assert_true(st.max_threads >= 1);
	struct pk_pool_stats ps;
	pk_pool_get_stats(&ps);
	assert_int_equal(ps.busy, 0);
	assert_int_equal(ps.queued, 0);
	assert_int_equal(pk_pool_configure(&wide), 0);
}

/* A cancelled queued operation never runs, and its result comes at once. */
static void test_cancel_queued(void **state)
{
	struct pk_pool_config one = { .max_workers = 1 };
	struct pk_pool_config wide = { .max_workers = 256 };

	(void)state;
	assert_int_equal(pk_shutdown(5000), 0);
	assert_int_equal(pk_pool_configure(&one), 0);
	pk_txn *busy = open_txn("slow", PK_MODE_STEPWISE, NULL, NULL);
	pk_txn *queued = open_txn("slow", PK_MODE_STEPWISE, NULL, NULL);
	assert_int_equal(pk_start(busy, PK_OP_AUTHENTICATE, 0), 0);
	usleep(50000);		/* the one worker sits in delay_ms=300 */
	assert_int_equal(pk_start(queued, PK_OP_AUTHENTICATE, 0), 0);
	assert_int_equal(pk_result(queued), -EAGAIN);
	struct pk_pool_stats ps;
	pk_pool_get_stats(&ps);
	assert_int_equal(ps.threads, 1);
	assert_int_equal(ps.queued, 1);
	assert_int_equal(pk_cancel(queued), 0);
	assert_int_equal(pk_result(queued), PAM_CONV_ERR);
	assert_int_equal(pk_txn_interrupted(queued), -ECANCELED);
	pk_txn_end(queued);
	/* A queued operation ended outright is withdrawn too. */
	pk_txn *gone = open_txn("slow", PK_MODE_STEPWISE, NULL, NULL);
	assert_int_equal(pk_start(gone, PK_OP_AUTHENTICATE, 0), 0);
	pk_txn_end(gone);
	pk_txn_end(busy);
	assert_int_equal(pk_shutdown(5000), 0);
	struct call c[8];
	size_t n = read_log(c, 8);
	size_t auths = 0;
	for (size_t i = 0; i < n; i++)
		auths += strcmp(c[i].op, "AUTH") == 0;
	assert_int_equal(auths, 1);	/* only the first ever ran */
	assert_int_equal(pk_pool_configure(&wide), 0);
}

static size_t count_ops(const char *op)
{
	struct call c[32];
	size_t n = read_log(c, 32), k = 0;

	for (size_t i = 0; i < n; i++)
		k += strcmp(c[i].op, op) == 0;
	return k;
}

/* pk_start_chain runs a login's operations in a row on one worker, with
   the conversation as for one operation; the first failure stops it and
   pk_txn_op names it; a cancel between operations fails closed. */
static void test_chain(void **state)
{
	const struct pk_opcall login[] = {
		{ PK_OP_AUTHENTICATE, 0 }, { PK_OP_ACCT_MGMT, 0 },
		{ PK_OP_OPEN_SESSION, 0 },
	};
	struct call c[16];
	size_t n;

	(void)state;
	/* all three, one prompt answered through pk_reply, one worker */
	pk_txn *txn = open_txn("traced", PK_MODE_STEPWISE, NULL, NULL);
	assert_int_equal(pk_txn_op(txn), 0);
	assert_int_equal(pk_start_chain(txn, login, 3), 0);
	assert_int_equal(pk_wait(txn, -1), PAM_CONV_AGAIN);
	assert_int_equal(pk_txn_op(txn), PK_OP_AUTHENTICATE);
	const char *pw[] = { "secret" };
	assert_int_equal(pk_reply(txn, seq_of(txn), pw, 1), 0);
	assert_int_equal(pk_wait(txn, -1), PAM_SUCCESS);
	assert_int_equal(pk_txn_op(txn), PK_OP_OPEN_SESSION);
	n = read_log(c, 16);
	assert_true(n >= 3);
	assert_string_equal(c[0].op, "AUTH");
	assert_string_equal(c[1].op, "ACCT");
	assert_string_equal(c[2].op, "OPEN_SESSION");
	assert_int_equal(c[0].tid, c[1].tid);
	assert_int_equal(c[1].tid, c[2].tid);
	assert_int_not_equal(c[0].tid, my_tid());
	pk_txn_end(txn);		/* closes the session it opened */
	assert_int_equal(count_ops("CLOSE_SESSION"), 1);

	/* a wrong password stops the chain at authenticate */
	unlink(logpath);
	txn = open_txn("traced", PK_MODE_STEPWISE, NULL, NULL);
	assert_int_equal(pk_start_chain(txn, login, 3), 0);
	assert_int_equal(pk_wait(txn, -1), PAM_CONV_AGAIN);
	const char *bad[] = { "nope" };
	assert_int_equal(pk_reply(txn, seq_of(txn), bad, 1), 0);
	assert_int_equal(pk_wait(txn, -1), PAM_AUTH_ERR);
	assert_int_equal(pk_txn_op(txn), PK_OP_AUTHENTICATE);
	assert_int_equal(count_ops("ACCT"), 0);
	assert_int_equal(count_ops("OPEN_SESSION"), 0);
	/* idle again: a plain pk_start follows */
	assert_int_equal(pk_start(txn, PK_OP_ACCT_MGMT, 0), 0);
	assert_int_equal(pk_wait(txn, -1), PAM_SUCCESS);
	assert_int_equal(pk_txn_op(txn), PK_OP_ACCT_MGMT);
	pk_txn_end(txn);

	/* account refused: stops there, no session */
	unlink(logpath);
	assert_int_equal(write_service("acctdeny",
		"auth required %s setcred=skip log=%s\n"
		"account required %s rc=PAM_PERM_DENIED log=%s\n"
		"session required %s log=%s\n", MOD, logpath, MOD, logpath,
		MOD, logpath), 0);
	txn = open_txn("acctdeny", PK_MODE_STEPWISE, NULL, NULL);
	assert_int_equal(pk_start_chain(txn, login, 3), 0);
	assert_int_equal(pk_wait(txn, -1), PAM_PERM_DENIED);
	assert_int_equal(pk_txn_op(txn), PK_OP_ACCT_MGMT);
	assert_int_equal(count_ops("OPEN_SESSION"), 0);
	pk_txn_end(txn);

	/* a cancel while the first operation runs: never a success */
	unlink(logpath);
	assert_int_equal(write_service("slowchain",
		"auth required %s setcred=skip delay_ms=200 log=%s\n"
		"account required %s log=%s\n", MOD, logpath, MOD, logpath), 0);
	txn = open_txn("slowchain", PK_MODE_STEPWISE, NULL, NULL);
	assert_int_equal(pk_start_chain(txn, login, 2), 0);
	usleep(50000);			/* inside delay_ms, no conversation */
	assert_int_equal(pk_cancel(txn), 0);
	assert_int_equal(pk_wait(txn, -1), PAM_CONV_ERR);
	assert_int_equal(pk_txn_interrupted(txn), -ECANCELED);
	assert_int_equal(pk_txn_op(txn), PK_OP_AUTHENTICATE);
	assert_int_equal(count_ops("ACCT"), 0);
	pk_txn_end(txn);

	/* bad chains run nothing */
	txn = open_txn("pw", PK_MODE_STEPWISE, NULL, NULL);
	const struct pk_opcall with_get_user[] = {
		{ PK_OP_GET_USER, 0 }, { PK_OP_AUTHENTICATE, 0 },
	};
	const struct pk_opcall bad_flags[] = {
		{ PK_OP_AUTHENTICATE, 0 }, { PK_OP_ACCT_MGMT, PAM_ESTABLISH_CRED },
	};
	const struct pk_opcall five[5] = {
		{ PK_OP_AUTHENTICATE, 0 }, { PK_OP_ACCT_MGMT, 0 },
		{ PK_OP_ACCT_MGMT, 0 }, { PK_OP_ACCT_MGMT, 0 },
		{ PK_OP_ACCT_MGMT, 0 },
	};
	assert_int_equal(pk_start_chain(txn, login, 0), -EINVAL);
	assert_int_equal(pk_start_chain(txn, NULL, 1), -EINVAL);
	assert_int_equal(pk_start_chain(txn, five, 5), -EINVAL);
	assert_int_equal(pk_start_chain(txn, with_get_user, 2), -EINVAL);
	assert_int_equal(pk_start_chain(txn, bad_flags, 2), -EINVAL);
	assert_int_equal(pk_result(txn), -EINVAL);	/* nothing started */
	pk_txn_end(txn);
	/* direct mode has no chains */
	txn = open_txn("pw", PK_MODE_DIRECT, answer_secret, NULL);
	assert_int_equal(pk_start_chain(txn, login, 1), -EINVAL);
	pk_txn_end(txn);
}

/* After fork the child never touches the parent's session: pk_txn_end
   frees memory only (pam_end with PAM_DATA_SILENT, no close_session), and
   every call on the inherited transaction is -ECHILD, never a hang. */
static void test_fork(void **state)
{
	(void)state;
	pk_txn *txn = open_txn("traced", PK_MODE_STEPWISE, answer_secret, NULL);
	assert_int_equal(pk_authenticate(txn, 0), PAM_SUCCESS);
	assert_int_equal(pk_open_session(txn, 0), PAM_SUCCESS);
	/* A second transaction is mid-conversation on a worker at fork. */
	pk_txn *pending = open_txn("pw", PK_MODE_STEPWISE, NULL, NULL);
	assert_int_equal(pk_begin(pending, PK_OP_AUTHENTICATE, 0),
			 PAM_CONV_AGAIN);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(10);
		int bad = 0;
		char *v = NULL;
		bad |= pk_start(txn, PK_OP_ACCT_MGMT, 0) != -ECHILD;
		bad |= pk_acct_mgmt(txn, 0) != -ECHILD;
		bad |= pk_get_item(txn, PAM_USER, &v) != -ECHILD;
		bad |= pk_reply(pending, seq_of(pending), NULL, 0) != -ECHILD;
		bad |= pk_wait(pending, 100) != -ECHILD;
		bad |= pk_cancel(pending) != -ECHILD;
		pk_txn_end(pending);
		pk_txn_end(txn);
		/* The child may use libpamkit for its own transactions. */
		pk_txn *own = open_txn("pw", PK_MODE_STEPWISE, answer_secret,
				       NULL);
		bad |= pk_authenticate(own, 0) != PAM_SUCCESS;
		const char *pw[] = { "secret" };
		bad |= pk_begin(own, PK_OP_AUTHENTICATE, 0) != PAM_CONV_AGAIN;
		bad |= pk_answer(own, seq_of(own), pw, 1) != PAM_SUCCESS;
		pk_txn_end(own);
		_exit(bad ? 3 : 0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* The child's only trace: a silent END.  The session is still ours. */
	struct call c[16];
	size_t n = read_log(c, 16);
	size_t child_calls = 0;
	for (size_t i = 0; i < n; i++) {
		if (c[i].pid != pid)
			continue;
		child_calls++;
		assert_string_equal(c[i].op, "END");
		assert_int_equal(c[i].silent, 1);
	}
	assert_int_equal(child_calls, 1);
	const char *pw[] = { "secret" };
	assert_int_equal(pk_answer(pending, seq_of(pending), pw, 1),
			 PAM_SUCCESS);
	pk_txn_end(pending);
	assert_int_equal(pk_close_session(txn, 0), PAM_SUCCESS);
	pk_txn_end(txn);
	n = read_log(c, 16);
	assert_string_equal(c[n - 2].op, "CLOSE_SESSION");
	assert_int_equal(c[n - 2].pid, getpid());
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* libpam randomises the delay a module asks for by up to +-50 %
   (_pam_compute_delay): pam_faildelay delay=1000000 waits 0.5..1.5 s. */
#define MIN_DELAY_S 0.5

static void test_fail_delay_never_dropped(void **state)
{
	(void)state;
	/* Blocking, both modes: libpam sleeps on the caller's thread. */
	for (int mode = PK_MODE_DIRECT; mode <= PK_MODE_STEPWISE; mode++) {
		pk_txn *txn = open_txn("faildelay", mode, answer_wrong, NULL);
		double t0 = now_s();
		assert_int_equal(pk_authenticate(txn, 0), PAM_AUTH_ERR);
		assert_true(now_s() - t0 >= MIN_DELAY_S);
		pk_txn_end(txn);
	}
	/* Stepwise: the worker sleeps before the result is posted. */
	pk_txn *txn = open_txn("faildelay", PK_MODE_STEPWISE, NULL, NULL);
	const char *bad[] = { "nope" };
	assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0), PAM_CONV_AGAIN);
	double t0 = now_s();
	assert_int_equal(pk_answer(txn, seq_of(txn), bad, 1), PAM_AUTH_ERR);
	assert_true(now_s() - t0 >= MIN_DELAY_S);
	assert_int_equal(pk_txn_fail_delay_usec(txn), 0);	/* not ours */
	pk_txn_end(txn);

	/* PK_DELAY_REPORT: the failure comes at once, with the delay the
	   front must wait out before it reports it. */
	struct pk_options o = {
		.service = "faildelay", .user = "alice", .confdir = confdir,
		.mode = PK_MODE_STEPWISE, .delay_mode = PK_DELAY_REPORT,
	};
	assert_int_equal(pk_txn_create(&o, &txn), PAM_SUCCESS);
	assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0), PAM_CONV_AGAIN);
	t0 = now_s();
	assert_int_equal(pk_answer(txn, seq_of(txn), bad, 1), PAM_AUTH_ERR);
	assert_true(now_s() - t0 < MIN_DELAY_S);
	unsigned int usec = pk_txn_fail_delay_usec(txn);
	assert_true(usec >= 500000 && usec <= 1500000);
	/* A success clears it. */
	const char *good[] = { "secret" };
	assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0), PAM_CONV_AGAIN);
	assert_int_equal(pk_answer(txn, seq_of(txn), good, 1), PAM_SUCCESS);
	assert_int_equal(pk_txn_fail_delay_usec(txn), 0);
	pk_txn_end(txn);
	o.delay_mode = 7;
	assert_int_equal(pk_txn_create(&o, &txn), -EINVAL);
}

/* Batches are immutable and outlive the transaction's interest in them. */
static void test_batch_refs(void **state)
{
	(void)state;
	struct pk_options o = {
		.service = "pw", .user = "alice", .confdir = confdir,
		.mode = PK_MODE_STEPWISE, .step_timeout_ms = 50,
	};
	pk_txn *txn = NULL;

	assert_int_equal(pk_txn_create(&o, &txn), PAM_SUCCESS);
	assert_null(pk_batch_get(txn));
	assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0), PAM_CONV_AGAIN);
	pk_batch *b = pk_batch_get(txn);
	assert_non_null(b);
	uint64_t seq = pk_batch_seq(b);
	assert_true(seq > 0);
	assert_int_equal(seq, seq_of(txn));
	/* Timed out, operation over, transaction ended: b still reads. */
	assert_int_equal(pk_wait(txn, 5000), PAM_CONV_AGAIN);
	while (pk_wait(txn, 5000) == PAM_CONV_AGAIN)
		;
	pk_txn_end(txn);
	size_t n = 0;
	const struct pk_message *m = pk_batch_messages(b, &n);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].msg, "Password:");
	assert_ptr_equal(pk_batch_ref(b), b);
	pk_batch_unref(b);
	pk_batch_unref(b);
	pk_batch_unref(NULL);
	assert_null(pk_batch_messages(NULL, &n));
	assert_int_equal(n, 0);
}

/* As root: a throwaway user through Debian's own login stack (session
   required pam_loginuid.so), blocking calls on this (the main) thread. */
static int sh(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_debian_login_stack(void **state)
{
	(void)state;
	if (geteuid() != 0 || access("/etc/pam.d/login", R_OK) != 0)
		skip();
	sh("userdel -f pamkit_lg >/dev/null 2>&1");
	assert_int_equal(sh("useradd -M -s /bin/sh pamkit_lg"), 0);
	assert_int_equal(sh("echo 'pamkit_lg:Login-Pa55' | chpasswd"), 0);

	static const char *pw = "Login-Pa55";
	struct pk_options o = {
		.service = "login", .user = "pamkit_lg", .mode = PK_MODE_DIRECT,
		.conv = answer_secret_of, .conv_data = (void *)pw,
		.tty = "pts/99",
	};
	pk_txn *txn = NULL;
	int rc[4] = { -1, -1, -1, -1 };

	if (pk_txn_create(&o, &txn) == PAM_SUCCESS) {
		rc[0] = pk_authenticate(txn, 0);
		rc[1] = pk_acct_mgmt(txn, 0);
		rc[2] = pk_open_session(txn, 0);	/* pam_loginuid */
		rc[3] = pk_close_session(txn, 0);
		pk_txn_end(txn);
	}
	sh("userdel -f pamkit_lg >/dev/null 2>&1");
	for (int i = 0; i < 4; i++)
		assert_int_equal(rc[i], PAM_SUCCESS);
}

int main(void)
{
	/* useradd and friends must not inherit a sanitizer's preload. */
	unsetenv("LD_PRELOAD");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_where_pam_runs,
			arm_watchdog, disarm_watchdog),
		cmocka_unit_test_setup_teardown(test_end_inside_conversation,
			arm_watchdog, disarm_watchdog),
		cmocka_unit_test_setup_teardown(test_end_inside_fail_delay,
			arm_watchdog, disarm_watchdog),
		cmocka_unit_test_setup_teardown(test_batch_refs,
			arm_watchdog, disarm_watchdog),
		cmocka_unit_test_setup_teardown(test_chain,
						arm_watchdog, disarm_watchdog),
		cmocka_unit_test_setup_teardown(test_cancel_queued,
			arm_watchdog, disarm_watchdog),
		cmocka_unit_test_setup_teardown(test_fork,
			arm_watchdog, disarm_watchdog),
		cmocka_unit_test_setup_teardown(test_fail_delay_never_dropped,
			arm_watchdog, disarm_watchdog),
		cmocka_unit_test_setup_teardown(test_pool_cap_64_threads,
			arm_watchdog, disarm_watchdog),
		cmocka_unit_test_setup_teardown(test_set_item_inside_conversation,
			arm_watchdog, disarm_watchdog),
		cmocka_unit_test_setup_teardown(test_end_nowait,
			arm_watchdog, disarm_watchdog),
		cmocka_unit_test_setup_teardown(test_debian_login_stack,
			arm_watchdog, disarm_watchdog),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
