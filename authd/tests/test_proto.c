/* test_proto.c - unit tests for the Bareos wire helpers, with vectors from
 * real bconsole traffic (docs/bareos) and the Bareos algorithms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "b64.h"
#include "cram.h"
#include "frame.h"
#include "lines.h"
#include "psk.h"
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static void t_frame(void **st)
{
	uint8_t h[4], buf[64];
	int32_t len, sig;

	(void)st;
	frame_encode_header(-1, h);
	assert_memory_equal(h, "\xff\xff\xff\xff", 4);
	assert_int_equal(frame_decode_header(h, 4096, &len, &sig), FRAME_SIGNAL);
	assert_int_equal(sig, BNET_EOD);
	frame_encode_header(BNET_TERMINATE, h);
	assert_memory_equal(h, "\xff\xff\xff\xfc", 4);
	frame_encode_header(0x47, h);
	assert_memory_equal(h, "\x00\x00\x00\x47", 4);
	assert_int_equal(frame_decode_header(h, 4096, &len, &sig), FRAME_DATA);
	assert_int_equal(len, 71);
	assert_int_equal(frame_decode_header((const uint8_t *)"\x00\x00\x10\x01",
					     4096, &len, &sig), FRAME_TOO_BIG);
	assert_int_equal(frame_decode_header((const uint8_t *)"\x00\x0f\x42\x41",
					     2000000, &len, &sig), FRAME_TOO_BIG);
	assert_int_equal(frame_decode_header((const uint8_t *)"\x80\x00\x00\x00",
					     4096, &len, &sig), FRAME_BAD_SIGNAL);
	assert_int_equal(frame_build("1001\x1e", 5, buf, sizeof(buf)), 9);
	assert_memory_equal(buf, "\x00\x00\x00\x05" "1001\x1e", 9);
	assert_int_equal(frame_build("x", 1, buf, 4), -1);
	assert_string_equal(frame_signal_name(BNET_MAIN_PROMPT), "BNET_MAIN_PROMPT");
	assert_null(frame_signal_name(-39));
}

static void t_b64(void **st)
{
	char out[64];
	const uint8_t x[] = { 0xff };
	const uint8_t abc[] = "abc";

	(void)st;
	/* standard base64 without padding in compatible mode */
	assert_int_equal(bareos_b64_encode(abc, 3, true, out, sizeof(out)), 4);
	assert_string_equal(out, "YWJj");
	assert_int_equal(bareos_b64_encode(abc, 2, true, out, sizeof(out)), 3);
	assert_string_equal(out, "YWI");
	/* non-compatible: last group unshifted ("ab" -> low 4 bits 0010) */
	assert_int_equal(bareos_b64_encode(abc, 2, false, out, sizeof(out)), 3);
	assert_string_equal(out, "YWC");
	/* 0xff: compat "/w" ; sign extension leaves 0x3 in the last 2 bits */
	bareos_b64_encode(x, 1, true, out, sizeof(out));
	assert_string_equal(out, "/w");
	bareos_b64_encode(x, 1, false, out, sizeof(out));
	assert_string_equal(out, "/D");
	/* sign extension clobbers the pending bits: 0x01 0x80 */
	{
		const uint8_t y[] = { 0x01, 0x80 };

		bareos_b64_encode(y, 2, true, out, sizeof(out));
		assert_string_equal(out, "AYA");
		bareos_b64_encode(y, 2, false, out, sizeof(out));
		assert_string_equal(out, "A4A");
	}
	assert_int_equal(bareos_b64_encode(abc, 3, true, out, 4), -1);
	assert_int_equal(bareos_b64_encode(NULL, 0, true, out, 1), 0);
	assert_string_equal(out, "");
}

/* Vectors from the real traffic in docs/bareos (password consolesecret). */
static const struct {
	const char *chal, *resp;
} vec[] = {
	{ "<1921128304.1795433377@R_DIRECTOR::pamkit-test-dir>", "zS+oFk+7Bg/nE4+Be7M90C" },
	{ "<2078720175.1795433375@R_DIRECTOR::pamkit-test-dir>", "x6VoTn/eN++oq+/b76MWVC" },
	{ "<200732487.1795433377@R_CONSOLE::pamcon>", "Y1pOdTlOmjIPE8/+CW+qzD" },
	{ "<410160605.1795433375@R_CONSOLE::pamcon>", "kC4C//lGaCcnh4JNxH+Y0A" },
	{ "<1114716480.1795433437@R_CONSOLE::pamcon>", "rlc/z8+vT/lFgAVv/B0BtD" },
};

static void t_cram(void **st)
{
	char key[MD5_HEX_LEN + 1], resp[CRAM_RESP_MAX];

	(void)st;
	assert_int_equal(md5_hex("consolesecret", 13, key), 0);
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		assert_int_equal(cram_response(vec[i].chal, key, false, resp), 0);
		assert_string_equal(resp, vec[i].resp);
		/* with the NUL as it travels, and without */
		assert_true(cram_verify(vec[i].chal, key, vec[i].resp,
					strlen(vec[i].resp) + 1));
		assert_true(cram_verify(vec[i].chal, key, vec[i].resp,
					strlen(vec[i].resp)));
		/* compatible variant is accepted too */
		assert_int_equal(cram_response(vec[i].chal, key, true, resp), 0);
		assert_true(cram_verify(vec[i].chal, key, resp, strlen(resp)));
	}
	assert_false(cram_verify(vec[0].chal, key, vec[1].resp, 22));
	assert_false(cram_verify(vec[0].chal, key, vec[0].resp, 21));
	assert_false(cram_verify(vec[0].chal, key, "", 0));
	assert_int_equal(md5_hex("wrong", 5, key), 0);
	assert_false(cram_verify(vec[0].chal, key, vec[0].resp, 22));
}

static void t_cram_lines(void **st)
{
	char chal[CRAM_CHAL_MAX], line[512];
	int ssl;
	bool compat;
	const char *l = "auth cram-md5 <1921128304.1795433377@R_DIRECTOR::pamkit-test-dir> ssl=2\n";

	(void)st;
	assert_int_equal(cram_parse_challenge_line(l, strlen(l), chal, &ssl, &compat), 0);
	assert_string_equal(chal, "<1921128304.1795433377@R_DIRECTOR::pamkit-test-dir>");
	assert_int_equal(ssl, 2);
	assert_false(compat);
	assert_int_equal(cram_challenge_line(chal, 2, line, sizeof(line)), (int)strlen(l));
	assert_string_equal(line, l);
	l = "auth cram-md5c <1.2@x> ssl=0\n";
	assert_int_equal(cram_parse_challenge_line(l, strlen(l), chal, &ssl, &compat), 0);
	assert_true(compat);
	assert_int_equal(ssl, 0);
	l = "auth cram-md5 <1.2@x> ssl=x\n";
	assert_int_equal(cram_parse_challenge_line(l, strlen(l), chal, &ssl, &compat), -1);
	l = "auth cram-md5 1.2@x ssl=1\n";
	assert_int_equal(cram_parse_challenge_line(l, strlen(l), chal, &ssl, &compat), -1);
	l = "auth cram-md5 <1.2@x> ssl=1\njunk";
	assert_int_equal(cram_parse_challenge_line(l, strlen(l), chal, &ssl, &compat), -1);
	assert_int_equal(cram_make_challenge("R_DIRECTOR::d", chal, sizeof(chal)), 0);
	assert_int_equal(chal[0], '<');
	assert_non_null(strstr(chal, "@R_DIRECTOR::d>"));
	assert_int_equal(cram_make_challenge("R_DIRECTOR::d", chal, 8), -1);
}

static void t_psk(void **st)
{
	char id[PSK_IDENTITY_MAX], name[128], key[MD5_HEX_LEN + 1];

	(void)st;
	assert_int_equal(psk_console_identity("pamcon", id, sizeof(id)), 16);
	assert_memory_equal(id, "R_CONSOLE\x1epamcon", 17);
	assert_int_equal(psk_parse_console_identity(id, name, sizeof(name)), 0);
	assert_string_equal(name, "pamcon");
	assert_int_equal(psk_parse_console_identity("R_DIRECTOR\x1ex", name, sizeof(name)), -1);
	assert_int_equal(psk_parse_console_identity("R_CONSOLE\x1e", name, sizeof(name)), -1);
	assert_int_equal(psk_console_identity("", id, sizeof(id)), -1);
	/* PSK bytes are the lowercase md5 hex of the password */
	md5_hex("consolesecret", 13, key);
	assert_int_equal(strlen(key), 32);
	for (int i = 0; i < 32; i++)
		assert_true((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f'));
}

static void t_hello(void **st)
{
	char name[NAME_MAX_LEN + 1], line[256];
	const char *l = "Hello pamcon calling version 26.0.0~pre1298.eda204c31 Version=\"26.0.0\"\n";

	(void)st;
	assert_int_equal(hello_parse(l, strlen(l), name), 0);
	assert_string_equal(name, "pamcon");
	l = "Hello pamcon calling version 25.1.0\n";
	assert_int_equal(hello_parse(l, strlen(l), name), 0);
	assert_int_equal(hello_parse("Hello *UserAgent* calling\n", 26, name), 0);
	assert_string_equal(name, "*UserAgent*");
	assert_int_equal(hello_parse("Hello my\x01" "con calling\n", 21, name), 0);
	assert_string_equal(name, "my con");
	assert_int_equal(hello_parse("Hello  calling\n", 15, name), -1);
	assert_int_equal(hello_parse("Hello x\n", 8, name), -1);
	assert_int_equal(hello_parse("Hello a\x02 calling\n", 17, name), -1);
	assert_int_equal(hello_parse("Hullo a calling\n", 16, name), -1);
	assert_int_equal(hello_parse("Hello a calling\nX", 17, name), -1);
	/* 18.2 and later say their version; older consoles do not */
	const char *v = "Hello pamcon calling version 26.0.0~pre1298.eda204c31 Version=\"26.0.0\"\n";
	assert_true(hello_has_version(v, strlen(v)));
	assert_false(hello_has_version("Hello pamcon calling\n", 21));
	assert_false(hello_has_version("Hello pamcon calling version \n", 30));
	assert_false(hello_has_version("Hello pamcon calling versions\n", 30));
	assert_int_equal(hello_build("pamcon", "26.0.0", line, sizeof(line)), 36);
	assert_string_equal(line, "Hello pamcon calling version 26.0.0\n");
}

static void t_pam_login(void **st)
{
	char u[PAM_FIELD_MAX + 1], p[PAM_FIELD_MAX + 1];

	(void)st;
	assert_int_equal(pam_login_parse("4001\x1e", 5, u, p), PAM_LOGIN_INTERACTIVE);
	assert_int_equal(pam_login_parse("4002\x1e" "alice\x1e" "wonderland", 21, u, p),
			 PAM_LOGIN_DIRECT);
	assert_string_equal(u, "alice");
	assert_string_equal(p, "wonderland");
	assert_int_equal(pam_login_parse("4002\x1e" "alice", 10, u, p), -1);
	assert_int_equal(pam_login_parse("4002\x1e\x1epw", 8, u, p), -1);
	assert_int_equal(pam_login_parse("4002\x1e" "a\x1e", 7, u, p), -1);
	assert_int_equal(pam_login_parse("4002\x1e" "a\x1e" "b\x1e" "c", 9, u, p), -1);
	assert_int_equal(pam_login_parse("4003\x1e", 5, u, p), -1);
	assert_int_equal(pam_login_parse("4001\x1ex", 6, u, p), -1);
	assert_int_equal(pam_login_parse("4002\x1e" "a\xff\x1e" "b", 9, u, p), -1);
	assert_true(utf8_valid("h\xc3\xa9", 3));
	assert_false(utf8_valid("\xed\xa0\x80", 3));
	assert_false(utf8_valid("\xc0\xaf", 2));
}

static void t_log_escape(void **st)
{
	char out[LOG_ESCAPED_MAX(8)];

	(void)st;
	log_escape("alice", out, sizeof(out));
	assert_string_equal(out, "alice");
	log_escape("a\nb\x1b[c\\d\xc3\xa9", out, sizeof(out));
	assert_string_equal(out, "a\\x0ab\\x1b[c\\x5cd\\xc3\\xa9");
	/* cut at a whole escape, always terminated */
	char small[6];
	assert_int_equal(log_escape("ab\ncd", small, sizeof(small)), 2);
	assert_string_equal(small, "ab");
	assert_int_equal(log_escape("x", small, 0), 0);
}

/* ---- PROXY protocol ---------------------------------------------------- */

static const uint8_t v2sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A,
				   0x51, 0x55, 0x49, 0x54, 0x0A };

/* A v2 header: sig, ver_cmd, fam, body (len bytes). */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam,
		 const uint8_t *body, size_t len)
{
	memcpy(out, v2sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(len >> 8);
	out[15] = (uint8_t)len;
	if (len)
		memcpy(out + 16, body, len);
	return 16 + len;
}

static const char *src_str(const struct proxy_hdr *h, char *buf, size_t n,
			   unsigned *port)
{
	if (h->src.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)&h->src;

		*port = ntohs(s->sin_port);
		return inet_ntop(AF_INET, &s->sin_addr, buf, (socklen_t)n);
	}
	const struct sockaddr_in6 *s6 = (const void *)&h->src;

	*port = ntohs(s6->sin6_port);
	return inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)n);
}

/* Every proper prefix of a whole header asks for more. */
static void all_prefixes_need_more(const uint8_t *b, size_t n)
{
	struct proxy_hdr h;

	for (size_t k = 0; k < n; k++)
		assert_int_equal(proxy_parse(b, k, &h), 0);
}

static void t_proxy_v1(void **st)
{
	struct proxy_hdr h;
	char a[64];
	unsigned port;
	const char *l4 = "PROXY TCP4 192.0.2.7 198.51.100.1 51234 9101\r\n";
	const char *l6 = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 9101\r\nXYZ";
	const char *bad[] = {
		"PROXY TCP4 192.0.2.7 198.51.100.1 51234\r\n",	/* field missing */
		"PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n",	/* two spaces */
		"PROXY TCP4 192.0.2.7 198.51.100.1 1 2 \r\n",	/* trailing space */
		"PROXY TCP5 192.0.2.7 198.51.100.1 1 2\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 1 2 3\r\n",
		"PROXY tcp4 192.0.2.7 198.51.100.1 1 2\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 1\n2\r\n",	/* bare LF */
	};
	const char *badaddr[] = {
		"PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n",	/* v6 in TCP4 */
		"PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n",
		"PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 01 2\r\n",	/* leading zero */
		"PROXY TCP4 192.0.2.7 198.51.100.1 -1 2\r\n",
	};
	char longl[200];

	(void)st;
	assert_int_equal(proxy_parse((const uint8_t *)l4, strlen(l4), &h),
			 (int)strlen(l4));
	assert_int_equal(h.version, 1);
	assert_false(h.local);
	assert_string_equal(src_str(&h, a, sizeof(a), &port), "192.0.2.7");
	assert_int_equal(port, 51234);
	all_prefixes_need_more((const uint8_t *)l4, strlen(l4));
	/* bytes after the header are not part of it */
	assert_int_equal(proxy_parse((const uint8_t *)l6, strlen(l6), &h),
			 (int)strlen(l6) - 3);
	assert_string_equal(src_str(&h, a, sizeof(a), &port), "2001:db8::7");
	assert_int_equal(port, 65535);
	assert_int_equal(proxy_parse((const uint8_t *)"PROXY UNKNOWN\r\n", 15, &h), 15);
	assert_true(h.local);
	assert_int_equal(proxy_parse((const uint8_t *)"PROXY UNKNOWN ffff::1 ::1 1 2\r\n",
				     31, &h), 31);
	assert_true(h.local);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(proxy_parse((const uint8_t *)bad[i], strlen(bad[i]), &h),
				 PROXY_E_SYNTAX);
	for (size_t i = 0; i < sizeof(badaddr) / sizeof(badaddr[0]); i++)
		assert_int_equal(proxy_parse((const uint8_t *)badaddr[i],
					     strlen(badaddr[i]), &h), PROXY_E_ADDRESS);
	/* no CRLF within the spec's 107 bytes */
	memset(longl, 'A', sizeof(longl));
	memcpy(longl, "PROXY UNKNOWN ", 14);
	assert_int_equal(proxy_parse((const uint8_t *)longl, 106, &h), 0);
	assert_int_equal(proxy_parse((const uint8_t *)longl, 107, &h), PROXY_E_TOO_BIG);
	assert_int_equal(proxy_parse((const uint8_t *)longl, sizeof(longl), &h),
			 PROXY_E_TOO_BIG);
	/* 107 bytes with CRLF at the end: the longest legal line */
	longl[105] = '\r';
	longl[106] = '\n';
	assert_int_equal(proxy_parse((const uint8_t *)longl, 107, &h), 107);
	/* not a PROXY header: a TLS ClientHello, a Bareos frame, "PROXZ" */
	assert_int_equal(proxy_parse((const uint8_t *)"\x16\x03\x01", 3, &h), PROXY_E_SIG);
	assert_int_equal(proxy_parse((const uint8_t *)"\0\0\0\x18Hello", 9, &h), PROXY_E_SIG);
	assert_int_equal(proxy_parse((const uint8_t *)"PROXZ", 5, &h), PROXY_E_SIG);
	assert_int_equal(proxy_parse((const uint8_t *)"PRO", 3, &h), 0);
}

static void t_proxy_v2(void **st)
{
	struct proxy_hdr h;
	uint8_t b[PROXY_V2_MAX + 64], body[300];
	char a[64];
	unsigned port;
	size_t n;

	(void)st;
	/* TCP4 192.0.2.7:51234 -> 198.51.100.1:9101 */
	memcpy(body, "\xc0\x00\x02\x07\xc6\x33\x64\x01\xc8\x22\x23\x8d", 12);
	n = v2(b, 0x21, 0x11, body, 12);
	assert_int_equal(proxy_parse(b, n, &h), (int)n);
	assert_int_equal(h.version, 2);
	assert_false(h.local);
	assert_string_equal(src_str(&h, a, sizeof(a), &port), "192.0.2.7");
	assert_int_equal(port, 51234);
	all_prefixes_need_more(b, n);
	/* with TLVs (ALPN "h2", a NOOP pad): ignored */
	memcpy(body + 12, "\x01\x00\x02h2\x04\x00\x03\0\0\0", 11);
	n = v2(b, 0x21, 0x11, body, 23);
	assert_int_equal(proxy_parse(b, n + 5, &h), (int)n);
	assert_false(h.local);
	/* a TLV running past the header; a lone TLV type byte */
	memcpy(body + 12, "\x01\x00\x09h2", 5);
	n = v2(b, 0x21, 0x11, body, 17);
	assert_int_equal(proxy_parse(b, n, &h), PROXY_E_TLV);
	n = v2(b, 0x21, 0x11, body, 13);
	assert_int_equal(proxy_parse(b, n, &h), PROXY_E_TLV);
	/* TCP6 2001:db8::7 port 443 */
	memset(body, 0, 36);
	memcpy(body, "\x20\x01\x0d\xb8", 4);
	body[15] = 7;
	body[32] = 0x01;
	body[33] = 0xbb;
	n = v2(b, 0x21, 0x21, body, 36);
	assert_int_equal(proxy_parse(b, n, &h), (int)n);
	assert_string_equal(src_str(&h, a, sizeof(a), &port), "2001:db8::7");
	assert_int_equal(port, 443);
	/* address block shorter than the family */
	n = v2(b, 0x21, 0x21, body, 35);
	assert_int_equal(proxy_parse(b, n, &h), PROXY_E_LENGTH);
	n = v2(b, 0x21, 0x11, body, 11);
	assert_int_equal(proxy_parse(b, n, &h), PROXY_E_LENGTH);
	/* LOCAL (health checks): any block, the connection's addresses */
	n = v2(b, 0x20, 0x00, NULL, 0);
	assert_int_equal(proxy_parse(b, n, &h), 16);
	assert_true(h.local);
	n = v2(b, 0x20, 0x11, body, 12);
	assert_int_equal(proxy_parse(b, n, &h), 28);
	assert_true(h.local);
	/* UNSPEC and UNIX: no IP address, the connection's stands */
	n = v2(b, 0x21, 0x00, NULL, 0);
	assert_int_equal(proxy_parse(b, n, &h), 16);
	assert_true(h.local);
	memset(body, 0, sizeof(body));
	n = v2(b, 0x21, 0x31, body, 216);
	assert_int_equal(proxy_parse(b, n, &h), (int)n);
	assert_true(h.local);
	n = v2(b, 0x21, 0x31, body, 215);
	assert_int_equal(proxy_parse(b, n, &h), PROXY_E_LENGTH);
	/* datagrams, unknown families, versions and commands */
	n = v2(b, 0x21, 0x12, body, 12);
	assert_int_equal(proxy_parse(b, n, &h), PROXY_E_FAMILY);
	n = v2(b, 0x21, 0x41, body, 12);
	assert_int_equal(proxy_parse(b, n, &h), PROXY_E_FAMILY);
	n = v2(b, 0x11, 0x11, body, 12);
	assert_int_equal(proxy_parse(b, n, &h), PROXY_E_VERSION);
	n = v2(b, 0x22, 0x11, body, 12);
	assert_int_equal(proxy_parse(b, n, &h), PROXY_E_COMMAND);
	/* refused as soon as the 16 bytes say so, not after the body */
	n = v2(b, 0x11, 0x11, body, 12);
	assert_int_equal(proxy_parse(b, 16, &h), PROXY_E_VERSION);
	/* too long: refused on the length field alone */
	b[14] = (uint8_t)((PROXY_V2_MAX - 16 + 1) >> 8);
	b[15] = (uint8_t)(PROXY_V2_MAX - 16 + 1);
	b[12] = 0x21;
	b[13] = 0x11;
	assert_int_equal(proxy_parse(b, 16, &h), PROXY_E_TOO_BIG);
	b[14] = 0xff;
	b[15] = 0xff;
	assert_int_equal(proxy_parse(b, 16, &h), PROXY_E_TOO_BIG);
	/* the longest we take */
	memset(body, 0, sizeof(body));
	memcpy(b, v2sig, 12);
	b[12] = 0x21;
	b[13] = 0x11;
	b[14] = (uint8_t)((PROXY_V2_MAX - 16) >> 8);
	b[15] = (uint8_t)(PROXY_V2_MAX - 16);
	memset(b + 16, 0, PROXY_V2_MAX - 16);	/* 12 address bytes + NOOP TLVs */
	{
		size_t off = 16 + 12, left = PROXY_V2_MAX - 16 - 12;

		while (left) {
			size_t l = left - 3 > 0xffff ? 0xffff : left - 3;

			b[off] = 0x04;
			b[off + 1] = (uint8_t)(l >> 8);
			b[off + 2] = (uint8_t)l;
			off += 3 + l;
			left -= 3 + l;
		}
	}
	assert_int_equal(proxy_parse(b, PROXY_V2_MAX, &h), PROXY_V2_MAX);
	/* a broken signature at any byte */
	for (size_t i = 0; i < 12; i++) {
		n = v2(b, 0x21, 0x11, body, 12);
		b[i] ^= 0x20;
		assert_int_equal(proxy_parse(b, n, &h), PROXY_E_SIG);
	}
}

static void t_proxy_net(void **st)
{
	struct proxy_net nets[4];
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };

	(void)st;
	assert_int_equal(proxy_net_parse("10.0.0.0/8", &nets[0]), 0);
	assert_int_equal(proxy_net_parse("192.0.2.7", &nets[1]), 0);
	assert_int_equal(nets[1].prefix, 32);
	assert_int_equal(proxy_net_parse("2001:db8::/32", &nets[2]), 0);
	assert_int_equal(proxy_net_parse("172.16.0.0/12", &nets[3]), 0);
	const char *bad[] = { "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "/8",
			      "10.0.0.0/08", "host.example", "2001:db8::/129",
			      "10.0.0.0/8x", "", "10.0.0.0 /8" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(proxy_net_parse(bad[i], &nets[0]), -1);
	assert_int_equal(proxy_net_parse("10.0.0.0/8", &nets[0]), 0);

	inet_pton(AF_INET, "10.200.1.2", &s4.sin_addr);
	assert_true(proxy_net_match(nets, 4, (struct sockaddr *)&s4));
	inet_pton(AF_INET, "11.0.0.1", &s4.sin_addr);
	assert_false(proxy_net_match(nets, 4, (struct sockaddr *)&s4));
	inet_pton(AF_INET, "192.0.2.8", &s4.sin_addr);
	assert_false(proxy_net_match(nets, 4, (struct sockaddr *)&s4));
	inet_pton(AF_INET, "172.31.255.255", &s4.sin_addr);
	assert_true(proxy_net_match(nets, 4, (struct sockaddr *)&s4));
	inet_pton(AF_INET, "172.32.0.0", &s4.sin_addr);
	assert_false(proxy_net_match(nets, 4, (struct sockaddr *)&s4));
	inet_pton(AF_INET6, "2001:db8:ffff::1", &s6.sin6_addr);
	assert_true(proxy_net_match(nets, 4, (struct sockaddr *)&s6));
	inet_pton(AF_INET6, "2001:db9::1", &s6.sin6_addr);
	assert_false(proxy_net_match(nets, 4, (struct sockaddr *)&s6));
	/* v4-mapped v6 is matched as the v4 address */
	inet_pton(AF_INET6, "::ffff:10.1.1.1", &s6.sin6_addr);
	assert_true(proxy_net_match(nets, 4, (struct sockaddr *)&s6));
	inet_pton(AF_INET6, "::ffff:11.1.1.1", &s6.sin6_addr);
	assert_false(proxy_net_match(nets, 4, (struct sockaddr *)&s6));
	/* no nets: nothing is trusted */
	assert_false(proxy_net_match(nets, 0, (struct sockaddr *)&s6));
	/* /0 trusts a whole family */
	assert_int_equal(proxy_net_parse("0.0.0.0/0", &nets[0]), 0);
	inet_pton(AF_INET, "203.0.113.9", &s4.sin_addr);
	assert_true(proxy_net_match(nets, 1, (struct sockaddr *)&s4));
	inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
	assert_false(proxy_net_match(nets, 1, (struct sockaddr *)&s6));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_frame),
		cmocka_unit_test(t_b64),
		cmocka_unit_test(t_cram),
		cmocka_unit_test(t_cram_lines),
		cmocka_unit_test(t_psk),
		cmocka_unit_test(t_hello),
		cmocka_unit_test(t_pam_login),
		cmocka_unit_test(t_log_escape),
		cmocka_unit_test(t_proxy_v1),
		cmocka_unit_test(t_proxy_v2),
		cmocka_unit_test(t_proxy_net),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
