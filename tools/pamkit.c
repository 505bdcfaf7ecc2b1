/*
 * pamkit.c - a pamtester-like command line front on libpamkit.
 *
 * Runs the named PAM operations in order on one stepwise transaction, shows
 * prompts (echo off for secrets on a terminal), reads answers line by line,
 * prints info/error messages and stops at the first failure.
 * Exit status: 0 every op succeeded, 1 an op (or PAM itself) failed,
 * 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pamkit/pamkit.h>

#include "input.h"
#include "json_out.h"
#include "term.h"

#define EXIT_OP_FAILED 1
#define EXIT_USAGE 2
#define MAX_TIMEOUT_S 86400.0

enum cli_op_kind { OPK_PAM, OPK_ENV };

struct cli_op {
	enum cli_op_kind kind;
	enum pk_op op;
	int flags;		/* setcred kind */
	const char *name;	/* as the user wrote it */
};

struct cli {
	const char *confdir;
	const char *service;
	const char *user;
	const char *rhost;
	const char *ruser;
	const char *tty;
	char **env;		/* argv pointers "K=V" */
	size_t n_env;
	unsigned int timeout_ms;
	bool json;
	int silent;
	bool disallow_null;
	bool change_expired;
	struct cli_op *ops;
	size_t n_ops;
	bool stdin_tty;
	pk_txn *txn;
	struct json_report *report;
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: pamkit [OPTION]... -s SERVICE OP...\n"
"Run PAM operations on SERVICE through libpamkit, like pamtester.\n"
"\n"
"  -s, --service=SERVICE   PAM service name (required)\n"
"  -u, --user=USER         user name (default: PAM asks)\n"
"      --confdir=DIR       read the service from DIR instead of /etc/pam.d\n"
"      --rhost=HOST        set PAM_RHOST\n"
"      --ruser=USER        set PAM_RUSER\n"
"      --tty=TTY           set PAM_TTY\n"
"      --env=NAME=VALUE    put NAME=VALUE in the PAM environment (repeatable)\n"
"      --timeout=SECONDS   fail a prompt left unanswered this long\n"
"      --json              print one JSON object on stdout\n"
"      --silent            pass PAM_SILENT\n"
"      --disallow-null     PAM_DISALLOW_NULL_AUTHTOK for authenticate/acct_mgmt\n"
"      --change-expired    PAM_CHANGE_EXPIRED_AUTHTOK for chauthtok\n"
"  -h, --help              show this help\n"
"      --version           show the version\n"
"\n"
"OP: authenticate acct_mgmt open_session close_session chauthtok get_user\n"
"    setcred=establish|delete|reinit|refresh  env\n"
"\n"
"Answers are read with echo off from the terminal, or line by line from\n"
"stdin when it is not a terminal (at most %d bytes a line).\n"
"Exit status: 0 all ops succeeded, 1 an op failed, 2 usage error.\n",
		INPUT_MAX_LINE);
}

static int usage_error(const char *fmt, const char *arg)
{
	fputs("pamkit: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'pamkit --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

static int parse_op(const char *s, struct cli_op *op)
{
	static const struct { const char *name; enum pk_op op; } plain[] = {
		{ "authenticate", PK_OP_AUTHENTICATE },
		{ "acct_mgmt", PK_OP_ACCT_MGMT },
		{ "open_session", PK_OP_OPEN_SESSION },
		{ "close_session", PK_OP_CLOSE_SESSION },
		{ "chauthtok", PK_OP_CHAUTHTOK },
		{ "get_user", PK_OP_GET_USER },
	};
	static const struct { const char *name; int flag; } cred[] = {
		{ "establish", PAM_ESTABLISH_CRED },
		{ "delete", PAM_DELETE_CRED },
		{ "reinit", PAM_REINITIALIZE_CRED },
		{ "refresh", PAM_REFRESH_CRED },
	};
	size_t i;

	memset(op, 0, sizeof(*op));
	op->name = s;
	op->kind = OPK_PAM;
	if (strcmp(s, "env") == 0) {
		op->kind = OPK_ENV;
		return 0;
	}
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		if (strcmp(s, plain[i].name) == 0) {
			op->op = plain[i].op;
			return 0;
		}
	}
	if (strncmp(s, "setcred=", 8) == 0) {
		for (i = 0; i < sizeof(cred) / sizeof(cred[0]); i++) {
			if (strcmp(s + 8, cred[i].name) == 0) {
				op->op = PK_OP_SETCRED;
				op->flags = cred[i].flag;
				return 0;
			}
		}
	}
	return -EINVAL;
}

static int parse_timeout(const char *s, unsigned int *ms)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0.0) || v > MAX_TIMEOUT_S)
		return -EINVAL;
	*ms = (unsigned int)(v * 1000.0 + 0.5);
	if (*ms == 0)
		*ms = 1;
	return 0;
}

/* Returns -1 to continue, or an exit status. */
static int parse_args(struct cli *c, int argc, char **argv)
{
	enum { O_CONFDIR = 256, O_RHOST, O_RUSER, O_TTY, O_ENV, O_TIMEOUT,
	       O_JSON, O_SILENT, O_DISALLOW_NULL, O_CHANGE_EXPIRED,
	       O_VERSION };
	static const struct option longopts[] = {
		{ "confdir", required_argument, NULL, O_CONFDIR },
		{ "service", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "rhost", required_argument, NULL, O_RHOST },
		{ "ruser", required_argument, NULL, O_RUSER },
		{ "tty", required_argument, NULL, O_TTY },
		{ "env", required_argument, NULL, O_ENV },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "json", no_argument, NULL, O_JSON },
		{ "silent", no_argument, NULL, O_SILENT },
		{ "disallow-null", no_argument, NULL, O_DISALLOW_NULL },
		{ "change-expired", no_argument, NULL, O_CHANGE_EXPIRED },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int ch, i;

	c->env = calloc((size_t)argc, sizeof(*c->env));
	if (!c->env) {
		perror("pamkit");
		return EXIT_OP_FAILED;
	}
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+s:u:h", longopts, NULL)) != -1) {
		switch (ch) {
		case O_CONFDIR:
			c->confdir = optarg;
			break;
		case 's':
			c->service = optarg;
			break;
		case 'u':
			c->user = optarg;
			break;
		case O_RHOST:
			c->rhost = optarg;
			break;
		case O_RUSER:
			c->ruser = optarg;
			break;
		case O_TTY:
			c->tty = optarg;
			break;
		case O_ENV:
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return usage_error("--env needs NAME=VALUE, not '%s'",
						   optarg);
			c->env[c->n_env++] = optarg;
			break;
		case O_TIMEOUT:
			if (parse_timeout(optarg, &c->timeout_ms) < 0)
				return usage_error("--timeout needs seconds > 0 "
						   "and <= 86400, not '%s'", optarg);
			break;
		case O_JSON:
			c->json = true;
			break;
		case O_SILENT:
			c->silent = PAM_SILENT;
			break;
		case O_DISALLOW_NULL:
			c->disallow_null = true;
			break;
		case O_CHANGE_EXPIRED:
			c->change_expired = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case O_VERSION:
			printf("pamkit %s\n", PAMKIT_VERSION);
			return EXIT_SUCCESS;
		default:
			if (optopt && optopt < 256)
				return usage_error("bad option or missing argument: -%s",
						   (char[]){ (char)optopt, '\0' });
			return usage_error("bad option or missing argument: %s",
					   argv[optind - 1]);
		}
	}
	if (!c->service || !*c->service)
		return usage_error("%s", "a service is required (-s SERVICE)");
	if (optind >= argc)
		return usage_error("%s", "no operation given");
	c->n_ops = (size_t)(argc - optind);
	c->ops = calloc(c->n_ops, sizeof(*c->ops));
	if (!c->ops) {
		perror("pamkit");
		return EXIT_OP_FAILED;
	}
	for (i = optind; i < argc; i++)
		if (parse_op(argv[i], &c->ops[i - optind]) < 0)
			return usage_error("unknown operation '%s'", argv[i]);
	return -1;
}

static int op_flags(const struct cli *c, const struct cli_op *op)
{
	int flags = c->silent;

	switch (op->op) {
	case PK_OP_AUTHENTICATE:
	case PK_OP_ACCT_MGMT:
		if (c->disallow_null)
			flags |= PAM_DISALLOW_NULL_AUTHTOK;
		break;
	case PK_OP_CHAUTHTOK:
		if (c->change_expired)
			flags |= PAM_CHANGE_EXPIRED_AUTHTOK;
		break;
	case PK_OP_SETCRED:
		flags |= op->flags;
		break;
	case PK_OP_GET_USER:
		flags = 0;
		break;
	default:
		break;
	}
	return flags;
}

/* Print (or record) the transcript entries not shown yet. */
static int show_transcript(struct cli *c, const struct cli_op *op,
			   size_t *shown)
{
	size_t n = 0, i;
	const struct pk_message *t = pk_transcript(c->txn, &n);

	for (i = *shown; t && i < n; i++) {
		FILE *out = (t[i].style == PAM_TEXT_INFO && !c->json)
			? stdout : stderr;

		/* With --json everything goes to stderr: stdout stays JSON. */
		if (c->report && json_report_message(c->report, op->name,
						     &t[i]) < 0)
			return -ENOMEM;
		fprintf(out, "%s\n", t[i].msg);
		fflush(out);
	}
	*shown = n > *shown ? n : *shown;
	return 0;
}

/*
 * Show the prompts of the pending batch and read one answer per prompt.
 * Returns 0 (replies filled), 1 (the worker moved on: poll pk_fd again) or
 * a negative error; on error the conversation has been cancelled.
 */
static int answer_batch(struct cli *c, const struct pk_message *m, size_t n,
			char **replies)
{
	size_t i;

	for (i = 0; i < n; i++) {
		enum input_status st;
		bool hide;

		if (!pk_message_is_prompt(&m[i]))
			continue;
		hide = m[i].style == PAM_PROMPT_ECHO_OFF && c->stdin_tty;
		/* Echo goes off before the prompt shows: nothing typed leaks. */
		if (hide && term_echo_off(STDIN_FILENO) < 0) {
			fprintf(stderr, "pamkit: cannot turn terminal echo off: %s\n",
				strerror(errno));
			return -EIO;
		}
		fputs(m[i].msg, stderr);
		fflush(stderr);
		st = input_read_line(STDIN_FILENO, pk_fd(c->txn), &replies[i]);
		if (hide)
			term_restore();
		switch (st) {
		case INPUT_LINE:
			if (!c->stdin_tty)
				fputc('\n', stderr);
			break;
		case INPUT_WATCH:
			fputc('\n', stderr);
			return 1;
		case INPUT_EOF:
			fprintf(stderr, "\npamkit: end of input while a prompt "
				"was waiting for an answer\n");
			return -EPIPE;
		case INPUT_TOO_LONG:
			fprintf(stderr, "\npamkit: answer line longer than %d "
				"bytes rejected\n", INPUT_MAX_LINE);
			return -E2BIG;
		case INPUT_ERROR:
		default:
			fprintf(stderr, "\npamkit: reading the answer failed: %s\n",
				strerror(errno));
			return -EIO;
		}
	}
	return 0;
}

static void free_replies(char **replies, size_t n)
{
	size_t i;

	for (i = 0; replies && i < n; i++) {
		pk_free_secret(replies[i]);
		replies[i] = NULL;
	}
	free(replies);
}

/* Wait for pk_fd and fetch the next result. */
static int next_result(pk_txn *txn)
{
	for (;;) {
		struct pollfd pfd = { .fd = pk_fd(txn), .events = POLLIN };
		int rc = pk_result(txn);

		if (rc != -EAGAIN)
			return rc;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
	}
}

/* Run one PAM operation stepwise; returns its final code. */
static int run_pam_op(struct cli *c, const struct cli_op *op)
{
	size_t shown = 0;
	int rc;

	rc = pk_start(c->txn, op->op, op_flags(c, op));
	if (rc < 0)
		return rc;
	for (;;) {
		const struct pk_message *m;
		char **replies;
		size_t n = 0;
		int arc;

		rc = next_result(c->txn);
		if (show_transcript(c, op, &shown) < 0)
			fprintf(stderr, "pamkit: out of memory\n");
		if (rc != PAM_CONV_AGAIN)
			break;
		m = pk_messages(c->txn, &n);
		if (!m || n == 0) {
			if (pk_reply(c->txn, NULL, 0) < 0)
				pk_cancel(c->txn);
			continue;
		}
		replies = calloc(n, sizeof(*replies));
		if (!replies) {
			fprintf(stderr, "pamkit: out of memory\n");
			pk_cancel(c->txn);
			continue;
		}
		arc = answer_batch(c, m, n, replies);
		if (arc == 0) {
			if (pk_reply(c->txn, (const char *const *)replies, n) < 0)
				pk_cancel(c->txn);
		} else if (arc < 0) {
			pk_cancel(c->txn);
		}
		/* Answers are with PAM now (or dropped): wipe them at once. */
		free_replies(replies, n);
	}
	if (rc >= 0 && pk_txn_interrupted(c->txn) == -ETIMEDOUT)
		fprintf(stderr, "pamkit: %s: timed out waiting for an answer "
			"(--timeout %.3g s)\n", op->name,
			c->timeout_ms / 1000.0);
	return rc;
}

static int run_env_op(struct cli *c)
{
	char **list = NULL;
	size_t i;
	int rc = pk_getenvlist(c->txn, &list);

	if (rc != PAM_SUCCESS)
		return rc;
	if (c->report) {
		if (json_report_env(c->report, list) < 0)
			rc = -ENOMEM;
	} else {
		for (i = 0; list && list[i]; i++)
			printf("%s\n", list[i]);
		fflush(stdout);
	}
	pk_strv_free(list);
	return rc;
}

static int start_txn(struct cli *c)
{
	struct pk_options o;
	size_t i;
	int rc;

	memset(&o, 0, sizeof(o));
	o.service = c->service;
	o.user = c->user;
	o.confdir = c->confdir;
	o.rhost = c->rhost;
	o.ruser = c->ruser;
	o.tty = c->tty;
	o.mode = PK_MODE_STEPWISE;
	o.step_timeout_ms = c->timeout_ms;
	rc = pk_txn_create(&o, &c->txn);
	if (rc != PAM_SUCCESS) {
		fprintf(stderr, "pamkit: cannot start PAM for service '%s': "
			"%s (%s)\n", c->service, pk_code_name(rc),
			pk_strerror(rc));
		return rc;
	}
	for (i = 0; i < c->n_env; i++) {
		char *eq = strchr(c->env[i], '=');
		char *name = strndup(c->env[i], (size_t)(eq - c->env[i]));

		if (!name)
			return -ENOMEM;
		rc = pk_setenv(c->txn, name, eq + 1);
		free(name);
		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "pamkit: --env %s failed: %s (%s)\n",
				c->env[i], pk_code_name(rc), pk_strerror(rc));
			return rc;
		}
	}
	return PAM_SUCCESS;
}

static void report_user(struct cli *c)
{
	char *user = NULL;

	if (pk_get_item(c->txn, PAM_USER, &user) == PAM_SUCCESS && user) {
		if (c->report)
			json_report_user(c->report, user);
		else
			printf("pamkit: user: %s\n", user);
	}
	free(user);
}

static int run(struct cli *c)
{
	bool ok = false;
	size_t i;
	int rc;

	if (c->json) {
		c->report = json_report_new(c->service, c->user);
		if (!c->report) {
			fprintf(stderr, "pamkit: out of memory\n");
			return EXIT_OP_FAILED;
		}
	}
	rc = start_txn(c);
	if (rc != PAM_SUCCESS)
		goto out;
	for (i = 0; i < c->n_ops; i++) {
		const struct cli_op *op = &c->ops[i];
		bool timed_out;

		rc = op->kind == OPK_ENV ? run_env_op(c) : run_pam_op(c, op);
		timed_out = op->kind == OPK_PAM &&
			    pk_txn_interrupted(c->txn) == -ETIMEDOUT;
		if (c->report &&
		    json_report_op(c->report, op->name, rc, timed_out) < 0) {
			fprintf(stderr, "pamkit: out of memory\n");
			goto out;
		}
		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "pamkit: %s failed: %s (%s)\n", op->name,
				pk_code_name(rc), pk_strerror(rc));
			goto out;
		}
		if (!c->json)
			printf("pamkit: %s: %s\n", op->name, pk_code_name(rc));
		if (op->kind == OPK_PAM && op->op == PK_OP_GET_USER)
			report_user(c);
		fflush(stdout);
	}
	ok = true;
out:
	if (c->txn && c->report)
		report_user(c);
	if (c->report && json_report_print(c->report, ok, stdout) < 0) {
		fprintf(stderr, "pamkit: cannot write the JSON report\n");
		ok = false;
	}
	return ok ? EXIT_SUCCESS : EXIT_OP_FAILED;
}

int main(int argc, char **argv)
{
	struct cli c;
	int status;

	memset(&c, 0, sizeof(c));
	status = parse_args(&c, argc, argv);
	if (status >= 0)
		goto out;
	c.stdin_tty = isatty(STDIN_FILENO) == 1;
	if (term_install_signals() < 0) {
		perror("pamkit: sigaction");
		status = EXIT_OP_FAILED;
		goto out;
	}
	status = run(&c);
out:
	term_restore();
	input_wipe();
	pk_txn_end(c.txn);
	pk_shutdown(1000);
	json_report_free(c.report);
	free(c.ops);
	free(c.env);
	return status;
}
