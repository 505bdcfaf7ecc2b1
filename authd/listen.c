/* listen.c - open the listening sockets (see listen.h). */
#include "listen.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void append(char *desc, size_t len, const char *fmt, const char *a,
		   const char *b)
{
	size_t used = strlen(desc);

	if (used < len)
		snprintf(desc + used, len - used, fmt, used ? ", " : "", a, b);
}

int listen_tcp(const char *addr, const char *port, char *bound_port,
	       size_t bplen, char *desc, size_t desclen)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	int fd = -1, one = 1, rc;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(addr, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "pamkit-authd: listen address %s port %s: %s\n",
			addr, port, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (ai->ai_family == AF_INET6 &&	/* "::" is IPv6 only; list 0.0.0.0 too */
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv,
			sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV)) {
		fprintf(stderr, "pamkit-authd: cannot listen on %s port %s: %s\n",
			addr, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	snprintf(bound_port, bplen, "%s", serv);
	append(desc, desclen, "%s%s port %s", host, serv);
	return fd;
}

int listen_unix(const char *path, char *desc, size_t desclen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* a stale socket from an earlier run is replaced; anything else not */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "pamkit-authd: %s exists and is not a socket\n",
				path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, 1024)) {
		fprintf(stderr, "pamkit-authd: cannot listen on %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	append(desc, desclen, "%sunix %s%s", path, "");
	return fd;
}

int listen_open(const struct authd_conf *cf, struct listener *l, size_t max,
		char *desc, size_t desclen)
{
	char *list = strdup(cf->listen_address), *save = NULL, *a;
	char port[NI_MAXSERV];
	size_t n = 0;

	desc[0] = '\0';
	if (!list)
		return -1;
	snprintf(port, sizeof(port), "%s", cf->listen_port);
	for (a = strtok_r(list, ", ", &save); a; a = strtok_r(NULL, ", ", &save)) {
		int fd;

		if (n + 1 >= max) {
			fprintf(stderr, "pamkit-authd: too many listen addresses\n");
			goto fail;
		}
		fd = listen_tcp(a, port, port, sizeof(port), desc, desclen);
		if (fd < 0)
			goto fail;
		l[n].w.kind = WATCH_LISTEN;
		l[n].w.fd = fd;
		l[n].local = false;
		n++;
	}
	if (cf->listen_unix) {
		int fd = listen_unix(cf->listen_unix, desc, desclen);

		if (fd < 0)
			goto fail;
		l[n].w.kind = WATCH_LISTEN;
		l[n].w.fd = fd;
		l[n].local = true;
		n++;
	}
	if (n == 0) {
		fprintf(stderr, "pamkit-authd: nothing to listen on\n");
		goto fail;
	}
	free(list);
	return (int)n;
fail:
	free(list);
	listen_close(NULL, l, n);
	return -1;
}

void listen_close(const struct authd_conf *cf, struct listener *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		close(l[i].w.fd);
		if (l[i].local && cf && cf->listen_unix)
			unlink(cf->listen_unix);
	}
}
