/* pampool.c - fixed pool of threads for direct-PAM logins and teardowns
 * (see pampool.h). */
#include "pampool.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define POOL_MAX 256

struct pampool {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct pamjob *head, *tail;	/* queued */
	struct pamjob *done;		/* finished logins for the loop */
	bool stopping;
	int efd;
	unsigned int n;
	pthread_t th[POOL_MAX];
};

void pamjob_free(struct pamjob *job)
{
	if (!job)
		return;
	pk_free_secret(job->pass);
	explicit_bzero(job, sizeof(*job));
	free(job);
}

/* 4002 carries both answers: echo-on prompts get the user, echo-off the
 * password, messages nothing (as the director does). */
static int direct_conv(pk_txn *txn, const struct pk_message *msgs, size_t n,
		       char **replies, void *data)
{
	struct pamjob *job = data;

	(void)txn;
	for (size_t i = 0; i < n; i++) {
		const char *a = NULL;

		if (msgs[i].style == PAM_PROMPT_ECHO_ON)
			a = job->user;
		else if (msgs[i].style == PAM_PROMPT_ECHO_OFF)
			a = job->pass ? job->pass : "";
		if (a && !(replies[i] = strdup(a)))
			return -1;
	}
	return 0;
}

static void noop_fail_delay(pk_txn *t, int r, unsigned int us, void *d)
{
	(void)t; (void)r; (void)us; (void)d;	/* the loop's timer delays */
}

static int check_user(struct pamjob *job)
{
	char *u = NULL;
	int rc = -1;

	if (pk_get_item(job->txn, PAM_USER, &u) != PAM_SUCCESS || !u) {
		job->why = "PAM gave no user";
		goto out;
	}
	if (strcmp(u, job->user)) {
		job->why = "PAM changed the user";
		goto out;
	}
	rc = 0;
out:
	free(u);
	return rc;
}

static void run_login(struct pamjob *job)
{
	struct pk_options o = { 0 };

	o.service = job->service;
	o.confdir = job->confdir;
	o.user = job->user;
	o.rhost = job->rhost[0] ? job->rhost : NULL;
	o.ruser = job->ruser;
	o.tty = AUTHD_PAM_TTY;
	o.user_prompt = "login: ";
	o.mode = PK_MODE_DIRECT;
	o.has_fail_delay = true;
	o.fail_delay_cb = noop_fail_delay;
	o.conv = direct_conv;
	o.conv_data = job;
	job->op = PK_OP_AUTHENTICATE;
	job->rc = pk_txn_create(&o, &job->txn);
	if (job->rc != PAM_SUCCESS) {
		job->why = "PAM unavailable";
		job->txn = NULL;
		goto out;
	}
	job->rc = pk_authenticate(job->txn, PAM_DISALLOW_NULL_AUTHTOK);
	if (job->rc != PAM_SUCCESS)
		goto out;
	if (check_user(job)) {
		job->rc = PAM_USER_UNKNOWN;
		goto out;
	}
	job->op = PK_OP_ACCT_MGMT;
	job->rc = pk_acct_mgmt(job->txn, PAM_DISALLOW_NULL_AUTHTOK);
	if (job->rc != PAM_SUCCESS)
		goto out;
	job->op = PK_OP_OPEN_SESSION;
	job->rc = pk_open_session(job->txn, 0);
out:
	pk_free_secret(job->pass);
	job->pass = NULL;
	if (job->rc != PAM_SUCCESS && job->txn) {
		pk_txn_end(job->txn);
		job->txn = NULL;
	}
}

static void *worker(void *arg)
{
	struct pampool *p = arg;

	for (;;) {
		struct pamjob *job;
		uint64_t one = 1;

		pthread_mutex_lock(&p->mu);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cond, &p->mu);
		job = p->head;
		if (!job) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		p->head = job->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		job->next = NULL;
		if (job->end_only) {
			pk_txn_end(job->txn);
			job->txn = NULL;
			pamjob_free(job);
			continue;
		}
		if (p->stopping) {
			job->rc = -ECANCELED;
			job->why = "shutting down";
			pk_free_secret(job->pass);
			job->pass = NULL;
		} else {
			run_login(job);
		}
		pthread_mutex_lock(&p->mu);
		job->next = p->done;
		p->done = job;
		pthread_mutex_unlock(&p->mu);
		if (write(p->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow here; nothing to do */
		}
	}
}

struct pampool *pampool_new(unsigned int n, int *efd)
{
	struct pampool *p;

	if (n == 0 || n > POOL_MAX)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0)
		goto fail;
	for (; p->n < n; p->n++) {
		pthread_attr_t a;
		int rc;

		pthread_attr_init(&a);
		/* PAM modules get a normal stack; only the touched part costs */
		rc = pthread_create(&p->th[p->n], &a, worker, p);
		pthread_attr_destroy(&a);
		if (rc)
			goto fail;
	}
	*efd = p->efd;
	return p;
fail:
	pampool_free(p);
	return NULL;
}

static int enqueue(struct pampool *p, struct pamjob *job)
{
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		return -1;
	}
	job->next = NULL;
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

int pampool_submit(struct pampool *p, struct pamjob *job)
{
	job->end_only = false;
	return enqueue(p, job);
}

void pampool_end(struct pampool *p, pk_txn *txn)
{
	struct pamjob *job;

	if (!txn)
		return;
	job = calloc(1, sizeof(*job));
	if (job) {
		job->end_only = true;
		job->txn = txn;
		if (!enqueue(p, job))
			return;
		free(job);
	}
	pk_txn_end(txn);	/* no memory or stopping: end it here */
}

struct pamjob *pampool_done(struct pampool *p)
{
	struct pamjob *list, *rev = NULL;
	uint64_t v;

	if (read(p->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a previous call already took the jobs */
	}
	pthread_mutex_lock(&p->mu);
	list = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->mu);
	while (list) {			/* oldest first */
		struct pamjob *j = list;

		list = j->next;
		j->next = rev;
		rev = j;
	}
	return rev;
}

void pampool_free(struct pampool *p)
{
	struct pamjob *j;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mu);
	for (unsigned int i = 0; i < p->n; i++)
		pthread_join(p->th[i], NULL);
	while ((j = p->done)) {
		p->done = j->next;
		pk_txn_end(j->txn);
		pamjob_free(j);
	}
	if (p->efd >= 0)
		close(p->efd);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
