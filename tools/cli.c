/*
 * cli.c - the pamkit command line tool: a pamtester-like front on
 * libpamkit, and a drop-in for pamtester's own invocation.
 *
 *   pamkit [OPTION]... -s SERVICE [-u USER] OP...        (pamkit's form)
 *   pamkit [-v] [-I item=value]... [-E VAR=value]... SERVICE USER OP...
 *                                                         (pamtester's form)
 *
 * Every operation is a blocking call on the main thread, as in pamtester
 * and login: pam_loginuid (Debian's login and sshd stacks) only works
 * there.  Prompts come from the terminal with echo off, or line by line
 * from stdin; --timeout bounds each prompt.
 *
 * Exit status: 0 every op succeeded, 1 an op (or PAM itself) failed; usage
 * errors 2 in pamkit's form, 255 in pamtester's (as pamtester exits -1).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <pamkit/pamkit.h>

#include "input.h"
#include "json_out.h"
#include "opspec.h"
#include "term.h"

#define EXIT_OP_FAILED 1
#define EXIT_USAGE 2
#define EXIT_PAMTESTER_USAGE 255
#define MAX_TIMEOUT_S 86400.0
/* run_op's failure that has been explained on stderr already. */
#define RC_REPORTED (-ENOEXEC)

struct setting {
	const char *arg;	/* "name=value" or "name" as given */
};

struct cli {
	const char *prog;	/* basename of argv[0], pamtester's prefix */
	bool pamtester;		/* SERVICE USER OP... form */
	int verbose;
	const char *confdir;
	const char *service;
	const char *user;
	const char *rhost;
	const char *ruser;
	const char *tty;
	struct setting *items;	/* -I */
	size_t n_items;
	struct setting *envs;	/* -E / --env */
	size_t n_envs;
	int timeout_ms;		/* -1: none */
	bool json;
	int silent;
	bool disallow_null;
	bool change_expired;
	struct cli_op *ops;
	size_t n_ops;
	bool stdin_tty;
	pk_txn *txn;
	struct json_report *report;
	const struct cli_op *cur;	/* the op the conversation serves */
	bool timed_out;
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: pamkit [OPTION]... -s SERVICE OP...\n"
"       pamkit [-v] [-I ITEM=VALUE]... [-E VAR=VALUE]... SERVICE USER OP...\n"
"Run PAM operations on SERVICE through libpamkit, like pamtester.\n"
"\n"
"  -s, --service=SERVICE   PAM service name\n"
"  -u, --user=USER         user name (default: PAM asks)\n"
"      --confdir=DIR       read the service from DIR instead of /etc/pam.d\n"
"      --rhost=HOST        set PAM_RHOST\n"
"      --ruser=USER        set PAM_RUSER\n"
"      --tty=TTY           set PAM_TTY\n"
"  -I, --item=ITEM=VALUE   set a PAM item (service user prompt tty ruser\n"
"                          rhost xdisplay authtok_type)\n"
"  -E, --env=NAME=VALUE    put NAME=VALUE in the PAM environment\n"
"      --timeout=SECONDS   fail a prompt left unanswered this long\n"
"      --json              print one JSON object on stdout\n"
"      --silent            pass PAM_SILENT\n"
"      --disallow-null     PAM_DISALLOW_NULL_AUTHTOK for authenticate/acct_mgmt\n"
"      --change-expired    PAM_CHANGE_EXPIRED_AUTHTOK for chauthtok\n"
"  -v, --verbose           say what is being done (pamtester's -v)\n"
"  -h, --help              show this help\n"
"      --version           show the version\n"
"\n"
"OP: authenticate acct_mgmt open_session close_session chauthtok get_user\n"
"    setcred (= establish) setcred=establish|delete|reinit|refresh  env\n"
"    or pamtester's NAME(FLAGS), e.g. 'authenticate(PAM_SILENT)'\n"
"\n"
"Answers are read with echo off from the terminal, or line by line from\n"
"stdin when it is not a terminal (at most %d bytes a line).\n"
"Exit status: 0 all ops succeeded, 1 an op failed, 2 usage error\n"
"(255 in pamtester's form).\n",
		INPUT_MAX_LINE);
}

static int usage_error(const struct cli *c, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", c->prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", c->prog);
	return EXIT_USAGE;
}

static int parse_timeout(const char *s, int *ms)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0.0) || v > MAX_TIMEOUT_S)
		return -EINVAL;
	*ms = (int)(v * 1000.0 + 0.5);
	if (*ms == 0)
		*ms = 1;
	return 0;
}

/* pamtester's checks on the positional words, its messages, exit -1. */
static int pamtester_positional(struct cli *c, int argc, char **argv)
{
	if (optind >= argc) {
		fprintf(stderr, "%s: please specify service name.\n", c->prog);
		return EXIT_PAMTESTER_USAGE;
	}
	c->service = argv[optind++];
	if (optind >= argc) {
		fprintf(stderr, "%s: please specify user name.\n", c->prog);
		return EXIT_PAMTESTER_USAGE;
	}
	c->user = argv[optind++];
	if (optind >= argc) {
		fprintf(stderr, "%s: specify one or more operations.\n", c->prog);
		return EXIT_PAMTESTER_USAGE;
	}
	return -1;
}

/* Returns -1 to continue, or an exit status. */
static int parse_args(struct cli *c, int argc, char **argv)
{
	enum { O_CONFDIR = 256, O_RHOST, O_RUSER, O_TTY, O_TIMEOUT,
	       O_JSON, O_SILENT, O_DISALLOW_NULL, O_CHANGE_EXPIRED,
	       O_VERSION };
	static const struct option longopts[] = {
		{ "confdir", required_argument, NULL, O_CONFDIR },
		{ "service", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "rhost", required_argument, NULL, O_RHOST },
		{ "ruser", required_argument, NULL, O_RUSER },
		{ "tty", required_argument, NULL, O_TTY },
		{ "item", required_argument, NULL, 'I' },
		{ "env", required_argument, NULL, 'E' },
		{ "verbose", no_argument, NULL, 'v' },
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

	c->items = calloc((size_t)argc, sizeof(*c->items));
	c->envs = calloc((size_t)argc, sizeof(*c->envs));
	if (!c->items || !c->envs) {
		perror(c->prog);
		return EXIT_OP_FAILED;
	}
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+s:u:I:E:vh", longopts,
				 NULL)) != -1) {
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
		case 'I':
			c->items[c->n_items++].arg = optarg;
			break;
		case 'E':
			if (optarg[0] == '=' || !optarg[0])
				return usage_error(c, "--env needs NAME=VALUE, "
						   "not '%s'", optarg);
			c->envs[c->n_envs++].arg = optarg;
			break;
		case 'v':
			c->verbose = 1;
			break;
		case O_TIMEOUT:
			if (parse_timeout(optarg, &c->timeout_ms) < 0)
				return usage_error(c, "--timeout needs seconds > 0 "
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
				return usage_error(c, "bad option or missing "
						   "argument: -%s",
						   (char[]){ (char)optopt, '\0' });
			return usage_error(c, "bad option or missing argument: %s",
					   argv[optind - 1]);
		}
	}
	if (!c->service) {
		if (optind >= argc)
			return usage_error(c, "%s", "a service is required "
					   "(-s SERVICE, or SERVICE USER OP...)");
		c->pamtester = true;
		int st = pamtester_positional(c, argc, argv);
		if (st >= 0)
			return st;
	} else if (!*c->service) {
		return usage_error(c, "%s", "a service is required (-s SERVICE)");
	} else if (optind >= argc) {
		return usage_error(c, "%s", "no operation given");
	}
	c->n_ops = (size_t)(argc - optind);
	c->ops = calloc(c->n_ops, sizeof(*c->ops));
	if (!c->ops) {
		perror(c->prog);
		return EXIT_OP_FAILED;
	}
	for (i = optind; i < argc; i++) {
		struct cli_op *op = &c->ops[i - optind];
		int rc = opspec_parse(argv[i], op);

		if (rc == -ENOMEM) {
			perror(c->prog);
			return EXIT_OP_FAILED;
		}
		if (rc < 0 && c->pamtester) {
			/* pamtester's words, without a newline, as it does. */
			fprintf(stderr, "%s: incorrect op_name spec \"%s\".",
				c->prog, argv[i]);
			return EXIT_PAMTESTER_USAGE;
		}
		if (rc < 0 || (!c->pamtester && op->kind == OPK_PAM &&
			       op->op == 0))
			return usage_error(c, "unknown operation '%s'", argv[i]);
	}
	return -1;
}

/* The flags of one op: its own "(FLAGS)" plus pamkit's switches.  -1 with
   *err set when the expression is bad. */
static int op_flags(const struct cli *c, const struct cli_op *op, char **err)
{
	int flags = c->silent | op->flags;

	if (op->flag_expr) {
		int f;
		if (opspec_flags(op->flag_expr, &f, err) < 0)
			return -1;
		flags |= f;
	}
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
		/* Plain setcred: libpam reads no credential flag as
		   PAM_ESTABLISH_CRED; say so instead of relying on it. */
		if (!(flags & ~PAM_SILENT))
			flags |= PAM_ESTABLISH_CRED;
		break;
	case PK_OP_GET_USER:
		flags = 0;
		break;
	default:
		break;
	}
	return flags;
}

/* Show one info/error message (and record it for --json). */
static void show_message(struct cli *c, const struct pk_message *m)
{
	/* With --json everything goes to stderr: stdout stays JSON. */
	FILE *out = (m->style == PAM_TEXT_INFO && !c->json) ? stdout : stderr;

	if (c->report && c->cur &&
	    json_report_message(c->report, c->cur->spec, m) < 0)
		fprintf(stderr, "%s: out of memory\n", c->prog);
	fprintf(out, "%s\n", m->msg);
	fflush(out);
}

static int read_answer(struct cli *c, const struct pk_message *m,
		       char **reply)
{
	bool hide = m->style == PAM_PROMPT_ECHO_OFF && c->stdin_tty;
	enum input_status st;

	/* Echo goes off before the prompt shows: nothing typed leaks. */
	if (hide && term_echo_off(STDIN_FILENO) < 0) {
		fprintf(stderr, "%s: cannot turn terminal echo off: %s\n",
			c->prog, strerror(errno));
		return -EIO;
	}
	fputs(m->msg, stderr);
	fflush(stderr);
	st = input_read_line(STDIN_FILENO, c->timeout_ms, reply);
	if (hide)
		term_restore();
	switch (st) {
	case INPUT_LINE:
		/* On a terminal the user's Enter ended the line; misc_conv
		   (pamtester) prints nothing more for piped input either. */
		if (hide || (!c->stdin_tty && !c->pamtester))
			fputc('\n', stderr);
		return 0;
	case INPUT_TIMEOUT:
		c->timed_out = true;
		fprintf(stderr, "\n%s: %s: timed out waiting for an answer "
			"(--timeout %.3g s)\n", c->prog,
			c->cur ? c->cur->spec : "conversation",
			c->timeout_ms / 1000.0);
		return -ETIMEDOUT;
	case INPUT_EOF:
		if (!c->pamtester)
			fprintf(stderr, "\n%s: end of input while a prompt "
				"was waiting for an answer\n", c->prog);
		return -EPIPE;
	case INPUT_TOO_LONG:
		fprintf(stderr, "\n%s: answer line longer than %d bytes "
			"rejected\n", c->prog, INPUT_MAX_LINE);
		return -E2BIG;
	case INPUT_ERROR:
	default:
		fprintf(stderr, "\n%s: reading the answer failed: %s\n",
			c->prog, strerror(errno));
		return -EIO;
	}
}

/* The blocking conversation: runs on the main thread inside PAM. */
static int cli_conv(pk_txn *txn, const struct pk_message *msgs, size_t n,
		    char **replies, void *data)
{
	struct cli *c = data;

	(void)txn;
	for (size_t i = 0; i < n; i++) {
		if (!pk_message_is_prompt(&msgs[i])) {
			show_message(c, &msgs[i]);
			continue;
		}
		if (read_answer(c, &msgs[i], &replies[i]) < 0)
			return -1;	/* the library wipes what was filled */
	}
	return 0;
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

/* pamtester's item names, then libpamkit's. */
static int item_type(const char *name)
{
	static const struct { const char *name; int type; } words[] = {
		{ "service", PAM_SERVICE }, { "user", PAM_USER },
		{ "prompt", PAM_USER_PROMPT }, { "tty", PAM_TTY },
		{ "ruser", PAM_RUSER }, { "rhost", PAM_RHOST },
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(name, words[i].name) == 0)
			return words[i].type;
	int t = pk_item_from_name(name);
	return (t == PAM_AUTHTOK || t == PAM_OLDAUTHTOK) ? -1 : t;
}

/* A failure message: pamtester's "prog: text", or pamkit's own. */
static void report_failure(const struct cli *c, const char *what, int rc)
{
	if (c->pamtester)
		fprintf(stderr, "%s: %s\n", c->prog, pk_strerror(rc));
	else
		fprintf(stderr, "%s: %s failed: %s (%s)\n", c->prog, what,
			pk_code_name(rc), pk_strerror(rc));
}

static int apply_settings(struct cli *c)
{
	size_t i;
	int rc;

	for (i = 0; i < c->n_items; i++) {
		char *name = strdup(c->items[i].arg);
		if (!name)
			return -ENOMEM;
		char *val = strchr(name, '=');
		if (val)
			*val++ = '\0';
		int type = item_type(name);
		if (type < 0) {
			fprintf(stderr, "%s: Unknown item type \"%s\"\n",
				c->prog, name);
			free(name);
			return PAM_BAD_ITEM;
		}
		rc = pk_set_item(c->txn, type, val);
		free(name);
		if (rc != PAM_SUCCESS) {
			report_failure(c, "-I", rc);
			return rc;
		}
	}
	for (i = 0; i < c->n_envs; i++) {
		const char *arg = c->envs[i].arg, *eq = strchr(arg, '=');
		char *name = strndup(arg, eq ? (size_t)(eq - arg) : strlen(arg));

		if (!name)
			return -ENOMEM;
		rc = eq ? pk_setenv(c->txn, name, eq + 1)
			: pk_unsetenv(c->txn, name);
		free(name);
		if (rc != PAM_SUCCESS) {
			report_failure(c, "--env", rc);
			return rc;
		}
	}
	return PAM_SUCCESS;
}

static int start_txn(struct cli *c)
{
	struct pk_options o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.service = c->service;
	o.user = c->user;
	o.confdir = c->confdir;
	o.rhost = c->rhost;
	o.ruser = c->ruser;
	o.tty = c->tty;
	o.mode = PK_MODE_DIRECT;
	o.conv = cli_conv;
	o.conv_data = c;
	if (c->verbose)
		fprintf(stderr, "%s: invoking pam_start(%s, %s, ...)\n",
			c->prog, c->service, c->user ? c->user : "");
	rc = pk_txn_create(&o, &c->txn);
	if (rc != PAM_SUCCESS) {
		if (c->pamtester)
			fprintf(stderr, "%s: Initialization failure\n", c->prog);
		else
			fprintf(stderr, "%s: cannot start PAM for service "
				"'%s': %s (%s)\n", c->prog, c->service,
				pk_code_name(rc), pk_strerror(rc));
		return rc;
	}
	return apply_settings(c);
}

static void report_user(struct cli *c)
{
	char *user = NULL;

	if (pk_get_item(c->txn, PAM_USER, &user) == PAM_SUCCESS && user) {
		if (c->report)
			json_report_user(c->report, user);
		else
			printf("%s: user: %s\n", c->prog, user);
	}
	free(user);
}

/* pamtester's words for a finished operation. */
static const char *pamtester_done(enum pk_op op)
{
	switch (op) {
	case PK_OP_AUTHENTICATE: return "successfully authenticated";
	case PK_OP_SETCRED: return "credential info has successfully been set.";
	case PK_OP_ACCT_MGMT: return "account management done.";
	case PK_OP_OPEN_SESSION: return "successfully opened a session";
	case PK_OP_CLOSE_SESSION: return "session has successfully been closed.";
	case PK_OP_CHAUTHTOK: return "authentication token altered successfully.";
	default: return NULL;
	}
}

/* One operation; PAM_SUCCESS or the code that stops the run. */
static int run_op(struct cli *c, const struct cli_op *op)
{
	char *err = NULL;
	int flags, rc;

	if (c->verbose)
		fprintf(stderr, "%s: performing operation - %s\n", c->prog,
			op->name);
	if (op->kind == OPK_ENV)
		return run_env_op(c);
	if (op->op == 0) {
		fprintf(stderr, "%s: Unsupported operation \"%s\"\n", c->prog,
			op->name);
		return RC_REPORTED;
	}
	if ((flags = op_flags(c, op, &err)) < 0) {
		fprintf(stderr, "%s: %s\n", c->prog, err ? err : "bad flags");
		free(err);
		return RC_REPORTED;
	}
	c->cur = op;
	c->timed_out = false;
	rc = pk_call(c->txn, op->op, flags);
	c->cur = NULL;
	if (rc == -EINVAL) {
		fprintf(stderr, "%s: %s: flags 0x%x are not valid for %s\n",
			c->prog, op->spec, (unsigned)flags, op->name);
		rc = RC_REPORTED;
	}
	return rc;
}

static int run(struct cli *c)
{
	bool ok = false;
	size_t i;
	int rc;

	if (c->json) {
		c->report = json_report_new(c->service, c->user);
		if (!c->report) {
			fprintf(stderr, "%s: out of memory\n", c->prog);
			return EXIT_OP_FAILED;
		}
	}
	rc = start_txn(c);
	if (rc != PAM_SUCCESS)
		goto out;
	for (i = 0; i < c->n_ops; i++) {
		const struct cli_op *op = &c->ops[i];

		rc = run_op(c, op);
		if (c->report &&
		    json_report_op(c->report, op->spec, rc, c->timed_out) < 0) {
			fprintf(stderr, "%s: out of memory\n", c->prog);
			goto out;
		}
		if (rc != PAM_SUCCESS) {
			if (rc != RC_REPORTED)
				report_failure(c, op->spec, rc);
			goto out;
		}
		if (c->json) {
			/* the report says it */
		} else if (c->pamtester && pamtester_done(op->op)) {
			printf("%s: %s\n", c->prog, pamtester_done(op->op));
		} else if (!c->pamtester) {
			printf("%s: %s: %s\n", c->prog, op->spec,
			       pk_code_name(rc));
		}
		if (op->kind == OPK_PAM && op->op == PK_OP_GET_USER)
			report_user(c);
		fflush(stdout);
	}
	ok = true;
out:
	if (c->txn && c->report)
		report_user(c);
	if (c->report && json_report_print(c->report, ok, stdout) < 0) {
		fprintf(stderr, "%s: cannot write the JSON report\n", c->prog);
		ok = false;
	}
	return ok ? EXIT_SUCCESS : EXIT_OP_FAILED;
}

int main(int argc, char **argv)
{
	struct cli c;
	int status;

	memset(&c, 0, sizeof(c));
	c.prog = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
	c.prog = c.prog ? c.prog + 1 : (argc > 0 && argv[0] ? argv[0] : "pamkit");
	c.timeout_ms = -1;
	status = parse_args(&c, argc, argv);
	if (status >= 0)
		goto out;
	c.stdin_tty = isatty(STDIN_FILENO) == 1;
	if (term_install_signals() < 0) {
		fprintf(stderr, "%s: sigaction: %s\n", c.prog, strerror(errno));
		status = EXIT_OP_FAILED;
		goto out;
	}
	status = run(&c);
out:
	term_restore();
	input_wipe();
	pk_txn_end(c.txn);
	json_report_free(c.report);
	for (size_t i = 0; c.ops && i < c.n_ops; i++)
		opspec_free(&c.ops[i]);
	free(c.ops);
	free(c.items);
	free(c.envs);
	return status;
}
