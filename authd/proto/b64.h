/* b64.h - the Bareos base64 variant (lib/base64.cc BinToBase64): no
 * padding; in non-compatible mode bytes are sign-extended into the bit
 * register and the last partial group is emitted unshifted. */
#ifndef AUTHD_PROTO_B64_H
#define AUTHD_PROTO_B64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Encode; out gets a NUL-terminated string.  Returns its length, or -1 if
 * outcap is too small (nothing truncated silently). */
int bareos_b64_encode(const uint8_t *in, size_t n, bool compatible,
		      char *out, size_t outcap);

#endif
