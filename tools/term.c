/* term.c - switch terminal echo off for secret prompts and always restore it. */
#include "term.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_mode;
static volatile sig_atomic_t saved_fd = -1;

void term_restore(void)
{
	int fd = saved_fd;

	if (fd < 0)
		return;
	/* tcsetattr is async-signal-safe; retry on EINTR only. */
	while (tcsetattr(fd, TCSANOW, &saved_mode) < 0 && errno == EINTR)
		;
	saved_fd = -1;
}

bool term_echo_is_off(void)
{
	return saved_fd >= 0;
}

int term_echo_off(int fd)
{
	struct termios mode;

	if (saved_fd >= 0)
		return 0;
	if (tcgetattr(fd, &saved_mode) < 0)
		return -errno;
	mode = saved_mode;
	mode.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	mode.c_lflag |= ECHONL;
	saved_fd = fd;
	if (tcsetattr(fd, TCSAFLUSH, &mode) < 0) {
		int err = errno;

		saved_fd = -1;
		return -err;
	}
	return 0;
}

static void on_signal(int sig)
{
	int saved_errno = errno;

	term_restore();
	/* Die of the same signal so the parent sees the real cause. */
	signal(sig, SIG_DFL);
	raise(sig);
	errno = saved_errno;
}

int term_install_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	return 0;
}
