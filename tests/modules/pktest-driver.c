/*
 * pktest-driver: runs PAM operations against a private confdir.
 *
 *   pktest-driver CONFDIR SERVICE USER OP...
 *
 * Each message is printed as STYLE:TEXT; prompt answers are read line by
 * line from stdin (EOF makes the conversation fail with PAM_CONV_ERR).
 * Each OP prints "OP: PAM_NAME". Exit status 0 when every OP succeeded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#include "pktest-codes.h"

static const char *style_name(int style)
{
	switch (style) {
	case PAM_PROMPT_ECHO_OFF: return "PROMPT_ECHO_OFF";
	case PAM_PROMPT_ECHO_ON: return "PROMPT_ECHO_ON";
	case PAM_ERROR_MSG: return "ERROR_MSG";
	case PAM_TEXT_INFO: return "TEXT_INFO";
	default: return "UNKNOWN";
	}
}

static void drop(struct pam_response *resp, int n)
{
	int i;

	if (resp == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (resp[i].resp != NULL) {
			explicit_bzero(resp[i].resp, strlen(resp[i].resp));
			free(resp[i].resp);
		}
	}
	free(resp);
}

static int conv(int n, const struct pam_message **msg,
		struct pam_response **out, void *appdata)
{
	struct pam_response *resp = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int i, rc = PAM_CONV_ERR;

	(void)appdata;
	*out = NULL;
	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	resp = calloc((size_t)n, sizeof(*resp));
	if (resp == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		int style = msg[i]->msg_style;

		printf("%s:%s\n", style_name(style), msg[i]->msg);
		fflush(stdout);
		if (style != PAM_PROMPT_ECHO_OFF && style != PAM_PROMPT_ECHO_ON)
			continue;
		len = getline(&line, &cap, stdin);
		if (len < 0)
			goto out;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		resp[i].resp = strdup(line);
		if (resp[i].resp == NULL) {
			rc = PAM_BUF_ERR;
			goto out;
		}
	}
	*out = resp;
	resp = NULL;
	rc = PAM_SUCCESS;
out:
	if (line != NULL) {
		explicit_bzero(line, cap);
		free(line);
	}
	drop(resp, n);
	return rc;
}

static int run_op(pam_handle_t *pamh, const char *op, int *rc)
{
	char **env;
	int i;

	if (strcmp(op, "authenticate") == 0)
		*rc = pam_authenticate(pamh, 0);
	else if (strcmp(op, "acct_mgmt") == 0)
		*rc = pam_acct_mgmt(pamh, 0);
	else if (strcmp(op, "chauthtok") == 0)
		*rc = pam_chauthtok(pamh, 0);
	else if (strcmp(op, "setcred_establish") == 0)
		*rc = pam_setcred(pamh, PAM_ESTABLISH_CRED);
	else if (strcmp(op, "setcred_delete") == 0)
		*rc = pam_setcred(pamh, PAM_DELETE_CRED);
	else if (strcmp(op, "setcred_reinit") == 0)
		*rc = pam_setcred(pamh, PAM_REINITIALIZE_CRED);
	else if (strcmp(op, "setcred_refresh") == 0)
		*rc = pam_setcred(pamh, PAM_REFRESH_CRED);
	else if (strcmp(op, "open_session") == 0)
		*rc = pam_open_session(pamh, 0);
	else if (strcmp(op, "close_session") == 0)
		*rc = pam_close_session(pamh, 0);
	else if (strcmp(op, "env") == 0) {
		env = pam_getenvlist(pamh);
		*rc = env != NULL ? PAM_SUCCESS : PAM_BUF_ERR;
		for (i = 0; env != NULL && env[i] != NULL; i++) {
			printf("ENV:%s\n", env[i]);
			free(env[i]);
		}
		free(env);
	} else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct pam_conv pc = { conv, NULL };
	pam_handle_t *pamh = NULL;
	int i, rc, last = PAM_SUCCESS, status = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: %s CONFDIR SERVICE USER OP...\n", argv[0]);
		return 2;
	}
	rc = pam_start_confdir(argv[2], argv[3], &pc, argv[1], &pamh);
	if (rc != PAM_SUCCESS) {
		fprintf(stderr, "pam_start_confdir: %s\n", pktest_code_name(rc));
		return 2;
	}
	for (i = 4; i < argc; i++) {
		if (run_op(pamh, argv[i], &rc) != 0) {
			fprintf(stderr, "unknown op: %s\n", argv[i]);
			status = 2;
			break;
		}
		printf("%s: %s\n", argv[i], pktest_code_name(rc));
		fflush(stdout);
		last = rc;
		if (rc != PAM_SUCCESS)
			status = 1;
	}
	pam_end(pamh, last);
	return status;
}
