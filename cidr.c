/*
 * Addresses and prefixes (cidr.h): parsing, formatting, sockaddr
 * conversion, and the sorted prefix sets searched for every address.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Turn ::ffff:a.b.c.d into a.b.c.d; leave every other address alone. */
static void
unmap(struct cidr_addr *a)
{

	if (a->family == AF_INET6 && memcmp(a->a, v4mapped, 12) == 0) {
		memmove(a->a, a->a + 12, 4);
		memset(a->a + 4, 0, 12);
		a->family = AF_INET;
	}
}

void
cidr_addr_set(struct cidr_addr *out, int family, const uint8_t *bytes)
{

	memset(out, 0, sizeof(*out));
	out->family = (uint8_t)family;
	memcpy(out->a, bytes, family == AF_INET ? 4 : 16);
	unmap(out);
}

int
cidr_addr_parse(const char *s, size_t n, struct cidr_addr *out)
{
	char buf[CIDR_ADDRSTRLEN];
	size_t i;
	int v6 = 0;

	if (n == 0 || n >= sizeof(buf))
		return (-1);
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c == ':')
			v6 = 1;
		else if (!((c >= '0' && c <= '9') || c == '.' ||
		    (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return (-1);
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(out, 0, sizeof(*out));
	out->family = v6 ? AF_INET6 : AF_INET;
	if (inet_pton(out->family, buf, out->a) != 1)
		return (-1);
	unmap(out);
	return (0);
}

/* Parse a decimal prefix length of at most three digits. */
static int
parse_len(const char *s, size_t n, unsigned max, unsigned *len)
{
	size_t i;

	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return (-1);
	*len = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		*len = *len * 10 + (unsigned)(s[i] - '0');
	}
	return (*len <= max ? 0 : -1);
}

/* Are all bits of ${a} after the first ${len} zero? */
static int
host_bits_clear(const struct cidr_addr *a, unsigned len)
{
	unsigned bytes = a->family == AF_INET ? 4 : 16;
	unsigned i;

	for (i = len / 8; i < bytes; i++) {
		uint8_t mask = (uint8_t)(i == len / 8 ? 0xff >> (len % 8) :
		    0xff);
		if (a->a[i] & mask)
			return (0);
	}
	return (1);
}

int
cidr_parse(const char *s, size_t n, struct cidr *out)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash != NULL ? (size_t)(slash - s) : n;
	unsigned max, len;
	int mapped;

	memset(out, 0, sizeof(*out));
	if (cidr_addr_parse(s, alen, &out->net))
		return (-1);
	/* cidr_addr_parse unmapped ::ffff:x; prefix lengths count from v6. */
	mapped = out->net.family == AF_INET && memchr(s, ':', alen) != NULL;
	max = (out->net.family == AF_INET && !mapped) ? 32 : 128;
	if (slash == NULL)
		len = max;
	else if (parse_len(slash + 1, n - alen - 1, max, &len))
		return (-1);
	if (mapped) {
		/* ::ffff:a.b.c.d/N: an IPv4 prefix only when N >= 96. */
		if (len < 96)
			return (-1);
		len -= 96;
	}
	out->len = (uint8_t)len;
	if (!host_bits_clear(&out->net, len))
		return (-2);
	return (0);
}

int
cidr_addr_from_sockaddr(const struct sockaddr *sa, struct cidr_addr *out,
    uint16_t *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET) {
		cidr_addr_set(out, AF_INET, (const uint8_t *)&sin->sin_addr);
		if (port != NULL)
			*port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		cidr_addr_set(out, AF_INET6,
		    (const uint8_t *)&sin6->sin6_addr);
		if (port != NULL)
			*port = ntohs(sin6->sin6_port);
	} else {
		return (-1);
	}
	return (0);
}

socklen_t
cidr_addr_to_sockaddr(const struct cidr_addr *a, uint16_t port,
    struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a->a, 4);
		return (sizeof(*sin));
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	memcpy(&sin6->sin6_addr, a->a, 16);
	return (sizeof(*sin6));
}

int
cidr_contains(const struct cidr *c, const struct cidr_addr *a)
{
	unsigned full = c->len / 8, rest = c->len % 8;
	uint8_t mask;

	if (c->net.family != a->family)
		return (0);
	if (memcmp(c->net.a, a->a, full) != 0)
		return (0);
	if (rest == 0)
		return (1);
	mask = (uint8_t)(0xff << (8 - rest));
	return ((c->net.a[full] & mask) == (a->a[full] & mask));
}

/*
 * IPv6 ranges whose addresses carry an IPv4 address: the 4 bytes at
 * ${off}, each XORed with ${flip} (Teredo stores the client's address
 * inverted); ${off} 0: the position is unknown.  This table is the one
 * place that knows them: the dial check and the --allow-cidr limits use
 * it alike.
 */
static const struct carrier {
	struct cidr_addr net;
	uint8_t	len;
	uint8_t	off;
	uint8_t	flip;
	const char *name;
} carriers[] = {
	{ { AF_INET6, { 0 } }, 96, 12, 0, "IPv4-compatible" },
	{ { AF_INET6, { 0, 0x64, 0xff, 0x9b } }, 96, 12, 0, "NAT64" },
	{ { AF_INET6, { 0, 0x64, 0xff, 0x9b, 0, 1 } }, 48, 0, 0,
	    "local-use NAT64" },
	{ { AF_INET6, { 0x20, 0x01, 0, 0 } }, 32, 12, 0xff, "Teredo" },
	{ { AF_INET6, { 0x20, 0x02 } }, 16, 2, 0, "6to4" },
};

#define NCARRIERS	(sizeof(carriers) / sizeof(carriers[0]))

/* The IPv4 bytes at ${off} of ${a}, each XORed with ${flip}, into ${v4}. */
static void
carried_bytes(const struct cidr_addr *a, unsigned off, uint8_t flip,
    struct cidr_addr *v4)
{
	unsigned i;

	memset(v4, 0, sizeof(*v4));
	v4->family = AF_INET;
	for (i = 0; i < 4; i++)
		v4->a[i] = a->a[off + i] ^ flip;
}

/*
 * :: and ::1 are the unspecified and loopback addresses, not IPv4-compatible
 * ones (RFC 4291 2.5.5.1; Linux's ipv6_addr_type sorts them so too).
 */
static int
unspec_or_loopback(const struct cidr_addr *a)
{
	static const uint8_t zero[15];

	return (memcmp(a->a, zero, sizeof(zero)) == 0 && a->a[15] <= 1);
}

int
cidr_addr_carried(const struct cidr_addr *a, struct cidr_addr *v4)
{
	size_t i;

	if (a->family != AF_INET6 || unspec_or_loopback(a))
		return (0);

	for (i = 0; i < NCARRIERS; i++) {
		struct cidr c = { carriers[i].net, carriers[i].len, 0 };

		if (!cidr_contains(&c, a))
			continue;
		if (carriers[i].off == 0)
			return (-1);
		carried_bytes(a, carriers[i].off, carriers[i].flip, v4);
		return (1);
	}
	return (0);
}

/* Addresses no upstream prefix may contain, and how to name them. */
static const struct {
	struct cidr_addr net;
	uint8_t	len;
	const char *what;
} forbidden[] = {
	{ { AF_INET, { 0 } }, 32, "the unspecified address 0.0.0.0" },
	{ { AF_INET, { 127 } }, 8, "loopback addresses (127.0.0.0/8)" },
	{ { AF_INET, { 169, 254 } }, 16, "link-local addresses (169.254.0.0/16: "
	    "instance metadata 169.254.169.254)" },
	{ { AF_INET, { 224 } }, 4, "multicast addresses (224.0.0.0/4)" },
	{ { AF_INET6, { 0 } }, 128, "the unspecified address ::" },
	{ { AF_INET6, { [15] = 1 } }, 128, "the loopback address ::1" },
	{ { AF_INET6, { 0xfe, 0x80 } }, 10, "link-local addresses (fe80::/10)" },
	{ { AF_INET6, { 0xff } }, 8, "multicast addresses (ff00::/8)" },
	{ { AF_INET6, { 0xfd, 0, 0x0e, 0xc2, [14] = 0x02, 0x54 } }, 128,
	    "the instance metadata address fd00:ec2::254" },
	{ { AF_INET6, { 0xfd, 0, 0x0e, 0xc2, [14] = 0x02, 0x53 } }, 128,
	    "the instance DNS address fd00:ec2::253" },
	{ { AF_INET6, { 0xfd, 0, 0x0e, 0xc2, [14] = 0x01, 0x23 } }, 128,
	    "the instance time address fd00:ec2::123" },
};

/* Do prefixes ${a} and ${b} share an address?  (Then one holds the other.) */
static int
overlaps(const struct cidr *a, const struct cidr *b)
{

	return (a->len <= b->len ? cidr_contains(a, &b->net) :
	    cidr_contains(b, &a->net));
}

/* Clear the bits of ${a} after the first ${len}. */
static void
clear_host_bits(struct cidr_addr *a, unsigned len)
{
	unsigned bytes = a->family == AF_INET ? 4 : 16;
	unsigned i;

	for (i = len / 8; i < bytes; i++)
		a->a[i] &= (uint8_t)(i == len / 8 ? 0xff << (8 - len % 8) : 0);
}

/*
 * The IPv4 range that the addresses of ${c}, all inside carrier ${k},
 * carry: the bits of ${c} at the carrier's IPv4 position, as a prefix.
 */
static void
carried_range(const struct cidr *c, const struct carrier *k, struct cidr *v4)
{
	unsigned bits;

	memset(v4, 0, sizeof(*v4));
	carried_bytes(&c->net, k->off, k->flip, &v4->net);
	bits = c->len > k->off * 8u ? c->len - k->off * 8u : 0;
	v4->len = (uint8_t)(bits > 32 ? 32 : bits);
	clear_host_bits(&v4->net, v4->len);
}

/* The length and forbidden-address rules, without carried ranges. */
static int
unsafe_plain(const struct cidr *c, char *why, size_t len)
{
	size_t i;

	if (c->len < (c->net.family == AF_INET ? 8 : 16)) {
		snprintf(why, len, "is shorter than /%d",
		    c->net.family == AF_INET ? 8 : 16);
		return (1);
	}
	for (i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		struct cidr f = { forbidden[i].net, forbidden[i].len, 0 };

		if (f.net.family == c->net.family && overlaps(c, &f)) {
			snprintf(why, len, "contains %s", forbidden[i].what);
			return (1);
		}
	}
	return (0);
}

int
cidr_unsafe(const struct cidr *c, char *why, size_t len)
{
	char inner[160], text[CIDR_ADDRSTRLEN + 4];
	struct cidr v4;
	size_t i;

	if (unsafe_plain(c, why, len))
		return (1);
	if (c->net.family != AF_INET6)
		return (0);
	for (i = 0; i < NCARRIERS; i++) {
		struct cidr k = { carriers[i].net, carriers[i].len, 0 };

		if (!overlaps(c, &k))
			continue;
		if (carriers[i].off == 0) {
			snprintf(why, len, "overlaps the %s prefix, whose "
			    "addresses carry IPv4 addresses in a local layout",
			    carriers[i].name);
			return (1);
		}
		carried_range(c->len > k.len ? c : &k, &carriers[i], &v4);
		if (unsafe_plain(&v4, inner, sizeof(inner))) {
			cidr_format(&v4, text);
			snprintf(why, len, "carries the IPv4 range %s (%s), "
			    "which %s", text, carriers[i].name, inner);
			return (1);
		}
	}
	return (0);
}

int
cidr_addr_eq(const struct cidr_addr *a, const struct cidr_addr *b)
{

	return (a->family == b->family && memcmp(a->a, b->a, 16) == 0);
}

/* Write ${v} in decimal at ${p}; returns the end (no NUL). */
static char *
put_decimal(char *p, unsigned v)
{
	char tmp[10];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return (p);
}

/*
 * Addresses are formatted twice per session for the logs: IPv4 by hand
 * (musl's inet_ntop goes through snprintf), IPv6 by inet_ntop (RFC 5952).
 */
void
cidr_addr_format(const struct cidr_addr *a, char buf[CIDR_ADDRSTRLEN])
{
	char *p = buf;
	int i;

	if (a->family == AF_INET) {
		for (i = 0; i < 4; i++) {
			if (i > 0)
				*p++ = '.';
			p = put_decimal(p, a->a[i]);
		}
		*p = '\0';
		return;
	}
	if (inet_ntop(a->family, a->a, buf, CIDR_ADDRSTRLEN) == NULL)
		memcpy(buf, "?", 2);
}

void
cidr_format(const struct cidr *c, char buf[CIDR_ADDRSTRLEN + 4])
{
	size_t n;

	cidr_addr_format(&c->net, buf);
	n = strlen(buf);
	snprintf(buf + n, CIDR_ADDRSTRLEN + 4 - n, "/%u", (unsigned)c->len);
}

void
cidr_sockaddr_format(const struct sockaddr *sa, char buf[CIDR_ADDRSTRLEN + 8])
{
	struct cidr_addr a;
	char host[CIDR_ADDRSTRLEN], *p;
	uint16_t port;
	size_t n;

	if (cidr_addr_from_sockaddr(sa, &a, &port)) {
		memcpy(buf, "?", 2);
		return;
	}
	cidr_addr_format(&a, host);
	n = strlen(host);
	p = buf;
	if (a.family == AF_INET6)
		*p++ = '[';
	memcpy(p, host, n);
	p += n;
	if (a.family == AF_INET6)
		*p++ = ']';
	*p++ = ':';
	*put_decimal(p, port) = '\0';
}

int
cidrset_add(struct cidrset *s, const struct cidr *c)
{
	struct cidr *nv;
	size_t ncap;

	if (s->n == s->cap) {
		ncap = s->cap ? s->cap * 2 : 16;
		if ((nv = realloc(s->v, ncap * sizeof(*nv))) == NULL)
			return (-1);
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = *c;
	return (0);
}

static int
cmp_cidr(const void *x, const void *y)
{
	const struct cidr *a = x, *b = y;
	int r;

	if (a->net.family != b->net.family)
		return (a->net.family < b->net.family ? -1 : 1);
	if ((r = memcmp(a->net.a, b->net.a, 16)) != 0)
		return (r);
	if (a->len != b->len)
		return (a->len < b->len ? -1 : 1);
	return (a->tag < b->tag ? -1 : a->tag > b->tag);
}

void
cidrset_finish(struct cidrset *s)
{
	size_t i, o;

	if (s->n == 0)
		return;
	qsort(s->v, s->n, sizeof(*s->v), cmp_cidr);
	for (i = o = 1; i < s->n; i++)
		if (cmp_cidr(&s->v[i], &s->v[o - 1]) != 0)
			s->v[o++] = s->v[i];
	s->n = o;
}

const struct cidr *
cidrset_find(const struct cidrset *s, const struct cidr_addr *a)
{
	size_t i;

	/*
	 * A linear scan: a region holds a few thousand prefixes at most and
	 * this runs once per resolved address (every TTL), never per byte.
	 */
	for (i = 0; i < s->n; i++)
		if (cidr_contains(&s->v[i], a))
			return (&s->v[i]);
	return (NULL);
}

const struct cidr *
cidrset_find_strict(const struct cidrset *s, const struct cidr_addr *a)
{
	struct cidr_addr v4;

	switch (cidr_addr_carried(a, &v4)) {
	case -1:
		return (NULL);
	case 1:
		if (cidrset_find(s, &v4) == NULL)
			return (NULL);
		break;
	}
	return (cidrset_find(s, a));
}

void
cidrset_free(struct cidrset *s)
{

	if (s == NULL)
		return;
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}
