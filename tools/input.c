/* input.c - line reader for answers, buffered and wiped. */
#include "input.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

enum input_status input_read_line(int fd, int timeout_ms, char **line)
{
	long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;

	*line = NULL;
	for (;;) {
		char *nl = memchr(buf, '\n', buf_len);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait = -1;
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

		if (deadline >= 0) {
			long long left = deadline - now_ms();
			if (left <= 0)
				return INPUT_TIMEOUT;
			wait = left > 1000000000 ? 1000000000 : (int)left;
		}
		int ready = poll(&pfd, 1, wait);
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			return INPUT_ERROR;
		}
		if (ready == 0 || !pfd.revents)
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
