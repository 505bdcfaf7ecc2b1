/* bclient.c - blocking pamkit-authd / Bareos console client. */
#include "bclient.h"
#include "cram.h"
#include "frame.h"
#include "lines.h"
#include "tlspsk.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BC_MAX_FRAME (1024 * 1024)

struct bc_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	bool tls;		/* TLS was asked for: never fall back to cleartext */
	int timeout_ms;
	bool pam_required;
	/* frames not written yet: sent together before the next read, so
	 * "1000 OK auth" and our challenge (or BNET_TERMINATE and the close)
	 * share one TLS record and one segment; wiped after each flush */
	uint8_t wbuf[2048];
	size_t wlen;
	char *pending;		/* frame read ahead by bc_connect */
	size_t pending_len;
	bool has_pending;
};

const char *bc_result_str(int r)
{
	switch (r) {
	case BC_OK: return "ok";
	case BC_ERR_USAGE: return "usage error";
	case BC_ERR_CONNECT: return "cannot connect / connection lost";
	case BC_ERR_TLS: return "TLS-PSK handshake failed (wrong console name or password?)";
	case BC_ERR_CONSOLE: return "console authentication (CRAM-MD5) failed";
	case BC_ERR_PAM: return "PAM authentication failed";
	case BC_ERR_PROTOCOL: return "protocol error";
	case BC_ERR_COMMAND: return "command failed";
	default: return "internal error";
	}
}

static int wait_fd(struct bc_conn *c, short ev)
{
	struct pollfd p = { .fd = c->fd, .events = ev };
	int r;

	do
		r = poll(&p, 1, c->timeout_ms);
	while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : -1;
}

static int io_all(struct bc_conn *c, void *buf, size_t n, bool writing)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r;

		if (c->ssl) {
			int k, e;

			ERR_clear_error();
			k = writing ? SSL_write(c->ssl, (char *)buf + done, (int)(n - done))
				    : SSL_read(c->ssl, (char *)buf + done, (int)(n - done));
			if (k > 0) {
				done += (size_t)k;
				continue;
			}
			e = SSL_get_error(c->ssl, k);
			if (e == SSL_ERROR_WANT_READ) {
				if (wait_fd(c, POLLIN))
					return -1;
				continue;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				if (wait_fd(c, POLLOUT))
					return -1;
				continue;
			}
			return -1;
		}
		if (wait_fd(c, writing ? POLLOUT : POLLIN))
			return -1;
		r = writing ? send(c->fd, (char *)buf + done, n - done, MSG_NOSIGNAL)
			    : recv(c->fd, (char *)buf + done, n - done, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static int flush_w(struct bc_conn *c)
{
	int r = 0;

	if (c->wlen)
		r = io_all(c, c->wbuf, c->wlen, true);
	explicit_bzero(c->wbuf, c->wlen);
	c->wlen = 0;
	return r ? BC_ERR_CONNECT : BC_OK;
}

/* Queue a header (and data) in wbuf when it fits.  1: queued, 0: too big
 * (wbuf flushed, write it directly), <0 flush error. */
static int queue_w(struct bc_conn *c, int32_t hdr, const void *data, size_t n)
{
	if (4 + n > sizeof(c->wbuf) - c->wlen && flush_w(c))
		return -1;
	if (4 + n > sizeof(c->wbuf))
		return 0;
	frame_encode_header(hdr, c->wbuf + c->wlen);
	if (n)
		memcpy(c->wbuf + c->wlen + 4, data, n);
	c->wlen += 4 + n;
	return 1;
}

int bc_send(struct bc_conn *c, const void *data, size_t n)
{
	uint8_t small[1024], *buf = small;
	int r = BC_OK, q;

	if (n > FRAME_BAREOS_MAX)
		return BC_ERR_USAGE;
	q = queue_w(c, (int32_t)n, data, n);
	if (q)
		return q > 0 ? BC_OK : BC_ERR_CONNECT;
	/* one write per frame: header and data in the same TLS record */
	if (n + 4 > sizeof(small)) {
		buf = malloc(n + 4);
		if (!buf)
			return BC_ERR_INTERNAL;
	}
	frame_encode_header((int32_t)n, buf);
	if (n)
		memcpy(buf + 4, data, n);
	if (io_all(c, buf, n + 4, true))
		r = BC_ERR_CONNECT;
	explicit_bzero(buf, n + 4);
	if (buf != small)
		free(buf);
	return r;
}

int bc_send_signal(struct bc_conn *c, int32_t sig)
{
	return queue_w(c, sig, NULL, 0) > 0 ? BC_OK : BC_ERR_CONNECT;
}

int bc_recv(struct bc_conn *c, char **data, size_t *n, int32_t *sig)
{
	uint8_t hdr[4];
	int32_t len, s;
	enum frame_kind k;

	*data = NULL;
	*n = 0;
	*sig = 0;
	if (flush_w(c))
		return BC_ERR_CONNECT;
	if (c->has_pending) {
		*data = c->pending;
		*n = c->pending_len;
		c->pending = NULL;
		c->has_pending = false;
		return BC_OK;
	}
	if (io_all(c, hdr, 4, false))
		return BC_ERR_CONNECT;
	k = frame_decode_header(hdr, BC_MAX_FRAME, &len, &s);
	if (k == FRAME_SIGNAL) {
		*sig = s;
		return BC_OK;
	}
	if (k != FRAME_DATA)
		return BC_ERR_PROTOCOL;
	*data = malloc((size_t)len + 1);
	if (!*data)
		return BC_ERR_INTERNAL;
	if (len && io_all(c, *data, (size_t)len, false)) {
		free(*data);
		*data = NULL;
		return BC_ERR_CONNECT;
	}
	(*data)[len] = '\0';
	*n = (size_t)len;
	return BC_OK;
}

/* host "/path": the daemon's UNIX socket */
static int unix_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(err, errlen, "connect %s: %s", path, strerror(errno));
		close(fd);
		fd = -1;
	}
	return fd;
}

static int tcp_connect(const struct bc_options *o, char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *ai = NULL, *a;
	int fd = -1, rc;

	if (o->host && o->host[0] == '/')
		return unix_connect(o->host, err, errlen);

	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(o->host ? o->host : "127.0.0.1",
			 o->port ? o->port : "9101", &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "%s", gai_strerror(rc));
		return -1;
	}
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			int one = 1;

			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			break;
		}
		snprintf(err, errlen, "connect: %s", strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int expect_line(struct bc_conn *c, const char *want)
{
	char *d;
	size_t n;
	int32_t sig;
	int r = bc_recv(c, &d, &n, &sig);

	if (r)
		return r;
	r = (d && n == strlen(want) && !memcmp(d, want, n)) ? BC_OK : BC_ERR_CONSOLE;
	free(d);
	return r;
}

int bc_connect(const struct bc_options *o, struct bc_conn **out, char *err,
	       size_t errlen)
{
	struct bc_conn *c = NULL;
	char key[MD5_HEX_LEN + 1], line[512], chal[CRAM_CHAL_MAX], resp[CRAM_RESP_MAX];
	char *d = NULL;
	size_t n;
	int32_t sig;
	int ssl, r = BC_ERR_INTERNAL, len;
	bool compat;
	char own[NAME_MAX_LEN + 16];

	*out = NULL;
	snprintf(err, errlen, "%s", "");
	if (!o->console || (!o->password && !o->key_hex)) {
		snprintf(err, errlen, "console name and password are required");
		return BC_ERR_USAGE;
	}
	if (o->key_hex) {
		if (strlen(o->key_hex) != MD5_HEX_LEN)
			goto out;
		memcpy(key, o->key_hex, MD5_HEX_LEN + 1);
	} else if (md5_hex(o->password, strlen(o->password), key)) {
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	c->fd = tcp_connect(o, err, errlen);
	if (c->fd < 0) {
		r = BC_ERR_CONNECT;
		goto out;
	}
	if (o->tls) {
		SSL_CTX *ctx = o->shared_ssl_ctx;

		c->tls = true;
		if (o->ca_file)
			ctx = c->ctx = tlscert_client_ctx(o->ca_file);
		else if (!ctx)
			ctx = c->ctx = tlspsk_client_ctx(o->console, key);
		c->ssl = ctx ? SSL_new(ctx) : NULL;
		if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
			goto out;
		if (o->ca_file &&
		    tlspsk_expect_host(c->ssl, o->host ? o->host : "127.0.0.1")) {
			snprintf(err, errlen, "cannot check the server name");
			goto out;
		}
		ERR_clear_error();
		if (SSL_connect(c->ssl) != 1) {
			snprintf(err, errlen, "TLS-PSK handshake failed");
			r = BC_ERR_TLS;
			goto out;
		}
	}
	/* the director reads MAJOR.MINOR.PATCH after "version" and refuses
	   anything else ("UA Hello ... is invalid"); say the protocol level
	   spoken, as bconsole 25.1.0 does (docs/bareos: accepted by a
	   Bareos 26 director) */
	len = hello_build(o->console, BCLIENT_BAREOS_VERSION, line, sizeof(line));
	if (len < 0) {
		r = BC_ERR_USAGE;
		snprintf(err, errlen, "bad console name");
		goto out;
	}
	if ((r = bc_send(c, line, (size_t)len)))
		goto out;
	/* the director challenges us */
	if ((r = bc_recv(c, &d, &n, &sig)))
		goto out;
	if (!d || cram_parse_challenge_line(d, n, chal, &ssl, &compat)) {
		snprintf(err, errlen, "no CRAM-MD5 challenge from the server");
		r = BC_ERR_PROTOCOL;
		goto out;
	}
	free(d);
	d = NULL;
	if (cram_response(chal, key, compat, resp) ||
	    (r = bc_send(c, resp, strlen(resp) + 1)))
		goto out;
	r = expect_line(c, CRAM_OK_LINE);
	if (r) {
		snprintf(err, errlen, "server rejected the console password");
		r = r == BC_ERR_CONNECT ? BC_ERR_CONSOLE : r;
		goto out;
	}
	/* we challenge the director */
	/* as bconsole: our own name in the challenge is the console's
	   (<R.T@R_CONSOLE::pamcon>), spaces bashed like the Hello's */
	snprintf(own, sizeof(own), "R_CONSOLE::%s", o->console);
	for (char *p = own; *p; p++)
		if (*p == ' ')
			*p = '\x01';
	if (cram_make_challenge(own, chal, sizeof(chal)) ||
	    (len = cram_challenge_line(chal, o->tls ? 2 : 0, line, sizeof(line))) < 0)
		goto out;
	if ((r = bc_send(c, line, (size_t)len)) || (r = bc_recv(c, &d, &n, &sig)))
		goto out;
	if (!d || !cram_verify(chal, key, d, n)) {
		bc_send(c, CRAM_FAIL_LINE, strlen(CRAM_FAIL_LINE));
		snprintf(err, errlen, "server does not know the console password");
		r = BC_ERR_CONSOLE;
		goto out;
	}
	free(d);
	d = NULL;
	if ((r = bc_send(c, CRAM_OK_LINE, strlen(CRAM_OK_LINE))))
		goto out;
	/* 1001<RS>: PAM required; anything else is the greeting, kept */
	if ((r = bc_recv(c, &d, &n, &sig)))
		goto out;
	if (d && n == 5 && !memcmp(d, PAM_REQUIRED_MSG, 5)) {
		c->pam_required = true;
		free(d);
	} else {
		c->pending = d;
		c->pending_len = n;
		c->has_pending = true;
	}
	d = NULL;
	*out = c;
	c = NULL;
	r = BC_OK;
out:
	explicit_bzero(key, sizeof(key));
	explicit_bzero(resp, sizeof(resp));
	free(d);
	if (c) {
		if (r == BC_ERR_INTERNAL && !err[0])
			snprintf(err, errlen, "internal error");
		bc_close(c);
	}
	return r;
}

bool bc_pam_required(const struct bc_conn *c)
{
	return c->pam_required;
}

int bc_pam_interactive(struct bc_conn *c, bc_prompt_fn fn, void *arg)
{
	char answer[PAM_FIELD_MAX + 1];
	int r;

	if ((r = bc_send(c, PAM_INTERACTIVE_MSG, 5)))
		return r;
	for (;;) {
		char *t = NULL, *m = NULL;
		size_t n, mn;
		int32_t sig;
		int style;

		if ((r = bc_recv(c, &t, &n, &sig)))
			return r == BC_ERR_CONNECT ? BC_ERR_PAM : r;
		if (!t || n != 1) {
			free(t);
			return BC_ERR_PROTOCOL;
		}
		style = (unsigned char)t[0];
		free(t);
		if ((r = bc_recv(c, &m, &mn, &sig)))
			return r == BC_ERR_CONNECT ? BC_ERR_PAM : r;
		if (!m)
			return BC_ERR_PROTOCOL;
		if (style == WIRE_PAM_SUCCESS) {
			free(m);
			return BC_OK;
		}
		if (style != WIRE_PAM_ECHO_ON && style != WIRE_PAM_ECHO_OFF) {
			free(m);
			return BC_ERR_PROTOCOL;
		}
		answer[0] = '\0';
		r = fn(m, style == WIRE_PAM_ECHO_ON, answer, sizeof(answer), arg);
		free(m);
		if (r) {
			explicit_bzero(answer, sizeof(answer));
			return BC_ERR_PAM;
		}
		r = bc_send(c, answer, strlen(answer));
		explicit_bzero(answer, sizeof(answer));
		if (r)
			return r;
	}
}

int bc_pam_direct(struct bc_conn *c, const char *user, const char *pass)
{
	size_t ul = strlen(user), pl = strlen(pass);
	char *buf;
	int r;

	if (!ul || !pl || ul > PAM_FIELD_MAX || pl > PAM_FIELD_MAX ||
	    strchr(user, RS) || strchr(pass, RS))
		return BC_ERR_USAGE;
	buf = malloc(5 + ul + 1 + pl);
	if (!buf)
		return BC_ERR_INTERNAL;
	memcpy(buf, "4002\x1e", 5);
	memcpy(buf + 5, user, ul);
	buf[5 + ul] = RS;
	memcpy(buf + 6 + ul, pass, pl);
	r = bc_send(c, buf, 6 + ul + pl);
	explicit_bzero(buf, 6 + ul + pl);
	free(buf);
	return r;
}

int bc_greeting(struct bc_conn *c, char *user, size_t cap)
{
	static const char tag[] = "You are logged in as: ";
	char *d = NULL, *p;
	size_t n;
	int32_t sig;
	int r;

	if ((r = bc_recv(c, &d, &n, &sig)))
		return c->pam_required && r == BC_ERR_CONNECT ? BC_ERR_PAM : r;
	if (!d || n < 5 || memcmp(d, "1000\x1eOK:", 8)) {
		free(d);
		return BC_ERR_PROTOCOL;
	}
	free(d);
	if ((r = bc_recv(c, &d, &n, &sig)))
		return r;
	if (!d || n < 5 || memcmp(d, "1002\x1e", 5)) {
		free(d);
		return BC_ERR_PROTOCOL;
	}
	p = strstr(d, tag);
	snprintf(user, cap, "%s", p ? p + strlen(tag) : "");
	free(d);
	return BC_OK;
}

int bc_command(struct bc_conn *c, const char *cmd, char **out)
{
	size_t total = 0;
	int r;

	*out = NULL;
	if ((r = bc_send(c, cmd, strlen(cmd))))
		return r;
	for (;;) {
		char *d;
		size_t n;
		int32_t sig;
		char *o;

		if ((r = bc_recv(c, &d, &n, &sig)))
			return r;
		if (!d) {
			if (sig == BNET_EOD || sig == BNET_TERMINATE)
				break;
			continue;
		}
		o = realloc(*out, total + n + 1);
		if (!o) {
			free(d);
			return BC_ERR_INTERNAL;
		}
		*out = o;
		memcpy(*out + total, d, n);
		total += n;
		(*out)[total] = '\0';
		free(d);
	}
	if (!*out)
		*out = strdup("");
	/* a refused command: pamkit-authd's words, and the director's
	   ("frobnicate: is an invalid command.") */
	if (*out && (strstr(*out, "is not supported") ||
		     strstr(*out, ": is an invalid command.")))
		return BC_ERR_COMMAND;
	return *out ? BC_OK : BC_ERR_INTERNAL;
}

void bc_close(struct bc_conn *c)
{
	if (!c)
		return;
	/* BNET_TERMINATE is the end of the session; no close_notify after
	 * it (the director closes at once, so it would only meet a reset) */
	if (c->fd >= 0 && (!c->tls || c->ssl)) {
		(void)bc_send_signal(c, BNET_TERMINATE);
		(void)flush_w(c);
	}
	explicit_bzero(c->wbuf, sizeof(c->wbuf));
	SSL_free(c->ssl);
	tlspsk_client_ctx_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	free(c->pending);
	free(c);
}
