/*
 * batch.c - immutable, reference-counted conversation batches.
 *
 * A batch is built once from PAM's messages (one allocation: the message
 * array, then the texts) and never changes; whoever holds a reference may
 * read it from any thread without a lock.  The transaction holds one while
 * the batch is pending, and keeps the ones pk_messages handed out until
 * that caller's next pk_reply, pk_start or pk_txn_end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct pk_batch *pk__batch_new(int n, const struct pam_message **msg)
{
	size_t texts = 0, i;
	struct pk_batch *b;
	char *p;

	for (i = 0; i < (size_t)n; i++)
		texts += strlen(msg[i]->msg ? msg[i]->msg : "") + 1;
	b = malloc(sizeof(*b) + (size_t)n * sizeof(b->v[0]) + texts);
	if (!b)
		return NULL;
	b->refs = 1;
	b->seq = 0;
	b->n = (size_t)n;
	b->next_kept = NULL;
	p = (char *)&b->v[n];
	for (i = 0; i < (size_t)n; i++) {
		const char *t = msg[i]->msg ? msg[i]->msg : "";
		size_t len = strlen(t) + 1;

		memcpy(p, t, len);
		b->v[i].style = msg[i]->msg_style;
		b->v[i].msg = p;
		p += len;
	}
	return b;
}

pk_batch *pk_batch_ref(pk_batch *b)
{
	if (b)
		__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	return b;
}

void pk_batch_unref(pk_batch *b)
{
	if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

const struct pk_message *pk_batch_messages(const pk_batch *b, size_t *n)
{
	if (n)
		*n = b ? b->n : 0;
	return b ? b->v : NULL;
}

uint64_t pk_batch_seq(const pk_batch *b)
{
	return b ? b->seq : 0;
}

pk_batch *pk_batch_get(pk_txn *txn)
{
	pk_batch *b = NULL;

	if (!txn || pk__forked(txn))
		return NULL;
	pthread_mutex_lock(&txn->mu);
	if (txn->state == ST_CONV && !txn->replied)
		b = pk_batch_ref(txn->pending);
	pthread_mutex_unlock(&txn->mu);
	return b;
}

const struct pk_message *pk_messages(pk_txn *txn, size_t *n, uint64_t *seq)
{
	pk_batch *b = NULL;

	if (txn && !pk__forked(txn)) {
		pthread_mutex_lock(&txn->mu);
		if (txn->state == ST_CONV && !txn->replied) {
			b = txn->pending;
			/* Keep a reference for the reader (once per batch). */
			bool kept = false;
			for (pk_batch *k = txn->kept; k; k = k->next_kept)
				kept = kept || k == b;
			if (!kept) {
				pk_batch_ref(b);
				b->next_kept = txn->kept;
				txn->kept = b;
			}
		}
		pthread_mutex_unlock(&txn->mu);
	}
	if (n)
		*n = b ? b->n : 0;
	if (seq)
		*seq = b ? b->seq : 0;
	return b ? b->v : NULL;
}

void pk__kept_free(pk_txn *txn)
{
	while (txn->kept) {
		pk_batch *next = txn->kept->next_kept;

		pk_batch_unref(txn->kept);
		txn->kept = next;
	}
}

pk_batch *pk_transcript_get(pk_txn *txn)
{
	struct pam_message *m = NULL;
	const struct pam_message **pm = NULL;
	pk_batch *b = NULL;

	if (!txn || pk__forked(txn))
		return NULL;
	pthread_mutex_lock(&txn->mu);
	size_t n = txn->transcript.n;
	m = calloc(n ? n : 1, sizeof(*m));
	pm = calloc(n ? n : 1, sizeof(*pm));
	if (m && pm) {
		for (size_t i = 0; i < n; i++) {
			m[i].msg_style = txn->transcript.v[i].style;
			m[i].msg = txn->transcript.v[i].msg;
			pm[i] = &m[i];
		}
		b = pk__batch_new((int)n, pm);
	}
	pthread_mutex_unlock(&txn->mu);
	free(pm);
	free(m);
	return b;
}
