/* input.c - line reader for answers, buffered and wiped. */
#include "input.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One line plus its newline fits exactly. */
static char buf[INPUT_MAX_LINE + 1];
static size_t buf_len;
static bool buf_eof;

void input_wipe(void)
{
	explicit_bzero(buf, sizeof(buf));
	buf_len = 0;
}

/* Take n bytes off the front as a string, dropping skip more bytes. */
static char *take(size_t n, size_t skip)
{
	char *s = malloc(n + 1);

	if (!s)
		return NULL;
	memcpy(s, buf, n);
	s[n] = '\0';
	memmove(buf, buf + n + skip, buf_len - n - skip);
	buf_len -= n + skip;
	explicit_bzero(buf + buf_len, sizeof(buf) - buf_len);
	return s;
}

enum input_status input_read_line(int fd, int watch_fd, char **line)
{
	*line = NULL;
	for (;;) {
		char *nl = memchr(buf, '\n', buf_len);
		struct pollfd pfd[2];
		nfds_t nfds = 0;
		ssize_t got;

		if (nl) {
			*line = take((size_t)(nl - buf), 1);
			return *line ? INPUT_LINE : INPUT_ERROR;
		}
		if (buf_len == sizeof(buf))
			return INPUT_TOO_LONG;
		if (buf_eof) {
			if (buf_len == 0)
				return INPUT_EOF;
			*line = take(buf_len, 0);
			return *line ? INPUT_LINE : INPUT_ERROR;
		}

		pfd[nfds].fd = fd;
		pfd[nfds++].events = POLLIN;
		if (watch_fd >= 0) {
			pfd[nfds].fd = watch_fd;
			pfd[nfds++].events = POLLIN;
		}
		if (poll(pfd, nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			return INPUT_ERROR;
		}
		if (nfds > 1 && pfd[1].revents)
			return INPUT_WATCH;
		if (!pfd[0].revents)
			continue;
		got = read(fd, buf + buf_len, sizeof(buf) - buf_len);
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return INPUT_ERROR;
		}
		if (got == 0)
			buf_eof = true;
		buf_len += (size_t)got;
	}
}
