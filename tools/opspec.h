/* opspec.h - operation words of the pamkit CLI, pamkit's and pamtester's. */
#ifndef PAMKIT_TOOLS_OPSPEC_H
#define PAMKIT_TOOLS_OPSPEC_H

#include <stddef.h>

#include <pamkit/pamkit.h>

enum cli_op_kind { OPK_PAM, OPK_ENV };

struct cli_op {
	enum cli_op_kind kind;
	enum pk_op op;
	int flags;		/* from "(FLAGS)" or "setcred=KIND" */
	char *name;		/* the operation's name alone, malloc'd */
	const char *spec;	/* as the user wrote it */
	char *flag_expr;	/* text between the parentheses, or NULL */
};

/*
 * Parse one operation: pamkit's words (authenticate, acct_mgmt,
 * open_session, close_session, chauthtok, get_user, env,
 * setcred=establish|delete|reinit|refresh) and pamtester's form
 * NAME or NAME(FLAGS), NAME case-insensitive.  Only the shape is checked
 * here: 0, or -EINVAL for a malformed spec ("authenticate(").  An unknown
 * name leaves op->op 0 (pamtester reports it only when it gets there).
 */
int opspec_parse(const char *spec, struct cli_op *op);
void opspec_free(struct cli_op *op);

/*
 * pamtester's flag expression: constants (PAM_SILENT, PAM_DISALLOW_NULL_AUTHTOK,
 * PAM_ESTABLISH_CRED, PAM_DELETE_CRED, PAM_REINITIALIZE_CRED,
 * PAM_REFRESH_CRED, PAM_CHANGE_EXPIRED_AUTHTOK, case-insensitive) and
 * decimal numbers joined by | & ^, each optionally prefixed by ~, evaluated
 * left to right.  Returns 0 and *flags, or -EINVAL with *err a malloc'd
 * message in pamtester's words ("undefined constant \"X\"").
 */
int opspec_flags(const char *expr, int *flags, char **err);

#endif
