/* tlspsk.h - OpenSSL 3 contexts for Bareos TLS-PSK (server and client).
 * TLS 1.2 uses the "PSK" cipher list, TLS 1.3 the default suites with the
 * PSK callbacks.  The PSK bytes are the ASCII lowercase md5 hex of the
 * console password (32 bytes). */
#ifndef AUTHD_PROTO_TLSPSK_H
#define AUTHD_PROTO_TLSPSK_H

#include <openssl/ssl.h>

/* Server lookup: console name -> key hex (NUL-terminated, 32 chars) or NULL
 * when unknown. */
typedef const char *(*tlspsk_lookup_fn)(const char *console, void *arg);

SSL_CTX *tlspsk_server_ctx(tlspsk_lookup_fn lookup, void *arg);
void tlspsk_server_ctx_free(SSL_CTX *ctx);

/* Client: identity "R_CONSOLE" RS name, key = md5 hex of the password.
 * The strings are copied into the returned context's ex data. */
SSL_CTX *tlspsk_client_ctx(const char *console, const char *key_hex);
void tlspsk_client_ctx_free(SSL_CTX *ctx);

/* Console name of the PSK identity the peer used, or NULL. */
const char *tlspsk_peer_identity(SSL *ssl);

#endif
