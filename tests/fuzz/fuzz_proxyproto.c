/* libFuzzer: the PROXY protocol header, v1 and v2, with its invariants. */
#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "fuzz_check.h"
#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* ${a} is the ${n} bytes (4 or 16) at ${p}, a v4-mapped one unmapped. */
static int
addr_is(const struct cidr_addr *a, const uint8_t *p, size_t n)
{

	if (n == 16 && memcmp(p, v4mapped, 12) == 0) {
		p += 12;
		n = 4;
	}
	return (a->family == (n == 4 ? AF_INET : AF_INET6) &&
	    memcmp(a->a, p, n) == 0);
}

/* Are two results the same, field by field (padding aside)? */
static int
same(const struct proxyproto *a, const struct proxyproto *b)
{

	return (a->version == b->version && a->local == b->local &&
	    a->src.family == b->src.family && a->dst.family == b->dst.family &&
	    memcmp(a->src.a, b->src.a, sizeof(a->src.a)) == 0 &&
	    memcmp(a->dst.a, b->dst.a, sizeof(a->dst.a)) == 0 &&
	    a->sport == b->sport && a->dport == b->dport);
}

/* A v2 result agrees with the bytes it came from. */
static void
check_v2(const uint8_t *d, const struct proxyproto *pp)
{
	const uint8_t *a = d + 16;

	CHECK(pp->version == 2);
	if ((d[12] & 0x0f) == 0 || d[13] == 0x00) {
		CHECK(pp->local);
		return;
	}
	CHECK(!pp->local);
	if (d[13] == 0x11) {
		CHECK(addr_is(&pp->src, a, 4) && addr_is(&pp->dst, a + 4, 4));
		CHECK(pp->sport == (a[8] << 8 | a[9]));
		CHECK(pp->dport == (a[10] << 8 | a[11]));
	} else {
		CHECK(d[13] == 0x21);
		CHECK(addr_is(&pp->src, a, 16) &&
		    addr_is(&pp->dst, a + 16, 16));
		CHECK(pp->sport == (a[32] << 8 | a[33]));
		CHECK(pp->dport == (a[34] << 8 | a[35]));
	}
}

/* A v1 result agrees with the line; TCP4 text is canonical: rebuild it. */
static void
check_v1(const uint8_t *d, size_t n, const struct proxyproto *pp)
{
	char s[CIDR_ADDRSTRLEN], t[CIDR_ADDRSTRLEN], line[160];

	CHECK(pp->version == 1 && n <= PROXYPROTO_V1_MAX);
	CHECK(d[n - 2] == '\r' && d[n - 1] == '\n');
	if (pp->local) {
		CHECK(n >= 15 && memcmp(d, "PROXY UNKNOWN", 13) == 0);
		return;
	}
	CHECK(n >= 11);
	if (memcmp(d, "PROXY TCP6 ", 11) == 0) {
		CHECK(pp->src.family == AF_INET6 || pp->src.family == AF_INET);
		CHECK(pp->dst.family == AF_INET6 || pp->dst.family == AF_INET);
		return;
	}
	CHECK(memcmp(d, "PROXY TCP4 ", 11) == 0);
	CHECK(pp->src.family == AF_INET && pp->dst.family == AF_INET);
	cidr_addr_format(&pp->src, s);
	cidr_addr_format(&pp->dst, t);
	snprintf(line, sizeof(line), "PROXY TCP4 %s %s %u %u\r\n", s, t,
	    (unsigned)pp->sport, (unsigned)pp->dport);
	CHECK(strlen(line) == n && memcmp(line, d, n) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct proxyproto pp, again;
	ssize_t r, r2;
	size_t k;

	r = proxyproto_parse(data, len, &pp);
	CHECK(r >= -1);
	CHECK(r <= (ssize_t)len && r <= PROXYPROTO_MAX);
	/* One byte less: a prefix of a valid prefix is a valid prefix. */
	if (len > 0) {
		r2 = proxyproto_parse(data, len - 1, &again);
		if (r == 0 || (r > 0 && (size_t)r == len))
			CHECK(r2 == 0);
		else if (r > 0)
			CHECK(r2 == r);
		else
			CHECK(r2 == 0 || r2 == -1);
	}
	if (r <= 0)
		return (0);
	/* The header alone gives the same result; every prefix wants more. */
	CHECK(proxyproto_parse(data, (size_t)r, &again) == r);
	CHECK(same(&pp, &again));
	for (k = 0; k < (size_t)r; k++)
		CHECK(proxyproto_parse(data, k, &again) == 0);
	if (data[0] == 'P')
		check_v1(data, (size_t)r, &pp);
	else
		check_v2(data, &pp);
	return (0);
}
