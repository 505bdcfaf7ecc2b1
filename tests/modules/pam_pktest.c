/*
 * pam_pktest.c: a scriptable PAM module for pamkit's tests.
 *
 * The module arguments are steps run in order on every call (see README.md).
 * Every call is recorded in the PAM environment (PKTEST_*). An unknown or
 * malformed argument is logged and makes the call fail with PAM_SERVICE_ERR.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <security/pam_modules.h>
#include <security/pam_ext.h>

#include "pktest-codes.h"

#define UNUSED __attribute__((unused))
#define MAX_BATCH 32

enum step_kind {
	S_PROMPT_OFF, S_PROMPT_ON, S_INFO, S_ERROR, S_FLUSH, S_RC, S_FAIL_RC,
	S_DELAY_MS, S_SET_AUTHTOK, S_AUTHTOK, S_GET_USER, S_USER, S_SET_ITEM,
	S_CHECK_ITEM, S_SET_ENV, S_UNSET_ENV, S_CHECK_ENV, S_FAIL_DELAY,
	S_PHASE, S_PRELIM_RC, S_SETCRED, S_LOG, S_FLAG,
};

enum phase { PH_PRELIM = 1, PH_UPDATE = 2, PH_BOTH = 3 };

struct step_name {
	const char *key;   /* "prompt_off=" or "flush" */
	enum step_kind kind;
};

static const struct step_name step_names[] = {
	{ "prompt_off=", S_PROMPT_OFF }, { "prompt_on=", S_PROMPT_ON },
	{ "info=", S_INFO }, { "error=", S_ERROR }, { "flush", S_FLUSH },
	{ "rc=", S_RC }, { "fail_rc=", S_FAIL_RC }, { "delay_ms=", S_DELAY_MS },
	{ "set_authtok", S_SET_AUTHTOK }, { "authtok=", S_AUTHTOK },
	{ "get_user", S_GET_USER }, { "user=", S_USER },
	{ "set_item=", S_SET_ITEM }, { "check_item=", S_CHECK_ITEM },
	{ "set_env=", S_SET_ENV }, { "unset_env=", S_UNSET_ENV },
	{ "check_env=", S_CHECK_ENV }, { "fail_delay=", S_FAIL_DELAY },
	{ "phase=", S_PHASE }, { "prelim_rc=", S_PRELIM_RC },
	{ "setcred=", S_SETCRED }, { "log=", S_LOG }, { "flag=", S_FLAG },
};

struct item_name {
	const char *name;
	int item;
};

static const struct item_name item_names[] = {
	{ "user", PAM_USER }, { "tty", PAM_TTY }, { "rhost", PAM_RHOST },
	{ "ruser", PAM_RUSER }, { "user_prompt", PAM_USER_PROMPT },
	{ "xdisplay", PAM_XDISPLAY }, { "authtok_type", PAM_AUTHTOK_TYPE },
	{ "service", PAM_SERVICE },
};

/* A parsed step: VAL points into argv; for prompts EXPECT is after '|'. */
struct step {
	enum step_kind kind;
	const char *val;      /* text after '=' (or NULL) */
	long num;             /* numeric argument or PAM code */
	int item;             /* PAM item for set_item/check_item */
};

/* The pending message batch and the last prompt answer. */
struct batch {
	struct pam_message msg[MAX_BATCH];
	char *text[MAX_BATCH];        /* owned copies of the message text */
	const char *expect[MAX_BATCH]; /* NULL = any answer */
	int n;
	char *last_answer;            /* owned, wiped on free */
	int flags;                    /* the call's flags (flag=) */
};

static void wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_item(const char *val, int *item)
{
	const char *colon = strchr(val, ':');
	size_t len, i;

	if (colon == NULL)
		return -1;
	len = (size_t)(colon - val);
	for (i = 0; i < sizeof(item_names) / sizeof(item_names[0]); i++) {
		if (strlen(item_names[i].name) == len &&
		    strncmp(item_names[i].name, val, len) == 0) {
			*item = item_names[i].item;
			return 0;
		}
	}
	return -1;
}

/* Parses one argument into ST; returns 0 or -1 for a malformed one. */
static int parse_step(const char *arg, struct step *st)
{
	size_t i, klen;
	int code;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < sizeof(step_names) / sizeof(step_names[0]); i++) {
		klen = strlen(step_names[i].key);
		if (step_names[i].key[klen - 1] == '=') {
			if (strncmp(arg, step_names[i].key, klen) != 0)
				continue;
			st->val = arg + klen;
		} else if (strcmp(arg, step_names[i].key) != 0) {
			continue;
		}
		st->kind = step_names[i].kind;
		goto found;
	}
	return -1;
found:
	switch (st->kind) {
	case S_RC:
	case S_FAIL_RC:
	case S_PRELIM_RC:
		code = pktest_code_from_name(st->val);
		if (code < 0)
			return -1;
		st->num = code;
		return 0;
	case S_DELAY_MS:
		return parse_long(st->val, 0, 600000, &st->num);
	case S_FAIL_DELAY:
		return parse_long(st->val, 0, 0x7fffffffL, &st->num);
	case S_FLAG:
		if (!strcmp(st->val, "PAM_SILENT"))
			st->num = PAM_SILENT;
		else if (!strcmp(st->val, "PAM_DISALLOW_NULL_AUTHTOK"))
			st->num = PAM_DISALLOW_NULL_AUTHTOK;
		else
			return -1;
		return 0;
	case S_SET_ITEM:
	case S_CHECK_ITEM:
		return parse_item(st->val, &st->item);
	case S_SET_ENV:
		return (st->val[0] != '\0' && st->val[0] != '=' &&
			strchr(st->val, '=') != NULL) ? 0 : -1;
	case S_UNSET_ENV:
		return (st->val[0] != '\0' && strchr(st->val, '=') == NULL) ? 0 : -1;
	case S_CHECK_ENV:
		return (st->val[0] != '\0' && st->val[0] != '=') ? 0 : -1;
	case S_PHASE:
		if (strcmp(st->val, "prelim") == 0)
			st->num = PH_PRELIM;
		else if (strcmp(st->val, "update") == 0)
			st->num = PH_UPDATE;
		else if (strcmp(st->val, "both") == 0)
			st->num = PH_BOTH;
		else
			return -1;
		return 0;
	case S_SETCRED:
		if (strcmp(st->val, "run") == 0)
			st->num = 1;
		else if (strcmp(st->val, "skip") == 0)
			st->num = 0;
		else
			return -1;
		return 0;
	case S_USER:
		return st->val[0] != '\0' ? 0 : -1;
	default:
		return 0;
	}
}

static void batch_clear(struct batch *b)
{
	int i;

	for (i = 0; i < b->n; i++) {
		free(b->text[i]);
		b->text[i] = NULL;
	}
	b->n = 0;
}

/* Adds a message; for prompts VAL is "TEXT|EXPECT" (EXPECT "*" = any). */
static int batch_add(struct batch *b, int style, const char *val)
{
	const char *bar = NULL;
	size_t len;

	if (b->n >= MAX_BATCH)
		return PAM_SERVICE_ERR;
	if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON)
		bar = strchr(val, '|');
	len = bar != NULL ? (size_t)(bar - val) : strlen(val);
	b->text[b->n] = strndup(val, len);
	if (b->text[b->n] == NULL)
		return PAM_BUF_ERR;
	b->expect[b->n] = NULL;
	if (bar != NULL && strcmp(bar + 1, "*") != 0)
		b->expect[b->n] = bar + 1;
	b->msg[b->n].msg_style = style;
	b->msg[b->n].msg = b->text[b->n];
	b->n++;
	return PAM_SUCCESS;
}

static void drop_resp(struct pam_response *resp, int n)
{
	int i;

	if (resp == NULL)
		return;
	for (i = 0; i < n; i++)
		wipe_free(resp[i].resp);
	free(resp);
}

/* Sends the batch as one conversation call; checks prompt answers. */
static int batch_flush(pam_handle_t *pamh, struct batch *b, int fail_rc)
{
	const struct pam_message *msgp[MAX_BATCH];
	const struct pam_conv *conv = NULL;
	struct pam_response *resp = NULL;
	int i, rc, n = b->n, mismatch = 0, prompts = 0;

	if (n == 0)
		return PAM_SUCCESS;
	rc = pam_get_item(pamh, PAM_CONV, (const void **)&conv);
	if (rc != PAM_SUCCESS || conv == NULL || conv->conv == NULL) {
		pam_syslog(pamh, LOG_ERR, "pktest: no conversation function");
		rc = PAM_CONV_ERR;
		goto out;
	}
	for (i = 0; i < n; i++) {
		msgp[i] = &b->msg[i];
		if (b->msg[i].msg_style == PAM_PROMPT_ECHO_OFF ||
		    b->msg[i].msg_style == PAM_PROMPT_ECHO_ON)
			prompts++;
	}
	rc = conv->conv(n, msgp, &resp, conv->appdata_ptr);
	if (rc != PAM_SUCCESS)
		goto out;
	if (resp == NULL) {
		if (prompts > 0)
			rc = PAM_CONV_ERR;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *ans = resp[i].resp;

		if (b->msg[i].msg_style != PAM_PROMPT_ECHO_OFF &&
		    b->msg[i].msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		if (b->expect[i] != NULL &&
		    (ans == NULL || strcmp(ans, b->expect[i]) != 0))
			mismatch = 1;
		wipe_free(b->last_answer);
		b->last_answer = NULL;
		if (ans != NULL) {
			b->last_answer = strdup(ans);
			if (b->last_answer == NULL) {
				rc = PAM_BUF_ERR;
				goto out;
			}
		}
	}
	rc = mismatch ? fail_rc : PAM_SUCCESS;
out:
	drop_resp(resp, n);
	batch_clear(b);
	return rc;
}

static int sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0) {
		if (errno != EINTR)
			return PAM_SYSTEM_ERR;
	}
	return PAM_SUCCESS;
}

static int str_eq_or_empty(const char *have, const char *want)
{
	if (want[0] == '\0')
		return have == NULL || have[0] == '\0';
	return have != NULL && strcmp(have, want) == 0;
}

/* Runs one non-message step; returns PAM_SUCCESS or the failure code. */
static int run_step(pam_handle_t *pamh, const struct step *st,
		    struct batch *b, int fail_rc)
{
	const void *item = NULL;
	const char *user = NULL, *val, *eq;
	char *key = NULL;
	int rc = PAM_SUCCESS;

	switch (st->kind) {
	case S_DELAY_MS:
		return sleep_ms(st->num);
	case S_SET_AUTHTOK:
		if (b->last_answer == NULL)
			return fail_rc;
		return pam_set_item(pamh, PAM_AUTHTOK, b->last_answer);
	case S_AUTHTOK:
		if (pam_get_item(pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS)
			return fail_rc;
		return str_eq_or_empty(item, st->val) ? PAM_SUCCESS : fail_rc;
	case S_GET_USER:
		return pam_get_user(pamh, &user, NULL);
	case S_USER:
		rc = pam_get_user(pamh, &user, NULL);
		if (rc != PAM_SUCCESS)
			return rc;
		return (user != NULL && strcmp(user, st->val) == 0) ?
			PAM_SUCCESS : fail_rc;
	case S_SET_ITEM:
		return pam_set_item(pamh, st->item, strchr(st->val, ':') + 1);
	case S_CHECK_ITEM:
		if (pam_get_item(pamh, st->item, &item) != PAM_SUCCESS)
			return fail_rc;
		return str_eq_or_empty(item, strchr(st->val, ':') + 1) ?
			PAM_SUCCESS : fail_rc;
	case S_SET_ENV:
	case S_UNSET_ENV:
		return pam_putenv(pamh, st->val);
	case S_CHECK_ENV:
		eq = strchr(st->val, '=');
		if (eq == NULL)
			return pam_getenv(pamh, st->val) == NULL ? PAM_SUCCESS : fail_rc;
		key = strndup(st->val, (size_t)(eq - st->val));
		if (key == NULL)
			return PAM_BUF_ERR;
		val = pam_getenv(pamh, key);
		rc = (val != NULL && strcmp(val, eq + 1) == 0) ? PAM_SUCCESS : fail_rc;
		free(key);
		return rc;
	case S_FAIL_DELAY:
		return pam_fail_delay(pamh, (unsigned int)st->num);
	case S_FLAG:
		return (b->flags & (int)st->num) ? PAM_SUCCESS : fail_rc;
	default:
		return PAM_SUCCESS;
	}
}

static int is_message(enum step_kind k)
{
	return k == S_PROMPT_OFF || k == S_PROMPT_ON || k == S_INFO || k == S_ERROR;
}

/* log=PATH: append "OP pid=P tid=T" for each call, and "END pid=P tid=T
   silent=0|1" when pam_end frees the module data (silent: PAM_DATA_SILENT,
   as a forked child's pam_end passes it). */
static void log_line(const char *path, const char *what, int extra)
{
	char line[128];
	int fd, n;

	if (extra >= 0)
		n = snprintf(line, sizeof(line), "%s pid=%ld tid=%ld silent=%d\n",
			     what, (long)getpid(), (long)gettid(), extra);
	else
		n = snprintf(line, sizeof(line), "%s pid=%ld tid=%ld\n", what,
			     (long)getpid(), (long)gettid());
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (n > 0 && write(fd, line, (size_t)n) < 0) {
		/* a test reads the file; nothing to do here */
	}
	close(fd);
}

static void log_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	if (!(error_status & PAM_DATA_REPLACE))
		log_line(data, "END", (error_status & PAM_DATA_SILENT) != 0);
	free(data);
}

/* The log path of this call (log=), or NULL. */
static const char *log_path(int argc, const char **argv)
{
	for (int i = 0; argv && i < argc; i++)
		if (argv[i] && strncmp(argv[i], "log=", 4) == 0)
			return argv[i] + 4;
	return NULL;
}

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* "CALL h=<handle> t0=<ns> t1=<ns>": when a call ran on which handle, so
   a test can check that no handle was in two calls at once. */
static void log_span(const char *path, pam_handle_t *pamh, const char *what,
		     long long t0)
{
	char line[160];
	int fd, n;

	n = snprintf(line, sizeof(line), "SPAN op=%s pid=%ld tid=%ld h=%p "
		     "t0=%lld t1=%lld\n", what, (long)getpid(), (long)gettid(),
		     (void *)pamh, t0, mono_ns());
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (n > 0 && write(fd, line, (size_t)n) < 0) {
		/* a test reads the file; nothing to do here */
	}
	close(fd);
}

static void trace(pam_handle_t *pamh, int argc, const char **argv,
		  const char *what)
{
	const void *have = NULL;

	for (int i = 0; argv && i < argc; i++) {
		if (!argv[i] || strncmp(argv[i], "log=", 4) != 0)
			continue;
		log_line(argv[i] + 4, what, -1);
		if (pam_get_data(pamh, "pktest_log", &have) != PAM_SUCCESS) {
			char *copy = strdup(argv[i] + 4);
			if (copy && pam_set_data(pamh, "pktest_log", copy,
						 log_cleanup) != PAM_SUCCESS)
				free(copy);
		}
		return;
	}
}

static int is_setting(enum step_kind k)
{
	return k == S_RC || k == S_FAIL_RC || k == S_PHASE ||
		k == S_PRELIM_RC || k == S_SETCRED || k == S_LOG;
}

static int put_env(pam_handle_t *pamh, const char *key, const char *val)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "%s=%s", key, val);

	if (n < 0 || (size_t)n >= sizeof(buf))
		return PAM_BUF_ERR;
	return pam_putenv(pamh, buf);
}

/* Records the call in the environment: GROUP counter, KEY=VAL, silent. */
static int record(pam_handle_t *pamh, int flags, const char *group,
		  const char *key, const char *val)
{
	char name[64], num[32];
	const char *old;
	long count = 0;
	int rc;

	snprintf(name, sizeof(name), "PKTEST_CALLS_%s", group);
	old = pam_getenv(pamh, name);
	if (old == NULL || parse_long(old, 0, 1000000000L, &count) != 0)
		count = 0;
	snprintf(num, sizeof(num), "%ld", count + 1);
	rc = put_env(pamh, name, num);
	if (rc == PAM_SUCCESS)
		rc = put_env(pamh, key, val);
	if (rc != PAM_SUCCESS)
		return rc;
	if (flags & PAM_SILENT)
		return put_env(pamh, "PKTEST_SILENT", "1");
	if (pam_getenv(pamh, "PKTEST_SILENT") != NULL)
		return pam_putenv(pamh, "PKTEST_SILENT");
	return PAM_SUCCESS;
}

#define PASS_SETCRED 8

/*
 * Parses all steps, then runs them. PASS is 0 for most calls, PASS_SETCRED
 * for setcred, PH_PRELIM or PH_UPDATE for chauthtok.
 */
static int run(pam_handle_t *pamh, int flags, int argc, const char **argv,
	       int pass)
{
	struct batch b;
	struct step *steps = NULL;
	int i, rc = PAM_SUCCESS, ok_rc = PAM_SUCCESS, fail_rc = PAM_AUTH_ERR;
	int phase = PH_UPDATE, prelim_rc = -1, setcred_run = 1;

	memset(&b, 0, sizeof(b));
	b.flags = flags;
	if (argc < 0 || (argc > 0 && argv == NULL))
		return PAM_SERVICE_ERR;
	steps = calloc((size_t)argc + 1, sizeof(*steps));
	if (steps == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < argc; i++) {
		if (argv[i] == NULL || parse_step(argv[i], &steps[i]) != 0) {
			/* log only the key: the value may hold an expected secret */
			pam_syslog(pamh, LOG_ERR, "pktest: bad argument #%d: %.*s",
				   i + 1, argv[i] != NULL ?
				   (int)strcspn(argv[i], "=") : 6,
				   argv[i] != NULL ? argv[i] : "(null)");
			rc = PAM_SERVICE_ERR;
			goto out;
		}
		switch (steps[i].kind) {
		case S_RC: ok_rc = (int)steps[i].num; break;
		case S_FAIL_RC: fail_rc = (int)steps[i].num; break;
		case S_PHASE: phase = (int)steps[i].num; break;
		case S_PRELIM_RC: prelim_rc = (int)steps[i].num; break;
		case S_SETCRED: setcred_run = (int)steps[i].num; break;
		default: break;
		}
	}
	if (pass == PASS_SETCRED && !setcred_run) {
		rc = PAM_SUCCESS;
		goto out;
	}
	if ((pass == PH_PRELIM || pass == PH_UPDATE) && (phase & pass) == 0) {
		rc = (pass == PH_PRELIM && prelim_rc >= 0) ? prelim_rc : PAM_SUCCESS;
		goto out;
	}
	for (i = 0; i < argc; i++) {
		const struct step *st = &steps[i];

		if (is_setting(st->kind))
			continue;
		if (st->kind == S_PROMPT_OFF)
			rc = batch_add(&b, PAM_PROMPT_ECHO_OFF, st->val);
		else if (st->kind == S_PROMPT_ON)
			rc = batch_add(&b, PAM_PROMPT_ECHO_ON, st->val);
		else if (st->kind == S_INFO)
			rc = batch_add(&b, PAM_TEXT_INFO, st->val);
		else if (st->kind == S_ERROR)
			rc = batch_add(&b, PAM_ERROR_MSG, st->val);
		else
			rc = batch_flush(pamh, &b, fail_rc);
		if (rc == PAM_SUCCESS && !is_message(st->kind) && st->kind != S_FLUSH)
			rc = run_step(pamh, st, &b, fail_rc);
		if (rc != PAM_SUCCESS)
			goto out;
	}
	rc = batch_flush(pamh, &b, fail_rc);
	if (rc == PAM_SUCCESS && pass == PH_PRELIM && prelim_rc >= 0)
		rc = prelim_rc;
	else if (rc == PAM_SUCCESS)
		rc = ok_rc;
out:
	batch_clear(&b);
	wipe_free(b.last_answer);
	free(steps);
	return rc;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags,
				   int argc, const char **argv)
{
	int rc = record(pamh, flags, "AUTH", "PKTEST_AUTH", "1");
	long long t0 = mono_ns();
	const char *span = log_path(argc, argv);

	trace(pamh, argc, argv, "AUTH");
	rc = rc != PAM_SUCCESS ? rc : run(pamh, flags, argc, argv, 0);
	if (span)
		log_span(span, pamh, "AUTH", t0);
	return rc;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags,
			      int argc, const char **argv)
{
	const char *what = "establish";
	int rc;

	if (flags & PAM_DELETE_CRED)
		what = "delete";
	else if (flags & PAM_REINITIALIZE_CRED)
		what = "reinit";
	else if (flags & PAM_REFRESH_CRED)
		what = "refresh";
	rc = record(pamh, flags, "SETCRED", "PKTEST_SETCRED", what);
	trace(pamh, argc, argv, "SETCRED");
	return rc != PAM_SUCCESS ? rc : run(pamh, flags, argc, argv, PASS_SETCRED);
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags,
				int argc, const char **argv)
{
	int rc = record(pamh, flags, "ACCT", "PKTEST_ACCT", "1");
	long long t0 = mono_ns();
	const char *span = log_path(argc, argv);

	trace(pamh, argc, argv, "ACCT");
	rc = rc != PAM_SUCCESS ? rc : run(pamh, flags, argc, argv, 0);
	if (span)
		log_span(span, pamh, "ACCT", t0);
	return rc;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags,
				   int argc, const char **argv)
{
	int rc = record(pamh, flags, "OPEN_SESSION", "PKTEST_SESSION", "open");

	trace(pamh, argc, argv, "OPEN_SESSION");
	return rc != PAM_SUCCESS ? rc : run(pamh, flags, argc, argv, 0);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags,
				    int argc, const char **argv)
{
	int rc = record(pamh, flags, "CLOSE_SESSION", "PKTEST_SESSION", "closed");

	trace(pamh, argc, argv, "CLOSE_SESSION");
	return rc != PAM_SUCCESS ? rc : run(pamh, flags, argc, argv, 0);
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags,
				int argc, const char **argv)
{
	int pass = (flags & PAM_PRELIM_CHECK) ? PH_PRELIM : PH_UPDATE;
	int rc = record(pamh, flags, "CHAUTHTOK", "PKTEST_CHAUTHTOK",
			pass == PH_PRELIM ? "prelim" : "update");

	trace(pamh, argc, argv, "CHAUTHTOK");
	return rc != PAM_SUCCESS ? rc : run(pamh, flags, argc, argv, pass);
}
