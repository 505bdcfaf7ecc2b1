/* frame.h - Bareos bsock framing: 4-byte big-endian signed length, then data;
 * a negative length is a signal with no data. */
#ifndef AUTHD_PROTO_FRAME_H
#define AUTHD_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Signals (lib/bsock.h BNET_*) that pamkit uses. */
#define BNET_EOD		(-1)
#define BNET_EOD_POLL		(-2)
#define BNET_STATUS		(-3)
#define BNET_TERMINATE		(-4)
#define BNET_POLL		(-5)
#define BNET_HEARTBEAT		(-6)
#define BNET_HB_RESPONSE	(-7)
#define BNET_MAIN_PROMPT	(-18)
#define BNET_SUB_PROMPT		(-27)

/* Bareos treats anything above this as a hang-up. */
#define FRAME_BAREOS_MAX	1000000
/* Our own cap on a packet we accept (auth traffic is tiny). */
#define FRAME_AUTHD_MAX		4096

enum frame_kind {
	FRAME_DATA = 0,		/* *len bytes of data follow */
	FRAME_SIGNAL,		/* *sig holds the signal */
	FRAME_TOO_BIG,		/* length above max: hang up */
	FRAME_BAD_SIGNAL,	/* negative but not a known-range signal */
};

/* Decode a 4-byte header.  max caps the data length. */
enum frame_kind frame_decode_header(const uint8_t hdr[4], int32_t max,
				    int32_t *len, int32_t *sig);
/* Encode a header for a data length (>= 0) or a signal (< 0). */
void frame_encode_header(int32_t len_or_signal, uint8_t hdr[4]);
/* Build header+data into out (cap outcap); returns bytes written or -1. */
long frame_build(const void *data, size_t len, uint8_t *out, size_t outcap);
/* Name of a signal ("BNET_EOD"...) or NULL. */
const char *frame_signal_name(int32_t sig);

#endif
