/* pktest-codes.h: PAM return code <-> name table for the pktest module and driver. */
#ifndef PKTEST_CODES_H
#define PKTEST_CODES_H

/* Returns the PAM code for NAME ("PAM_AUTH_ERR"), or -1 when unknown. */
int pktest_code_from_name(const char *name);

/* Returns the name of CODE, or "PAM_UNKNOWN_CODE" when unknown. */
const char *pktest_code_name(int code);

#endif
