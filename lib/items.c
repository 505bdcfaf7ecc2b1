/*
 * items.c - PAM items and the PAM environment, under the transaction lock.
 * Reads are allowed while no operation runs or while a module waits in the
 * conversation, and so is setting items other than PAM_USER and
 * PAM_SERVICE; the environment is written only while no operation runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <security/pam_misc.h>

#include "internal.h"

static const struct {
	int type;
	const char *name;
	const char *short_name;
} items[] = {
	{ PAM_SERVICE, "PAM_SERVICE", "service" },
	{ PAM_USER, "PAM_USER", "user" },
	{ PAM_TTY, "PAM_TTY", "tty" },
	{ PAM_RHOST, "PAM_RHOST", "rhost" },
	{ PAM_RUSER, "PAM_RUSER", "ruser" },
	{ PAM_USER_PROMPT, "PAM_USER_PROMPT", "user_prompt" },
	{ PAM_XDISPLAY, "PAM_XDISPLAY", "xdisplay" },
	{ PAM_AUTHTOK_TYPE, "PAM_AUTHTOK_TYPE", "authtok_type" },
	{ PAM_AUTHTOK, "PAM_AUTHTOK", "authtok" },
	{ PAM_OLDAUTHTOK, "PAM_OLDAUTHTOK", "oldauthtok" },
};
#define NITEMS (sizeof(items) / sizeof(items[0]))

int pk_item_from_name(const char *name)
{
	for (size_t i = 0; name && i < NITEMS; i++)
		if (strcmp(name, items[i].name) == 0 ||
		    strcasecmp(name, items[i].short_name) == 0)
			return items[i].type;
	return -1;
}

const char *pk_item_name(int type)
{
	for (size_t i = 0; i < NITEMS; i++)
		if (items[i].type == type)
			return items[i].name;
	return NULL;
}

/*
 * Lock and check that the handle may be touched now.  While a blocking call
 * runs on another thread, wait for it (calls on one transaction queue);
 * otherwise a busy handle is -EBUSY rather than a wait on ourselves.
 */
/* What a call does with the handle: reading is fine while a module waits
   in the conversation; so is setting most items (see pk_set_item). */
enum access { ACC_READ, ACC_WRITE, ACC_WRITE_IN_CONV };

static int enter(pk_txn *txn, enum access acc)
{
	if (!txn)
		return -EINVAL;
	if (pk__forked(txn))
		return -ECHILD;
	pthread_mutex_lock(&txn->mu);
	for (;;) {
		if (!txn->pamh || txn->ending) {
			pthread_mutex_unlock(&txn->mu);
			return -EINVAL;
		}
		if (txn->state == ST_IDLE || txn->state == ST_DONE ||
		    txn->state == ST_QUEUED ||
		    (acc != ACC_WRITE && txn->in_conv))
			return 0;
		/* A blocking call on another thread: queue behind it. */
		if (txn->stepwise_op || !txn->runner_set ||
		    pthread_equal(txn->runner, pthread_self())) {
			pthread_mutex_unlock(&txn->mu);
			return -EBUSY;
		}
		pthread_cond_wait(&txn->cond, &txn->mu);
	}
}

static void leave(pk_txn *txn)
{
	pthread_mutex_unlock(&txn->mu);
}

int pk_set_item(pk_txn *txn, int type, const char *value)
{
	int rc;

	if (!pk_item_name(type))
		return -EINVAL;
	/* From inside a conversation too (a callback may set PAM_RHOST
	   once it knows it), but not PAM_USER and PAM_SERVICE: the module
	   waiting in the conversation may hold the pointer pam_get_user
	   gave it (pam_unix does), which a new value would free. */
	if ((rc = enter(txn, (type == PAM_USER || type == PAM_SERVICE) ?
			     ACC_WRITE : ACC_WRITE_IN_CONV)))
		return rc;
	rc = pam_set_item(txn->pamh, type, value);
	leave(txn);
	return rc;
}

int pk_get_item(pk_txn *txn, int type, char **value)
{
	const void *v = NULL;
	int rc;

	if (!value || !pk_item_name(type))
		return -EINVAL;
	*value = NULL;
	if ((rc = enter(txn, ACC_READ)))
		return rc;
	rc = pam_get_item(txn->pamh, type, &v);
	if (rc == PAM_SUCCESS && v && !(*value = strdup(v)))
		rc = -ENOMEM;
	leave(txn);
	return rc;
}

int pk_fail_delay(pk_txn *txn, unsigned int usec)
{
	int rc;

	if ((rc = enter(txn, ACC_WRITE)))
		return rc;
	rc = pam_fail_delay(txn->pamh, usec);
	leave(txn);
	return rc;
}

static bool valid_env_name(const char *name)
{
	return name && *name && !strchr(name, '=');
}

int pk_getenv(pk_txn *txn, const char *name, char **value)
{
	int rc;

	if (!value || !valid_env_name(name))
		return -EINVAL;
	*value = NULL;
	if ((rc = enter(txn, ACC_READ)))
		return rc;
	const char *v = pam_getenv(txn->pamh, name);
	if (v && !(*value = strdup(v)))
		rc = -ENOMEM;
	leave(txn);
	return rc;
}

int pk_setenv(pk_txn *txn, const char *name, const char *value)
{
	char *kv = NULL;
	int rc;

	if (!valid_env_name(name) || !value)
		return -EINVAL;
	if (asprintf(&kv, "%s=%s", name, value) < 0)
		return -ENOMEM;
	if ((rc = enter(txn, ACC_WRITE)) == 0) {
		rc = pam_putenv(txn->pamh, kv);
		leave(txn);
	}
	pk_free_secret(kv);
	return rc;
}

int pk_misc_setenv(pk_txn *txn, const char *name, const char *value,
		   bool readonly)
{
	int rc;

	if (!valid_env_name(name) || !value)
		return -EINVAL;
	if ((rc = enter(txn, ACC_WRITE)))
		return rc;
	rc = pam_misc_setenv(txn->pamh, name, value, readonly);
	leave(txn);
	return rc;
}

int pk_unsetenv(pk_txn *txn, const char *name)
{
	int rc;

	if (!valid_env_name(name))
		return -EINVAL;
	if ((rc = enter(txn, ACC_WRITE)))
		return rc;
	/* pam_putenv("NAME") deletes; deleting an unset name is no error. */
	rc = pam_getenv(txn->pamh, name) ? pam_putenv(txn->pamh, name)
					  : PAM_SUCCESS;
	leave(txn);
	return rc;
}

int pk_getenvlist(pk_txn *txn, char ***list)
{
	int rc;

	if (!list)
		return -EINVAL;
	*list = NULL;
	if ((rc = enter(txn, ACC_READ)))
		return rc;
	*list = pam_getenvlist(txn->pamh);
	leave(txn);
	return *list ? PAM_SUCCESS : -ENOMEM;
}

void pk_strv_free(char **strv)
{
	if (!strv)
		return;
	for (char **p = strv; *p; p++)
		pk_free_secret(*p);
	free(strv);
}
