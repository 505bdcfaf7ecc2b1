/* test_conf.c - pamkit-authd.conf parser: values, defaults and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"
#include "cram.h"

static char path[64];

static void write_conf(const char *text)
{
	FILE *f;
	int fd;

	strcpy(path, "/tmp/authd-conf-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void t_good(void **st)
{
	struct authd_conf c;
	char err[256];
	const struct console_conf *cc;

	(void)st;
	write_conf("# comment\ndirector_name = pamkit-test-dir\n"
		   "listen_port = 9191\ntls = optional\nmax_connections = 7\n"
		   "[console pamcon]\npassword = consolesecret # trailing\npam = yes\n"
		   "pam_service = other\n[console plain]\npassword = x\n");
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), 0);
	unlink(path);
	assert_string_equal(c.director_name, "pamkit-test-dir");
	assert_string_equal(c.listen_port, "9191");
	assert_string_equal(c.listen_address, "127.0.0.1");
	assert_string_equal(c.pam_service, "bareos");
	assert_int_equal(c.tls, TLS_OPTIONAL);
	assert_int_equal(c.max_connections, 7);
	assert_int_equal(c.fail_delay_ms, 2000);
	assert_int_equal(c.pam_threads, 64);
	assert_int_equal(c.pam_queue, 4096);
	assert_false(c.pam_rhost);
	assert_false(c.pam_session);	/* as the director */
	assert_null(c.pam_tty);
	assert_null(c.listen_unix);
	assert_null(c.tls_certificate);
	cc = conf_console(&c, "pamcon");
	assert_non_null(cc);
	assert_true(cc->pam);
	assert_string_equal(cc->pam_service, "other");
	/* stored as md5 hex of the password, as Bareos does */
	assert_int_equal(strlen(cc->key), 32);
	assert_false(conf_console(&c, "plain")->pam);
	assert_null(conf_console(&c, "nobody"));
	conf_free(&c);
}

static void t_more_keys(void **st)
{
	struct authd_conf c;
	char err[256];

	(void)st;
	write_conf("listen_address = 127.0.0.1, ::1\nlisten_unix = /run/a.sock\n"
		   "tls_certificate = /etc/c.pem\ntls_key = /etc/k.pem\n"
		   "pam_threads = 256\npam_rhost = yes\npam_session = yes\n"
		   "pam_tty = bareos\n[console a]\npassword = x\n");
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), 0);
	unlink(path);
	assert_string_equal(c.listen_address, "127.0.0.1, ::1");
	assert_string_equal(c.listen_unix, "/run/a.sock");
	assert_string_equal(c.tls_certificate, "/etc/c.pem");
	assert_string_equal(c.tls_key, "/etc/k.pem");
	assert_int_equal(c.pam_threads, 256);
	assert_true(c.pam_rhost);
	assert_true(c.pam_session);
	assert_string_equal(c.pam_tty, "bareos");
	conf_free(&c);
}

static void t_bad(void **st)
{
	static const struct {
		const char *text, *msg;
	} v[] = {
		{ "bogus = 1\n[console a]\npassword = x\n", ":1: unknown key \"bogus\"" },
		{ "max_connections = -1\n[console a]\npassword = x\n", ":1: bad value" },
		{ "max_connections = 12x\n[console a]\npassword = x\n", ":1: bad value" },
		{ "tls = maybe\n[console a]\npassword = x\n", ":1: bad value" },
		{ "[console a]\npam = perhaps\n", ":2: bad value" },
		{ "[console a]\n", "has no password" },
		{ "[console a]\npassword = x\n[console a]\npassword = y\n", "duplicate console" },
		{ "[consoles a]\n", "bad section" },
		{ "director_name\n", "expected key = value" },
		{ "director_name =\n", "empty value" },
		{ "pam_threads = 0\n[console a]\npassword = x\n", ":1: bad value" },
		{ "pam_threads = 4097\n[console a]\npassword = x\n", ":1: bad value" },
		{ "pam_session = often\n[console a]\npassword = x\n", ":1: bad value" },
		{ "pam_rhost = sometimes\n[console a]\npassword = x\n", ":1: bad value" },
		{ "listen_unix = run/a.sock\n[console a]\npassword = x\n", ":1: bad value" },
		{ "tls_key = /k\n[console a]\npassword = x\n", "tls_key without tls_certificate" },
	};
	struct authd_conf c;
	char err[256];

	(void)st;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		write_conf(v[i].text);
		assert_int_equal(conf_load(path, &c, err, sizeof(err)), -1);
		unlink(path);
		if (!strstr(err, v[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, v[i].msg);
	}
	/* console passwords: a file others may read is refused */
	write_conf("[console a]\npassword = x\n");
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), -1);
	unlink(path);
	assert_non_null(strstr(err, "accessible by others"));
	assert_int_equal(conf_load("/nonexistent/authd.conf", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
}

/* Bareos resource syntax: the Director and Console resources of a
   bareos-dir.conf, other resources skipped, Bareos' keyword rules. */
static void t_bareos(void **st)
{
	struct authd_conf c;
	char err[256], md5[MD5_HEX_LEN + 1];
	const struct console_conf *cc;

	(void)st;
	write_conf("# bareos-dir.conf\n"
		   "Director {                  # define myself\n"
		   "  Name = bareos-dir\n"
		   "  QueryFile = \"/usr/lib/bareos/scripts/query.sql\"\n"
		   "  Maximum Concurrent Jobs = 10\n"
		   "  Password = \"dirpassword\"\n"
		   "  DirAddresses = {\n"
		   "    ip = { addr = 127.0.0.1; port = 9191 }\n"
		   "    ipv6 = { addr = ::1; port = 9191 }\n"
		   "  }\n"
		   "  TLS Require = no\n"
		   "  pam_threads = 8; Pam Session = yes\n"
		   "}\n"
		   "Job { Name = \"backup\"; Schedule = { Run = daily } }\n"
		   "Console {\n"
		   "  Name = \"web admin\"\n"
		   "  Password = \"[md5]5EBE2294ECD0E0F08EAB7690D2A6EE69\"\n"
		   "  Profile = \"webui-admin\"\n"
		   "  UsePamAuthentication = yes\n"
		   "}\n"
		   "Console { Name = op; Password = \"x\\\"y\"; }\n"
		   "User { Name = alice }\n");
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), 0);
	unlink(path);
	assert_string_equal(c.director_name, "bareos-dir");
	assert_string_equal(c.listen_address, "127.0.0.1, ::1");
	assert_string_equal(c.listen_port, "9191");
	assert_int_equal(c.tls, TLS_OPTIONAL);
	assert_int_equal(c.pam_threads, 8);
	assert_true(c.pam_session);
	assert_int_equal(c.nconsoles, 3);
	assert_non_null(cc = conf_console(&c, DEFAULT_CONSOLE));
	assert_int_equal(md5_hex("dirpassword", 11, md5), 0);
	assert_string_equal(cc->key, md5);
	assert_false(cc->pam);
	assert_non_null(cc = conf_console(&c, "web admin"));
	assert_string_equal(cc->key, "5ebe2294ecd0e0f08eab7690d2a6ee69");
	assert_true(cc->pam);
	assert_non_null(cc = conf_console(&c, "op"));
	assert_int_equal(md5_hex("x\"y", 3, md5), 0);
	assert_string_equal(cc->key, md5);
	conf_free(&c);

	/* TLS on and required by default (Bareos 18.2 and later) */
	write_conf("Director { Name = d }\nConsole { Name = a; Password = p }\n");
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(c.tls, TLS_REQUIRED);
	conf_free(&c);

	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "Director {\n Name = d\n Bogus Thing = 1\n}\n", ":3: unknown directive \"Bogus Thing\"" },
		{ "Director {\n Name = d\n", "missing '}'" },
		{ "Director { Name = \"d }\n", "unterminated string" },
		{ "Console { Password = p }\n", "Console without a Name" },
		{ "Console { Name = \"a*b\"; Password = p }\n", "bad or second console Name" },
		{ "Console { Name = a; Password = \"[md5]xyz\" }\n", "bad value for \"Password\"" },
		{ "Director { Name = d }\nDirector { Name = e }\n", "a second Director" },
		{ "Console { Name = a; Password = p }\nConsole { Name = a; Password = q }\n", "duplicate console" },
		{ "Director { Name = d; DirPort = 99999 }\n", "bad value for \"DirPort\"" },
		{ "@relative/path.conf\n", "needs an absolute path" },
		{ "Director { = 1 }\n", "expected a directive" },
		{ "Console { Name = a; UsePamAuthentication = sometimes; Password = p }\n", "bad value" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_conf(bad[i].text);
		if (conf_load(path, &c, err, sizeof(err)) != -1)
			fail_msg("case %zu was accepted", i);
		unlink(path);
		if (!strstr(err, bad[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].msg);
	}
}

/* @includes with glob patterns; included files are checked like the main
   one (they hold passwords too). */
static void t_bareos_include(void **st)
{
	struct authd_conf c;
	char err[256], dir[] = "/tmp/authd-inc-XXXXXX", f1[64], f2[64], main[128];
	FILE *f;

	(void)st;
	assert_non_null(mkdtemp(dir));
	snprintf(f1, sizeof(f1), "%s/a.conf", dir);
	snprintf(f2, sizeof(f2), "%s/b.conf", dir);
	f = fopen(f1, "w");
	fputs("Console { Name = one; Password = p1 }\n", f);
	fclose(f);
	f = fopen(f2, "w");
	fputs("Console { Name = two; Password = p2; UsePamAuthentication = yes }\n", f);
	fclose(f);
	chmod(f1, 0600);
	chmod(f2, 0600);
	snprintf(main, sizeof(main), "Director { Name = d }\n@%s/*.conf\n", dir);
	write_conf(main);
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.nconsoles, 2);
	assert_non_null(conf_console(&c, "one"));
	assert_true(conf_console(&c, "two")->pam);
	conf_free(&c);
	chmod(f2, 0644);
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "b.conf"));
	assert_non_null(strstr(err, "accessible by others"));
	unlink(path);
	unlink(f1);
	unlink(f2);
	rmdir(dir);
}

static void t_bareos_lines(void **st)
{
	struct authd_conf c;
	char err[256];

	(void)st;
	/* values that run to the end of the line, as Bareos reads them, and
	   a directive after a value on the same line */
	write_conf("Director {\n"
		   "  Name = bareos-dir\n"
		   "  Heartbeat Interval = 1 min\n"
		   "  Description = the director of the backups\n"
		   "  Maximum Concurrent Jobs = 10 Dir Port = 9292\n"
		   "  Statistics Retention = 5 years # a comment\n"
		   "  Password = \"x\"\n"
		   "}\n"
		   "Console { Name = op; Password = \"y\"\n"
		   "  Description = web operators\n"
		   "  Heartbeat Interval = 30 s }\n"
		   "User { Name = alice; Description = the admin }\n"
		   "User {\n  Name = bob\n}\n");
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), 0);
	unlink(path);
	assert_string_equal(c.director_name, "bareos-dir");
	assert_string_equal(c.listen_port, "9292");
	assert_non_null(conf_console(&c, "op"));
	assert_int_equal(c.npam_users, 2);
	assert_true(conf_pam_user_allowed(&c, "alice"));
	assert_true(conf_pam_user_allowed(&c, "bob"));
	assert_false(conf_pam_user_allowed(&c, "carol"));
	conf_free(&c);
	/* the words after a name are still an error where Bareos has one */
	write_conf("Director {\n  Name = bareos dir\n  Password = \"x\"\n}\n");
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), -1);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_good),
		cmocka_unit_test(t_more_keys),
		cmocka_unit_test(t_bad),
		cmocka_unit_test(t_bareos),
		cmocka_unit_test(t_bareos_include),
		cmocka_unit_test(t_bareos_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
