/* tlspsk.h - OpenSSL 3 contexts for Bareos TLS-PSK (server and client).
 * TLS 1.2 uses the "PSK" cipher list, TLS 1.3 the default suites with the
 * PSK callbacks.  The PSK bytes are the ASCII lowercase md5 hex of the
 * console password (32 bytes). */
#ifndef AUTHD_PROTO_TLSPSK_H
#define AUTHD_PROTO_TLSPSK_H

#include <openssl/ssl.h>
#include <stdbool.h>

/* Server lookup: console name -> key hex (NUL-terminated, 32 chars) or NULL
 * when unknown. */
typedef const char *(*tlspsk_lookup_fn)(const char *console, void *arg);

SSL_CTX *tlspsk_server_ctx(tlspsk_lookup_fn lookup, void *arg);
void tlspsk_server_ctx_free(SSL_CTX *ctx);

/* Client: identity "R_CONSOLE" RS name, key = md5 hex of the password.
 * The strings are copied into the returned context's ex data. */
SSL_CTX *tlspsk_client_ctx(const char *console, const char *key_hex);
void tlspsk_client_ctx_free(SSL_CTX *ctx);

/* Server: also offer certificate TLS (PEM chain and key files) to clients
 * that bring no PSK.  Returns 0, or -1 with a reason in err. */
int tlspsk_server_use_cert(SSL_CTX *ctx, const char *cert_file,
			   const char *key_file, char *err, size_t errlen);

/* Client without PSK: certificate TLS, the server verified against the
 * PEM CA file (free with tlspsk_client_ctx_free).  The caller names the
 * expected host on each SSL (tlspsk_expect_host). */
SSL_CTX *tlscert_client_ctx(const char *ca_file);
/* Require the server certificate to match host (DNS name or IP). */
int tlspsk_expect_host(SSL *ssl, const char *host);

/* The login is over: release the record buffers whenever they are empty
 * (an idle console then holds none). */
void tlspsk_idle(SSL *ssl);
/* Free the record buffers now if they hold nothing (SSL_MODE_RELEASE_BUFFERS
 * frees them only at the end of a read or write): true if freed. */
bool tlspsk_free_buffers(SSL *ssl);

/* Console name of the PSK identity the peer used, or NULL. */
const char *tlspsk_peer_identity(SSL *ssl);

#endif
