/*
 * opspec.c - operation words of the pamkit CLI: pamkit's own and
 * pamtester's NAME(FLAGS) form with its flag expressions.
 */
#include "opspec.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct { const char *name; enum pk_op op; } op_words[] = {
	{ "authenticate", PK_OP_AUTHENTICATE },
	{ "acct_mgmt", PK_OP_ACCT_MGMT },
	{ "open_session", PK_OP_OPEN_SESSION },
	{ "close_session", PK_OP_CLOSE_SESSION },
	{ "chauthtok", PK_OP_CHAUTHTOK },
	{ "setcred", PK_OP_SETCRED },
	{ "get_user", PK_OP_GET_USER },
};

static const struct { const char *name; int flag; } cred_words[] = {
	{ "establish", PAM_ESTABLISH_CRED },
	{ "delete", PAM_DELETE_CRED },
	{ "reinit", PAM_REINITIALIZE_CRED },
	{ "refresh", PAM_REFRESH_CRED },
};

/* pamtester's constants, plus PAM_DELETE_CRED (pamtester forgot it). */
static const struct { const char *name; int value; } flag_words[] = {
	{ "PAM_SILENT", PAM_SILENT },
	{ "PAM_DISALLOW_NULL_AUTHTOK", PAM_DISALLOW_NULL_AUTHTOK },
	{ "PAM_ESTABLISH_CRED", PAM_ESTABLISH_CRED },
	{ "PAM_DELETE_CRED", PAM_DELETE_CRED },
	{ "PAM_REINITIALIZE_CRED", PAM_REINITIALIZE_CRED },
	{ "PAM_REFRESH_CRED", PAM_REFRESH_CRED },
	{ "PAM_CHANGE_EXPIRED_AUTHTOK", PAM_CHANGE_EXPIRED_AUTHTOK },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char *trimmed(const char *s, size_t len)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return strndup(s, len);
}

int opspec_parse(const char *spec, struct cli_op *op)
{
	const char *paren = strchr(spec, '(');
	size_t i;

	memset(op, 0, sizeof(*op));
	op->spec = spec;
	op->kind = OPK_PAM;
	if (paren) {
		size_t len = strlen(spec);
		if (paren == spec || spec[len - 1] != ')')
			return -EINVAL;
		op->name = trimmed(spec, (size_t)(paren - spec));
		op->flag_expr = trimmed(paren + 1, len - 2 - (size_t)(paren - spec));
		if (!op->name || !op->flag_expr)
			return -ENOMEM;
	} else if (!(op->name = strdup(spec))) {
		return -ENOMEM;
	}
	if (!paren && strcmp(op->name, "env") == 0) {
		op->kind = OPK_ENV;
		return 0;
	}
	if (!paren && strncmp(op->name, "setcred=", 8) == 0) {
		for (i = 0; i < N(cred_words); i++)
			if (strcmp(op->name + 8, cred_words[i].name) == 0) {
				op->name[7] = '\0';
				op->op = PK_OP_SETCRED;
				op->flags = cred_words[i].flag;
			}
		return 0;	/* unknown kind: op stays 0 */
	}
	for (i = 0; i < N(op_words); i++)
		if (strcasecmp(op->name, op_words[i].name) == 0)
			op->op = op_words[i].op;
	return 0;
}

void opspec_free(struct cli_op *op)
{
	free(op->name);
	free(op->flag_expr);
	op->name = op->flag_expr = NULL;
}

/* A tiny precedence parser: or := xor ('|' xor)*, xor := and ('^' and)*,
   and := unary ('&' unary)*, unary := '~'? atom, as C (and pamtester). */
struct lexer {
	const char *p;
	char *err;
};

static void skip_blank(struct lexer *lx)
{
	while (*lx->p == ' ' || *lx->p == '\t')
		lx->p++;
}

static int fail(struct lexer *lx, const char *what, const char *tok,
		size_t len)
{
	if (!lx->err && asprintf(&lx->err, "%s \"%.*s\"", what, (int)len,
				 tok) < 0)
		lx->err = NULL;
	return -EINVAL;
}

static int parse_or(struct lexer *lx, int *v);

static int parse_unary(struct lexer *lx, int *v)
{
	bool not = false;
	const char *tok;
	size_t len;

	skip_blank(lx);
	if (*lx->p == '~') {
		not = true;
		lx->p++;
		skip_blank(lx);
	}
	tok = lx->p;
	while (isalnum((unsigned char)*lx->p) || *lx->p == '_')
		lx->p++;
	len = (size_t)(lx->p - tok);
	if (len == 0)
		return fail(lx, "unexpected token", tok, *tok ? 1 : 0);
	if (isdigit((unsigned char)*tok)) {
		char *end;
		long n = strtol(tok, &end, 10);
		if (end != lx->p || n > 0x7fffffff)
			return fail(lx, "undefined constant", tok, len);
		*v = (int)n;
	} else {
		size_t i;
		for (i = 0; i < N(flag_words); i++)
			if (strlen(flag_words[i].name) == len &&
			    strncasecmp(tok, flag_words[i].name, len) == 0)
				break;
		if (i == N(flag_words))
			return fail(lx, "undefined constant", tok, len);
		*v = flag_words[i].value;
	}
	if (not)
		*v = ~*v;
	return 0;
}

static int parse_binary(struct lexer *lx, int *v, char opch,
			int (*next)(struct lexer *, int *))
{
	int rc = next(lx, v), rhs;

	while (rc == 0) {
		skip_blank(lx);
		if (*lx->p != opch)
			break;
		lx->p++;
		if ((rc = next(lx, &rhs)))
			break;
		if (opch == '&')
			*v &= rhs;
		else if (opch == '^')
			*v ^= rhs;
		else
			*v |= rhs;
	}
	return rc;
}

static int parse_and(struct lexer *lx, int *v)
{
	return parse_binary(lx, v, '&', parse_unary);
}

static int parse_xor(struct lexer *lx, int *v)
{
	return parse_binary(lx, v, '^', parse_and);
}

static int parse_or(struct lexer *lx, int *v)
{
	return parse_binary(lx, v, '|', parse_xor);
}

int opspec_flags(const char *expr, int *flags, char **err)
{
	struct lexer lx = { .p = expr, .err = NULL };
	int v = 0, rc;

	*flags = 0;
	*err = NULL;
	skip_blank(&lx);
	if (!*lx.p)
		return 0;		/* "op()" is op with no flags */
	rc = parse_or(&lx, &v);
	skip_blank(&lx);
	if (rc == 0 && *lx.p)
		rc = fail(&lx, "unexpected token", lx.p, 1);
	if (rc) {
		*err = lx.err;
		return rc;
	}
	*flags = v;
	return 0;
}
