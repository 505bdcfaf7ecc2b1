/* proxy.c - PROXY protocol v1/v2 headers and trusted networks (proxy.h).
 * Pure functions over bytes: the daemon peeks, parses, then takes exactly
 * the header off the socket, so the client's first byte is untouched. */
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v2_sig[PROXY_V2_SIG_LEN] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};
static const char v1_sig[] = "PROXY ";

/* Does buf (len bytes) begin like sig, as far as it goes? */
static bool prefix_ok(const uint8_t *buf, size_t len, const void *sig,
		      size_t siglen)
{
	return memcmp(buf, sig, len < siglen ? len : siglen) == 0;
}

/* "0".."65535", no sign, no leading zero. */
static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int set_addr(struct sockaddr_storage *ss, int family, const char *a,
		    const char *p)
{
	uint16_t port;

	memset(ss, 0, sizeof(*ss));
	if (parse_port(p, &port))
		return -1;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return inet_pton(AF_INET, a, &sin->sin_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	return inet_pton(AF_INET6, a, &sin6->sin6_addr) == 1 ? 0 : -1;
}

/* "PROXY TCP4 SRC DST SPORT DPORT\r\n", "PROXY UNKNOWN ...\r\n". */
static int parse_v1(const uint8_t *buf, size_t len, struct proxy_hdr *h)
{
	char line[PROXY_V1_MAX + 1], *f[6], *save = NULL;
	size_t end = 0, nf = 0;
	int family;

	/* printable ASCII up to CRLF: no NUL, no bare CR or LF, nothing to
	   smuggle; a bad byte is refused as soon as it is seen */
	for (end = 0;; end++) {
		if (end == len)
			return len >= PROXY_V1_MAX ? PROXY_E_TOO_BIG : 0;
		if (end + 2 > PROXY_V1_MAX)
			return PROXY_E_TOO_BIG;
		if (buf[end] == '\r') {
			if (end + 1 == len)
				return 0;
			if (buf[end + 1] != '\n')
				return PROXY_E_SYNTAX;
			break;
		}
		if (buf[end] < 0x20 || buf[end] > 0x7e)
			return PROXY_E_SYNTAX;
	}
	memcpy(line, buf, end);
	line[end] = '\0';
	h->version = 1;
	if (end >= 13 && !memcmp(buf, "PROXY UNKNOWN", 13) &&
	    (end == 13 || buf[13] == ' ')) {
		h->local = true;	/* the rest of the line is ignored */
		return (int)end + 2;
	}
	/* exactly one space between fields */
	for (size_t i = 0; i + 1 < end; i++)
		if (line[i] == ' ' && line[i + 1] == ' ')
			return PROXY_E_SYNTAX;
	if (line[end - 1] == ' ')
		return PROXY_E_SYNTAX;
	for (char *t = strtok_r(line, " ", &save); t;
	     t = strtok_r(NULL, " ", &save)) {
		if (nf == 6)
			return PROXY_E_SYNTAX;
		f[nf++] = t;
	}
	if (nf != 6 || strcmp(f[0], "PROXY"))
		return PROXY_E_SYNTAX;
	if (!strcmp(f[1], "TCP4"))
		family = AF_INET;
	else if (!strcmp(f[1], "TCP6"))
		family = AF_INET6;
	else
		return PROXY_E_SYNTAX;
	if (set_addr(&h->src, family, f[2], f[4]) ||
	    set_addr(&h->dst, family, f[3], f[5]))
		return PROXY_E_ADDRESS;
	h->local = false;
	h->addrlen = family == AF_INET ? sizeof(struct sockaddr_in)
				       : sizeof(struct sockaddr_in6);
	return (int)end + 2;
}

/* TLVs: type, 16-bit length, value; each must end inside the header.
   Their contents (ALPN, authority, SSL, ...) are not used. */
static int check_tlvs(const uint8_t *p, size_t n)
{
	while (n) {
		size_t l;

		if (n < 3)
			return PROXY_E_TLV;
		l = ((size_t)p[1] << 8) | p[2];
		if (l > n - 3)
			return PROXY_E_TLV;
		p += 3 + l;
		n -= 3 + l;
	}
	return 0;
}

static int parse_v2(const uint8_t *buf, size_t len, struct proxy_hdr *h)
{
	size_t body, total, need;
	const uint8_t *a;
	uint8_t ver_cmd, fam;

	if (len < PROXY_V2_HDR_LEN)
		return 0;
	ver_cmd = buf[12];
	fam = buf[13];
	body = ((size_t)buf[14] << 8) | buf[15];
	total = PROXY_V2_HDR_LEN + body;
	if ((ver_cmd >> 4) != 2)
		return PROXY_E_VERSION;
	if ((ver_cmd & 0x0f) > 1)
		return PROXY_E_COMMAND;
	if (total > PROXY_V2_MAX)
		return PROXY_E_TOO_BIG;
	if (len < total)
		return 0;
	h->version = 2;
	a = buf + PROXY_V2_HDR_LEN;
	if ((ver_cmd & 0x0f) == 0) {
		/* LOCAL: the balancer speaks for itself; the block is
		   skipped whatever its family says */
		h->local = true;
		return (int)total;
	}
	switch (fam) {
	case 0x00:		/* UNSPEC */
		h->local = true;
		return (int)total;
	case 0x11:		/* TCP over IPv4 */
		need = 12;
		break;
	case 0x21:		/* TCP over IPv6 */
		need = 36;
		break;
	case 0x31:		/* UNIX stream: no IP address to use */
		need = 216;
		break;
	default:		/* datagrams, unknown families */
		return PROXY_E_FAMILY;
	}
	if (body < need)
		return PROXY_E_LENGTH;
	if (check_tlvs(a + need, body - need))
		return PROXY_E_TLV;
	memset(&h->src, 0, sizeof(h->src));
	memset(&h->dst, 0, sizeof(h->dst));
	if (fam == 0x31) {
		h->local = true;
		return (int)total;
	}
	h->local = false;
	if (fam == 0x11) {
		struct sockaddr_in *s = (struct sockaddr_in *)&h->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&h->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
		h->addrlen = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&h->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
		h->addrlen = sizeof(*s);
	}
	return (int)total;
}

int proxy_parse(const uint8_t *buf, size_t len, struct proxy_hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (len == 0)
		return 0;
	if (buf[0] == v2_sig[0]) {
		if (!prefix_ok(buf, len, v2_sig, sizeof(v2_sig)))
			return PROXY_E_SIG;
		return parse_v2(buf, len, h);
	}
	if (!prefix_ok(buf, len, v1_sig, sizeof(v1_sig) - 1))
		return PROXY_E_SIG;
	if (len < sizeof(v1_sig) - 1)
		return 0;
	return parse_v1(buf, len, h);
}

const char *proxy_strerror(int err)
{
	switch (err) {
	case PROXY_E_SIG: return "no PROXY header";
	case PROXY_E_VERSION: return "unsupported PROXY version";
	case PROXY_E_COMMAND: return "bad PROXY v2 command";
	case PROXY_E_FAMILY: return "unsupported PROXY address family";
	case PROXY_E_LENGTH: return "PROXY v2 address block too short";
	case PROXY_E_TLV: return "malformed PROXY v2 TLV";
	case PROXY_E_TOO_BIG: return "PROXY header too long";
	case PROXY_E_SYNTAX: return "malformed PROXY v1 line";
	case PROXY_E_ADDRESS: return "bad address in PROXY v1 line";
	default: return "PROXY header error";
	}
}

int proxy_net_parse(const char *s, struct proxy_net *n)
{
	char a[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned int max;

	if (alen == 0 || alen >= sizeof(a))
		return -1;
	memcpy(a, s, alen);
	a[alen] = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, a, n->addr) == 1) {
		n->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, a, n->addr) == 1) {
		n->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	n->prefix = max;
	if (slash) {
		const char *p = slash + 1;
		unsigned int v = 0;

		if (!*p || strlen(p) > 3 || (p[0] == '0' && p[1]))
			return -1;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v = v * 10 + (unsigned int)(*p - '0');
		}
		if (v > max)
			return -1;
		n->prefix = v;
	}
	/* host bits set ("10.1.2.3/8") are a typo more often than not */
	for (unsigned int bit = n->prefix; bit < max; bit++)
		if (n->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -1;
	return 0;
}

static bool in_net(const struct proxy_net *n, int family, const uint8_t *a)
{
	unsigned int full = n->prefix / 8, rest = n->prefix % 8;

	if (n->family != family || memcmp(n->addr, a, full))
		return false;
	if (!rest)
		return true;
	return ((a[full] ^ n->addr[full]) & (0xff00 >> rest)) == 0;
}

bool proxy_net_match(const struct proxy_net *nets, size_t n,
		     const struct sockaddr *sa)
{
	int family = sa->sa_family;
	const uint8_t *a;

	if (family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		a = a6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			family = AF_INET;
			a += 12;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (in_net(&nets[i], family, a))
			return true;
	return false;
}
