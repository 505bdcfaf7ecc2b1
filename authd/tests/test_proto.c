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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
