/*
 * pam-rawloop - the raw libpam baseline for bench_auth.py: N logins of
 * pam_start_confdir / pam_authenticate / pam_end with a plain C
 * conversation answering every PAM_PROMPT_ECHO_OFF.  Prints the wall time
 * and the CPU time (user + system) per login in microseconds, measured
 * around the loop only, so the caller can interleave it with its own
 * rounds.
 *
 * usage: pam-rawloop CONFDIR SERVICE USER PASSWORD N [pin]
 *
 * With "pin" one more handle on the service stays open during the loop, so
 * the service's modules stay loaded (dlopen finds them mapped): the state of
 * a server with other logins in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <security/pam_appl.h>

static int conv(int n, const struct pam_message **msg,
		struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF)
			continue;
		r[i].resp = strdup(data);
		if (!r[i].resp)
			goto fail;
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (int i = 0; i < n; i++)
		free(r[i].resp);
	free(r);
	return PAM_BUF_ERR;
}

static double cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	struct pam_conv c = { conv, NULL };
	pam_handle_t *pin = NULL;
	double t0, c0;
	long n;

	if ((argc != 6 && argc != 7) ||
	    (n = strtol(argv[5], NULL, 10)) <= 0 ||
	    (argc == 7 && strcmp(argv[6], "pin") != 0)) {
		fprintf(stderr, "usage: pam-rawloop CONFDIR SERVICE USER "
			"PASSWORD N [pin]\n");
		return 2;
	}
	c.appdata_ptr = argv[4];
	if (argc == 7 && pam_start_confdir(argv[2], argv[3], &c, argv[1],
					   &pin) != PAM_SUCCESS) {
		fprintf(stderr, "pam_start_confdir (pin) failed\n");
		return 1;
	}
	t0 = now_us();
	c0 = cpu_us();
	for (long i = 0; i < n; i++) {
		pam_handle_t *pamh;
		int rc = pam_start_confdir(argv[2], argv[3], &c, argv[1],
					   &pamh);

		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "pam_start_confdir: %d\n", rc);
			goto fail;
		}
		rc = pam_authenticate(pamh, 0);
		pam_end(pamh, rc);
		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "pam_authenticate: %d\n", rc);
			goto fail;
		}
	}
	printf("%.3f %.3f\n", (now_us() - t0) / (double)n,
	       (cpu_us() - c0) / (double)n);
	if (pin)
		pam_end(pin, PAM_SUCCESS);
	return 0;
fail:
	if (pin)
		pam_end(pin, PAM_ABORT);
	return 1;
}
