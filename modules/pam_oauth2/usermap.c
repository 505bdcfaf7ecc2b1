/* pam_oauth2: user_map, the file that maps a login_field value (an e-mail
 * address, a subject) to a local user name:
 *
 *   # claim value          local user
 *   alice@example.com      alice
 *   00u1ab2cd3EFGH4i5j6    alice
 *
 * As sshd with its authorized keys: refused when others may change it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "oa2.h"

#define USERMAP_MAX (256 * 1024)

static char *read_map(const char *path, const char **reason)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	*reason = "user_map unreadable";
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > USERMAP_MAX) {
		*reason = "user_map not a regular file of at most 256 KiB";
		goto out;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022)) {
		*reason = "user_map may be changed by others (owner, mode)";
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		goto out;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	if (memchr(buf, '\0', got) != NULL) {
		free(buf);
		buf = NULL;
	}
out:
	close(fd);
	return buf;
}

int oa2_usermap_lookup(const char *path, const char *value, char *user,
		       size_t userlen, const char **reason)
{
	char *buf = read_map(path, reason), *save = NULL;
	int rc = OA2_EINVAL;

	if (buf == NULL)
		return OA2_ECACHE;
	*reason = "login_field value not in user_map";
	for (char *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[3], *s2 = NULL;
		size_t n = 0;

		if (line[strspn(line, " \t\r")] == '#')
			continue;
		for (char *t = strtok_r(line, " \t\r", &s2); t && n < 3;
		     t = strtok_r(NULL, " \t\r", &s2))
			f[n++] = t;
		if (n != 2 || strcmp(f[0], value) != 0)
			continue;
		if (strlen(f[1]) >= userlen) {
			*reason = "user_map: local user name too long";
			break;
		}
		strcpy(user, f[1]);
		rc = OA2_OK;
		break;
	}
	free(buf);
	return rc;
}
