/* console.c - the minimal console after login: version, whoami, .api,
 * quit; anything else gets a clear "not supported" line.  Every answer
 * ends with BNET_EOD as the director does. */
#include "conn.h"

#include <stdio.h>
#include <string.h>

static void reply(struct conn *c, const char *text)
{
	conn_send_str(c, text);
	conn_send_signal(c, BNET_EOD);
}

void console_command(struct conn *c, const char *cmd, size_t n)
{
	char line[512], out[1024];
	size_t l = n;

	if (l && cmd[l - 1] == '\0')
		l--;
	while (l && (cmd[l - 1] == '\n' || cmd[l - 1] == ' '))
		l--;
	if (l >= sizeof(line) || memchr(cmd, '\0', l) || !utf8_valid(cmd, l)) {
		reply(c, "pamkit-authd: command rejected (too long or not UTF-8)\n");
		return;
	}
	memcpy(line, cmd, l);
	line[l] = '\0';
	if (!strcmp(line, "whoami")) {
		/* the director: the PAM user, the named console, or root for
		   the default console */
		snprintf(out, sizeof(out), "%s\n", c->logged_in && c->user[0] ?
			 c->user : !strcmp(c->console, DEFAULT_CONSOLE) ? "root" :
			 c->console);
		reply(c, out);
	} else if (!strcmp(line, "version")) {
		snprintf(out, sizeof(out), "%s Version: %s (pamkit-authd %s)\n",
			 c->conf->director_name, c->conf->version,
			 PAMKIT_AUTHD_VERSION);
		reply(c, out);
	} else if (!strcmp(line, ".api") || !strncmp(line, ".api ", 5)) {
		const char *a = line[4] ? line + 5 : "1";

		/* never "accepted" and then ignored: this console answers in
		   text; the director's API modes (1, 2 = JSON-RPC) are not
		   spoken, and a client that needs them hears so at once */
		if (!strcmp(a, "0") || !strcmp(a, "off"))
			conn_send_signal(c, BNET_EOD);
		else
			reply(c, "pamkit-authd: .api modes 1, 2 and json are not "
			      "supported: this console answers in text (.api 0)\n");
	} else if (!strcmp(line, "quit") || !strcmp(line, "exit")) {
		conn_send_signal(c, BNET_TERMINATE);
		conn_set_state(c, CS_CLOSING);
	} else if (!l) {
		conn_send_signal(c, BNET_EOD);
	} else {
		char word[64];
		size_t wl = 0;

		/* echo the command word only, printable ASCII: what follows it
		 * (or a stray "4002<RS>user<RS>password") may be a secret */
		while (wl < l && wl < sizeof(word) - 1 &&
		       (unsigned char)line[wl] > ' ' && (unsigned char)line[wl] < 0x7f)
			wl++;
		memcpy(word, line, wl);
		word[wl] = '\0';
		snprintf(out, sizeof(out),
			 "pamkit-authd: command \"%s\" is not supported "
			 "(supported: version, whoami, .api, quit)\n", word);
		explicit_bzero(line, sizeof(line));
		reply(c, out);
	}
}
