/* proxy.h - the PROXY protocol header a load balancer (HAProxy, nginx
 * stream, cloud balancers) sends before the client's first byte, versions
 * 1 (text) and 2 (binary), as HAProxy's proxy-protocol.txt defines them;
 * and the trusted networks such a header may come from. */
#ifndef AUTHD_PROXY_H
#define AUTHD_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107		/* the spec's bound, CRLF included */
#define PROXY_V2_SIG_LEN 12
#define PROXY_V2_HDR_LEN 16
/* The spec lets a v2 header grow to 16 + 65535 bytes of TLVs; balancers
   send a few dozen.  Larger is refused. */
#define PROXY_V2_MAX (PROXY_V2_HDR_LEN + 2048)
#define PROXY_HDR_MAX PROXY_V2_MAX

/* proxy_parse's errors (the header is refused). */
enum {
	PROXY_E_SIG = -1,	/* not a PROXY header at all */
	PROXY_E_VERSION = -2,	/* v2 version nibble not 2 */
	PROXY_E_COMMAND = -3,	/* v2 command neither LOCAL nor PROXY */
	PROXY_E_FAMILY = -4,	/* unknown family or a datagram transport */
	PROXY_E_LENGTH = -5,	/* address block shorter than its family */
	PROXY_E_TLV = -6,	/* a TLV runs past the header */
	PROXY_E_TOO_BIG = -7,	/* v1 without CRLF in 107 bytes, v2 too long */
	PROXY_E_SYNTAX = -8,	/* v1 not "PROXY TCP4|TCP6|UNKNOWN ..." */
	PROXY_E_ADDRESS = -9,	/* v1 address or port malformed */
};

struct proxy_hdr {
	int version;		/* 1 or 2 */
	/* v2 LOCAL (a balancer's own health check), v1 UNKNOWN, or a family
	   without an IP address (UNSPEC, UNIX): the connection's own
	   addresses stand. */
	bool local;
	struct sockaddr_storage src, dst;	/* when !local */
	socklen_t addrlen;
};

/* Parse the header at the start of buf (len bytes, which may hold more
 * than the header).  Returns the header's length (> 0) with *h filled, 0
 * when buf is a valid beginning that needs more bytes, or a PROXY_E_*. */
int proxy_parse(const uint8_t *buf, size_t len, struct proxy_hdr *h);
const char *proxy_strerror(int err);

/* A trusted source network: "192.0.2.0/24", "2001:db8::/32", "10.1.2.3". */
struct proxy_net {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* masked */
	unsigned int prefix;
};
int proxy_net_parse(const char *s, struct proxy_net *n);	/* 0 or -1 */
/* Is sa (AF_INET, AF_INET6, v4-mapped v6 as v4) in one of the nets? */
bool proxy_net_match(const struct proxy_net *nets, size_t n,
		     const struct sockaddr *sa);

#endif
