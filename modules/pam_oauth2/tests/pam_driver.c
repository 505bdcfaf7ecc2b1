/*
 * oa2-pam-driver: run one PAM authentication through the real libpam with a
 * private service directory. The token is read from stdin and answered to
 * every echo-off prompt.
 *   oa2-pam-driver CONFDIR SERVICE USER [LOOPS]
 *   oa2-pam-driver CONFDIR SERVICE USER LOOPS --direct MODULE ARGS...
 * The --direct form (benchmark) dlopen()s MODULE and calls its
 * pam_sm_authenticate LOOPS times on one handle, without libpam's dispatch.
 * With LOOPS, stdin may hold several tokens separated by NUL bytes: call i
 * answers token i % n, and "rcs=" lists every result (same handle, so the
 * module's in-process key cache stays warm between calls).
 * OA2_DRIVER_CONV_FAIL=1 makes the conversation fail (PAM_CONV_ERR).
 *   oa2-pam-driver --floor CACHEFILE LOOPS
 * (benchmark) times what every warm validation must do besides crypto: the
 * cache file's safe-open (lstat dir, open, fstat, read, close, geteuid) and
 * one syslog() line; prints floor_us=<microseconds per call> (wall clock)
 * and floor_cpu_us= (CPU time of this process, user + system).
 * --direct also prints per_cpu_second=: calls per CPU second of the process
 * (user + system), the footing of `openssl speed`, which divides by CPU
 * user time unless given -elapsed.
 * Prints "rc=<n> <pam_strerror>" (last result) and, with LOOPS, the time of
 * LOOPS pam_authenticate calls on one handle and of one full
 * pam_start..pam_end login. Every form also prints curl_loaded=0|1: whether
 * libcurl is mapped into the process (/proc/self/maps) at the end.
 * OA2_DRIVER_SSHD_LIKE=1 initialises OpenSSL before PAM, as sshd has.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <security/pam_appl.h>

static char input[2 * 1024 * 1024 + 1];
static const char *token = input;
static const char *tokens[64];
static size_t n_tokens;
static char rcs[64 * 1024];	/* "0,7,..." of the last loop */

static int conv(int n, const struct pam_message **msg,
		struct pam_response **resp, void *ad)
{
	struct pam_response *r;

	(void)ad;
	if (n <= 0 || n > PAM_MAX_NUM_MSG || getenv("OA2_DRIVER_CONV_FAIL"))
		return PAM_CONV_ERR;
	r = calloc((size_t)n, sizeof(*r));
	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		/* info text (the device flow's code) to stderr at once */
		if (msg[i]->msg_style == PAM_TEXT_INFO) {
			fprintf(stderr, "info: %s\n", msg[i]->msg);
			fflush(stderr);
		}
		/* the token for a secret prompt, Enter for any other */
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
			r[i].resp = strdup(msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ?
					   token : "");
			if (r[i].resp == NULL) {
				for (int k = 0; k < i; k++)
					free(r[k].resp);
				free(r);
				return PAM_BUF_ERR;
			}
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) used by this process so far. */
static double cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0.0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int login(const char *confdir, const char *svc, const char *user,
		 long loops, double *loop_time)
{
	struct pam_conv pc = { conv, NULL };
	pam_handle_t *pamh = NULL;
	int rc;
	double t0;

	rc = pam_start_confdir(svc, user, &pc, confdir, &pamh);
	if (rc != PAM_SUCCESS) {
		fprintf(stderr, "pam_start_confdir: %d\n", rc);
		return rc;
	}
	t0 = now_s();
	rcs[0] = '\0';
	for (long i = 0; i < loops; i++) {
		size_t used = strlen(rcs);

		token = tokens[(size_t)i % n_tokens];
		rc = pam_authenticate(pamh, 0);
		if (n_tokens > 1)
			snprintf(rcs + used, sizeof(rcs) - used, "%s%d",
				 i == 0 ? "" : ",", rc);
	}
	if (loop_time)
		*loop_time = now_s() - t0;
	token = tokens[0];
	pam_end(pamh, rc);
	return rc;
}

/* The module dlopen()s libcurl RTLD_NODELETE: still mapped if it was used. */
static void print_curl_loaded(void)
{
	char line[4096];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (f == NULL) {
		printf("curl_loaded=unknown\n");
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "/libcurl") != NULL)
			found = 1;
	fclose(f);
	printf("curl_loaded=%d\n", found);
}

typedef int (*sm_auth_fn)(pam_handle_t *, int, int, const char **);

static int direct(char **argv, int argc)
{
	struct pam_conv pc = { conv, NULL };
	pam_handle_t *pamh = NULL;
	void *mod;
	sm_auth_fn fn;
	long loops = strtol(argv[4], NULL, 10);
	int rc = PAM_SYSTEM_ERR;
	double t0, t, c0, ct;

	mod = dlopen(argv[6], RTLD_NOW | RTLD_LOCAL);
	if (mod == NULL) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	*(void **)(&fn) = dlsym(mod, "pam_sm_authenticate");
	if (fn == NULL || loops <= 0 ||
	    pam_start_confdir(argv[2], argv[3], &pc, argv[1], &pamh) != PAM_SUCCESS) {
		dlclose(mod);
		return 1;
	}
	c0 = cpu_s();
	t0 = now_s();
	for (long i = 0; i < loops; i++)
		rc = fn(pamh, 0, argc - 7, (const char **)argv + 7);
	t = now_s() - t0;
	ct = cpu_s() - c0;
	printf("rc=%d %s\n", rc, pam_strerror(NULL, rc));
	printf("loops=%ld seconds=%.6f per_second=%.1f cpu_seconds=%.6f "
	       "per_cpu_second=%.1f\n", loops, t, loops / t, ct,
	       ct > 0 ? loops / ct : 0.0);
	pam_end(pamh, rc);
	dlclose(mod);
	print_curl_loaded();
	return 0;
}

static int floor_cost(const char *file, long loops)
{
	char dir[4096], buf[65536];
	struct stat st;
	double t0, c0;
	int fd;

	snprintf(dir, sizeof(dir), "%s", file);
	dirname(dir);
	c0 = cpu_s();
	t0 = now_s();
	for (long i = 0; i < loops; i++) {
		if (lstat(dir, &st) != 0)
			return 1;
		fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0 || fstat(fd, &st) != 0 || read(fd, buf, sizeof(buf)) < 0 ||
		    st.st_uid != geteuid())
			return 1;
		close(fd);
		syslog(LOG_AUTH | LOG_INFO, "pam_oauth2(%s): authentication "
		       "succeeded for user '%s'", "bench", "alice");
	}
	printf("floor_us=%.3f floor_cpu_us=%.3f\n",
	       (now_s() - t0) / (double)loops * 1e6,
	       (cpu_s() - c0) / (double)loops * 1e6);
	return 0;
}

/*
 * OA2_DRIVER_SSHD_LIKE=1: before PAM, load libcrypto and use it once, as
 * sshd has done (host keys, key exchange) by the time PAM runs in its
 * per-connection process; the cold benchmark then sees the module's own
 * cost.  dlopen()ed, so that a plain run stays a process without it.
 */
static void openssl_first(void)
{
	void *lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_GLOBAL);
	int (*digest)(const void *, size_t, unsigned char *, unsigned int *,
		      const void *, void *);
	const void *(*sha256)(void);
	unsigned char md[64];
	unsigned int mdlen;

	if (lib == NULL)
		return;
	*(void **)&digest = dlsym(lib, "EVP_Digest");
	*(void **)&sha256 = dlsym(lib, "EVP_sha256");
	if (digest && sha256)
		digest("x", 1, md, &mdlen, sha256(), NULL);
}

int main(int argc, char **argv)
{
	size_t n;
	long loops = 0;
	int rc;
	double t, t0;

	if (getenv("OA2_DRIVER_SSHD_LIKE"))
		openssl_first();

	if (argc == 4 && strcmp(argv[1], "--floor") == 0)
		return floor_cost(argv[2], strtol(argv[3], NULL, 10));
	n = fread(input, 1, sizeof(input) - 1, stdin);
	input[n] = '\0';
	/* NUL-separated tokens (a trailing NUL ends the last one) */
	for (size_t i = 0; i < n && n_tokens < 64; i += strlen(input + i) + 1)
		tokens[n_tokens++] = input + i;
	if (n_tokens == 0)
		tokens[n_tokens++] = input;
	if (argc >= 7 && strcmp(argv[5], "--direct") == 0)
		return direct(argv, argc);
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: %s CONFDIR SERVICE USER [LOOPS]\n", argv[0]);
		return 2;
	}
	if (argc == 5)
		loops = strtol(argv[4], NULL, 10);
	if (loops <= 0) {
		rc = login(argv[1], argv[2], argv[3], 1, NULL);
		printf("rc=%d %s\n", rc, pam_strerror(NULL, rc));
		print_curl_loaded();
		return 0;
	}
	rc = login(argv[1], argv[2], argv[3], loops, &t);
	printf("rc=%d %s\n", rc, pam_strerror(NULL, rc));
	if (n_tokens > 1)
		printf("rcs=%s\n", rcs);
	printf("loops=%ld seconds=%.6f per_second=%.1f\n", loops, t, loops / t);
	t0 = now_s();
	rc = login(argv[1], argv[2], argv[3], 1, NULL);
	printf("login_rc=%d login_ms=%.3f\n", rc, (now_s() - t0) * 1e3);
	print_curl_loaded();
	return 0;
}
