/*
 * test-pamkit.c - libpamkit against the real libpam: private service
 * directories (pam_start_confdir) and the project's scriptable test module
 * pam_pktest.so; as root also pam_unix with a throwaway system user.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
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

static char confdir[] = "/tmp/pamkit-test-XXXXXX";

static const struct {
	const char *name;
	const char *body;
} services[] = {
	{ "pw", "auth required " MOD " setcred=skip prompt_off=Password:|secret\n"
		"account required " MOD "\n"
		"session required " MOD "\n" },
	{ "otp", "auth required " MOD " setcred=skip info=Welcome "
		 "[prompt_off=Password: |pw] flush prompt_off=OTP:|123456\n" },
	{ "env", "auth required " MOD " setcred=skip set_env=FROM_MODULE=1 "
		 "check_item=rhost:example.org check_item=tty:pts/7\n" },
	{ "cred", "auth required " MOD "\n" },
	{ "chtok", "password required " MOD " [prompt_off=New password: |new1] "
		   "flush [prompt_off=Retype new password: |new1]\n" },
	{ "delay", "auth required " MOD " setcred=skip fail_delay=3000000 "
		   "prompt_off=Password:|right\n" },
	{ "who", "auth required " MOD " setcred=skip get_user user=bob\n" },
	{ "expired", "auth required " MOD " setcred=skip\n"
		     "account required " MOD " rc=PAM_NEW_AUTHTOK_REQD\n" },
	{ "unix", "auth required pam_unix.so\naccount required pam_unix.so\n" },
	{ "slowfail", "auth required " MOD " setcred=skip fail_delay=1000 "
		      "delay_ms=2600 rc=PAM_AUTH_ERR\n" },
	{ "chatty", "auth required " MOD " setcred=skip info=m1 flush info=m2 "
		    "flush info=m3 flush info=m4 flush info=m5 flush info=m6 "
		    "flush prompt_off=Password:|secret\n" },
};

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(confdir))
		return -1;
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", confdir, services[i].name);
		FILE *f = fopen(path, "w");
		if (!f)
			return -1;
		fputs(services[i].body, f);
		fclose(f);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", confdir, services[i].name);
		unlink(path);
	}
	rmdir(confdir);
	/* Every worker must be idle and gone: leak checkers see the rest. */
	return pk_shutdown(10000) == 0 ? 0 : -1;
}

/* A scripted callback: answers prompts from a NULL-terminated list. */
struct script {
	const char *const *answers;
	size_t next;
	int calls;
	int fail;
};

static int script_conv(pk_txn *txn, const struct pk_message *msgs, size_t n,
		       char **replies, void *data)
{
	struct script *s = data;

	(void)txn;
	s->calls++;
	if (s->fail)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!pk_message_is_prompt(&msgs[i]))
			continue;
		const char *a = s->answers ? s->answers[s->next] : NULL;
		if (!a)
			return -1;
		s->next++;
		replies[i] = strdup(a);
		if (!replies[i])
			return -1;
	}
	return 0;
}

/* The pending batch's sequence number (0: none). */
static uint64_t SEQ(pk_txn *txn)
{
	uint64_t seq = 0;

	pk_messages(txn, NULL, &seq);
	return seq;
}

static pk_txn *open_txn(const char *service, const char *user,
			enum pk_mode mode, struct script *s)
{
	struct pk_options o = {
		.service = service, .user = user, .confdir = confdir,
		.mode = mode, .conv = s ? script_conv : NULL, .conv_data = s,
	};
	pk_txn *txn = NULL;

	assert_int_equal(pk_txn_create(&o, &txn), PAM_SUCCESS);
	assert_non_null(txn);
	return txn;
}

static void test_blocking_password(void **state)
{
	(void)state;
	for (int mode = PK_MODE_DIRECT; mode <= PK_MODE_STEPWISE; mode++) {
		static const char *const right[] = { "secret", NULL };
		static const char *const wrong[] = { "nope", NULL };
		struct script s = { .answers = right };
		pk_txn *txn = open_txn("pw", "alice", mode, &s);
		assert_int_equal(pk_authenticate(txn, 0), PAM_SUCCESS);
		assert_int_equal(pk_acct_mgmt(txn, 0), PAM_SUCCESS);
		assert_int_equal(pk_open_session(txn, PAM_SILENT), PAM_SUCCESS);
		assert_int_equal(pk_close_session(txn, 0), PAM_SUCCESS);
		assert_int_equal(s.calls, 1);
		pk_txn_end(txn);

		s = (struct script){ .answers = wrong };
		txn = open_txn("pw", "alice", mode, &s);
		assert_int_equal(pk_authenticate(txn, 0), PAM_AUTH_ERR);
		assert_int_equal(pk_txn_last_status(txn), PAM_AUTH_ERR);
		pk_txn_end(txn);
	}
}

static void test_callback_failure(void **state)
{
	(void)state;
	for (int mode = PK_MODE_DIRECT; mode <= PK_MODE_STEPWISE; mode++) {
		struct script s = { .fail = 1 };
		pk_txn *txn = open_txn("pw", "alice", mode, &s);
		assert_int_equal(pk_authenticate(txn, 0), PAM_CONV_ERR);
		pk_txn_end(txn);
		/* No callback at all fails the same way. */
		txn = open_txn("pw", "alice", mode, NULL);
		assert_int_equal(pk_authenticate(txn, 0), PAM_CONV_ERR);
		pk_txn_end(txn);
	}
}

static void test_multi_batch(void **state)
{
	(void)state;
	pk_txn *txn = open_txn("otp", "alice", PK_MODE_STEPWISE, NULL);
	size_t n;

	assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0), PAM_CONV_AGAIN);
	const struct pk_message *m = pk_messages(txn, &n, NULL);
	assert_int_equal(n, 2);
	assert_int_equal(m[0].style, PAM_TEXT_INFO);
	assert_string_equal(m[0].msg, "Welcome");
	assert_int_equal(m[1].style, PAM_PROMPT_ECHO_OFF);
	assert_string_equal(m[1].msg, "Password: ");

	/* Wrong number of replies: refused, the batch stays pending. */
	const char *one[] = { "pw" };
	assert_int_equal(pk_reply(txn, SEQ(txn), one, 1), -EINVAL);
	assert_int_equal(pk_result(txn), PAM_CONV_AGAIN);
	pk_messages(txn, &n, NULL);
	assert_int_equal(n, 2);

	const char *both[] = { NULL, "pw" };
	assert_int_equal(pk_answer(txn, SEQ(txn), both, 2), PAM_CONV_AGAIN);
	m = pk_messages(txn, &n, NULL);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].msg, "OTP:");
	const char *otp[] = { "123456" };
	assert_int_equal(pk_answer(txn, SEQ(txn), otp, 1), PAM_SUCCESS);

	/* The info message is kept in the transcript. */
	const struct pk_message *t = pk_transcript(txn, &n);
	assert_int_equal(n, 1);
	assert_string_equal(t[0].msg, "Welcome");
	assert_int_equal(pk_txn_interrupted(txn), 0);
	pk_txn_end(txn);
}

static void test_wrong_answer_second_batch(void **state)
{
	(void)state;
	pk_txn *txn = open_txn("otp", "alice", PK_MODE_STEPWISE, NULL);
	const char *both[] = { NULL, "pw" }, *otp[] = { "000000" };

	assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0), PAM_CONV_AGAIN);
	assert_int_equal(pk_answer(txn, SEQ(txn), both, 2), PAM_CONV_AGAIN);
	assert_int_equal(pk_answer(txn, SEQ(txn), otp, 1), PAM_AUTH_ERR);
	pk_txn_end(txn);
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* After the batch was collected: wait on the fd for the final code. */
static int wait_final(pk_txn *txn)
{
	for (int i = 0; i < 100; i++) {
		if (!readable(pk_fd(txn), 100))
			continue;
		int rc = pk_result(txn);
		if (rc != -EAGAIN && rc != PAM_CONV_AGAIN)
			return rc;
	}
	return -ETIMEDOUT;
}

static void test_step_timeout(void **state)
{
	(void)state;
	struct pk_options o = {
		.service = "pw", .user = "alice", .confdir = confdir,
		.mode = PK_MODE_STEPWISE, .step_timeout_ms = 100,
	};
	pk_txn *txn = NULL;

	assert_int_equal(pk_txn_create(&o, &txn), PAM_SUCCESS);
	assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0), PAM_CONV_AGAIN);
	uint64_t first = SEQ(txn);
	assert_true(first > 0);
	/* Nobody answers: the module sees PAM_CONV_ERR, the op ends and the
	   fd says so; pk_wait keeps reporting the pending batch until then. */
	assert_int_equal(pk_wait(txn, 0), PAM_CONV_AGAIN);
	assert_int_equal(wait_final(txn), PAM_CONV_ERR);
	assert_int_equal(pk_txn_interrupted(txn), -ETIMEDOUT);
	const char *late[] = { "secret" };
	assert_int_equal(pk_reply(txn, first, late, 1), -ESTALE);
	/* The transaction is usable again afterwards, and the late answer
	   can never answer the module's next prompt. */
	assert_int_equal(pk_txn_set_step_timeout(txn, 0), 0);
	assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0), PAM_CONV_AGAIN);
	uint64_t second = SEQ(txn);
	assert_true(second > first);
	const char *wrong[] = { "nope" };
	assert_int_equal(pk_reply(txn, first, wrong, 1), -ESTALE);
	assert_int_equal(pk_reply(txn, second + 1, wrong, 1), -EINVAL);
	assert_int_equal(pk_result(txn), PAM_CONV_AGAIN);	/* still there */
	assert_int_equal(pk_answer(txn, second, late, 1), PAM_SUCCESS);
	/* Answered: a second answer to the same batch is stale too. */
	assert_int_equal(pk_reply(txn, second, late, 1), -ESTALE);
	pk_txn_end(txn);
}

static void *cancel_later(void *arg)
{
	struct timespec ts = { 0, 50 * 1000000L };
	nanosleep(&ts, NULL);
	pk_cancel(arg);
	return NULL;
}

static void test_cancel_from_thread(void **state)
{
	(void)state;
	pk_txn *txn = open_txn("pw", "alice", PK_MODE_STEPWISE, NULL);
	pthread_t th;

	assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0), PAM_CONV_AGAIN);
	assert_int_equal(pthread_create(&th, NULL, cancel_later, txn), 0);
	assert_int_equal(wait_final(txn), PAM_CONV_ERR);
	pthread_join(th, NULL);
	assert_int_equal(pk_txn_interrupted(txn), -ECANCELED);
	assert_int_equal(pk_cancel(txn), -EINVAL);	/* nothing runs now */
	pk_txn_end(txn);
}

/* A cancelled batch is gone at once: no second PAM_CONV_AGAIN for it (the
   CLI re-read stdin and touched the freed batch while the worker slept). */
static void test_cancel_withdraws_batch(void **state)
{
	(void)state;
	for (int i = 0; i < 200; i++) {
		pk_txn *txn = open_txn("pw", "alice", PK_MODE_STEPWISE, NULL);
		size_t n = 1;

		assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0),
				 PAM_CONV_AGAIN);
		assert_int_equal(pk_cancel(txn), 0);
		assert_null(pk_messages(txn, &n, NULL));
		assert_int_equal(n, 0);
		int rc = pk_result(txn);
		assert_true(rc == -EAGAIN || rc == PAM_CONV_ERR);
		if (rc == -EAGAIN)
			rc = wait_final(txn);
		assert_int_equal(rc, PAM_CONV_ERR);
		assert_int_equal(pk_txn_interrupted(txn), -ECANCELED);
		pk_txn_end(txn);
	}
}

/* A step timeout withdraws the batch but never frees it under its reader:
   pk_messages' pointer stays valid until the reader's pk_reply (the CLI
   and the Python bindings read prompts while the timeout may fire). */
static void test_timeout_keeps_batch_for_reader(void **state)
{
	(void)state;
	struct pk_options o = {
		.service = "otp", .user = "alice", .confdir = confdir,
		.mode = PK_MODE_STEPWISE, .step_timeout_ms = 20,
	};
	for (int i = 0; i < 20; i++) {
		pk_txn *txn = NULL;
		size_t n = 0;

		assert_int_equal(pk_txn_create(&o, &txn), PAM_SUCCESS);
		assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0),
				 PAM_CONV_AGAIN);
		uint64_t seq = 0;
		const struct pk_message *m = pk_messages(txn, &n, &seq);
		assert_non_null(m);
		assert_int_equal(n, 2);
		/* The worker times out, unwinds and finishes meanwhile. */
		assert_int_equal(wait_final(txn), PAM_CONV_ERR);
		assert_int_equal(pk_txn_interrupted(txn), -ETIMEDOUT);
		assert_string_equal(m[0].msg, "Welcome");	/* ASan: no UAF */
		assert_string_equal(m[1].msg, "Password: ");
		const char *late[] = { NULL, "pw" };
		assert_int_equal(pk_reply(txn, seq, late, 2), -ESTALE);
		pk_txn_end(txn);
	}
}

/* The same for a cancel from another thread: the batch is withdrawn at
   once, the reader's pointer lives until its own next call. */
static void test_cancel_keeps_batch_for_reader(void **state)
{
	(void)state;
	for (int i = 0; i < 50; i++) {
		pk_txn *txn = open_txn("pw", "alice", PK_MODE_STEPWISE, NULL);
		size_t n = 0;

		assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0),
				 PAM_CONV_AGAIN);
		const struct pk_message *m = pk_messages(txn, &n, NULL);
		assert_int_equal(n, 1);
		assert_int_equal(pk_cancel(txn), 0);
		assert_int_equal(wait_final(txn), PAM_CONV_ERR);
		assert_string_equal(m[0].msg, "Password:");
		pk_txn_end(txn);
	}
}

/* pk_transcript's pointer stays valid while the transcript grows (it was
   realloc'ed under its reader when a later batch brought more info). */
static void test_transcript_pointer_survives_growth(void **state)
{
	(void)state;
	pk_txn *txn = open_txn("chatty", "alice", PK_MODE_STEPWISE, NULL);
	const struct pk_message *t, *t1 = NULL;
	size_t n = 0, n1 = 0;
	int rc, batches = 0;

	rc = pk_begin(txn, PK_OP_AUTHENTICATE, 0);
	while (rc == PAM_CONV_AGAIN) {
		const struct pk_message *m = pk_messages(txn, &n, NULL);
		assert_non_null(m);
		t = pk_transcript(txn, &n1);
		if (!t1 && t) {
			t1 = t;		/* kept across the following batches */
			assert_int_equal(n1, 1);
		}
		if (pk_message_is_prompt(&m[n - 1])) {
			const char *pw[] = { "secret" };
			rc = pk_answer(txn, SEQ(txn), pw, 1);
		} else {
			rc = pk_answer(txn, SEQ(txn), NULL, 0);
		}
		assert_non_null(t1);
		assert_string_equal(t1[0].msg, "m1");	/* ASan: no UAF */
		batches++;
	}
	assert_int_equal(rc, PAM_SUCCESS);
	assert_int_equal(batches, 7);
	t = pk_transcript(txn, &n);
	assert_int_equal(n, 6);
	assert_string_equal(t[5].msg, "m6");
	pk_txn_end(txn);
}

/* pk_txn_end gives up on a worker busy in a module after its grace time
   and the caller frees the callback data at once; the worker must not call
   the fail delay callback with it when the module finally fails. */
struct delay_box {
	int calls;
};

static void delay_box_cb(pk_txn *txn, int retval, unsigned int usec,
			 void *data)
{
	struct delay_box *b = data;

	(void)txn;
	(void)retval;
	(void)usec;
	b->calls++;			/* ASan: no write into freed data */
}

static void test_no_delay_callback_after_end(void **state)
{
	(void)state;
	struct delay_box *b = calloc(1, sizeof(*b));
	struct pk_options o = {
		.service = "slowfail", .user = "alice", .confdir = confdir,
		.mode = PK_MODE_STEPWISE, .fail_delay_cb = delay_box_cb,
		.fail_delay_data = b,
	};
	pk_txn *txn = NULL;

	assert_non_null(b);
	assert_int_equal(pk_txn_create(&o, &txn), PAM_SUCCESS);
	assert_int_equal(pk_start(txn, PK_OP_AUTHENTICATE, 0), 0);
	pk_txn_end(txn);		/* returns after the grace time */
	assert_int_equal(b->calls, 0);
	free(b);
	/* The module wakes up, fails and PAM calls the delay hook. */
	struct timespec ts = { 1, 500000000L };
	nanosleep(&ts, NULL);
}

/* While a blocking call's callback reads its batch on the caller's thread,
   pk_reply from another thread is refused (it would free the batch under
   the callback); pk_cancel still works. */
struct owned {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int inside, release;
};

static int owned_conv(pk_txn *txn, const struct pk_message *msgs, size_t n,
		      char **replies, void *data)
{
	struct owned *o = data;

	(void)txn;
	pthread_mutex_lock(&o->mu);
	o->inside = 1;
	pthread_cond_broadcast(&o->cond);
	while (!o->release)
		pthread_cond_wait(&o->cond, &o->mu);
	pthread_mutex_unlock(&o->mu);
	assert_int_equal(n, 1);
	assert_string_equal(msgs[0].msg, "Password:");	/* ASan: alive */
	replies[0] = strdup("secret");
	return replies[0] ? 0 : -1;
}

static void *owned_call(void *arg)
{
	return (void *)(intptr_t)pk_authenticate(arg, 0);
}

static void test_reply_refused_during_blocking_call(void **state)
{
	(void)state;
	struct owned o = { .inside = 0 };
	struct pk_options opt = {
		.service = "pw", .user = "alice", .confdir = confdir,
		.mode = PK_MODE_STEPWISE, .conv = owned_conv, .conv_data = &o,
	};
	pk_txn *txn = NULL;
	pthread_t th;
	void *ret;

	pthread_mutex_init(&o.mu, NULL);
	pthread_cond_init(&o.cond, NULL);
	assert_int_equal(pk_txn_create(&opt, &txn), PAM_SUCCESS);
	assert_int_equal(pthread_create(&th, NULL, owned_call, txn), 0);
	pthread_mutex_lock(&o.mu);
	while (!o.inside)
		pthread_cond_wait(&o.cond, &o.mu);
	pthread_mutex_unlock(&o.mu);

	/* The callback holds no stepwise batch: nothing to answer. */
	const char *wrong[] = { "nope" };
	assert_int_equal(pk_reply(txn, SEQ(txn), wrong, 1), -EINVAL);

	pthread_mutex_lock(&o.mu);
	o.release = 1;
	pthread_cond_broadcast(&o.cond);
	pthread_mutex_unlock(&o.mu);
	pthread_join(th, &ret);
	assert_int_equal((int)(intptr_t)ret, PAM_SUCCESS);
	pk_txn_end(txn);
	pthread_cond_destroy(&o.cond);
	pthread_mutex_destroy(&o.mu);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_end_mid_conversation(void **state)
{
	(void)state;
	for (int i = 0; i < 50; i++) {
		pk_txn *txn = open_txn("otp", "alice", PK_MODE_STEPWISE, NULL);
		assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0),
				 PAM_CONV_AGAIN);
		double t0 = now_s();
		pk_txn_end(txn);
		assert_true(now_s() - t0 < 1.0);
	}
	/* Also with the operation started but never collected. */
	pk_txn *txn = open_txn("pw", "alice", PK_MODE_STEPWISE, NULL);
	assert_int_equal(pk_start(txn, PK_OP_ACCT_MGMT, 0), 0);
	pk_txn_end(txn);
}

static void test_fd_readable(void **state)
{
	(void)state;
	pk_txn *txn = open_txn("pw", "alice", PK_MODE_STEPWISE, NULL);
	int fd = pk_fd(txn);

	assert_true(fd >= 0);
	assert_false(readable(fd, 0));
	assert_int_equal(pk_start(txn, PK_OP_AUTHENTICATE, 0), 0);
	assert_int_equal(pk_start(txn, PK_OP_AUTHENTICATE, 0), -EBUSY);
	assert_true(readable(fd, 5000));
	assert_int_equal(pk_result(txn), PAM_CONV_AGAIN);
	assert_false(readable(fd, 0));		/* drained: no busy loop */
	const char *a[] = { "secret" };
	assert_int_equal(pk_reply(txn, SEQ(txn), a, 1), 0);
	assert_true(readable(fd, 5000));
	assert_int_equal(pk_result(txn), PAM_SUCCESS);
	assert_false(readable(fd, 0));
	assert_int_equal(pk_result(txn), -EINVAL);	/* nothing started */
	pk_txn_end(txn);

	/* Direct transactions have no fd and no stepwise calls. */
	txn = open_txn("pw", "alice", PK_MODE_DIRECT, NULL);
	assert_int_equal(pk_fd(txn), -1);
	assert_int_equal(pk_start(txn, PK_OP_AUTHENTICATE, 0), -EINVAL);
	pk_txn_end(txn);
}

static void test_items_env(void **state)
{
	(void)state;
	struct pk_options o = {
		.service = "env", .user = "alice", .confdir = confdir,
		.rhost = "example.org", .tty = "pts/7", .ruser = "carol",
	};
	pk_txn *txn = NULL;
	char *v = NULL, **list = NULL;

	assert_int_equal(pk_txn_create(&o, &txn), PAM_SUCCESS);
	assert_int_equal(pk_get_item(txn, PAM_RUSER, &v), PAM_SUCCESS);
	assert_string_equal(v, "carol");
	free(v);
	assert_int_equal(pk_set_item(txn, PAM_XDISPLAY, ":0"), PAM_SUCCESS);
	assert_int_equal(pk_get_item(txn, pk_item_from_name("xdisplay"), &v), 0);
	assert_string_equal(v, ":0");
	free(v);
	assert_int_equal(pk_get_item(txn, PAM_SERVICE, &v), PAM_SUCCESS);
	assert_string_equal(v, "env");
	free(v);
	assert_int_equal(pk_set_item(txn, PAM_CONV, "x"), -EINVAL);
	assert_int_equal(pk_item_from_name("nonsense"), -1);

	assert_int_equal(pk_authenticate(txn, 0), PAM_SUCCESS);
	assert_int_equal(pk_getenv(txn, "FROM_MODULE", &v), PAM_SUCCESS);
	assert_string_equal(v, "1");
	free(v);
	assert_int_equal(pk_setenv(txn, "A", "b"), PAM_SUCCESS);
	/* readonly: libpam_misc refuses to overwrite and keeps the value. */
	assert_int_equal(pk_misc_setenv(txn, "A", "c", true), PAM_PERM_DENIED);
	assert_int_equal(pk_getenv(txn, "A", &v), PAM_SUCCESS);
	assert_string_equal(v, "b");		/* readonly kept it */
	free(v);
	assert_int_equal(pk_misc_setenv(txn, "A", "c", false), PAM_SUCCESS);
	assert_int_equal(pk_getenv(txn, "A", &v), PAM_SUCCESS);
	assert_string_equal(v, "c");
	free(v);
	assert_int_equal(pk_getenvlist(txn, &list), PAM_SUCCESS);
	int found = 0;
	for (char **p = list; *p; p++)
		found += strcmp(*p, "A=c") == 0;
	assert_int_equal(found, 1);
	pk_strv_free(list);
	assert_int_equal(pk_unsetenv(txn, "A"), PAM_SUCCESS);
	assert_int_equal(pk_getenv(txn, "A", &v), PAM_SUCCESS);
	assert_null(v);
	assert_int_equal(pk_unsetenv(txn, "A"), PAM_SUCCESS);
	assert_int_equal(pk_setenv(txn, "BAD=NAME", "x"), -EINVAL);
	pk_txn_end(txn);
}

static void test_setcred_ops(void **state)
{
	(void)state;
	static const struct {
		int flag;
		const char *recorded;
	} ops[] = {
		{ PAM_ESTABLISH_CRED, "establish" },
		{ PAM_REINITIALIZE_CRED, "reinit" },
		{ PAM_REFRESH_CRED, "refresh" },
		{ PAM_DELETE_CRED, "delete" },
	};
	for (int mode = PK_MODE_DIRECT; mode <= PK_MODE_STEPWISE; mode++) {
		pk_txn *txn = open_txn("cred", "alice", mode, NULL);
		assert_int_equal(pk_authenticate(txn, 0), PAM_SUCCESS);
		for (size_t i = 0; i < 4; i++) {
			char *v = NULL;
			assert_int_equal(pk_setcred(txn, ops[i].flag), PAM_SUCCESS);
			assert_int_equal(pk_getenv(txn, "PKTEST_SETCRED", &v), 0);
			assert_string_equal(v, ops[i].recorded);
			free(v);
		}
		assert_int_equal(pk_setcred(txn, 0), -EINVAL);
		assert_int_equal(pk_setcred(txn, PAM_ESTABLISH_CRED |
					    PAM_DELETE_CRED), -EINVAL);
		assert_int_equal(pk_authenticate(txn, PAM_CHANGE_EXPIRED_AUTHTOK),
				 -EINVAL);
		pk_txn_end(txn);
	}
}

static void test_chauthtok_two_prompts(void **state)
{
	(void)state;
	pk_txn *txn = open_txn("chtok", "alice", PK_MODE_STEPWISE, NULL);
	const char *a[] = { "new1" }, *b[] = { "new2" };
	size_t n;

	assert_int_equal(pk_begin(txn, PK_OP_CHAUTHTOK, 0), PAM_CONV_AGAIN);
	assert_string_equal(pk_messages(txn, &n, NULL)[0].msg, "New password: ");
	assert_int_equal(pk_answer(txn, SEQ(txn), a, 1), PAM_CONV_AGAIN);
	assert_string_equal(pk_messages(txn, &n, NULL)[0].msg, "Retype new password: ");
	assert_int_equal(pk_answer(txn, SEQ(txn), a, 1), PAM_SUCCESS);
	/* A mismatching retype fails the change. */
	assert_int_equal(pk_begin(txn, PK_OP_CHAUTHTOK, 0), PAM_CONV_AGAIN);
	assert_int_equal(pk_answer(txn, SEQ(txn), a, 1), PAM_CONV_AGAIN);
	assert_int_not_equal(pk_answer(txn, SEQ(txn), b, 1), PAM_SUCCESS);
	pk_txn_end(txn);
}

static int delay_calls;
static unsigned int delay_usec;

static void on_delay(pk_txn *txn, int retval, unsigned int usec, void *data)
{
	(void)txn; (void)data;
	assert_int_not_equal(retval, PAM_SUCCESS);
	delay_calls++;
	delay_usec = usec;
}

static void test_fail_delay_hook(void **state)
{
	(void)state;
	static const char *const wrong[] = { "wrong", NULL };
	struct script s = { .answers = wrong };
	struct pk_options o = {
		.service = "delay", .user = "alice", .confdir = confdir,
		.conv = script_conv, .conv_data = &s, .fail_delay_cb = on_delay,
	};
	pk_txn *txn = NULL;

	assert_int_equal(pk_txn_create(&o, &txn), PAM_SUCCESS);
	double t0 = now_s();
	assert_int_equal(pk_authenticate(txn, 0), PAM_AUTH_ERR);
	assert_true(now_s() - t0 < 2.0);	/* the hook replaced the sleep */
	assert_int_equal(delay_calls, 1);
	assert_true(delay_usec > 0);
	pk_txn_end(txn);
}

static void test_get_user(void **state)
{
	(void)state;
	for (int mode = PK_MODE_DIRECT; mode <= PK_MODE_STEPWISE; mode++) {
		static const char *const bob[] = { "bob", NULL };
		struct script s = { .answers = bob };
		pk_txn *txn = open_txn("who", NULL, mode, &s);
		char *user = NULL;
		assert_int_equal(pk_get_user(txn, "Who are you? ", &user),
				 PAM_SUCCESS);
		assert_string_equal(user, "bob");
		free(user);
		assert_int_equal(pk_authenticate(txn, 0), PAM_SUCCESS);
		assert_int_equal(s.calls, 1);	/* asked once only */
		pk_txn_end(txn);
	}
}

static void test_account_codes(void **state)
{
	(void)state;
	pk_txn *txn = open_txn("expired", "alice", PK_MODE_DIRECT, NULL);
	assert_int_equal(pk_authenticate(txn, 0), PAM_SUCCESS);
	assert_int_equal(pk_acct_mgmt(txn, 0), PAM_NEW_AUTHTOK_REQD);
	pk_txn_end(txn);
}

static void test_errors_and_bad_input(void **state)
{
	(void)state;
	struct pk_options o = { 0 };
	pk_txn *txn = (pk_txn *)&o;

	assert_int_equal(pk_txn_create(&o, &txn), -EINVAL);
	assert_null(txn);
	assert_int_equal(pk_txn_create(NULL, &txn), -EINVAL);
	o.service = "pw";
	o.mode = 7;
	assert_int_equal(pk_txn_create(&o, &txn), -EINVAL);
	pk_txn_end(NULL);

	assert_string_equal(pk_code_name(PAM_AUTH_ERR), "PAM_AUTH_ERR");
	assert_string_equal(pk_code_name(PAM_CONV_AGAIN), "PAM_CONV_AGAIN");
	assert_string_equal(pk_code_name(-EBUSY), "PK_EBUSY");
	assert_int_equal(pk_code_from_name("PAM_INCOMPLETE"), PAM_INCOMPLETE);
	assert_int_equal(pk_code_from_name("PAM_NOPE"), -1);
	assert_int_equal(pk_max_code(), PAM_INCOMPLETE);
	for (int c = 0; c <= pk_max_code(); c++) {
		assert_string_not_equal(pk_code_name(c), "PAM_UNKNOWN");
		assert_true(strlen(pk_strerror(c)) > 0);
	}
	assert_string_equal(pk_strerror(-ETIMEDOUT), "timed out");
	assert_string_equal(pk_op_name(PK_OP_CHAUTHTOK), "chauthtok");
	assert_null(pk_op_name(0));

	txn = open_txn("pw", "alice", PK_MODE_STEPWISE, NULL);
	assert_int_equal(pk_reply(txn, SEQ(txn), NULL, 0), -EINVAL);	/* nothing pending */
	assert_int_equal(pk_start(txn, 99, 0), -EINVAL);
	assert_int_equal(pk_begin(txn, PK_OP_AUTHENTICATE, 0), PAM_CONV_AGAIN);
	assert_int_equal(pk_reply(txn, SEQ(txn), NULL, 1), -EINVAL);
	/* an item may be set while the module waits, but not PAM_USER: the
	   module may hold the old value's pointer */
	assert_int_equal(pk_set_item(txn, PAM_RHOST, "x"), PAM_SUCCESS);
	assert_int_equal(pk_set_item(txn, PAM_USER, "eve"), -EBUSY);
	assert_int_equal(pk_setenv(txn, "A", "b"), -EBUSY);
	char *v = NULL;
	assert_int_equal(pk_get_item(txn, PAM_USER, &v), PAM_SUCCESS);
	assert_string_equal(v, "alice");	/* reading during conv is fine */
	free(v);
	const char *nul[] = { NULL };	/* a NULL answer reaches PAM as NULL */
	assert_int_equal(pk_answer(txn, SEQ(txn), nul, 1), PAM_AUTH_ERR);
	pk_txn_end(txn);
}

/* 64 threads, each running many transactions (stepwise and direct). */
struct stress {
	int n;
	int failures;
};

static void *stress_thread(void *arg)
{
	struct stress *st = arg;
	static const char *const right[] = { "secret", NULL };
	const char *a[] = { "secret" };

	for (int i = 0; i < st->n; i++) {
		struct script s = { .answers = right };
		struct pk_options o = {
			.service = "pw", .user = "alice", .confdir = confdir,
			.mode = (i & 1) ? PK_MODE_STEPWISE : PK_MODE_DIRECT,
			.conv = script_conv, .conv_data = &s,
		};
		pk_txn *txn = NULL;
		int rc = pk_txn_create(&o, &txn);
		if (rc == PAM_SUCCESS) {
			if (o.mode == PK_MODE_STEPWISE) {
				rc = pk_begin(txn, PK_OP_AUTHENTICATE, 0);
				if (rc == PAM_CONV_AGAIN)
					rc = pk_answer(txn, SEQ(txn), a, 1);
			} else {
				rc = pk_authenticate(txn, 0);
			}
			pk_txn_end(txn);
		}
		if (rc != PAM_SUCCESS)
			st->failures++;
	}
	return NULL;
}

static void test_64_threads(void **state)
{
	(void)state;
	const char *env = getenv("PAMKIT_STRESS_TXNS");
	int per_thread = env ? atoi(env) : 1000;
	pthread_t th[64];
	struct stress st[64];

	for (int i = 0; i < 64; i++) {
		st[i] = (struct stress){ .n = per_thread };
		assert_int_equal(pthread_create(&th[i], NULL, stress_thread, &st[i]), 0);
	}
	for (int i = 0; i < 64; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(st[i].failures, 0);
	}
}

/* As root: a throwaway system user through pam_unix, then removed. */
static int run(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_pam_unix_system_user(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	const char *user = "pamkit_tu";
	run("userdel -r pamkit_tu >/dev/null 2>&1");
	assert_int_equal(run("useradd -M -s /usr/sbin/nologin pamkit_tu"), 0);
	assert_int_equal(run("echo 'pamkit_tu:Right-Pa55' | chpasswd"), 0);

	static const char *const right[] = { "Right-Pa55", NULL };
	static const char *const wrong[] = { "wrong", NULL };
	struct script s = { .answers = right };
	pk_txn *txn = open_txn("unix", user, PK_MODE_STEPWISE, &s);
	int ok = pk_authenticate(txn, 0);
	int acct = pk_acct_mgmt(txn, 0);
	pk_txn_end(txn);
	s = (struct script){ .answers = wrong };
	txn = open_txn("unix", user, PK_MODE_DIRECT, &s);
	pk_fail_delay(txn, 0);
	int bad = pk_authenticate(txn, 0);
	pk_txn_end(txn);
	run("userdel -r pamkit_tu >/dev/null 2>&1");

	assert_int_equal(ok, PAM_SUCCESS);
	assert_int_equal(acct, PAM_SUCCESS);
	assert_int_equal(bad, PAM_AUTH_ERR);
}

int main(void)
{
	/* A sanitizer build preloads libasan/libcrypt into this process only;
	   useradd and friends must not inherit it. */
	unsetenv("LD_PRELOAD");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocking_password),
		cmocka_unit_test(test_callback_failure),
		cmocka_unit_test(test_multi_batch),
		cmocka_unit_test(test_wrong_answer_second_batch),
		cmocka_unit_test(test_step_timeout),
		cmocka_unit_test(test_cancel_from_thread),
		cmocka_unit_test(test_cancel_withdraws_batch),
		cmocka_unit_test(test_timeout_keeps_batch_for_reader),
		cmocka_unit_test(test_cancel_keeps_batch_for_reader),
		cmocka_unit_test(test_transcript_pointer_survives_growth),
		cmocka_unit_test(test_no_delay_callback_after_end),
		cmocka_unit_test(test_reply_refused_during_blocking_call),
		cmocka_unit_test(test_end_mid_conversation),
		cmocka_unit_test(test_fd_readable),
		cmocka_unit_test(test_items_env),
		cmocka_unit_test(test_setcred_ops),
		cmocka_unit_test(test_chauthtok_two_prompts),
		cmocka_unit_test(test_fail_delay_hook),
		cmocka_unit_test(test_get_user),
		cmocka_unit_test(test_account_codes),
		cmocka_unit_test(test_errors_and_bad_input),
		cmocka_unit_test(test_64_threads),
		cmocka_unit_test(test_pam_unix_system_user),
	};
	return cmocka_run_group_tests_name("libpamkit", tests, group_setup,
					   group_teardown);
}
