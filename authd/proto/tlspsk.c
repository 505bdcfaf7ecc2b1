/* tlspsk.c - Bareos-compatible TLS-PSK contexts on OpenSSL 3. */
#include "tlspsk.h"
#include "psk.h"
#include "cram.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct server_arg {
	tlspsk_lookup_fn lookup;
	void *arg;
	/* for names no console has: a key derived from this secret, so an
	   unknown name fails as a wrong password does (bad MAC), never with
	   "unknown psk identity" */
	unsigned char dummy_secret[32];
};

/* The same made-up key for the same unknown name (as hex, like a real
   console key), within this process. */
static int dummy_key(const struct server_arg *sa, const char *name,
		     char out[MD5_HEX_LEN + 1])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!HMAC(EVP_sha256(), sa->dummy_secret, sizeof(sa->dummy_secret),
		  (const unsigned char *)name, strlen(name), mac, &len) ||
	    len < MD5_HEX_LEN / 2)
		return -1;
	hex_lower(mac, MD5_HEX_LEN / 2, out);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

struct client_arg {
	char identity[PSK_IDENTITY_MAX];
	char key[MD5_HEX_LEN + 1];
};

static int ex_index = -1;
static int ssl_ex_index = -1;

static void free_ssl_ident(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
			   int idx, long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	free(ptr);
}

/* Per-connection copy of the console name the PSK callback accepted
 * (SSL_get_psk_identity is not set on every TLS 1.3 path). */
static int ssl_idx(void)
{
	if (ssl_ex_index < 0)
		ssl_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
						    free_ssl_ident);
	return ssl_ex_index;
}

static int ex_idx(void)
{
	if (ex_index < 0)
		ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	return ex_index;
}

static unsigned int server_cb(SSL *ssl, const char *identity,
			      unsigned char *psk, unsigned int max_psk_len)
{
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
	struct server_arg *sa = SSL_CTX_get_ex_data(ctx, ex_idx());
	char name[PSK_IDENTITY_MAX], made_up[MD5_HEX_LEN + 1];
	const char *key;
	size_t kl;

	if (!sa || psk_parse_console_identity(identity, name, sizeof(name)))
		return 0;
	key = sa->lookup(name, sa->arg);
	if (!key) {
		if (dummy_key(sa, name, made_up))
			return 0;
		key = made_up;
	}
	kl = strlen(key);
	if (kl > max_psk_len || ssl_idx() < 0)
		return 0;
	{
		char *copy = strdup(name);

		free(SSL_get_ex_data(ssl, ssl_idx()));
		if (!copy || SSL_set_ex_data(ssl, ssl_idx(), copy) != 1) {
			free(copy);
			return 0;
		}
	}
	memcpy(psk, key, kl);
	OPENSSL_cleanse(made_up, sizeof(made_up));
	return (unsigned int)kl;
}

static unsigned int client_cb(SSL *ssl, const char *hint, char *identity,
			      unsigned int max_identity_len,
			      unsigned char *psk, unsigned int max_psk_len)
{
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
	struct client_arg *ca = SSL_CTX_get_ex_data(ctx, ex_idx());
	size_t il, kl;

	(void)hint;
	if (!ca)
		return 0;
	il = strlen(ca->identity);
	kl = strlen(ca->key);
	if (il + 1 > max_identity_len || kl > max_psk_len)
		return 0;
	memcpy(identity, ca->identity, il + 1);
	memcpy(psk, ca->key, kl);
	return (unsigned int)kl;
}

static SSL_CTX *base_ctx(const SSL_METHOD *m)
{
	SSL_CTX *ctx = SSL_CTX_new(m);

	if (!ctx)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, "PSK") != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* no SSL_MODE_RELEASE_BUFFERS here: during a login it would free
	 * and allocate the 17 KB record buffers around every record; the
	 * daemon sets it per connection once the login is over
	 * (tlspsk_idle), so idle consoles still hold no buffers */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* read whole socket buffers, not a 5-byte header then the record:
	 * one read(2) per flight instead of two or three (callers must check
	 * SSL_has_pending before waiting on the fd: read-ahead data is not
	 * in the socket any more) */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* no session tickets: every login does the full PSK handshake;
	 * decrypted records (passwords in 4002 frames and prompt answers) are
	 * wiped as soon as they are read, not left in freed buffers */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_CLEANSE_PLAINTEXT);
	/* a peer that closes without close_notify (bconsole, python-bareos
	   do) is at end of file, not in error: OpenSSL 3 reports it as an
	   error unless told */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* no dummy ChangeCipherSpec records (TLS 1.3 middlebox mode): one
	 * record and one write less per flight; peers that send them (bconsole)
	 * are still accepted.  Key exchange stays psk_dhe_ke (X25519), as an
	 * OpenSSL client like bconsole offers nothing else. */
	SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
	/* nothing is ever resumed: keep no session cache (its inserts, lock
	 * and periodic sweeps cost on every handshake) */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
}


/* A base context carrying arg (its ex data, freed with the context by the
 * *_ctx_free functions), or NULL with arg left to the caller. */
static SSL_CTX *ctx_with_arg(const SSL_METHOD *m, void *arg)
{
	SSL_CTX *ctx = base_ctx(m);

	if (ctx && SSL_CTX_set_ex_data(ctx, ex_idx(), arg) != 1) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

SSL_CTX *tlspsk_server_ctx(tlspsk_lookup_fn lookup, void *arg)
{
	SSL_CTX *ctx;
	struct server_arg *sa;

	/* both indexes now, before any thread handshakes */
	if (!lookup || ex_idx() < 0 || ssl_idx() < 0)
		return NULL;
	sa = calloc(1, sizeof(*sa));
	if (!sa)
		return NULL;
	sa->lookup = lookup;
	sa->arg = arg;
	if (RAND_bytes(sa->dummy_secret, sizeof(sa->dummy_secret)) != 1) {
		free(sa);
		return NULL;
	}
	ctx = ctx_with_arg(TLS_server_method(), sa);
	if (!ctx) {
		free(sa);
		return NULL;
	}
	SSL_CTX_set_psk_server_callback(ctx, server_cb);
	return ctx;
}

void tlspsk_server_ctx_free(SSL_CTX *ctx)
{
	struct server_arg *sa;

	if (!ctx)
		return;
	sa = SSL_CTX_get_ex_data(ctx, ex_idx());
	if (sa)
		OPENSSL_cleanse(sa, sizeof(*sa));
	free(sa);
	SSL_CTX_free(ctx);
}

SSL_CTX *tlspsk_client_ctx(const char *console, const char *key_hex)
{
	SSL_CTX *ctx = NULL;
	struct client_arg *ca;

	if (!console || !key_hex || strlen(key_hex) != MD5_HEX_LEN ||
	    ex_idx() < 0)
		return NULL;
	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return NULL;
	if (psk_console_identity(console, ca->identity, sizeof(ca->identity)) >= 0) {
		memcpy(ca->key, key_hex, MD5_HEX_LEN + 1);
		ctx = ctx_with_arg(TLS_client_method(), ca);
	}
	if (!ctx) {
		explicit_bzero(ca, sizeof(*ca));
		free(ca);
		return NULL;
	}
	SSL_CTX_set_psk_client_callback(ctx, client_cb);
	return ctx;
}

void tlspsk_client_ctx_free(SSL_CTX *ctx)
{
	struct client_arg *ca;

	if (!ctx)
		return;
	ca = SSL_CTX_get_ex_data(ctx, ex_idx());
	if (ca) {
		explicit_bzero(ca, sizeof(*ca));
		free(ca);
	}
	SSL_CTX_free(ctx);
}

int tlspsk_server_use_cert(SSL_CTX *ctx, const char *cert_file,
			   const char *key_file, char *err, size_t errlen)
{
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		snprintf(err, errlen, "cannot load certificate %s", cert_file);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "cannot load key %s (or it does not match)",
			 key_file);
		return -1;
	}
	/* TLS 1.2 clients may now pick certificate suites too (1.3 needs
	 * nothing: PSK or certificate is chosen by what the client offers) */
	if (SSL_CTX_set_cipher_list(ctx, "PSK:ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL") != 1) {
		snprintf(err, errlen, "cannot set the cipher list");
		return -1;
	}
	return 0;
}

SSL_CTX *tlscert_client_ctx(const char *ca_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

int tlspsk_expect_host(SSL *ssl, const char *host)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	unsigned char ip[16];

	if (!host || !vp)
		return -1;
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1 ? 0 : -1;
	return SSL_set1_host(ssl, host) == 1 ? 0 : -1;
}

void tlspsk_idle(SSL *ssl)
{
	if (ssl)
		SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
}

bool tlspsk_free_buffers(SSL *ssl)
{
	return ssl && SSL_free_buffers(ssl) == 1;
}

const char *tlspsk_peer_identity(SSL *ssl)
{
	if (ssl_idx() < 0)
		return NULL;
	return SSL_get_ex_data(ssl, ssl_idx());
}
