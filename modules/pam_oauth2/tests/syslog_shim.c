/*
 * LD_PRELOAD shim for the e2e tests: captures syslog() calls made by the
 * module into $OA2_SYSLOG_FILE as "<priority> <message>" lines, so tests can
 * check facility, reason codes and that no token fragment is ever logged.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

__attribute__((visibility("default"))) void vsyslog(int prio, const char *fmt, va_list ap)
{
	char msg[4096], line[4200];
	const char *path = getenv("OA2_SYSLOG_FILE");
	int fd, n;

	if (path == NULL)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = snprintf(line, sizeof(line), "%d %s\n", prio, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0)
		(void)0;
	close(fd);
}

__attribute__((visibility("default"))) void syslog(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
}

__attribute__((visibility("default"))) void __syslog_chk(int prio, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
}

__attribute__((visibility("default"))) void __vsyslog_chk(int prio, int flag, const char *fmt, va_list ap)
{
	(void)flag;
	vsyslog(prio, fmt, ap);
}
