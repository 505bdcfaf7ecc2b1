/* fuzz_proto.c - fuzz target for the packet and line parsers.  Built with
 * -fsanitize=fuzzer (define AUTHD_LIBFUZZER) it is a libFuzzer target;
 * otherwise main() feeds it every file given (or every file in a given
 * directory), so the corpus runs as a regression test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cram.h"
#include "frame.h"
#include "lines.h"
#include "psk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[NAME_MAX_LEN + 1], chal[CRAM_CHAL_MAX];
	char u[PAM_FIELD_MAX + 1], p[PAM_FIELD_MAX + 1], id[PSK_IDENTITY_MAX];
	int32_t len, sig;
	int ssl;
	bool compat;
	size_t off = 0;

	/* walk the input as a stream of frames */
	while (size - off >= 4) {
		enum frame_kind k = frame_decode_header(data + off, FRAME_AUTHD_MAX,
							&len, &sig);
		off += 4;
		if (k != FRAME_DATA && k != FRAME_SIGNAL)
			break;
		if (k == FRAME_SIGNAL)
			continue;
		if ((size_t)len > size - off)
			break;
		(void)hello_parse((const char *)data + off, (size_t)len, name);
		(void)cram_parse_challenge_line((const char *)data + off, (size_t)len,
						chal, &ssl, &compat);
		(void)pam_login_parse((const char *)data + off, (size_t)len, u, p);
		off += (size_t)len;
	}
	/* and the whole input as single lines */
	(void)hello_parse((const char *)data, size, name);
	(void)cram_parse_challenge_line((const char *)data, size, chal, &ssl, &compat);
	(void)pam_login_parse((const char *)data, size, u, p);
	if (size < sizeof(id)) {
		char s[PSK_IDENTITY_MAX];

		memcpy(s, data, size);
		s[size] = '\0';
		(void)psk_parse_console_identity(s, id, sizeof(id));
	}
	return 0;
}

#ifndef AUTHD_LIBFUZZER
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;
	int rc = 1;

	if (!f) {
		perror(path);
		return 1;
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto out;
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		goto out;
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

int main(int argc, char **argv)
{
	int fails = 0, runs = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st)) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			fails += run_file(argv[i]);
			runs++;
			continue;
		}
		d = opendir(argv[i]);
		if (!d)
			return 1;
		while ((e = readdir(d))) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			fails += run_file(path);
			runs++;
		}
		closedir(d);
	}
	printf("%d inputs, %d unreadable\n", runs, fails);
	return (fails || runs == 0) ? 1 : 0;
}
#endif
