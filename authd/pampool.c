/* pampool.c - fixed pool of threads for direct-PAM logins and teardowns
 * (see pampool.h). */
#include "pampool.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX 256

struct pampool {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct pamjob *head, *tail;	/* queued */
	struct pamjob *done;		/* finished logins for the loop */
	struct pamjob *prompts;		/* 4001 batches waiting for the loop */
	pthread_cond_t idle_cv;		/* inter_running went down */
	unsigned int inter_running;	/* 4001 threads */
	unsigned int busy;		/* pool threads between two jobs */
	bool stopping;
	int efd;
	unsigned int n;
	pthread_t th[POOL_MAX];
};

void pamjob_free(struct pamjob *job)
{
	if (!job)
		return;
	if (job->interactive)
		pthread_cond_destroy(&job->cv);
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

static void wake_loop(struct pampool *p)
{
	uint64_t one = 1;

	if (write(p->efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow here; nothing to do */
	}
}

/* 4001: publish the batch for the loop, which relays it to the console
 * and hands the answers back (pampool_answer); wait for them, a cancel or
 * the step timeout. */
static int relay_conv(pk_txn *txn, const struct pk_message *msgs, size_t n,
		      char **replies, void *data)
{
	struct pamjob *j = data;
	struct pampool *p = j->pool;
	struct timespec dl;
	int rc = -1;

	(void)txn;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += j->step_timeout_ms / 1000;
	dl.tv_nsec += (long)(j->step_timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->mu);
	if (j->cancelled) {
		pthread_mutex_unlock(&p->mu);
		return -1;
	}
	j->msgs = msgs;
	j->nmsgs = n;
	j->answers = replies;
	j->answered = false;
	j->batch++;
	if (!j->in_prompts) {
		j->in_prompts = true;
		j->pnext = p->prompts;
		p->prompts = j;
	}
	pthread_mutex_unlock(&p->mu);
	wake_loop(p);
	pthread_mutex_lock(&p->mu);
	while (!j->answered && !j->cancelled) {
		if (!j->step_timeout_ms)
			pthread_cond_wait(&j->cv, &p->mu);
		else if (pthread_cond_timedwait(&j->cv, &p->mu, &dl) == ETIMEDOUT)
			break;
	}
	if (j->answered)
		rc = 0;
	j->msgs = NULL;
	j->nmsgs = 0;
	j->answers = NULL;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static void noop_fail_delay(pk_txn *t, int r, unsigned int us, void *d)
{
	(void)t; (void)r; (void)us; (void)d;	/* the loop's timer delays */
}

static int check_user(struct pamjob *job)
{
	char *u = NULL;
	int rc = -1;

	if (pk_get_item(job->txn, PAM_USER, &u) != PAM_SUCCESS || !u || !*u ||
	    strlen(u) > PAM_FIELD_MAX) {
		job->why = "PAM gave no user";
		goto out;
	}
	if (job->interactive) {
		memcpy(job->user, u, strlen(u) + 1);	/* who PAM says it is */
	} else if (strcmp(u, job->user)) {
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
	o.user = job->interactive ? NULL : job->user;
	o.rhost = job->rhost[0] ? job->rhost : NULL;
	o.ruser = job->ruser;
	o.tty = AUTHD_PAM_TTY;
	o.user_prompt = "login: ";
	o.mode = PK_MODE_DIRECT;
	o.has_fail_delay = true;
	o.fail_delay_cb = noop_fail_delay;
	o.conv = job->interactive ? relay_conv : direct_conv;
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

/* A finished login goes to the loop (never on the prompt list too). */
static void post_done(struct pampool *p, struct pamjob *job)
{
	pthread_mutex_lock(&p->mu);
	if (job->in_prompts) {
		struct pamjob **pp = &p->prompts;

		while (*pp && *pp != job)
			pp = &(*pp)->pnext;
		if (*pp)
			*pp = job->pnext;
		job->in_prompts = false;
	}
	job->next = p->done;
	p->done = job;
	pthread_mutex_unlock(&p->mu);
	wake_loop(p);
}

static void *interactive_thread(void *arg)
{
	struct pamjob *job = arg;
	struct pampool *p = job->pool;

	run_login(job);
	post_done(p, job);
	pthread_mutex_lock(&p->mu);
	p->inter_running--;
	pthread_cond_broadcast(&p->idle_cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void *worker(void *arg)
{
	struct pampool *p = arg;

	bool was_busy = false;

	for (;;) {
		struct pamjob *job;

		pthread_mutex_lock(&p->mu);
		if (was_busy)
			p->busy--;
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
		p->busy++;
		was_busy = true;
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
		post_done(p, job);
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
	pthread_cond_init(&p->idle_cv, NULL);
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
	/* a teardown does not wake a sleeping thread while another one is
	 * busy: that one looks at the queue before it sleeps, and nobody
	 * waits for a teardown (one futex wake and wait fewer per login) */
	if (!job->end_only || !p->busy)
		pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

int pampool_submit(struct pampool *p, struct pamjob *job)
{
	pthread_attr_t a;
	pthread_condattr_t ca;
	pthread_t t;
	int rc;

	job->end_only = false;
	job->pool = p;
	if (!job->interactive)
		return enqueue(p, job);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&job->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		return -1;
	}
	p->inter_running++;
	pthread_mutex_unlock(&p->mu);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &a, interactive_thread, job);
	pthread_attr_destroy(&a);
	if (rc) {
		pthread_mutex_lock(&p->mu);
		p->inter_running--;
		pthread_mutex_unlock(&p->mu);
		return -1;	/* the caller frees job (cv included) */
	}
	return 0;
}

struct pamjob *pampool_prompts(struct pampool *p)
{
	struct pamjob *list, *j;

	pthread_mutex_lock(&p->mu);
	list = p->prompts;
	p->prompts = NULL;
	for (j = list; j; j = j->pnext) {
		j->in_prompts = false;
		/* Once in_prompts is false the job's thread may publish its
		   next batch and re-link pnext into p->prompts while the loop
		   walks this list: the loop follows lnext, set here. */
		j->lnext = j->pnext;
	}
	pthread_mutex_unlock(&p->mu);
	return list;
}

void pampool_free_batch(struct pk_message *msgs, size_t n)
{
	if (!msgs)
		return;
	for (size_t i = 0; i < n; i++)
		free((char *)msgs[i].msg);
	free(msgs);
}

size_t pampool_copy_batch(struct pampool *p, struct pamjob *job,
			  struct pk_message **out, unsigned int *batch)
{
	struct pk_message *m = NULL;
	size_t n = 0;

	*out = NULL;
	pthread_mutex_lock(&p->mu);
	if (!job->msgs || job->answered || !job->nmsgs)
		goto out;
	m = calloc(job->nmsgs, sizeof(*m));
	if (!m)
		goto out;
	for (n = 0; n < job->nmsgs; n++) {
		m[n].style = job->msgs[n].style;
		m[n].msg = strdup(job->msgs[n].msg ? job->msgs[n].msg : "");
		if (!m[n].msg) {
			pampool_free_batch(m, n);
			m = NULL;
			n = 0;
			goto out;
		}
	}
	*batch = job->batch;
out:
	pthread_mutex_unlock(&p->mu);
	*out = m;
	return n;
}

void pampool_answer(struct pampool *p, struct pamjob *job, unsigned int batch,
		    char **replies, size_t n)
{
	pthread_mutex_lock(&p->mu);
	if (job->answers && !job->answered && job->batch == batch &&
	    job->nmsgs == n) {
		for (size_t i = 0; i < n; i++) {
			job->answers[i] = replies[i];	/* PAM takes them */
			replies[i] = NULL;
		}
		job->answered = true;
		pthread_cond_signal(&job->cv);
	}
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < n; i++)
		pk_free_secret(replies[i]);	/* not taken: stale batch */
}

void pampool_cancel(struct pampool *p, struct pamjob *job)
{
	pthread_mutex_lock(&p->mu);
	job->cancelled = true;
	if (job->interactive)
		pthread_cond_signal(&job->cv);
	pthread_mutex_unlock(&p->mu);
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
	/* 4001 threads: their conversations were cancelled with their
	 * connections; wait a bounded time for PAM to return */
	{
		struct timespec dl;
		bool left;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 3;
		pthread_mutex_lock(&p->mu);
		while (p->inter_running &&
		       pthread_cond_timedwait(&p->idle_cv, &p->mu, &dl) != ETIMEDOUT)
			;
		left = p->inter_running != 0;
		pthread_mutex_unlock(&p->mu);
		if (left)
			return;	/* a module still blocks: leave p to them */
	}
	while ((j = p->done)) {
		p->done = j->next;
		pk_txn_end(j->txn);
		pamjob_free(j);
	}
	if (p->efd >= 0)
		close(p->efd);
	pthread_cond_destroy(&p->cond);
	pthread_cond_destroy(&p->idle_cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
