/* pam_oauth2: per-issuer file cache of discovery + JWKS. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "oa2.h"

void oa2_entry_clear(struct oa2_entry *e)
{
	free(e->jwks_uri);
	json_decref(e->jwks);
	memset(e, 0, sizeof(*e));
}

int oa2_cache_path(const struct oa2_config *cfg, char *path, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];
	char hex[65];
	unsigned int mdlen = 0;
	int n;

	if (EVP_Digest(cfg->issuer, strlen(cfg->issuer), md, &mdlen,
		       EVP_sha256(), NULL) != 1 || mdlen != 32)
		return OA2_ENOMEM;
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
	n = snprintf(path, len, "%s/%s.json", cfg->cache_dir, hex);
	return (n < 0 || (size_t)n >= len) ? OA2_EINVAL : OA2_OK;
}

/* The directory must be ours and closed to others. */
static int dir_ok(const char *dir, uid_t euid)
{
	struct stat st;

	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != euid || (st.st_mode & 022) != 0)
		return 0;
	return 1;
}

int oa2_cache_read(const struct oa2_config *cfg, char **bufp, size_t *lenp,
		   struct oa2_ident *id)
{
	char path[4096];
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	uid_t euid = geteuid();
	int fd = -1, rc = OA2_ECACHE;

	*bufp = NULL;
	*lenp = 0;
	memset(id, 0, sizeof(*id));
	if (oa2_cache_path(cfg, path, sizeof(path)) != OA2_OK ||
	    !dir_ok(cfg->cache_dir, euid))
		return OA2_ECACHE;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		goto out;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != euid && st.st_uid != 0) ||
	    (st.st_mode & 022) != 0 || st.st_size <= 0 ||
	    st.st_size > 2 * OA2_MAX_DOC)
		goto out;
	buf = malloc((size_t)st.st_size);
	if (buf == NULL)
		goto out;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto out;
		got += (size_t)r;
	}
	id->dev = (unsigned long long)st.st_dev;
	id->ino = (unsigned long long)st.st_ino;
	id->size = (long long)st.st_size;
	id->mtime_sec = (long long)st.st_mtim.tv_sec;
	id->mtime_nsec = (long long)st.st_mtim.tv_nsec;
	*bufp = buf;
	*lenp = got;
	buf = NULL;
	rc = OA2_OK;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

int oa2_cache_parse(const struct oa2_config *cfg, const char *buf,
		    size_t len, struct oa2_entry *e)
{
	json_t *doc = NULL, *j;
	int rc = OA2_ECACHE;

	memset(e, 0, sizeof(*e));
	doc = oa2_json_object(buf, len);
	if (doc == NULL)
		goto out;
	j = json_object_get(doc, "issuer");
	if (!json_is_string(j) || strcmp(json_string_value(j), cfg->issuer) != 0 ||
	    json_string_length(j) != strlen(cfg->issuer))
		goto out;
	j = json_object_get(doc, "jwks_uri");
	if (!json_is_string(j) ||
	    strncmp(json_string_value(j), "https://", 8) != 0)
		goto out;
	e->jwks_uri = strdup(json_string_value(j));
	if (e->jwks_uri == NULL)
		goto out;
	j = json_object_get(doc, "fetched_at");
	if (!json_is_integer(j))
		goto out;
	e->fetched_at = json_integer_value(j);
	j = json_object_get(doc, "attempt_at");
	e->attempt_at = json_is_integer(j) ? json_integer_value(j) : 0;
	e->jwks = json_incref(json_object_get(doc, "jwks"));
	if (e->jwks == NULL || oa2_jwks_check(e->jwks) != OA2_OK)
		goto out;
	rc = OA2_OK;
out:
	if (rc != OA2_OK)
		oa2_entry_clear(e);
	json_decref(doc);
	return rc;
}

int oa2_cache_load(const struct oa2_config *cfg, struct oa2_entry *e)
{
	struct oa2_ident id;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(e, 0, sizeof(*e));
	rc = oa2_cache_read(cfg, &buf, &len, &id);
	if (rc == OA2_OK)
		rc = oa2_cache_parse(cfg, buf, len, e);
	free(buf);
	return rc;
}

/* mkdir -p, as the seed's os.makedirs: missing parents 0755 (root's, as
   /var/cache), the cache directory itself 0700.  dir_ok then checks the
   last one whatever made it. */
static int make_dirs(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return -1;
	memcpy(path, dir, n + 1);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

int oa2_cache_store(const struct oa2_config *cfg, const struct oa2_entry *e)
{
	char path[4096], tmp[4200] = "";
	json_t *doc = NULL;
	char *text = NULL;
	size_t len, off = 0;
	int fd = -1, rc = OA2_ECACHE, n;

	if (oa2_cache_path(cfg, path, sizeof(path)) != OA2_OK)
		return OA2_ECACHE;
	if (make_dirs(cfg->cache_dir) != 0)
		return OA2_ECACHE;
	if (!dir_ok(cfg->cache_dir, geteuid()))
		return OA2_ECACHE;
	doc = json_pack("{s:s, s:s, s:I, s:I, s:O}", "issuer", cfg->issuer,
			"jwks_uri", e->jwks_uri, "fetched_at",
			(json_int_t)e->fetched_at, "attempt_at",
			(json_int_t)e->attempt_at, "jwks", e->jwks);
	if (doc == NULL)
		goto out;
	text = json_dumps(doc, JSON_COMPACT);
	if (text == NULL)
		goto out;
	len = strlen(text);
	n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		goto out;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto out;
	if (fchmod(fd, 0600) != 0)
		goto out;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	tmp[0] = '\0';
	rc = OA2_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc != OA2_OK && tmp[0] != '\0')
		unlink(tmp);
	free(text);
	json_decref(doc);
	return rc;
}
