/*
 * errors.c - names and texts for PAM codes and pamkit's negative errors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CODE(c) [c] = #c
static const char *const pam_code_names[] = {
	CODE(PAM_SUCCESS), CODE(PAM_OPEN_ERR), CODE(PAM_SYMBOL_ERR),
	CODE(PAM_SERVICE_ERR), CODE(PAM_SYSTEM_ERR), CODE(PAM_BUF_ERR),
	CODE(PAM_PERM_DENIED), CODE(PAM_AUTH_ERR),
	CODE(PAM_CRED_INSUFFICIENT), CODE(PAM_AUTHINFO_UNAVAIL),
	CODE(PAM_USER_UNKNOWN), CODE(PAM_MAXTRIES),
	CODE(PAM_NEW_AUTHTOK_REQD), CODE(PAM_ACCT_EXPIRED),
	CODE(PAM_SESSION_ERR), CODE(PAM_CRED_UNAVAIL),
	CODE(PAM_CRED_EXPIRED), CODE(PAM_CRED_ERR),
	CODE(PAM_NO_MODULE_DATA), CODE(PAM_CONV_ERR),
	CODE(PAM_AUTHTOK_ERR), CODE(PAM_AUTHTOK_RECOVERY_ERR),
	CODE(PAM_AUTHTOK_LOCK_BUSY), CODE(PAM_AUTHTOK_DISABLE_AGING),
	CODE(PAM_TRY_AGAIN), CODE(PAM_IGNORE), CODE(PAM_ABORT),
	CODE(PAM_AUTHTOK_EXPIRED), CODE(PAM_MODULE_UNKNOWN),
	CODE(PAM_BAD_ITEM), CODE(PAM_CONV_AGAIN), CODE(PAM_INCOMPLETE),
};
#undef CODE

#define NCODES (int)(sizeof(pam_code_names) / sizeof(pam_code_names[0]))

static const struct {
	int err;
	const char *name;
	const char *text;
} pk_errors[] = {
	{ EINVAL, "PK_EINVAL", "invalid argument or call in the wrong state" },
	{ EBUSY, "PK_EBUSY", "an operation is already in progress" },
	{ ENOMEM, "PK_ENOMEM", "out of memory" },
	{ EAGAIN, "PK_EAGAIN", "no result yet" },
	{ ETIMEDOUT, "PK_ETIMEDOUT", "timed out" },
	{ ECANCELED, "PK_ECANCELED", "cancelled" },
	{ ESTALE, "PK_ESTALE", "the reply is for a batch that is no longer pending" },
	{ ECHILD, "PK_ECHILD", "the transaction belongs to the parent process (used after fork)" },
	{ ENOBUFS, "PK_ENOBUFS", "the worker pool's queue is full" },
	{ EPIPE, "PK_EPIPE", "end of input" },
	{ EMFILE, "PK_EMFILE", "too many open files" },
	{ ENFILE, "PK_ENFILE", "too many open files in the system" },
};

const char *pk_code_name(int code)
{
	if (code >= 0 && code < NCODES && pam_code_names[code])
		return pam_code_names[code];
	if (code < 0) {
		for (size_t i = 0; i < sizeof(pk_errors) / sizeof(pk_errors[0]); i++)
			if (pk_errors[i].err == -code)
				return pk_errors[i].name;
		return "PK_ERROR";
	}
	return "PAM_UNKNOWN";
}

const char *pk_strerror(int code)
{
	if (code >= 0)
		/* Linux-PAM ignores the handle; texts are static. */
		return pam_strerror(NULL, code);
	for (size_t i = 0; i < sizeof(pk_errors) / sizeof(pk_errors[0]); i++)
		if (pk_errors[i].err == -code)
			return pk_errors[i].text;
	return "system error";
}

int pk_code_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < NCODES; i++)
		if (pam_code_names[i] && strcmp(pam_code_names[i], name) == 0)
			return i;
	return -1;
}

int pk_max_code(void)
{
	return NCODES - 1;
}

void pk__freezero(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

void pk_free_secret(char *s)
{
	if (s)
		pk__freezero(s, strlen(s));
}
