/*
 * DNS messages (dns.h): one A or AAAA query built, its response parsed
 * and checked against the query; no I/O.
 */
#include <sys/socket.h>

#include <string.h>

#include "dns.h"

#define HDR_LEN		12
#define FLAG_QR		0x8000
#define FLAG_TC		0x0200
#define FLAG_RD		0x0100
#define CLASS_IN	1
#define MAX_JUMPS	16	/* compression pointers followed per name */

static uint16_t
get16(const uint8_t *p)
{

	return ((uint16_t)(p[0] << 8 | p[1]));
}

static uint32_t
get32(const uint8_t *p)
{

	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3]);
}

static void
put16(uint8_t *p, uint16_t v)
{

	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int
host_char(char c)
{

	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_');
}

int
dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name,
    uint16_t qtype)
{
	size_t n = strlen(name), o = HDR_LEN, i, lab;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || name[n - 1] == '.' ||
	    cap < HDR_LEN + n + 2 + 4)
		return (-1);
	memset(buf, 0, HDR_LEN);
	put16(buf, id);
	put16(buf + 2, FLAG_RD);
	put16(buf + 4, 1);			/* QDCOUNT */
	for (i = 0; i < n; i = lab + 1) {
		for (lab = i; lab < n && name[lab] != '.'; lab++)
			if (!host_char(name[lab]))
				return (-1);
		if (lab == i || lab - i > 63)
			return (-1);
		buf[o++] = (uint8_t)(lab - i);
		memcpy(buf + o, name + i, lab - i);
		o += lab - i;
	}
	buf[o++] = 0;
	put16(buf + o, qtype);
	put16(buf + o + 2, CLASS_IN);
	return ((int)(o + 4));
}

/*
 * Decode the (possibly compressed) name at ${*off} into ${out} as
 * lower-case dotted text; advance ${*off} past it.  Pointers must point
 * backwards (RFC 1035 4.1.4 allows only prior occurrences), which also
 * rules out loops; MAX_JUMPS bounds the work.  Returns 0 or -1.
 */
static int
read_name(const uint8_t *p, size_t len, size_t *off, char out[DNS_NAME_MAX + 1])
{
	size_t o = *off, n = 0, end = 0, lim = *off;
	int jumps = 0, jumped = 0;
	uint8_t l;

	for (;;) {
		if (o >= len)
			return (-1);
		l = p[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 1 >= len || ++jumps > MAX_JUMPS)
				return (-1);
			if (!jumped)
				end = o + 2;
			jumped = 1;
			o = (size_t)(get16(p + o) & 0x3fff);
			if (o >= lim)
				return (-1);
			lim = o;
			continue;
		}
		if (l & 0xc0)
			return (-1);
		if (l == 0)
			break;
		if (o + 1 + l > len || n + l + 1 > DNS_NAME_MAX)
			return (-1);
		if (n > 0)
			out[n++] = '.';
		for (size_t i = 0; i < l; i++) {
			char c = (char)p[o + 1 + i];
			/* A '.' inside a label would forge a label boundary. */
			if (c == '.' || c <= ' ' || c > '~')
				return (-1);
			out[n++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
		}
		o += 1 + l;
	}
	out[n] = '\0';
	*off = jumped ? end : o + 1;
	return (0);
}

/* Lower-case ${name} without a trailing dot into ${out}. */
static int
canon(const char *name, char out[DNS_NAME_MAX + 1])
{
	size_t n = strlen(name), i;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n > DNS_NAME_MAX)
		return (-1);
	for (i = 0; i < n; i++)
		out[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ?
		    name[i] + 32 : name[i]);
	out[n] = '\0';
	return (0);
}

struct rr {
	char	owner[DNS_NAME_MAX + 1];
	uint16_t type, klass;
	uint32_t ttl;
	size_t	rdoff;		/* offset of RDATA in the packet */
	uint16_t rdlen;
};

static int
read_rr(const uint8_t *p, size_t len, size_t *off, struct rr *rr)
{

	if (read_name(p, len, off, rr->owner) || *off + 10 > len)
		return (-1);
	rr->type = get16(p + *off);
	rr->klass = get16(p + *off + 2);
	rr->ttl = get32(p + *off + 4);
	if (rr->ttl > 0x7fffffff)	/* RFC 2181 8: treat as zero */
		rr->ttl = 0;
	rr->rdlen = get16(p + *off + 8);
	rr->rdoff = *off + 10;
	if (rr->rdoff + rr->rdlen > len)
		return (-1);
	*off = rr->rdoff + rr->rdlen;
	return (0);
}

/* Check the header and the single question; return the answer offset. */
static int
check_question(const uint8_t *p, size_t len, uint16_t id, const char *want,
    uint16_t qtype, size_t *off)
{
	char qname[DNS_NAME_MAX + 1];
	uint16_t flags;

	if (len < HDR_LEN || get16(p) != id)
		return (-1);
	flags = get16(p + 2);
	if (!(flags & FLAG_QR) || (flags & 0x7800) != 0 || get16(p + 4) != 1)
		return (-1);
	*off = HDR_LEN;
	if (read_name(p, len, off, qname) || *off + 4 > len)
		return (-1);
	if (strcmp(qname, want) != 0 || get16(p + *off) != qtype ||
	    get16(p + *off + 2) != CLASS_IN)
		return (-1);
	*off += 4;
	return (0);
}

/* Find the CNAME target of ${name} among the answers; 1 if found. */
static int
find_cname(const uint8_t *p, size_t len, size_t off, unsigned ancount,
    const char *name, char target[DNS_NAME_MAX + 1], uint32_t *ttl)
{
	struct rr rr;
	size_t t;

	for (; ancount > 0; ancount--) {
		if (read_rr(p, len, &off, &rr))
			return (-1);
		if (rr.type != DNS_TYPE_CNAME || rr.klass != CLASS_IN ||
		    strcmp(rr.owner, name) != 0)
			continue;
		t = rr.rdoff;
		if (read_name(p, rr.rdoff + rr.rdlen, &t, target) ||
		    t != rr.rdoff + rr.rdlen)
			return (-1);
		*ttl = rr.ttl;
		return (1);
	}
	return (0);
}

/* Collect the ${qtype} records owned by ${name}. */
static int
collect(const uint8_t *p, size_t len, size_t off, unsigned ancount,
    const char *name, uint16_t qtype, struct dns_answer *out)
{
	size_t alen = qtype == DNS_TYPE_A ? 4 : 16;
	struct cidr_addr *a;
	struct rr rr;

	for (; ancount > 0; ancount--) {
		if (read_rr(p, len, &off, &rr))
			return (-1);
		if (rr.type != qtype || rr.klass != CLASS_IN ||
		    strcmp(rr.owner, name) != 0)
			continue;
		if (rr.rdlen != alen)
			return (-1);
		if (out->naddrs == DNS_MAX_ADDRS) {
			out->extra++;
			continue;
		}
		a = &out->addrs[out->naddrs++];
		/* An AAAA of ::ffff:a.b.c.d is judged as a.b.c.d (cidr.h). */
		cidr_addr_set(a, qtype == DNS_TYPE_A ? AF_INET : AF_INET6,
		    p + rr.rdoff);
		if (rr.ttl < out->ttl)
			out->ttl = rr.ttl;
	}
	return (0);
}

int
dns_parse(const uint8_t *pkt, size_t len, uint16_t id, const char *name,
    uint16_t qtype, struct dns_answer *out)
{
	char cur[DNS_NAME_MAX + 1], next[DNS_NAME_MAX + 1];
	unsigned ancount, hops;
	size_t off;
	uint32_t ttl;
	int r;

	memset(out, 0, sizeof(*out));
	out->ttl = UINT32_MAX;
	if (canon(name, cur) ||
	    check_question(pkt, len, id, cur, qtype, &off))
		return (DNS_EIGNORE);
	out->truncated = (get16(pkt + 2) & FLAG_TC) != 0;
	switch (get16(pkt + 2) & 0x000f) {
	case 0:
		break;
	case 3:
		return (DNS_ENXDOMAIN);
	default:
		return (DNS_ESERVFAIL);
	}
	ancount = get16(pkt + 6);

	/* Follow the chain from the name we asked for; bounded hops. */
	for (hops = 0; hops <= DNS_MAX_CHAIN; hops++) {
		r = find_cname(pkt, len, off, ancount, cur, next, &ttl);
		if (r < 0)
			return (DNS_EIGNORE);
		if (r == 0)
			break;
		if (ttl < out->ttl)
			out->ttl = ttl;
		memcpy(cur, next, sizeof(cur));
	}
	if (hops > DNS_MAX_CHAIN)
		return (DNS_EIGNORE);	/* a loop, or too long a chain */
	if (collect(pkt, len, off, ancount, cur, qtype, out))
		return (DNS_EIGNORE);
	if (out->naddrs == 0)
		out->ttl = 0;
	return (0);
}
