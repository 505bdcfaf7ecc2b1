/* connio.c - a connection's buffered I/O: frames out into a capped
 * buffer, written (TLS or plain) when the socket takes them, reads, and
 * the epoll interest that follows the login state. */
#include "conn.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT_MAX (256 * 1024)

static int out_reserve(struct conn *c, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (c->outlen + n <= c->outcap)
		return 0;
	if (c->outlen + n > OUT_MAX)
		return -1;
	cap = c->outcap ? c->outcap : 512;
	while (cap < c->outlen + n)
		cap *= 2;
	if (cap > OUT_MAX)
		cap = OUT_MAX;
	p = realloc(c->out, cap);
	if (!p)
		return -1;
	c->out = p;
	c->outcap = cap;
	return 0;
}

int conn_send(struct conn *c, const void *data, size_t n)
{
	if (n > FRAME_BAREOS_MAX || out_reserve(c, 4 + n)) {
		conn_hangup(c, "output buffer full");
		return -1;
	}
	frame_encode_header((int32_t)n, c->out + c->outlen);
	if (n)
		memcpy(c->out + c->outlen + 4, data, n);
	c->outlen += 4 + n;
	return 0;
}

int conn_send_str(struct conn *c, const char *s)
{
	return conn_send(c, s, strlen(s));
}

int conn_send_signal(struct conn *c, int32_t sig)
{
	if (out_reserve(c, 4)) {
		conn_hangup(c, "output buffer full");
		return -1;
	}
	frame_encode_header(sig, c->out + c->outlen);
	c->outlen += 4;
	return 0;
}

/* Write what we can.  Returns 0, or -1 when the connection broke. */
int conn_flush(struct conn *c)
{
	while (c->outlen) {
		ssize_t w;

		if (c->tls) {
			int r, e;

			ERR_clear_error();
			r = SSL_write(c->ssl, c->out, (int)c->outlen);
			if (r <= 0) {
				e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
					return 0;
				return -1;
			}
			w = r;
		} else {
			w = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return errno == EINTR ? conn_flush(c) : 0;
				return -1;
			}
		}
		memmove(c->out, c->out + w, c->outlen - (size_t)w);
		c->outlen -= (size_t)w;
	}
	return 0;
}

/* ---- input ------------------------------------------------------------- */

/* >0 bytes, 0 EOF, -1 would block, -2 error */
ssize_t conn_read(struct conn *c, void *buf, size_t n)
{
	if (c->tls) {
		int r, e;

		ERR_clear_error();
		r = SSL_read(c->ssl, buf, (int)n);
		if (r > 0)
			return r;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return -1;
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
			return 0;	/* peer closed without close_notify */
		return -2;
	}
	for (;;) {
		ssize_t r = recv(c->fd, buf, n, 0);

		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
	}
}

bool conn_reading_state(enum conn_state s)
{
	switch (s) {
	case CS_HELLO: case CS_CRAM_RESP: case CS_CRAM_CHAL: case CS_CRAM_OK:
	case CS_PAM_MODE: case CS_PAM_PROMPT: case CS_CONSOLE:
		return true;
	default:
		return false;
	}
}

/* ignored: input epoll reported while the connection was not reading.
 * EPOLLIN stays registered while the connection is not reading (a PAM job
 * runs, the fail delay): a console sends nothing then, so dropping it and
 * adding it back would cost two epoll_ctl calls per login for nothing.
 * Only when input does come meanwhile is it dropped, so that level-
 * triggered epoll does not report the unread bytes again and again. */
void conn_rearm(struct conn *c, uint32_t ignored)
{
	struct epoll_event ev = { 0 };
	uint32_t want = EPOLLRDHUP;

	if (c->dead)
		return;
	if (c->state == CS_PROXY || c->state == CS_DETECT ||
	    c->state == CS_TLS_HANDSHAKE || conn_reading_state(c->state))
		want |= EPOLLIN;
	else if (!(ignored & (EPOLLIN | EPOLLRDHUP)))
		want |= c->armed & EPOLLIN;
	if (c->outlen || (c->state == CS_TLS_HANDSHAKE && c->ssl &&
			  SSL_want_write(c->ssl)))
		want |= EPOLLOUT;
	/* waiting for a whole first TLS record (conn_detect) or PROXY header
	   (conn_proxy): the bytes that are there stay unread, so only new
	   bytes may wake us */
	if (c->state == CS_DETECT || c->state == CS_PROXY)
		want |= EPOLLET;
	if (want == c->armed)
		return;
	ev.events = want;
	ev.data.ptr = &c->w_sock;
	if (epoll_ctl(c->d->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->armed = want;
	else
		conn_hangup(c, "epoll_ctl failed");
}

/* ---- login steps ------------------------------------------------------- */
