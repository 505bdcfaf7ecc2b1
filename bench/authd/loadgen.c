/* loadgen.c - load generator for bench/authd: N threads doing full logins
 * for a fixed time against pamkit-authd (TLS-PSK, CRAM-MD5, direct PAM) or
 * against saslauthd (its unix-socket protocol), or holding idle logged-in
 * connections.  Prints one "key=value" line. */
#include "bclient.h"
#include "cram.h"
#include "tlspsk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct bc_options opts;
static const char *user = "alice", *pass = "wonderland", *sasl_path;
static const char *sasl_service = "pamkit-bench";
static double duration = 5.0;
static atomic_long ok_count, fail_count;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int authd_login(struct bc_conn **keep)
{
	struct bc_conn *c = NULL;
	char err[128], who[256];
	int r = bc_connect(&opts, &c, err, sizeof(err));

	if (!r && bc_pam_required(c))
		r = bc_pam_direct(c, user, pass);
	if (!r)
		r = bc_greeting(c, who, sizeof(who));
	if (keep && !r) {
		*keep = c;
		return 0;
	}
	bc_close(c);
	return r;
}

static int put_counted(char *buf, size_t *off, const char *s)
{
	size_t l = strlen(s);

	if (l > 255)
		return -1;
	buf[(*off)++] = (char)(l >> 8);
	buf[(*off)++] = (char)(l & 0xff);
	memcpy(buf + *off, s, l);
	*off += l;
	return 0;
}

/* saslauthd mux protocol: four counted strings, answer one counted string */
static int sasl_login(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[1100], ans[256];
	size_t off = 0, got = 0;
	int fd, r = -1;
	unsigned len;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sasl_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto out;
	if (put_counted(buf, &off, user) || put_counted(buf, &off, pass) ||
	    put_counted(buf, &off, sasl_service) || put_counted(buf, &off, ""))
		goto out;
	if (write(fd, buf, off) != (ssize_t)off)
		goto out;
	while (got < 2) {
		ssize_t k = read(fd, ans + got, 2 - got);

		if (k <= 0)
			goto out;
		got += (size_t)k;
	}
	len = ((unsigned char)ans[0] << 8) | (unsigned char)ans[1];
	if (len < 2 || len >= sizeof(ans))
		goto out;
	got = 0;
	while (got < len) {
		ssize_t k = read(fd, ans + got, len - got);

		if (k <= 0)
			goto out;
		got += (size_t)k;
	}
	r = memcmp(ans, "OK", 2) ? -1 : 0;
out:
	close(fd);
	return r;
}

static void *worker(void *arg)
{
	double end = *(double *)arg;

	while (now_s() < end) {
		int r = sasl_path ? sasl_login() : authd_login(NULL);

		if (r)
			atomic_fetch_add(&fail_count, 1);
		else
			atomic_fetch_add(&ok_count, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 50, idle = 0, opt;
	bool own_ctx = false;
	struct rlimit rl = { 65536, 65536 };

	opts.host = "127.0.0.1";
	opts.console = "benchcon";
	opts.password = "benchsecret";
	opts.tls = true;
	opts.timeout_ms = 30000;
	while ((opt = getopt(argc, argv, "p:c:d:s:i:n")) != -1) {
		switch (opt) {
		case 'p': opts.port = optarg; break;
		case 'c': threads = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 's': sasl_path = optarg; break;
		case 'i': idle = atoi(optarg); break;
		case 'n': own_ctx = true; break;
		default:
			fprintf(stderr, "usage: loadgen [-p PORT | -s SASL_MUX] [-c THREADS] [-d SECONDS] [-i IDLE] [-n]\n");
			return 2;
		}
	}
	setrlimit(RLIMIT_NOFILE, &rl);
	signal(SIGPIPE, SIG_IGN);	/* see pamkit-console.c */
	/* One TLS-PSK context for all connections, as one console program
	 * would hold; -n builds one per connection (bconsole's cost per run). */
	if (!own_ctx && !sasl_path) {
		char key[MD5_HEX_LEN + 1];

		if (md5_hex(opts.password, strlen(opts.password), key))
			return 1;
		opts.shared_ssl_ctx = tlspsk_client_ctx(opts.console, key);
		explicit_bzero(key, sizeof(key));
		if (!opts.shared_ssl_ctx)
			return 1;
	}
	if (idle > 0) {
		struct bc_conn **keep = calloc((size_t)idle, sizeof(*keep));
		int n = 0;
		char line[16];

		if (!keep)
			return 1;
		for (; n < idle; n++)
			if (authd_login(&keep[n]))
				break;
		printf("idle=%d\n", n);
		fflush(stdout);
		/* hold until stdin closes or a line arrives */
		if (!fgets(line, sizeof(line), stdin))
			line[0] = '\0';
		for (int i = 0; i < n; i++)
			bc_close(keep[i]);
		free(keep);
		tlspsk_client_ctx_free(opts.shared_ssl_ctx);
		return n == idle ? 0 : 1;
	}
	{
		pthread_t *th = calloc((size_t)threads, sizeof(*th));
		double t0 = now_s(), end = t0 + duration, el;

		if (!th)
			return 1;
		for (int i = 0; i < threads; i++)
			if (pthread_create(&th[i], NULL, worker, &end))
				return 1;
		for (int i = 0; i < threads; i++)
			pthread_join(th[i], NULL);
		el = now_s() - t0;
		printf("ok=%ld fail=%ld seconds=%.3f rate=%.1f\n", (long)ok_count,
		       (long)fail_count, el, (double)ok_count / el);
		free(th);
	}
	tlspsk_client_ctx_free(opts.shared_ssl_ctx);
	return fail_count ? 1 : 0;
}
