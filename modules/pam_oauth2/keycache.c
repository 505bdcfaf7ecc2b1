/* pam_oauth2: in-process memo of imported keys, keyed by the exact cache file.
 *
 * The on-disk cache is still opened, checked (O_NOFOLLOW, fstat owner/mode/
 * size) and read on every call.  What is skipped on a hit is only the work
 * that is a pure function of those bytes: JSON parse, JWKS checks, key
 * selection, the JWK -> EVP_PKEY import and the algorithm fetches of the
 * verify context (a prepared context is copied per call).  A hit requires the same file
 * identity (dev, ino, size, mtime), byte-for-byte the same content as just
 * read, the same configured issuer and algorithm and the same kid bytes; any
 * rotation or tampering (new content, rename over the file) therefore misses.  Bounded to
 * OA2_KEYCACHE_SLOTS entries (least recently used evicted), guarded by one
 * mutex, freed at module unload or exit.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "oa2.h"

struct slot {
	struct oa2_ident id;
	char *doc;		/* the cache file's bytes the key came from */
	size_t doclen;
	char *issuer;
	enum oa2_alg alg;
	int has_kid;
	unsigned char kid[OA2_MAX_KID];
	size_t kidlen;
	EVP_PKEY *pkey;
	EVP_MD_CTX *tmpl;	/* verify context prepared for pkey and alg */
	long long fetched_at;
	unsigned long long used;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[OA2_KEYCACHE_SLOTS];
static unsigned long long tick;
static int registered;

/* glibc ABI: a handler tied to this object, run by dlclose() or exit(). */
extern void *__dso_handle;
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

/*
 * Linux-PAM dlclose()s the module at pam_end(): the keys are released then.
 * Registered at the first insertion, hence after libcrypto's own atexit
 * cleanup, so at exit() it runs before libcrypto is torn down (a destructor
 * would run after it and free keys into a dead library).
 */
static void keycache_fini(void *arg)
{
	(void)arg;
	oa2_keycache_flush();
}

static int same(const struct slot *s, const struct oa2_ident *id,
		const char *doc, size_t doclen, const char *issuer,
		enum oa2_alg alg, const char *kid, size_t kidlen)
{
	return s->pkey != NULL && s->alg == alg &&
	       s->id.dev == id->dev && s->id.ino == id->ino &&
	       s->id.size == id->size && s->id.mtime_sec == id->mtime_sec &&
	       s->id.mtime_nsec == id->mtime_nsec && s->doclen == doclen &&
	       memcmp(s->doc, doc, doclen) == 0 &&
	       strcmp(s->issuer, issuer) == 0 &&
	       s->has_kid == (kid != NULL) && s->kidlen == kidlen &&
	       (kid == NULL || memcmp(s->kid, kid, kidlen) == 0);
}

static void slot_clear(struct slot *s)
{
	EVP_PKEY_free(s->pkey);
	EVP_MD_CTX_free(s->tmpl);
	free(s->doc);
	free(s->issuer);
	memset(s, 0, sizeof(*s));
}

int oa2_keycache_get(const struct oa2_ident *id, const char *doc,
		     size_t doclen, const char *issuer,
		     enum oa2_alg alg, const char *kid, size_t kidlen,
		     EVP_PKEY **pkey, EVP_MD_CTX **md, long long *fetched_at)
{
	EVP_MD_CTX *copy = EVP_MD_CTX_new();
	int rc = OA2_ENOKEY;

	*pkey = NULL;
	*md = NULL;
	if (copy == NULL)
		return OA2_ENOMEM;
	if (kidlen > OA2_MAX_KID || pthread_mutex_lock(&lock) != 0) {
		EVP_MD_CTX_free(copy);
		return OA2_ENOKEY;
	}
	for (size_t i = 0; i < OA2_KEYCACHE_SLOTS; i++) {
		struct slot *s = &slots[i];

		if (!same(s, id, doc, doclen, issuer, alg, kid, kidlen))
			continue;
		if (EVP_MD_CTX_copy_ex(copy, s->tmpl) != 1 ||
		    EVP_PKEY_up_ref(s->pkey) != 1)
			break;
		*pkey = s->pkey;
		*md = copy;
		copy = NULL;
		*fetched_at = s->fetched_at;
		s->used = ++tick;
		rc = OA2_OK;
		break;
	}
	pthread_mutex_unlock(&lock);
	EVP_MD_CTX_free(copy);
	return rc;
}

void oa2_keycache_put(const struct oa2_ident *id, const char *doc,
		      size_t doclen, const char *issuer,
		      enum oa2_alg alg, const char *kid, size_t kidlen,
		      EVP_PKEY *pkey, long long fetched_at)
{
	struct slot *victim = NULL;
	char *iss = NULL, *copy = NULL;
	EVP_MD_CTX *tmpl = NULL;

	if (kidlen > OA2_MAX_KID || doclen == 0 || doclen > OA2_KEYCACHE_DOC ||
	    oa2_verify_init(pkey, alg, &tmpl) != OA2_OK)
		return;
	iss = strdup(issuer);
	copy = malloc(doclen);
	if (iss == NULL || copy == NULL || pthread_mutex_lock(&lock) != 0) {
		free(iss);
		free(copy);
		EVP_MD_CTX_free(tmpl);
		return;
	}
	memcpy(copy, doc, doclen);
	if (!registered) {
		if (__cxa_atexit(keycache_fini, NULL, __dso_handle) != 0)
			goto out;
		registered = 1;
	}
	for (size_t i = 0; i < OA2_KEYCACHE_SLOTS; i++) {
		struct slot *s = &slots[i];

		if (same(s, id, doc, doclen, issuer, alg, kid, kidlen))
			goto out; /* another thread got here first */
		/* first empty slot, else the least recently used one */
		if (victim == NULL ||
		    (victim->pkey != NULL &&
		     (s->pkey == NULL || s->used < victim->used)))
			victim = s;
	}
	if (EVP_PKEY_up_ref(pkey) != 1)
		goto out;
	slot_clear(victim);
	victim->id = *id;
	victim->doc = copy;
	victim->doclen = doclen;
	copy = NULL;
	victim->issuer = iss;
	iss = NULL;
	victim->alg = alg;
	victim->has_kid = kid != NULL;
	if (kid != NULL)
		memcpy(victim->kid, kid, kidlen);
	victim->kidlen = kidlen;
	victim->pkey = pkey;
	victim->tmpl = tmpl;
	tmpl = NULL;
	victim->fetched_at = fetched_at;
	victim->used = ++tick;
out:
	pthread_mutex_unlock(&lock);
	free(iss);
	free(copy);
	EVP_MD_CTX_free(tmpl);
}

size_t oa2_keycache_count(void)
{
	size_t n = 0;

	if (pthread_mutex_lock(&lock) != 0)
		return 0;
	for (size_t i = 0; i < OA2_KEYCACHE_SLOTS; i++)
		n += slots[i].pkey != NULL;
	pthread_mutex_unlock(&lock);
	return n;
}

void oa2_keycache_flush(void)
{
	if (pthread_mutex_lock(&lock) != 0)
		return;
	for (size_t i = 0; i < OA2_KEYCACHE_SLOTS; i++)
		slot_clear(&slots[i]);
	pthread_mutex_unlock(&lock);
}
