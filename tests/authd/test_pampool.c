/*
 * test_pampool.c - authd's PAM pool against the real libpam and
 * pam_pktest.so (private service directory): the 4001 prompt list the
 * event loop walks stays intact while a job publishes its next batch.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pampool.h"

#define MOD PKTEST_MODULE_PATH

static char confdir[] = "/tmp/pamkit-pool-test-XXXXXX";
static char svc_path[PATH_MAX];

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static struct pamjob *new_job(struct pampool *p, unsigned int timeout_ms)
{
	struct pamjob *j = calloc(1, sizeof(*j));

	assert_non_null(j);
	(void)p;
	j->interactive = true;
	j->service = "relay";
	j->confdir = confdir;
	j->step_timeout_ms = timeout_ms;
	return j;
}

static bool on_list(struct pamjob *list, struct pamjob *j)
{
	for (; list; list = list->lnext)
		if (list == j)
			return true;
	return false;
}

/* Wait until job j's batch is published (its prompt text is "want"). */
static void wait_batch(struct pampool *p, struct pamjob *j, const char *want)
{
	for (int i = 0; i < 200; i++) {
		struct pk_message *m = NULL;
		unsigned int b = 0;
		size_t n = pampool_copy_batch(p, j, &m, &b);
		bool ok = n == 1 && strcmp(m[0].msg, want) == 0;

		pampool_free_batch(m, n);
		if (ok)
			return;
		sleep_ms(10);
	}
	fail_msg("no batch '%s'", want);
}

static void test_prompt_list_survives_republish(void **state)
{
	(void)state;
	int efd = -1;
	struct pampool *p = pampool_new(1, &efd);
	struct pamjob *a, *b, *list, *done;
	int finished = 0;

	assert_non_null(p);
	/* b first, a second: the list is a -> b */
	b = new_job(p, 0);
	assert_int_equal(pampool_submit(p, b), 0);
	wait_batch(p, b, "First:");
	a = new_job(p, 150);
	assert_int_equal(pampool_submit(p, a), 0);
	wait_batch(p, a, "First:");
	list = pampool_prompts(p);
	assert_ptr_equal(list, a);
	/* a's step times out; its next module line asks again, so a's
	   thread publishes a new batch (and re-links a->pnext) while the loop
	   still walks the list it took. */
	wait_batch(p, a, "Second:");
	assert_true(on_list(list, a));
	assert_true(on_list(list, b));	/* was lost through a->pnext */

	pampool_cancel(p, a);
	pampool_cancel(p, b);
	for (int i = 0; i < 300 && finished < 2; i++) {
		struct pollfd pf = { .fd = efd, .events = POLLIN };

		if (poll(&pf, 1, 20) != 1)
			continue;
		while ((done = pampool_done(p))) {
			while (done) {
				struct pamjob *next = done->next;

				assert_true(done == a || done == b);
				assert_int_not_equal(done->rc, PAM_SUCCESS);
				pk_txn_end(done->txn);
				done->txn = NULL;
				pamjob_free(done);
				finished++;
				done = next;
			}
		}
	}
	assert_int_equal(finished, 2);
	pampool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prompt_list_survives_republish),
	};
	FILE *f;
	int rc;

	if (!mkdtemp(confdir))
		return 1;
	snprintf(svc_path, sizeof(svc_path), "%s/relay", confdir);
	f = fopen(svc_path, "w");
	if (!f)
		return 1;
	fputs("auth optional " MOD " prompt_off=First:|x\n"
	      "auth required " MOD " prompt_off=Second:|y\n", f);
	fclose(f);
	rc = cmocka_run_group_tests_name("authd-pampool", tests, NULL, NULL);
	unlink(svc_path);
	rmdir(confdir);
	pk_shutdown(5000);
	return rc;
}
