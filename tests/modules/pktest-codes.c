/* pktest-codes.c: every return code of Linux-PAM's _pam_types.h by name. */
#include "pktest-codes.h"

#include <string.h>
#include <security/_pam_types.h>

struct pktest_code {
	const char *name;
	int code;
};

#define C(x) { #x, x }
static const struct pktest_code codes[] = {
	C(PAM_SUCCESS), C(PAM_OPEN_ERR), C(PAM_SYMBOL_ERR), C(PAM_SERVICE_ERR),
	C(PAM_SYSTEM_ERR), C(PAM_BUF_ERR), C(PAM_PERM_DENIED), C(PAM_AUTH_ERR),
	C(PAM_CRED_INSUFFICIENT), C(PAM_AUTHINFO_UNAVAIL), C(PAM_USER_UNKNOWN),
	C(PAM_MAXTRIES), C(PAM_NEW_AUTHTOK_REQD), C(PAM_ACCT_EXPIRED),
	C(PAM_SESSION_ERR), C(PAM_CRED_UNAVAIL), C(PAM_CRED_EXPIRED),
	C(PAM_CRED_ERR), C(PAM_NO_MODULE_DATA), C(PAM_CONV_ERR),
	C(PAM_AUTHTOK_ERR), C(PAM_AUTHTOK_RECOVERY_ERR), C(PAM_AUTHTOK_LOCK_BUSY),
	C(PAM_AUTHTOK_DISABLE_AGING), C(PAM_TRY_AGAIN), C(PAM_IGNORE),
	C(PAM_ABORT), C(PAM_AUTHTOK_EXPIRED), C(PAM_MODULE_UNKNOWN),
	C(PAM_BAD_ITEM), C(PAM_CONV_AGAIN), C(PAM_INCOMPLETE),
};
#undef C

int pktest_code_from_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	}
	return -1;
}

const char *pktest_code_name(int code)
{
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (codes[i].code == code)
			return codes[i].name;
	}
	return "PAM_UNKNOWN_CODE";
}
