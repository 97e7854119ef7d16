/*
 * The PROXY protocol parser (proxyproto.h): versions 1 and 2; no I/O.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>
#include <string.h>

#include "cidr.h"
#include "proxyproto.h"

/*
 * The specification: https://www.haproxy.org/download/2.9/doc/
 * proxy-protocol.txt.  Every function answers "complete", "a valid prefix:
 * more needed" or "never valid", so that a connection sending garbage is
 * dropped at its first wrong byte rather than at a timeout.
 */

/* v2: "\r\n\r\n\0\r\nQUIT\n", then ver_cmd, fam, a 16-bit length. */
static const uint8_t v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define V2_HDRLEN	16
#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_FAM_UNSPEC	0x00
#define V2_FAM_TCP4	0x11
#define V2_FAM_TCP6	0x21
#define V2_ADDRLEN4	12	/* two IPv4 addresses, two ports */
#define V2_ADDRLEN6	36	/* two IPv6 addresses, two ports */
#define V2_TLVHDR	3	/* type, 16-bit length */

/* v1: the shortest text that can follow each field of a TCP line. */
#define V1_AFTER_DST	6	/* " 0 0\r\n" */
#define V1_AFTER_SPORT	4	/* " 0\r\n" */
#define V1_AFTER_DPORT	2	/* "\r\n" */

/* Values of the v1 parsers besides a header length and -1. */
#define MORE		0

static uint16_t
be16(const uint8_t *p)
{

	return ((uint16_t)(p[0] << 8 | p[1]));
}

/*
 * Compare the ${len} bytes at ${buf} with the literal ${lit}: -1 when they
 * differ, MORE when they are a proper prefix of it, 1 when all of ${lit} is
 * there.
 */
static int
match(const uint8_t *buf, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	if (memcmp(buf, lit, len < n ? len : n) != 0)
		return (-1);
	return (len >= n ? 1 : MORE);
}

/*
 * A v1 address: ${n} bytes of text at ${s} that parse as IPv6 text (with a
 * colon; a v4-mapped address comes out as AF_INET) when ${v6}, else as
 * IPv4 text.  Stored in ${a} unless NULL.  Returns 0 or -1.
 */
static int
v1_addr(const uint8_t *s, size_t n, int v6, struct cidr_addr *a)
{
	struct cidr_addr tmp;

	if (a == NULL)
		a = &tmp;
	if ((memchr(s, ':', n) != NULL) != v6)
		return (-1);
	return (cidr_addr_parse((const char *)s, n, a));
}

/*
 * The fewest bytes that turn the partial v1 address at ${s} (${n} bytes)
 * into a complete one, or -1 when none can.  The shortest completion of
 * any prefix is one of these tails: the validity of an address text
 * depends only on its shape (group and octet counts, one "::"), never on
 * the values of digits still to come.
 */
static int
v1_addr_more(const uint8_t *s, size_t n, int v6)
{
	static const char *const tails[] = {
		"", "0", ":", "::", ":0", ".0", "0.0", ".0.0", "0.0.0",
		".0.0.0"
	};
	uint8_t buf[CIDR_ADDRSTRLEN];
	size_t i, tn;

	if (n == 0)
		return (v6 ? 2 : 7);		/* "::", "0.0.0.0" */
	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		tn = strlen(tails[i]);
		if (n + tn >= sizeof(buf))
			break;
		memcpy(buf, s, n);
		memcpy(buf + n, tails[i], tn);
		if (v1_addr(buf, n + tn, v6, NULL) == 0)
			return ((int)tn);
	}
	return (-1);
}

/*
 * The ${n} digits at ${s} as a port: decimal 0..65535, no leading zero.
 * Returns 0 and stores it in ${port} unless NULL, or -1.  With ${partial},
 * an empty or unfinished number is accepted when digits can complete it.
 */
static int
v1_port(const uint8_t *s, size_t n, int partial, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if ((n == 0 && !partial) || n > 5 || (n > 1 && s[0] == '0'))
		return (-1);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return (-1);
	if (port != NULL)
		*port = (uint16_t)v;
	return (0);
}

/* Can byte ${c} appear in field ${f} (0, 1: addresses; 2, 3: ports)? */
static int
v1_char_ok(int f, int v6, uint8_t c)
{

	if ((c >= '0' && c <= '9') || (f < 2 && c == '.'))
		return (1);
	return (f < 2 && v6 && (c == ':' || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F')));
}

/*
 * Field ${f} of a v1 TCP line, ${n} bytes at ${s}, all that has arrived:
 * the fewest bytes still needed to finish the line, or -1 when no bytes
 * can.
 */
static int
v1_field_more(int f, int v6, const uint8_t *s, size_t n)
{
	int c;

	if (f < 2) {
		if ((c = v1_addr_more(s, n, v6)) < 0)
			return (-1);
		if (f == 1)
			return (c + V1_AFTER_DST);
		return (c + 1 + (v6 ? 2 : 7) + V1_AFTER_DST);
	}
	if (v1_port(s, n, 1, NULL))
		return (-1);
	return ((n == 0) + (f == 2 ? V1_AFTER_SPORT : V1_AFTER_DPORT));
}

/* Store complete field ${f} (${n} bytes at ${s}) into ${pp}: 0 or -1. */
static int
v1_field(int f, int v6, const uint8_t *s, size_t n, struct proxyproto *pp)
{

	switch (f) {
	case 0:
		return (v1_addr(s, n, v6, &pp->src));
	case 1:
		return (v1_addr(s, n, v6, &pp->dst));
	case 2:
		return (v1_port(s, n, 0, &pp->sport));
	default:
		return (v1_port(s, n, 0, &pp->dport));
	}
}

/*
 * "SRC DST SPORT DPORT\r\n" from offset ${pos} of the ${n} bytes at ${buf}
 * after "PROXY TCP4 " or "PROXY TCP6 " (${v6}): the header length, -1, or
 * MORE with the fewest bytes still needed in ${need}.
 */
static ssize_t
v1_tcp(const uint8_t *buf, size_t n, size_t pos, int v6,
    struct proxyproto *pp, int *need)
{
	size_t start;
	int f;

	for (f = 0; f < 4; f++) {
		start = pos;
		while (pos < n && buf[pos] != (f < 3 ? ' ' : '\r')) {
			if (!v1_char_ok(f, v6, buf[pos]))
				return (-1);
			pos++;
		}
		if (pos == n) {
			*need = v1_field_more(f, v6, buf + start, pos - start);
			return (*need < 0 ? -1 : MORE);
		}
		if (v1_field(f, v6, buf + start, pos - start, pp))
			return (-1);
		pos++;
	}
	if (pos == n) {
		*need = 1;
		return (MORE);
	}
	return (buf[pos] == '\n' ? (ssize_t)pos + 1 : -1);
}

/*
 * "PROXY UNKNOWN" is followed by "\r\n", or by a space, anything but CR
 * and LF, and "\r\n" (the specification: ignore what comes before the
 * CRLF).  ${pos} is the offset after "UNKNOWN".
 */
static ssize_t
v1_unknown(const uint8_t *buf, size_t n, size_t pos, struct proxyproto *pp,
    int *need)
{
	size_t i;

	for (i = pos; i < n; i++) {
		if (buf[i] == '\r') {
			if (i + 1 == n) {
				*need = 1;
				return (MORE);
			}
			if (buf[i + 1] != '\n')
				return (-1);
			pp->local = 1;
			return ((ssize_t)i + 2);
		}
		if (buf[i] == '\n' || (i == pos && buf[i] != ' '))
			return (-1);
	}
	*need = V1_AFTER_DPORT;
	return (MORE);
}

/* Version 1: one line of at most PROXYPROTO_V1_MAX bytes. */
static ssize_t
parse_v1(const uint8_t *buf, size_t len, struct proxyproto *pp)
{
	size_t n = len < PROXYPROTO_V1_MAX ? len : PROXYPROTO_V1_MAX;
	const uint8_t *p;
	int r, r4, r6, ru, need = 1;
	ssize_t hl;

	pp->version = 1;
	if ((r = match(buf, n, "PROXY ")) != 1)
		return (r);
	p = buf + 6;
	r4 = match(p, n - 6, "TCP4 ");
	r6 = match(p, n - 6, "TCP6 ");
	ru = match(p, n - 6, "UNKNOWN");
	if (r4 == 1 || r6 == 1)
		hl = v1_tcp(buf, n, 11, r6 == 1, pp, &need);
	else if (ru == 1)
		hl = v1_unknown(buf, n, 13, pp, &need);
	else if (r4 == MORE || r6 == MORE || ru == MORE)
		hl = MORE;
	else
		hl = -1;
	/* Too long already, or too long once the shortest ending comes. */
	if (hl == MORE && n + (size_t)need > PROXYPROTO_V1_MAX)
		return (-1);
	return (hl);
}

/*
 * The TLVs of a v2 PROXY header, from offset ${off} to ${total}, of which
 * ${len} bytes have arrived: each must fit exactly.  Returns 1 when they
 * do, MORE while the ones seen so far do, or -1.
 */
static int
v2_tlvs(const uint8_t *buf, size_t len, size_t off, size_t total)
{

	while (off < total) {
		if (total - off < V2_TLVHDR)
			return (-1);
		if (len < off + V2_TLVHDR)
			return (MORE);
		if (be16(buf + off + 1) > total - off - V2_TLVHDR)
			return (-1);
		off += V2_TLVHDR + be16(buf + off + 1);
	}
	return (len >= total ? 1 : MORE);
}

/* The address block of a complete v2 PROXY header of family ${fam}. */
static void
v2_addrs(const uint8_t *buf, uint8_t fam, struct proxyproto *pp)
{
	const uint8_t *a = buf + V2_HDRLEN;

	if (fam == V2_FAM_TCP4) {
		cidr_addr_set(&pp->src, AF_INET, a);
		cidr_addr_set(&pp->dst, AF_INET, a + 4);
		pp->sport = be16(a + 8);
		pp->dport = be16(a + 10);
	} else if (fam == V2_FAM_TCP6) {
		cidr_addr_set(&pp->src, AF_INET6, a);
		cidr_addr_set(&pp->dst, AF_INET6, a + 16);
		pp->sport = be16(a + 32);
		pp->dport = be16(a + 34);
	} else {
		pp->local = 1;
	}
}

/* Version 2: the signature, then a 4-byte header and its block. */
static ssize_t
parse_v2(const uint8_t *buf, size_t len, struct proxyproto *pp)
{
	size_t alen, total;
	uint8_t cmd, fam;
	int r;

	pp->version = 2;
	if (memcmp(buf, v2sig, len < 12 ? len : 12) != 0)
		return (-1);
	if (len < 13)
		return (MORE);
	cmd = buf[12] & 0x0f;
	if ((buf[12] >> 4) != 2 || (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY))
		return (-1);
	if (len < 14)
		return (MORE);
	fam = buf[13];
	alen = 0;		/* LOCAL (the family is ignored), or UNSPEC */
	if (cmd == V2_CMD_PROXY && fam == V2_FAM_TCP4)
		alen = V2_ADDRLEN4;
	else if (cmd == V2_CMD_PROXY && fam == V2_FAM_TCP6)
		alen = V2_ADDRLEN6;
	else if (cmd == V2_CMD_PROXY && fam != V2_FAM_UNSPEC)
		return (-1);
	if (len < V2_HDRLEN)
		return (MORE);
	total = V2_HDRLEN + be16(buf + 14);
	if (total < V2_HDRLEN + alen || total > PROXYPROTO_MAX)
		return (-1);
	if (cmd == V2_CMD_LOCAL) {
		/* The family and the whole block are ignored. */
		pp->local = 1;
		return (len >= total ? (ssize_t)total : MORE);
	}
	if ((r = v2_tlvs(buf, len, V2_HDRLEN + alen, total)) != 1)
		return (r);
	v2_addrs(buf, fam, pp);
	return ((ssize_t)total);
}

/**
 * proxyproto_parse(buf, len, pp): parse the header at the start of the
 * ${len} bytes at ${buf} into ${pp}.  Returns the header length (> 0) when
 * a complete valid header is there (bytes after it are not looked at), 0
 * when the bytes so far are a valid prefix of a header and more are needed,
 * -1 when they can never become a valid header.  Never reads beyond ${len}.
 * ${pp} is zeroed unless the result is > 0.
 */
ssize_t
proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto *pp)
{
	struct proxyproto h;
	ssize_t r = -1;

	memset(&h, 0, sizeof(h));
	if (len == 0)
		r = MORE;
	else if (buf[0] == 'P')
		r = parse_v1(buf, len, &h);
	else if (buf[0] == v2sig[0])
		r = parse_v2(buf, len, &h);
	if (r <= 0)
		memset(&h, 0, sizeof(h));
	*pp = h;
	return (r);
}
