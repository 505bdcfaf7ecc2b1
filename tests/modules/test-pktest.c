/*
 * test-pktest.c: drives pam_pktest.so through the real libpam with a
 * private confdir (pam_start_confdir) and a scripted conversation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <security/pam_appl.h>

#include "pktest-codes.h"

#ifndef PKTEST_MODULE_PATH
#error "PKTEST_MODULE_PATH must be defined"
#endif

#define SERVICE "pktest"

struct script {
	const char *answers[8];
	int next;
	int calls;
	int fail;
	char log[4096];
};

struct fixture {
	char dir[256];
	char file[512];
	struct script s;
	pam_handle_t *pamh;
};

static const char *style_name(int style)
{
	switch (style) {
	case PAM_PROMPT_ECHO_OFF: return "OFF";
	case PAM_PROMPT_ECHO_ON: return "ON";
	case PAM_ERROR_MSG: return "ERR";
	case PAM_TEXT_INFO: return "INFO";
	default: return "?";
	}
}

/* Appends "STYLE:TEXT\n" per message, "--\n" per call; answers in order. */
static int conv(int n, const struct pam_message **msg,
		struct pam_response **out, void *appdata)
{
	struct script *s = appdata;
	struct pam_response *resp;
	size_t used;
	int i;

	*out = NULL;
	s->calls++;
	if (s->fail)
		return PAM_CONV_ERR;
	resp = calloc((size_t)n, sizeof(*resp));
	if (resp == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		used = strlen(s->log);
		snprintf(s->log + used, sizeof(s->log) - used, "%s:%s\n",
			 style_name(msg[i]->msg_style), msg[i]->msg);
		if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF &&
		    msg[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		if (s->next < 8 && s->answers[s->next] != NULL) {
			resp[i].resp = strdup(s->answers[s->next]);
			assert_non_null(resp[i].resp);
		}
		s->next++;
	}
	used = strlen(s->log);
	snprintf(s->log + used, sizeof(s->log) - used, "--\n");
	*out = resp;
	return PAM_SUCCESS;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/pktest-XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->file, sizeof(f->file), "%s/%s", f->dir, SERVICE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->pamh != NULL)
		pam_end(f->pamh, PAM_SUCCESS);
	unlink(f->file);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Writes the service file: one line per type, "@" stands for the module. */
static void write_service(struct fixture *f, const char *text)
{
	FILE *fp = fopen(f->file, "w");
	const char *p;

	assert_non_null(fp);
	for (p = text; *p != '\0'; p++) {
		if (*p == '@')
			fputs(PKTEST_MODULE_PATH, fp);
		else
			fputc(*p, fp);
	}
	assert_int_equal(fclose(fp), 0);
}

static void start(struct fixture *f, const char *service, const char *user)
{
	struct pam_conv pc = { conv, &f->s };

	write_service(f, service);
	assert_int_equal(pam_start_confdir(SERVICE, user, &pc, f->dir, &f->pamh),
			 PAM_SUCCESS);
}

static void assert_env(struct fixture *f, const char *key, const char *want)
{
	const char *have = pam_getenv(f->pamh, key);

	if (want == NULL) {
		assert_null(have);
		return;
	}
	assert_non_null(have);
	assert_string_equal(have, want);
}

static void test_single_prompt_right(void **state)
{
	struct fixture *f = *state;

	f->s.answers[0] = "pw";
	start(f, "auth required @ prompt_off=Password:|pw\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(f->s.calls, 1);
	assert_string_equal(f->s.log, "OFF:Password:\n--\n");
	assert_env(f, "PKTEST_AUTH", "1");
	assert_env(f, "PKTEST_CALLS_AUTH", "1");
	assert_env(f, "PKTEST_SILENT", NULL);
}

static void test_single_prompt_wrong(void **state)
{
	struct fixture *f = *state;

	f->s.answers[0] = "nope";
	start(f, "auth required @ prompt_off=Password:|pw\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_AUTH_ERR);
	assert_int_equal(f->s.calls, 1);
}

static void test_null_answer_never_matches(void **state)
{
	struct fixture *f = *state;

	/* answers[0] stays NULL: resp[0].resp == NULL */
	start(f, "auth required @ prompt_off=Password:|pw\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_AUTH_ERR);
}

static void test_any_answer(void **state)
{
	struct fixture *f = *state;

	f->s.answers[0] = "whatever";
	f->s.answers[1] = "else";
	start(f, "auth required @ prompt_on=Name:|* prompt_off=Pass:\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(f->s.calls, 1);
	assert_string_equal(f->s.log, "ON:Name:\nOFF:Pass:\n--\n");
}

static void test_multi_batch(void **state)
{
	struct fixture *f = *state;

	f->s.answers[0] = "pw";
	f->s.answers[1] = "123456";
	start(f, "auth required @ prompt_off=Password:|pw flush "
		 "prompt_off=OTP:|123456\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(f->s.calls, 2);
	assert_string_equal(f->s.log, "OFF:Password:\n--\nOFF:OTP:\n--\n");
}

static void test_second_batch_wrong(void **state)
{
	struct fixture *f = *state;

	f->s.answers[0] = "pw";
	f->s.answers[1] = "000000";
	start(f, "auth required @ prompt_off=Password:|pw flush "
		 "prompt_off=OTP:|123456\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_AUTH_ERR);
	assert_int_equal(f->s.calls, 2);
}

static void test_info_prompt_one_batch(void **state)
{
	struct fixture *f = *state;

	f->s.answers[0] = "pw";
	start(f, "auth required @ [info=hello world] error=oops "
		 "prompt_off=Password:|pw\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(f->s.calls, 1);
	assert_string_equal(f->s.log,
			    "INFO:hello world\nERR:oops\nOFF:Password:\n--\n");
}

static void test_rc_codes(void **state)
{
	struct fixture *f = *state;

	start(f, "auth required @ rc=PAM_ACCT_EXPIRED\n"
		 "account required @ rc=PAM_NEW_AUTHTOK_REQD\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_ACCT_EXPIRED);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_NEW_AUTHTOK_REQD);
	assert_env(f, "PKTEST_ACCT", "1");
	assert_env(f, "PKTEST_CALLS_ACCT", "1");
	assert_int_equal(f->s.calls, 0);
}

static void test_fail_rc(void **state)
{
	struct fixture *f = *state;

	f->s.answers[0] = "bad";
	start(f, "auth required @ fail_rc=PAM_MAXTRIES prompt_off=P:|good "
		 "rc=PAM_IGNORE\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_MAXTRIES);
}

static void test_items(void **state)
{
	struct fixture *f = *state;

	start(f, "auth required @ user=alice check_item=rhost: "
		 "check_item=tty:tty7 set_item=rhost:host.example "
		 "check_item=rhost:host.example [set_item=xdisplay::0]\n"
		 "account required @ check_item=ruser:bob\n", "alice");
	assert_int_equal(pam_set_item(f->pamh, PAM_TTY, "tty7"), PAM_SUCCESS);
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
	{
		const void *v = NULL;

		assert_int_equal(pam_get_item(f->pamh, PAM_RHOST, &v), PAM_SUCCESS);
		assert_string_equal(v, "host.example");
		assert_int_equal(pam_get_item(f->pamh, PAM_XDISPLAY, &v), PAM_SUCCESS);
		assert_string_equal(v, ":0");
	}
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_AUTH_ERR);
	assert_int_equal(pam_set_item(f->pamh, PAM_RUSER, "bob"), PAM_SUCCESS);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_SUCCESS);
}

static void test_user_mismatch_and_get_user_prompt(void **state)
{
	struct fixture *f = *state;

	f->s.answers[0] = "carol";
	start(f, "auth required @ get_user user=carol\n"
		 "account required @ user=dave\n", NULL);
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(f->s.calls, 1);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_AUTH_ERR);
}

static void test_env(void **state)
{
	struct fixture *f = *state;

	start(f, "auth required @ set_env=FOO=bar check_env=FOO=bar "
		 "set_env=GONE=1 unset_env=GONE check_env=GONE\n"
		 "account required @ check_env=FOO=baz\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
	assert_env(f, "FOO", "bar");
	assert_env(f, "GONE", NULL);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_AUTH_ERR);
}

static void test_setcred_flags(void **state)
{
	struct fixture *f = *state;

	start(f, "auth required @\n", "alice");
	assert_int_equal(pam_setcred(f->pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
	assert_env(f, "PKTEST_SETCRED", "establish");
	assert_int_equal(pam_setcred(f->pamh, PAM_REINITIALIZE_CRED), PAM_SUCCESS);
	assert_env(f, "PKTEST_SETCRED", "reinit");
	assert_int_equal(pam_setcred(f->pamh, PAM_REFRESH_CRED), PAM_SUCCESS);
	assert_env(f, "PKTEST_SETCRED", "refresh");
	assert_int_equal(pam_setcred(f->pamh, PAM_DELETE_CRED | PAM_SILENT),
			 PAM_SUCCESS);
	assert_env(f, "PKTEST_SETCRED", "delete");
	assert_env(f, "PKTEST_SILENT", "1");
	assert_env(f, "PKTEST_CALLS_SETCRED", "4");
	assert_int_equal(pam_setcred(f->pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
	assert_env(f, "PKTEST_SILENT", NULL);
	assert_env(f, "PKTEST_CALLS_SETCRED", "5");
	assert_env(f, "PKTEST_AUTH", NULL);
}

static void test_setcred_skip(void **state)
{
	struct fixture *f = *state;

	f->s.answers[0] = "pw";
	f->s.answers[1] = "pw";
	start(f, "auth required @ setcred=skip prompt_off=P:|pw\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(f->s.calls, 1);
	assert_int_equal(pam_setcred(f->pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
	assert_int_equal(f->s.calls, 1);
	assert_env(f, "PKTEST_SETCRED", "establish");
	assert_env(f, "PKTEST_CALLS_SETCRED", "1");
}

static void test_setcred_runs_steps_by_default(void **state)
{
	struct fixture *f = *state;

	f->s.answers[0] = "pw";
	f->s.answers[1] = "bad";
	start(f, "auth required @ prompt_off=P:|pw\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_setcred(f->pamh, PAM_ESTABLISH_CRED), PAM_AUTH_ERR);
	assert_int_equal(f->s.calls, 2);
}

static void test_session(void **state)
{
	struct fixture *f = *state;

	start(f, "session required @ info=welcome\n", "alice");
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SUCCESS);
	assert_env(f, "PKTEST_SESSION", "open");
	assert_env(f, "PKTEST_CALLS_OPEN_SESSION", "1");
	assert_int_equal(pam_close_session(f->pamh, 0), PAM_SUCCESS);
	assert_env(f, "PKTEST_SESSION", "closed");
	assert_env(f, "PKTEST_CALLS_CLOSE_SESSION", "1");
	assert_int_equal(f->s.calls, 2);
	assert_string_equal(f->s.log, "INFO:welcome\n--\nINFO:welcome\n--\n");
}

static void test_chauthtok_update(void **state)
{
	struct fixture *f = *state;

	f->s.answers[0] = "new1";
	f->s.answers[1] = "new1";
	start(f, "password required @ [prompt_off=New password: |new1] "
		 "set_authtok [prompt_off=Retype new password: |new1] authtok=new1\n",
	      "alice");
	assert_int_equal(pam_chauthtok(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(f->s.calls, 2);
	assert_string_equal(f->s.log, "OFF:New password: \n--\n"
				      "OFF:Retype new password: \n--\n");
	assert_env(f, "PKTEST_CHAUTHTOK", "update");
	assert_env(f, "PKTEST_CALLS_CHAUTHTOK", "2");
}

static void test_chauthtok_prelim(void **state)
{
	struct fixture *f = *state;

	start(f, "password required @ phase=prelim prelim_rc=PAM_AUTHTOK_ERR "
		 "info=checking\n", "alice");
	assert_int_equal(pam_chauthtok(f->pamh, 0), PAM_AUTHTOK_ERR);
	assert_string_equal(f->s.log, "INFO:checking\n--\n");
	assert_env(f, "PKTEST_CHAUTHTOK", "prelim");
	assert_env(f, "PKTEST_CALLS_CHAUTHTOK", "1");
}

static void test_chauthtok_both(void **state)
{
	struct fixture *f = *state;

	start(f, "password required @ phase=both info=hi\n", "alice");
	assert_int_equal(pam_chauthtok(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(f->s.calls, 2);
	assert_env(f, "PKTEST_CHAUTHTOK", "update");
}

static void test_delay(void **state)
{
	struct fixture *f = *state;
	struct timespec a, b;
	long ms;

	start(f, "auth required @ delay_ms=150\n", "alice");
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &a), 0);
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &b), 0);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_true(ms >= 150);
}

static void test_fail_delay_arg(void **state)
{
	struct fixture *f = *state;

	start(f, "auth required @ fail_delay=0 rc=PAM_SUCCESS\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"bogus", "rc=PAM_NOPE", "delay_ms=abc", "delay_ms=-1",
		"set_item=color:red", "set_item=rhost", "phase=later",
		"set_env=NOEQ", "unset_env=A=B", "fail_rc=", "flush=1",
		"setcred=maybe", "user=", "fail_delay=x",
	};
	struct fixture *f = *state;
	char line[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line),
			 "auth required @ info=before %s\n", bad[i]);
		start(f, line, "alice");
		assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SERVICE_ERR);
		/* fail closed before any step ran */
		assert_int_equal(f->s.calls, 0);
		pam_end(f->pamh, PAM_SUCCESS);
		f->pamh = NULL;
	}
}

static void test_conv_failure(void **state)
{
	struct fixture *f = *state;

	f->s.fail = 1;
	start(f, "auth required @ fail_rc=PAM_MAXTRIES prompt_off=Password:|pw\n",
	      "alice");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_CONV_ERR);
	assert_int_equal(f->s.calls, 1);
}

static void test_silent(void **state)
{
	struct fixture *f = *state;

	start(f, "auth required @\n", "alice");
	assert_int_equal(pam_authenticate(f->pamh, PAM_SILENT), PAM_SUCCESS);
	assert_env(f, "PKTEST_SILENT", "1");
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_SUCCESS);
	assert_env(f, "PKTEST_SILENT", NULL);
	assert_env(f, "PKTEST_CALLS_AUTH", "2");
}

static void test_code_table(void **state)
{
	(void)state;
	assert_int_equal(pktest_code_from_name("PAM_SUCCESS"), PAM_SUCCESS);
	assert_int_equal(pktest_code_from_name("PAM_INCOMPLETE"), PAM_INCOMPLETE);
	assert_int_equal(pktest_code_from_name("PAM_XYZ"), -1);
	assert_string_equal(pktest_code_name(PAM_CONV_ERR), "PAM_CONV_ERR");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_single_prompt_right),
		T(test_single_prompt_wrong),
		T(test_null_answer_never_matches),
		T(test_any_answer),
		T(test_multi_batch),
		T(test_second_batch_wrong),
		T(test_info_prompt_one_batch),
		T(test_rc_codes),
		T(test_fail_rc),
		T(test_items),
		T(test_user_mismatch_and_get_user_prompt),
		T(test_env),
		T(test_setcred_flags),
		T(test_setcred_skip),
		T(test_setcred_runs_steps_by_default),
		T(test_session),
		T(test_chauthtok_update),
		T(test_chauthtok_prelim),
		T(test_chauthtok_both),
		T(test_delay),
		T(test_fail_delay_arg),
		T(test_malformed),
		T(test_conv_failure),
		T(test_silent),
		cmocka_unit_test(test_code_table),
	};

	return cmocka_run_group_tests_name("pktest", tests, NULL, NULL);
}
