/* frame.c - encode and decode Bareos bsock packet headers. */
#include "frame.h"

#include <string.h>

/* Lowest signal number Bareos defines (BNET_* go down to about -30). */
#define FRAME_MIN_SIGNAL	(-40)

enum frame_kind frame_decode_header(const uint8_t hdr[4], int32_t max,
				    int32_t *len, int32_t *sig)
{
	uint32_t u = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
		     ((uint32_t)hdr[2] << 8) | (uint32_t)hdr[3];
	int32_t v;

	memcpy(&v, &u, sizeof(v));
	*len = 0;
	*sig = 0;
	if (v < 0) {
		if (v < FRAME_MIN_SIGNAL)
			return FRAME_BAD_SIGNAL;
		*sig = v;
		return FRAME_SIGNAL;
	}
	if (v > max || v > FRAME_BAREOS_MAX)
		return FRAME_TOO_BIG;
	*len = v;
	return FRAME_DATA;
}

void frame_encode_header(int32_t len_or_signal, uint8_t hdr[4])
{
	uint32_t u;

	memcpy(&u, &len_or_signal, sizeof(u));
	hdr[0] = (uint8_t)(u >> 24);
	hdr[1] = (uint8_t)(u >> 16);
	hdr[2] = (uint8_t)(u >> 8);
	hdr[3] = (uint8_t)u;
}

long frame_build(const void *data, size_t len, uint8_t *out, size_t outcap)
{
	if (len > FRAME_BAREOS_MAX || outcap < 4 || len > outcap - 4)
		return -1;
	frame_encode_header((int32_t)len, out);
	if (len)
		memcpy(out + 4, data, len);
	return (long)(len + 4);
}

const char *frame_signal_name(int32_t sig)
{
	switch (sig) {
	case BNET_EOD: return "BNET_EOD";
	case BNET_EOD_POLL: return "BNET_EOD_POLL";
	case BNET_STATUS: return "BNET_STATUS";
	case BNET_TERMINATE: return "BNET_TERMINATE";
	case BNET_POLL: return "BNET_POLL";
	case BNET_HEARTBEAT: return "BNET_HEARTBEAT";
	case BNET_HB_RESPONSE: return "BNET_HB_RESPONSE";
	case BNET_MAIN_PROMPT: return "BNET_MAIN_PROMPT";
	case BNET_SUB_PROMPT: return "BNET_SUB_PROMPT";
	default: return NULL;
	}
}
