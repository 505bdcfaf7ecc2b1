/* fuzz_proto.c - fuzz target for the packet and line parsers.  Built with
 * -fsanitize=fuzzer it is a libFuzzer target;
 * otherwise tests/fuzz_replay.c's main() feeds it a corpus, as a
 * regression test. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cram.h"
#include "frame.h"
#include "lines.h"
#include "psk.h"
#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Properties every accepted input must have; a violation aborts (a crash
 * for libFuzzer, a failed test for the corpus replay). */
static void must(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_proto: property violated: %s\n", what);
		abort();
	}
}

static void check_one(const char *s, size_t n)
{
	char name[NAME_MAX_LEN + 1], chal[CRAM_CHAL_MAX];
	char u[PAM_FIELD_MAX + 1], p[PAM_FIELD_MAX + 1];
	int ssl, kind;
	bool compat;

	if (hello_parse(s, n, name) == 0) {
		size_t l = strnlen(name, sizeof(name));

		must(l > 0 && l <= NAME_MAX_LEN, "Hello name length");
		/* 0x01 (Bareos' BashSpaces) comes back as a space */
		for (size_t i = 0; i < l; i++)
			must((unsigned char)name[i] >= ' ' &&
			     (unsigned char)name[i] != 0x7f, "Hello name characters");
	}
	if (cram_parse_challenge_line(s, n, chal, &ssl, &compat) == 0) {
		size_t l = strnlen(chal, sizeof(chal));

		must(l < sizeof(chal) && l >= 2 && chal[0] == '<' &&
		     chal[l - 1] == '>', "challenge in angle brackets");
		must(ssl >= -1 && ssl <= 999, "ssl= value");
	}
	kind = pam_login_parse(s, n, u, p);
	must(kind == -1 || kind == PAM_LOGIN_INTERACTIVE ||
	     kind == PAM_LOGIN_DIRECT, "PAM login kind");
	if (kind == PAM_LOGIN_DIRECT)
		must(strnlen(u, sizeof(u)) <= PAM_FIELD_MAX &&
		     strnlen(p, sizeof(p)) <= PAM_FIELD_MAX, "4002 field length");
}

/* The PROXY header parser: a header is never longer than the input or
   the bound, every prefix of an accepted header asks for more, and more
   bytes after it do not change the answer. */
static void check_proxy(const uint8_t *data, size_t size)
{
	struct proxy_hdr h, h2;
	int r = proxy_parse(data, size, &h);
	struct proxy_net net;
	char s[64];

	must(r >= PROXY_E_ADDRESS && r <= (int)size && r <= PROXY_HDR_MAX,
	     "PROXY result in range");
	must(r != 0 || size < PROXY_HDR_MAX, "PROXY asks for more within the bound");
	if (r > 0) {
		must(h.version == 1 || h.version == 2, "PROXY version");
		must(h.local || h.src.ss_family == AF_INET ||
		     h.src.ss_family == AF_INET6, "PROXY address family");
		for (size_t k = 0; k < (size_t)r; k++)
			must(proxy_parse(data, k, &h2) == 0, "PROXY prefix needs more");
	}
	if (size < sizeof(s)) {
		memcpy(s, data, size);
		s[size] = '\0';
		if (proxy_net_parse(s, &net) == 0)
			must((net.family == AF_INET && net.prefix <= 32) ||
			     (net.family == AF_INET6 && net.prefix <= 128),
			     "trusted network prefix");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[PSK_IDENTITY_MAX];
	int32_t len, sig;
	size_t off = 0;

	/* walk the input as a stream of frames */
	while (size - off >= 4) {
		enum frame_kind k = frame_decode_header(data + off, FRAME_AUTHD_MAX,
							&len, &sig);
		off += 4;
		if (k != FRAME_DATA && k != FRAME_SIGNAL)
			break;
		if (k == FRAME_SIGNAL)
			continue;
		if ((size_t)len > size - off)
			break;
		must((size_t)len <= FRAME_AUTHD_MAX, "frame length within the cap");
		check_one((const char *)data + off, (size_t)len);
		off += (size_t)len;
	}
	check_proxy(data, size);
	/* and the whole input as single lines */
	check_one((const char *)data, size);
	if (size < sizeof(id)) {
		char s[PSK_IDENTITY_MAX], again[PSK_IDENTITY_MAX];

		char esc[LOG_ESCAPED_MAX(64)];

		memcpy(s, data, size);
		s[size] = '\0';
		/* log lines: never overruns, always terminated, one line */
		log_escape(s, esc, sizeof(esc));
		must(!strchr(esc, '\n') && strlen(esc) < sizeof(esc),
		     "escaped log text");
		/* a parsed identity must rebuild to the same bytes */
		if (psk_parse_console_identity(s, id, sizeof(id)) == 0)
			must(psk_console_identity(id, again, sizeof(again)) >= 0 &&
			     !strcmp(again, s), "PSK identity round trip");
	}
	return 0;
}
