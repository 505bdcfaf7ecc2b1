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
		snprintf(out, sizeof(out), "%s\n", c->logged_in && c->user[0] ?
			 c->user : c->console);
		reply(c, out);
	} else if (!strcmp(line, "version")) {
		snprintf(out, sizeof(out), "%s Version: %s (pamkit-authd %s)\n",
			 c->conf->director_name, c->conf->version,
			 PAMKIT_AUTHD_VERSION);
		reply(c, out);
	} else if (!strcmp(line, ".api") || !strncmp(line, ".api ", 5)) {
		const char *a = line[4] ? line + 5 : "1";

		if (strcmp(a, "0") && strcmp(a, "1") && strcmp(a, "2") &&
		    strcmp(a, "on") && strcmp(a, "off") && strcmp(a, "json")) {
			reply(c, "pamkit-authd: .api takes 0, 1, 2, on, off or json\n");
			return;
		}
		snprintf(out, sizeof(out), "api mode %s accepted\n", a);
		reply(c, out);
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
