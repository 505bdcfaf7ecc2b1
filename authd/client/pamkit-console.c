/* pamkit-console - log in to pamkit-authd (or a Bareos director) as a
 * console, through PAM interactively or directly, run commands.
 * Exit status: see enum bc_result (0 ok, 2 connect, 3 TLS-PSK, 4 console
 * password, 5 PAM, 6 protocol, 7 command). */
#include "bclient.h"
#include "conf.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pamkit-console [options] -n CONSOLE [COMMAND...]\n"
		"  -c FILE            bconsole's configuration (Director and Console\n"
		"                     resources): address, port, console and key\n"
		"  -H HOST            server address (127.0.0.1, ::1, ...) or the\n"
		"                     path of its UNIX socket (/run/...)\n"
		"  -p PORT            port (9101)\n"
		"  -n CONSOLE         console name\n"
		"  -k FILE            file holding the console password\n"
		"                     (default: $PAMKIT_CONSOLE_PASSWORD)\n"
		"  -u USER            direct PAM login as USER; the PAM password is\n"
		"                     read from -w FILE or $PAMKIT_PAM_PASSWORD\n"
		"  -w FILE            file holding the PAM password\n"
		"  -T                 no TLS (cleartext, only if the server allows)\n"
		"  -C CAFILE          certificate TLS instead of TLS-PSK: verify the\n"
		"                     server against CAFILE and the -H name/address\n"
		"  -t MS              I/O timeout (30000)\n"
		"  -s                 then run the commands of standard input, one\n"
		"                     a line (after any PAM answers read there)\n"
		"  -h, --help         show this help\n"
		"      --version      show the version\n"
		"Each COMMAND runs in turn in one session, its output passed through\n"
		"as the server sends it; without COMMAND and -s, \"whoami\".  Without\n"
		"-u, PAM prompts are asked on the terminal (echo off for secrets) or\n"
		"read from stdin lines.\n");
}

/* Read a one-line secret from a file; strips the newline. */
static char *read_secret_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char buf[1024];
	char *s = NULL;

	if (!f)
		return NULL;
	if (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\r\n")] = '\0';
		s = strdup(buf);
	}
	explicit_bzero(buf, sizeof(buf));
	fclose(f);
	return s;
}

static int tty_prompt(const char *text, bool echo, char *answer, size_t cap,
		      void *arg)
{
	FILE *in = stdin;
	struct termios old, raw;
	bool restore = false;
	int isatty_in = isatty(fileno(in));

	(void)arg;
	fputs(text, stderr);
	fflush(stderr);
	if (!echo && isatty_in && tcgetattr(fileno(in), &old) == 0) {
		raw = old;
		raw.c_lflag &= ~(tcflag_t)ECHO;
		if (tcsetattr(fileno(in), TCSAFLUSH, &raw) == 0)
			restore = true;
	}
	if (!fgets(answer, (int)cap, in)) {
		if (restore)
			tcsetattr(fileno(in), TCSAFLUSH, &old);
		return -1;
	}
	if (restore) {
		tcsetattr(fileno(in), TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	answer[strcspn(answer, "\r\n")] = '\0';
	return 0;
}

/*
 * -c bconsole.conf: the Director's Address, DirPort and Password (the
 * default console), the Console resources (name, password); read with
 * the daemon's parser.  What -H, -p, -n give wins; the console is -n's,
 * else the file's first Console, else the default console.  Strings are
 * copied into *keep (freed by the caller).
 */
static int from_config(const char *path, struct bc_options *o,
		       bool host_set, bool port_set, bool need_key,
		       char *keep[4])
{
	struct authd_conf cf;
	const struct console_conf *cc;
	char err[512], *comma;

	if (conf_load_client(path, &cf, err, sizeof(err))) {
		fprintf(stderr, "pamkit-console: %s\n", err);
		return -1;
	}
	if (o->console) {
		cc = conf_console(&cf, o->console);
	} else {
		/* as bconsole: a Console resource if there is one, else the
		   default console with the Director's password */
		cc = conf_console(&cf, DEFAULT_CONSOLE);
		for (size_t i = 0; i < cf.nconsoles; i++) {
			if (strcmp(cf.consoles[i].name, DEFAULT_CONSOLE)) {
				cc = &cf.consoles[i];
				break;
			}
		}
	}
	if ((!cc || !cc->key) && need_key) {
		fprintf(stderr, "pamkit-console: %s: no console %s%s%s with a "
			"password\n", path, o->console ? "\"" : "",
			o->console ? o->console : "", o->console ? "\"" : "");
		conf_free(&cf);
		return -1;
	}
	keep[0] = strdup(cf.listen_address);
	keep[1] = strdup(cf.listen_port);
	if (cc && cc->key) {
		keep[2] = strdup(cc->name);
		keep[3] = strdup(cc->key);
	}
	conf_free(&cf);
	if (!keep[0] || !keep[1] || (cc && cc->key && (!keep[2] || !keep[3])))
		return -1;
	if ((comma = strchr(keep[0], ',')))	/* DirAddresses: the first */
		*comma = '\0';
	if (!host_set)
		o->host = keep[0];
	if (!port_set)
		o->port = keep[1];
	if (keep[2]) {
		o->console = keep[2];
		o->key_hex = keep[3];
	}
	return 0;
}

/* One command; its output as the server sent it. */
static int run_command(struct bc_conn *c, const char *cmd)
{
	char *out = NULL;
	int r = bc_command(c, cmd, &out);

	if (out) {
		fputs(out, stdout);
		fflush(stdout);
	}
	free(out);
	if (r)
		fprintf(stderr, "pamkit-console: %s\n", bc_result_str(r));
	return r;
}

int main(int argc, char **argv)
{
	struct bc_options o = { .host = "127.0.0.1", .port = "9101", .tls = true };
	struct bc_conn *c = NULL;
	const char *user = NULL, *kfile = NULL, *wfile = NULL, *cfile = NULL;
	char *keep[4] = { NULL, NULL, NULL, NULL };
	bool script = false, host_set = false, port_set = false;
	char *cpass = NULL, *ppass = NULL, err[256], who[600];
	int opt, r;

	/* TLS writes go through write(2): a daemon that already closed (after
	 * BNET_TERMINATE, on a UNIX socket at once) must not kill us */
	signal(SIGPIPE, SIG_IGN);
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	while ((opt = getopt_long(argc, argv, "c:H:p:n:k:u:w:TC:t:sh", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'V': printf("pamkit-console %s\n", PAMKIT_AUTHD_VERSION); return 0;
		case 'c': cfile = optarg; break;
		case 'H': o.host = optarg; host_set = true; break;
		case 'p': o.port = optarg; port_set = true; break;
		case 'n': o.console = optarg; break;
		case 'k': kfile = optarg; break;
		case 'u': user = optarg; break;
		case 'w': wfile = optarg; break;
		case 'T': o.tls = false; break;
		case 'C': o.ca_file = optarg; break;
		case 't': o.timeout_ms = atoi(optarg); break;
		case 's': script = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return BC_ERR_USAGE;
		}
	}
	if (cfile && from_config(cfile, &o, host_set, port_set, !kfile, keep)) {
		r = BC_ERR_USAGE;
		goto out;
	}
	if (!o.console) {
		usage(stderr);
		r = BC_ERR_USAGE;
		goto out;
	}
	if (kfile) {
		o.key_hex = NULL;	/* -k wins over the file's password */
		cpass = read_secret_file(kfile);
	} else if (!o.key_hex && getenv("PAMKIT_CONSOLE_PASSWORD"))
		cpass = strdup(getenv("PAMKIT_CONSOLE_PASSWORD"));
	if (!cpass && !o.key_hex) {
		fprintf(stderr, "pamkit-console: no console password (-k FILE, "
				"$PAMKIT_CONSOLE_PASSWORD or -c FILE)\n");
		r = BC_ERR_USAGE;
		goto out;
	}
	if (user) {
		if (wfile)
			ppass = read_secret_file(wfile);
		else if (getenv("PAMKIT_PAM_PASSWORD"))
			ppass = strdup(getenv("PAMKIT_PAM_PASSWORD"));
		if (!ppass) {
			fprintf(stderr, "pamkit-console: -u needs a PAM password (-w FILE "
					"or $PAMKIT_PAM_PASSWORD)\n");
			r = BC_ERR_USAGE;
			goto out;
		}
	}
	o.password = cpass;
	r = bc_connect(&o, &c, err, sizeof(err));
	if (r) {
		fprintf(stderr, "pamkit-console: %s%s%s\n", bc_result_str(r),
			err[0] ? ": " : "", err);
		goto out;
	}
	if (bc_pam_required(c)) {
		r = user ? bc_pam_direct(c, user, ppass)
			 : bc_pam_interactive(c, tty_prompt, NULL);
		if (r) {
			fprintf(stderr, "pamkit-console: %s\n", bc_result_str(r));
			goto out;
		}
	}
	r = bc_greeting(c, who, sizeof(who));
	if (r) {
		fprintf(stderr, "pamkit-console: %s\n", bc_result_str(r));
		goto out;
	}
	fprintf(stderr, "pamkit-console: logged in as %s\n", who);
	if (optind == argc && !script)
		r = run_command(c, "whoami");
	for (int i = optind; i < argc && !r; i++)
		r = run_command(c, argv[i]);
	if (script && !r) {
		char line[4096];

		while (!r && fgets(line, sizeof(line), stdin)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (line[0])
				r = run_command(c, line);
		}
	}
out:
	bc_close(c);
	for (int i = 0; i < 4; i++) {
		if (keep[i])
			explicit_bzero(keep[i], strlen(keep[i]));
		free(keep[i]);
	}
	if (cpass) {
		explicit_bzero(cpass, strlen(cpass));
		free(cpass);
	}
	if (ppass) {
		explicit_bzero(ppass, strlen(ppass));
		free(ppass);
	}
	return r;
}
