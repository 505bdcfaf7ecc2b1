/* b64.c - Bareos base64 encoder, both the "compatible" and the historic
 * sign-extending variant. */
#include "b64.h"

static const char b64_digits[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int bareos_b64_encode(const uint8_t *in, size_t n, bool compatible,
		      char *out, size_t outcap)
{
	uint32_t reg = 0;
	int rem = 0;
	size_t i = 0, j = 0;
	size_t need = (n * 8 + 5) / 6 + 1;

	if (!out || outcap < need || (n && !in))
		return -1;
	while (i < n) {
		if (rem < 6) {
			reg <<= 8;
			if (compatible)
				reg |= in[i];
			else	/* sign extension of a signed char into 32 bits */
				reg |= (uint32_t)(int32_t)(int8_t)in[i];
			i++;
			rem += 8;
		}
		out[j++] = b64_digits[(reg >> (rem - 6)) & 0x3f];
		rem -= 6;
	}
	if (rem) {
		uint32_t mask = (1u << rem) - 1;

		if (compatible)
			out[j++] = b64_digits[((reg & mask) << (6 - rem)) & 0x3f];
		else
			out[j++] = b64_digits[reg & mask];
	}
	out[j] = '\0';
	return (int)j;
}
