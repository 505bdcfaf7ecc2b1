/* listen.h - the daemon's listening sockets: every address of
 * listen_address (comma-separated, IPv4 and IPv6) on listen_port, and the
 * optional UNIX socket listen_unix. */
#ifndef AUTHD_LISTEN_H
#define AUTHD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "conn.h"

#define LISTEN_MAX 9

struct listener {
	struct watch w;		/* kind WATCH_LISTEN, fd set */
	bool local;		/* AF_UNIX */
};

/* Open them all (non-blocking).  With port 0 the first address picks a
 * free port and the others use the same one.  Describes them in desc
 * ("127.0.0.1 port N, ::1 port N, unix /path").  Returns the count or -1
 * (message on stderr, nothing left open). */
int listen_open(const struct authd_conf *cf, struct listener *l, size_t max,
		char *desc, size_t desclen);
void listen_close(const struct authd_conf *cf, struct listener *l, size_t n);
/* One listening socket (non-blocking), described in desc ("HOST port N",
   "unix PATH"); -1 with a message on stderr.  listen_tcp writes the port
   it got into bound_port (port "0": any free one).  A stale UNIX socket
   is replaced, any other file there is not. */
int listen_tcp(const char *addr, const char *port, char *bound_port,
	       size_t bplen, char *desc, size_t desclen);
int listen_unix(const char *path, char *desc, size_t desclen);

#endif
