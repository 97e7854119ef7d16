#ifndef PROXYPROTO_H_
#define PROXYPROTO_H_

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

/*
 * The HAProxy PROXY protocol header, version 1 (text) and 2 (binary), as a
 * load balancer (AWS NLB, HAProxy) puts it in front of the client's bytes.
 * A pure, strict parser: no I/O (fuzzed).
 *
 * Decisions beyond the specification's letter:
 *  - v1 TCP6 and v2 INET6 may carry an IPv4-mapped address
 *    (::ffff:a.b.c.d, as a dual-stack sender does for an IPv4 client); it
 *    is stored as the IPv4 address it carries (AF_INET), as cidr.h does
 *    everywhere.  v1 TCP4 with IPv6 text, or TCP6 with IPv4 text, is
 *    invalid.
 *  - v2 PROXY accepts only the families UNSPEC (0x00, local), TCP over
 *    IPv4 (0x11) and TCP over IPv6 (0x21): UDP and UNIX are refused rather
 *    than treated as UNSPEC.
 *  - v2 LOCAL ignores the family byte and everything after the 16-byte
 *    header, TLVs included, as the specification requires ("discard the
 *    protocol block including the family"); only the length is checked.
 *  - v2 TLVs are walked for framing only; their contents, CRC32C included,
 *    are not checked.
 */

#define PROXYPROTO_MAX		1024	/* longest header, v2 TLVs included */
#define PROXYPROTO_V1_MAX	107	/* longest v1 line, CRLF included */

struct proxyproto {
	int	version;	/* 1 or 2 */
	/* v2 LOCAL, v2 AF_UNSPEC, v1 UNKNOWN: no addresses, use the socket's */
	int	local;
	struct cidr_addr src, dst;	/* valid unless local */
	uint16_t sport, dport;
};

/**
 * proxyproto_parse(buf, len, pp): parse the header at the start of the
 * ${len} bytes at ${buf} into ${pp}.  Returns the header length (> 0) when
 * a complete valid header is there (bytes after it are not looked at), 0
 * when the bytes so far are a valid prefix of a header and more are needed,
 * -1 when they can never become a valid header.  Never reads beyond ${len}.
 * ${pp} is zeroed unless the result is > 0.
 */
ssize_t proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto *pp);

#endif /* !PROXYPROTO_H_ */
