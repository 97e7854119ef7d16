#include <sys/socket.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "dns.h"
#include "harness.h"

#define Q	"email-smtp.us-east-1.amazonaws.com"
#define ID	0x1234
#define F_OK	0x8180		/* QR RD RA, RCODE 0 */
#define C_IN	1

/* ---- a small DNS packet builder ---- */

struct pkt {
	uint8_t	b[4096];
	size_t	n;
};

static void
put8(struct pkt *p, unsigned v)
{

	p->b[p->n++] = (uint8_t)v;
}

static void
put16(struct pkt *p, unsigned v)
{

	put8(p, v >> 8);
	put8(p, v);
}

static void
put32(struct pkt *p, uint32_t v)
{

	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

/*
 * A name: dotted labels, then either the root label or, after '@', a
 * compression pointer to the decimal offset that follows: "a.b", "@12",
 * "cdn@33" (so '@' cannot be part of a label).  Returns the name's offset.
 */
static size_t
putname(struct pkt *p, const char *name)
{
	size_t at = p->n;
	const char *e;

	while (*name != '\0' && *name != '@') {
		e = name + strcspn(name, ".@");
		put8(p, (unsigned)(e - name));
		memcpy(p->b + p->n, name, (size_t)(e - name));
		p->n += (size_t)(e - name);
		name = *e == '.' ? e + 1 : e;
	}
	if (*name == '@')
		put16(p, 0xc000 | (unsigned)strtoul(name + 1, NULL, 10));
	else
		put8(p, 0);
	return (at);
}

static void
header(struct pkt *p, unsigned id, unsigned flags, unsigned qd, unsigned an,
    unsigned ns, unsigned ar)
{

	p->n = 0;
	put16(p, id);
	put16(p, flags);
	put16(p, qd);
	put16(p, an);
	put16(p, ns);
	put16(p, ar);
}

static void
question(struct pkt *p, const char *name, unsigned type, unsigned class)
{

	putname(p, name);
	put16(p, type);
	put16(p, class);
}

/* The usual start of a response: header and our question. */
static void
resp(struct pkt *p, unsigned flags, unsigned qtype, unsigned an)
{

	header(p, ID, flags, 1, an, 0, 0);
	question(p, Q, qtype, C_IN);
}

/* Set the answer count of ${p} after the fact. */
static void
set_an(struct pkt *p, unsigned an)
{

	p->b[6] = (uint8_t)(an >> 8);
	p->b[7] = (uint8_t)an;
}

static void
rr(struct pkt *p, const char *name, unsigned type, uint32_t ttl,
    const void *rd, size_t rdlen)
{

	putname(p, name);
	put16(p, type);
	put16(p, C_IN);
	put32(p, ttl);
	put16(p, (unsigned)rdlen);
	memcpy(p->b + p->n, rd, rdlen);
	p->n += rdlen;
}

static void
rr_a(struct pkt *p, const char *name, uint32_t ttl, const char *addr)
{
	uint8_t a[4];

	inet_pton(AF_INET, addr, a);
	rr(p, name, DNS_TYPE_A, ttl, a, 4);
}

static void
rr_aaaa(struct pkt *p, const char *name, uint32_t ttl, const char *addr)
{
	uint8_t a[16];

	inet_pton(AF_INET6, addr, a);
	rr(p, name, DNS_TYPE_AAAA, ttl, a, 16);
}

/* A CNAME whose target may use "@offset" compression. */
static void
rr_cname(struct pkt *p, const char *name, uint32_t ttl, const char *target)
{
	size_t len;

	putname(p, name);
	put16(p, DNS_TYPE_CNAME);
	put16(p, C_IN);
	put32(p, ttl);
	len = p->n;
	put16(p, 0);
	putname(p, target);
	p->b[len] = (uint8_t)((p->n - len - 2) >> 8);
	p->b[len + 1] = (uint8_t)(p->n - len - 2);
}

/* ---- running dns_parse on a guarded copy ---- */

static int
parse_n(const struct pkt *p, size_t len, unsigned id, const char *name,
    unsigned qtype, struct dns_answer *out)
{
	void *g = test_guarded(p->b, len);
	int r;

	/* Garbage in ${out}: dns_parse must fill what it reports. */
	memset(out, 0x5a, sizeof(*out));
	r = dns_parse(g, len, (uint16_t)id, name, (uint16_t)qtype, out);
	test_guarded_free(g, len);
	return (r);
}

static int
parse(const struct pkt *p, unsigned qtype, struct dns_answer *out)
{

	return (parse_n(p, p->n, ID, Q, qtype, out));
}

/* Does ${out} hold ${addr} (text)? */
static int
holds(const struct dns_answer *out, const char *addr)
{
	struct cidr_addr a;
	size_t i;

	if (cidr_addr_parse(addr, strlen(addr), &a) != 0)
		return (0);
	for (i = 0; i < out->naddrs && i < DNS_MAX_ADDRS; i++)
		if (cidr_addr_eq(&out->addrs[i], &a))
			return (1);
	return (0);
}

/* ---- dns_build_query ---- */

/* The wire form of a dotted name, for comparison. */
static size_t
wire(const char *name, uint8_t *out)
{
	struct pkt p;

	p.n = 0;
	putname(&p, name);
	memcpy(out, p.b, p.n);
	return (p.n);
}

static void
test_build(void)
{
	static const char *const bad[] = {
		"", ".", "..", "a..b", ".a", "a b", "a/b", "a\\b", "a\"b",
		"a\tb", "a\nb", "\xc3\xa9.com", "a@b.c", "a:b", "a,b", "a*b",
		"a\001b", "a.b..", "a;b", "a%b",
	};
	char l63[64], l64[65], n253[254], n254[255], n253dot[255];
	uint8_t buf[600], w[300];
	void *g;
	size_t wl, i;
	int r;

	TEST_START("dns_build_query A " Q);
	memset(buf, 0xee, sizeof(buf));
	r = dns_build_query(buf, sizeof(buf), 0xbeef, Q, DNS_TYPE_A);
	wl = wire(Q, w);
	if (ASSERT_INT_EQ(r, (int)(12 + wl + 4))) {
		ASSERT_INT_EQ(buf[0], 0xbe);
		ASSERT_INT_EQ(buf[1], 0xef);
		ASSERT_INT_EQ(buf[2], 0x01);		/* QR 0, opcode 0, RD */
		ASSERT_INT_EQ(buf[3] & 0x8f, 0);	/* RA 0, RCODE 0 */
		ASSERT_MEM_EQ(buf + 4, "\0\1\0\0\0\0\0\0", 8);
		ASSERT_MEM_EQ(buf + 12, w, wl);
		ASSERT_MEM_EQ(buf + 12 + wl, "\0\1\0\1", 4);
		ASSERT_INT_EQ(buf[r], 0xee);
	}
	TEST_DONE();

	TEST_START("dns_build_query AAAA, trailing dot, id 0");
	memset(buf, 0xee, sizeof(buf));
	r = dns_build_query(buf, sizeof(buf), 0, Q ".", DNS_TYPE_AAAA);
	if (ASSERT_INT_EQ(r, (int)(12 + wl + 4))) {
		ASSERT_MEM_EQ(buf, "\0\0", 2);
		ASSERT_MEM_EQ(buf + 12, w, wl);
		ASSERT_MEM_EQ(buf + 12 + wl, "\0\34\0\1", 4);
	}
	TEST_DONE();

	TEST_START("dns_build_query cap exact, and every smaller cap");
	g = test_guarded(buf, 12 + wl + 4);
	ASSERT_INT_EQ(dns_build_query(g, 12 + wl + 4, 7, Q, DNS_TYPE_A),
	    (int)(12 + wl + 4));
	test_guarded_free(g, 12 + wl + 4);
	for (i = 0; i < 12 + wl + 4; i++) {
		g = test_guarded(buf, i);
		r = dns_build_query(g, i, 7, Q, DNS_TYPE_A);
		test_guarded_free(g, i);
		if (!ASSERT_INT_EQ(r, -1)) {
			printf("  cap %zu\n", i);
			break;
		}
	}
	TEST_DONE();

	memset(l63, 'a', 63);
	l63[63] = '\0';
	memset(l64, 'b', 64);
	l64[64] = '\0';
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	memset(n253, 'c', 253);
	n253[63] = n253[127] = n253[191] = '.';
	n253[253] = '\0';
	memcpy(n254, n253, 253);
	memcpy(n254 + 252, "cc", 3);
	memcpy(n253dot, n253, 253);
	memcpy(n253dot + 253, ".", 2);

	TEST_START("dns_build_query label and name lengths");
	ASSERT_INT_GT(dns_build_query(buf, sizeof(buf), 1, l63, 1), 0);
	ASSERT_INT_EQ(dns_build_query(buf, sizeof(buf), 1, l64, 1), -1);
	r = dns_build_query(buf, sizeof(buf), 1, n253, 1);
	if (ASSERT_INT_EQ(r, 12 + 255 + 4)) {
		wl = wire(n253, w);
		ASSERT_MEM_EQ(buf + 12, w, wl);
	}
	ASSERT_INT_EQ(dns_build_query(buf, sizeof(buf), 1, n253dot, 1),
	    12 + 255 + 4);
	ASSERT_INT_EQ(dns_build_query(buf, sizeof(buf), 1, n254, 1), -1);
	ASSERT_INT_GT(dns_build_query(buf, sizeof(buf), 1, "a", 1), 0);
	ASSERT_INT_GT(dns_build_query(buf, sizeof(buf), 1, "EMAIL-SMTP.Us-"
	    "East-1.amazonaws.com", 1), 0);
	TEST_DONE();

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TEST_START("dns_build_query rejects name %zu \"%s\"", i,
		    bad[i]);
		ASSERT_INT_EQ(dns_build_query(buf, sizeof(buf), 1, bad[i],
		    DNS_TYPE_A), -1);
		TEST_DONE();
	}
}

/* ---- dns_parse ---- */

static void
test_answers(void)
{
	struct dns_answer out;
	struct pkt p;
	int r;

	TEST_START("dns_parse plain A");
	resp(&p, F_OK, DNS_TYPE_A, 1);
	rr_a(&p, Q, 300, "10.0.0.1");
	r = parse(&p, DNS_TYPE_A, &out);
	if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(out.naddrs, 1)) {
		ASSERT_INT_EQ(out.addrs[0].family, AF_INET);
		ASSERT_TRUE(holds(&out, "10.0.0.1"));
		ASSERT_INT_EQ(out.ttl, 300);
		ASSERT_SIZE_EQ(out.extra, 0);
		ASSERT_INT_EQ(out.truncated, 0);
	}
	TEST_DONE();

	TEST_START("dns_parse two A, owner compressed");
	resp(&p, F_OK, DNS_TYPE_A, 2);
	rr_a(&p, "@12", 60, "10.0.0.1");
	rr_a(&p, "@12", 30, "10.0.0.2");
	r = parse(&p, DNS_TYPE_A, &out);
	if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(out.naddrs, 2)) {
		ASSERT_TRUE(holds(&out, "10.0.0.1"));
		ASSERT_TRUE(holds(&out, "10.0.0.2"));
		ASSERT_INT_EQ(out.ttl, 30);
	}
	TEST_DONE();

	TEST_START("dns_parse AAAA");
	resp(&p, F_OK, DNS_TYPE_AAAA, 1);
	rr_aaaa(&p, "@12", 120, "2001:db8::25");
	r = parse(&p, DNS_TYPE_AAAA, &out);
	if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(out.naddrs, 1)) {
		ASSERT_INT_EQ(out.addrs[0].family, AF_INET6);
		ASSERT_TRUE(holds(&out, "2001:db8::25"));
		ASSERT_INT_EQ(out.ttl, 120);
	}
	TEST_DONE();

	/* cidr.h: a v4-mapped address is judged as the IPv4 it carries. */
	TEST_START("dns_parse AAAA ::ffff:10.0.0.1 becomes IPv4");
	resp(&p, F_OK, DNS_TYPE_AAAA, 2);
	rr_aaaa(&p, "@12", 120, "::ffff:10.0.0.1");
	rr_aaaa(&p, "@12", 120, "64:ff9b::a00:1");
	r = parse(&p, DNS_TYPE_AAAA, &out);
	if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(out.naddrs, 2)) {
		ASSERT_INT_EQ(out.addrs[0].family, AF_INET);
		ASSERT_TRUE(holds(&out, "10.0.0.1"));
		ASSERT_INT_EQ(out.addrs[1].family, AF_INET6);
		ASSERT_TRUE(holds(&out, "64:ff9b::a00:1"));
	}
	TEST_DONE();

	TEST_START("dns_parse A query, AAAA answer: no address");
	resp(&p, F_OK, DNS_TYPE_A, 1);
	rr_aaaa(&p, Q, 120, "2001:db8::25");
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), 0);
	ASSERT_SIZE_EQ(out.naddrs, 0);
	TEST_DONE();

	TEST_START("dns_parse AAAA query, A answer: no address");
	resp(&p, F_OK, DNS_TYPE_AAAA, 1);
	rr_a(&p, Q, 120, "10.0.0.1");
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_AAAA, &out), 0);
	ASSERT_SIZE_EQ(out.naddrs, 0);
	TEST_DONE();

	TEST_START("dns_parse empty answer (NODATA)");
	resp(&p, F_OK, DNS_TYPE_A, 0);
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), 0);
	ASSERT_SIZE_EQ(out.naddrs, 0);
	ASSERT_SIZE_EQ(out.extra, 0);
	ASSERT_INT_EQ(out.truncated, 0);
	TEST_DONE();

	TEST_START("dns_parse addresses only from the answer section");
	header(&p, ID, F_OK, 1, 0, 1, 1);
	question(&p, Q, DNS_TYPE_A, C_IN);
	rr_a(&p, Q, 60, "6.6.6.1");		/* authority */
	rr_a(&p, Q, 60, "6.6.6.2");		/* additional */
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), 0);
	ASSERT_SIZE_EQ(out.naddrs, 0);
	TEST_DONE();

	TEST_START("dns_parse TC bit");
	resp(&p, F_OK | 0x0200, DNS_TYPE_A, 1);
	rr_a(&p, Q, 300, "10.0.0.1");
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), 0);
	ASSERT_INT_EQ(out.truncated, 1);
	TEST_DONE();

	TEST_START("dns_parse more than DNS_MAX_ADDRS");
	{
		char a[32];
		int i;
		resp(&p, F_OK, DNS_TYPE_A, DNS_MAX_ADDRS + 4);
		for (i = 0; i < DNS_MAX_ADDRS + 4; i++) {
			snprintf(a, sizeof(a), "10.0.1.%d", i);
			rr_a(&p, "@12", 300, a);
		}
		if (ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), 0)) {
			ASSERT_SIZE_EQ(out.naddrs, DNS_MAX_ADDRS);
			ASSERT_SIZE_EQ(out.extra, 4);
		}
		resp(&p, F_OK, DNS_TYPE_A, DNS_MAX_ADDRS);
		for (i = 0; i < DNS_MAX_ADDRS; i++) {
			snprintf(a, sizeof(a), "10.0.1.%d", i);
			rr_a(&p, "@12", 300, a);
		}
		if (ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), 0)) {
			ASSERT_SIZE_EQ(out.naddrs, DNS_MAX_ADDRS);
			ASSERT_SIZE_EQ(out.extra, 0);
			ASSERT_TRUE(holds(&out, "10.0.1.15"));
		}
	}
	TEST_DONE();
}

static void
test_cnames(void)
{
	struct dns_answer out;
	struct pkt p;
	int r;

	TEST_START("dns_parse CNAME chain of 2, then A");
	resp(&p, F_OK, DNS_TYPE_A, 3);
	rr_cname(&p, Q, 600, "a.example");
	rr_cname(&p, "a.example", 50, "b.example");
	rr_a(&p, "b.example", 300, "10.0.0.2");
	r = parse(&p, DNS_TYPE_A, &out);
	if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(out.naddrs, 1)) {
		ASSERT_TRUE(holds(&out, "10.0.0.2"));
		ASSERT_INT_EQ(out.ttl, 50);
	}
	TEST_DONE();

	TEST_START("dns_parse CNAME chain in shuffled order");
	resp(&p, F_OK, DNS_TYPE_A, 4);
	rr_a(&p, "b.example", 100, "10.0.0.2");
	rr_cname(&p, "a.example", 500, "b.example");
	rr_a(&p, "b.example", 300, "10.0.0.3");
	rr_cname(&p, Q, 600, "a.example");
	r = parse(&p, DNS_TYPE_A, &out);
	if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(out.naddrs, 2)) {
		ASSERT_TRUE(holds(&out, "10.0.0.2"));
		ASSERT_TRUE(holds(&out, "10.0.0.3"));
		ASSERT_INT_EQ(out.ttl, 100);
	}
	TEST_DONE();

	TEST_START("dns_parse TTL minimum comes from a CNAME");
	resp(&p, F_OK, DNS_TYPE_A, 3);
	rr_cname(&p, Q, 5, "a.example");
	rr_a(&p, "a.example", 300, "10.0.0.2");
	rr_a(&p, "a.example", 100, "10.0.0.3");
	if (ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), 0))
		ASSERT_INT_EQ(out.ttl, 5);
	TEST_DONE();

	TEST_START("dns_parse CNAME target compressed into the question");
	/* Offset 33 is the "amazonaws" label of the question name. */
	resp(&p, F_OK, DNS_TYPE_A, 2);
	rr_cname(&p, "@12", 60, "cdn@33");
	rr_a(&p, "cdn.amazonaws.com", 60, "10.0.0.4");
	r = parse(&p, DNS_TYPE_A, &out);
	if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(out.naddrs, 1))
		ASSERT_TRUE(holds(&out, "10.0.0.4"));
	TEST_DONE();

	TEST_START("dns_parse AAAA through a CNAME");
	resp(&p, F_OK, DNS_TYPE_AAAA, 3);
	rr_cname(&p, "@12", 60, "v6.example");
	rr_a(&p, "v6.example", 60, "10.0.0.9");
	rr_aaaa(&p, "v6.example", 60, "2001:db8::9");
	r = parse(&p, DNS_TYPE_AAAA, &out);
	if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(out.naddrs, 1))
		ASSERT_TRUE(holds(&out, "2001:db8::9"));
	TEST_DONE();

	/* Cache poisoning: addresses of names outside the chain. */
	TEST_START("dns_parse ignores names outside the chain");
	resp(&p, F_OK, DNS_TYPE_A, 6);
	rr_a(&p, "evil.example", 1, "6.6.6.6");
	rr_a(&p, Q ".evil.example", 1, "6.6.6.7");
	rr_a(&p, "amazonaws.com", 1, "6.6.6.8");
	rr_a(&p, "x." Q, 1, "6.6.6.9");
	rr_cname(&p, "evil.example", 1, Q);
	rr_a(&p, Q, 300, "10.0.0.1");
	r = parse(&p, DNS_TYPE_A, &out);
	if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(out.naddrs, 1)) {
		ASSERT_TRUE(holds(&out, "10.0.0.1"));
		ASSERT_INT_EQ(out.ttl, 300);
	}
	TEST_DONE();

	/*
	 * Names compare label by label: one label "a.b" is not a.b.  No
	 * resolver sends such a label for this name, so dns_parse drops the
	 * whole datagram as malformed (DNS_EIGNORE) rather than guess.
	 */
	TEST_START("dns_parse owner name as one label containing dots");
	resp(&p, F_OK, DNS_TYPE_A, 2);
	put8(&p, sizeof(Q) - 1);
	memcpy(p.b + p.n, Q, sizeof(Q) - 1);
	p.n += sizeof(Q) - 1;
	put8(&p, 0);
	put16(&p, DNS_TYPE_A);
	put16(&p, C_IN);
	put32(&p, 1);
	put16(&p, 4);
	memcpy(p.b + p.n, "\6\6\6\6", 4);
	p.n += 4;
	rr_a(&p, "@12", 300, "10.0.0.1");
	r = parse(&p, DNS_TYPE_A, &out);
	ASSERT_INT_EQ(r, DNS_EIGNORE);
	ASSERT_FALSE(holds(&out, "6.6.6.6"));
	TEST_DONE();

	/* dns.h: the addresses "of the chain's last name". */
	TEST_START("dns_parse ignores A of a name that has a CNAME");
	resp(&p, F_OK, DNS_TYPE_A, 3);
	rr_a(&p, Q, 300, "6.6.6.6");
	rr_cname(&p, Q, 300, "a.example");
	rr_a(&p, "a.example", 300, "10.0.0.3");
	r = parse(&p, DNS_TYPE_A, &out);
	if (ASSERT_INT_EQ(r, 0)) {
		ASSERT_TRUE(holds(&out, "10.0.0.3"));
		ASSERT_FALSE(holds(&out, "6.6.6.6"));
	}
	TEST_DONE();

	TEST_START("dns_parse case-insensitive names");
	header(&p, ID, F_OK, 1, 3, 0, 0);
	question(&p, "EMAIL-SMTP.US-EAST-1.AMAZONAWS.COM", DNS_TYPE_A, C_IN);
	rr_cname(&p, "Email-Smtp.Us-East-1.AmazonAWS.com", 60, "A.EXAMPLE");
	rr_a(&p, "a.example", 60, "10.0.0.5");
	rr_a(&p, "a.examplf", 60, "6.6.6.6");
	r = parse(&p, DNS_TYPE_A, &out);
	if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(out.naddrs, 1))
		ASSERT_TRUE(holds(&out, "10.0.0.5"));
	TEST_DONE();

	/*
	 * Only ASCII letters fold: '[' is not '{', '^' is not '~' (they
	 * differ in the 0x20 bit, as 'A' and 'a' do).
	 */
	TEST_START("dns_parse case folding is letters only");
	resp(&p, F_OK, DNS_TYPE_A, 4);
	rr_cname(&p, Q, 60, "x{y~z.example");
	rr_a(&p, "x[y~z.example", 60, "6.6.6.6");
	rr_a(&p, "X{Y~Z.EXAMPLE", 60, "10.0.0.6");
	rr_a(&p, "x{y^z.example", 60, "6.6.6.7");
	r = parse(&p, DNS_TYPE_A, &out);
	if (ASSERT_INT_EQ(r, 0)) {
		ASSERT_FALSE(holds(&out, "6.6.6.6"));
		ASSERT_FALSE(holds(&out, "6.6.6.7"));
		ASSERT_TRUE(holds(&out, "10.0.0.6"));
	}
	TEST_DONE();

	TEST_START("dns_parse CNAME loop terminates");
	resp(&p, F_OK, DNS_TYPE_A, 3);
	rr_cname(&p, Q, 60, "b.example");
	rr_cname(&p, "b.example", 60, Q);
	rr_a(&p, "c.example", 60, "6.6.6.6");
	r = parse(&p, DNS_TYPE_A, &out);
	ASSERT_TRUE(r == 0 || r == DNS_EIGNORE);
	if (r == 0)
		ASSERT_SIZE_EQ(out.naddrs, 0);
	TEST_DONE();

	TEST_START("dns_parse CNAME self loop terminates");
	resp(&p, F_OK, DNS_TYPE_A, 1);
	rr_cname(&p, Q, 60, "@12");
	r = parse(&p, DNS_TYPE_A, &out);
	ASSERT_TRUE(r == 0 || r == DNS_EIGNORE);
	if (r == 0)
		ASSERT_SIZE_EQ(out.naddrs, 0);
	TEST_DONE();

	TEST_START("dns_parse chain of DNS_MAX_CHAIN hops is followed");
	{
		char from[32], to[32];
		int i;
		resp(&p, F_OK, DNS_TYPE_A, DNS_MAX_CHAIN + 1);
		for (i = 0; i < DNS_MAX_CHAIN; i++) {
			snprintf(from, sizeof(from), "c%d.example", i);
			snprintf(to, sizeof(to), "c%d.example", i + 1);
			rr_cname(&p, i == 0 ? Q : from, 60, to);
		}
		rr_a(&p, to, 60, "10.0.0.7");
		r = parse(&p, DNS_TYPE_A, &out);
		if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(out.naddrs, 1))
			ASSERT_TRUE(holds(&out, "10.0.0.7"));

		resp(&p, F_OK, DNS_TYPE_A, 2 * DNS_MAX_CHAIN + 1);
		for (i = 0; i < 2 * DNS_MAX_CHAIN; i++) {
			snprintf(from, sizeof(from), "c%d.example", i);
			snprintf(to, sizeof(to), "c%d.example", i + 1);
			rr_cname(&p, i == 0 ? Q : from, 60, to);
		}
		rr_a(&p, to, 60, "10.0.0.8");
		r = parse(&p, DNS_TYPE_A, &out);
		ASSERT_TRUE(r == 0 || r == DNS_EIGNORE);
		if (r == 0)
			ASSERT_SIZE_EQ(out.naddrs, 0);
	}
	TEST_DONE();
}

/* Responses that are not ours, and error codes. */
static void
test_header(void)
{
	static const struct {
		const char *what;
		unsigned id, flags, qd, qtype, qclass;
		const char *qname;
		int	rc;
	} t[] = {
		{ "ours", ID, F_OK, 1, DNS_TYPE_A, C_IN, Q, 0 },
		{ "wrong ID", ID + 1, F_OK, 1, DNS_TYPE_A, C_IN, Q,
		    DNS_EIGNORE },
		{ "byte-swapped ID", 0x3412, F_OK, 1, DNS_TYPE_A, C_IN, Q,
		    DNS_EIGNORE },
		{ "QR clear", ID, 0x0180, 1, DNS_TYPE_A, C_IN, Q, DNS_EIGNORE },
		{ "opcode 1", ID, F_OK | 0x0800, 1, DNS_TYPE_A, C_IN, Q,
		    DNS_EIGNORE },
		{ "opcode 2", ID, F_OK | 0x1000, 1, DNS_TYPE_A, C_IN, Q,
		    DNS_EIGNORE },
		{ "no question", ID, F_OK, 0, DNS_TYPE_A, C_IN, Q,
		    DNS_EIGNORE },
		{ "two questions", ID, F_OK, 2, DNS_TYPE_A, C_IN, Q,
		    DNS_EIGNORE },
		{ "wrong qname", ID, F_OK, 1, DNS_TYPE_A, C_IN,
		    "email-smtp.us-east-2.amazonaws.com", DNS_EIGNORE },
		{ "qname with a label more", ID, F_OK, 1, DNS_TYPE_A, C_IN,
		    "x." Q, DNS_EIGNORE },
		{ "qname with a label less", ID, F_OK, 1, DNS_TYPE_A, C_IN,
		    "us-east-1.amazonaws.com", DNS_EIGNORE },
		{ "qname as one label with dots", ID, F_OK, 1, DNS_TYPE_A, C_IN,
		    NULL, DNS_EIGNORE },
		{ "wrong qtype", ID, F_OK, 1, DNS_TYPE_AAAA, C_IN, Q,
		    DNS_EIGNORE },
		{ "qclass CH", ID, F_OK, 1, DNS_TYPE_A, 3, Q, DNS_EIGNORE },
		{ "NXDOMAIN", ID, 0x8183, 1, DNS_TYPE_A, C_IN, Q,
		    DNS_ENXDOMAIN },
		{ "NXDOMAIN, wrong ID", ID ^ 0x8000, 0x8183, 1, DNS_TYPE_A,
		    C_IN, Q, DNS_EIGNORE },
		{ "NXDOMAIN, wrong qname", ID, 0x8183, 1, DNS_TYPE_A, C_IN,
		    "evil.example", DNS_EIGNORE },
		{ "NXDOMAIN, QR clear", ID, 0x0183, 1, DNS_TYPE_A, C_IN, Q,
		    DNS_EIGNORE },
		{ "SERVFAIL", ID, 0x8182, 1, DNS_TYPE_A, C_IN, Q,
		    DNS_ESERVFAIL },
		{ "FORMERR", ID, 0x8181, 1, DNS_TYPE_A, C_IN, Q,
		    DNS_ESERVFAIL },
		{ "NOTIMP", ID, 0x8184, 1, DNS_TYPE_A, C_IN, Q,
		    DNS_ESERVFAIL },
		{ "REFUSED", ID, 0x8185, 1, DNS_TYPE_A, C_IN, Q,
		    DNS_ESERVFAIL },
		{ "SERVFAIL, wrong ID", 0, 0x8182, 1, DNS_TYPE_A, C_IN, Q,
		    DNS_EIGNORE },
	};
	struct dns_answer out;
	struct pkt p;
	size_t i;
	unsigned k;
	int r;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("dns_parse %s", t[i].what);
		header(&p, t[i].id, t[i].flags, t[i].qd, 1, 0, 0);
		for (k = 0; k < t[i].qd; k++) {
			if (t[i].qname != NULL) {
				question(&p, t[i].qname, t[i].qtype,
				    t[i].qclass);
				continue;
			}
			/* One 34-byte label that reads like our name. */
			put8(&p, sizeof(Q) - 1);
			memcpy(p.b + p.n, Q, sizeof(Q) - 1);
			p.n += sizeof(Q) - 1;
			put8(&p, 0);
			put16(&p, t[i].qtype);
			put16(&p, t[i].qclass);
		}
		rr_a(&p, Q, 60, "10.0.0.1");
		r = parse(&p, DNS_TYPE_A, &out);
		ASSERT_INT_EQ(r, t[i].rc);
		if (r == 0 && ASSERT_SIZE_EQ(out.naddrs, 1))
			ASSERT_TRUE(holds(&out, "10.0.0.1"));
		TEST_DONE();
	}

	TEST_START("dns_parse query name given with a trailing dot");
	resp(&p, F_OK, DNS_TYPE_A, 1);
	rr_a(&p, Q, 60, "10.0.0.1");
	r = parse_n(&p, p.n, ID, Q ".", DNS_TYPE_A, &out);
	ASSERT_TRUE(r == 0 || r == DNS_EIGNORE);
	TEST_DONE();
}

/* Malformed packets: must be dropped without reading out of bounds. */
static void
test_malformed(void)
{
	struct dns_answer out;
	struct pkt p;
	size_t o1, o2, pos;
	uint8_t a4[4] = { 10, 0, 0, 1 };
	int r, i;

	TEST_START("dns_parse A with rdlength 3, 5; AAAA with 4");
	resp(&p, F_OK, DNS_TYPE_A, 1);
	rr(&p, Q, DNS_TYPE_A, 60, "\12\0\0", 3);
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), DNS_EIGNORE);
	resp(&p, F_OK, DNS_TYPE_A, 1);
	rr(&p, Q, DNS_TYPE_A, 60, "\12\0\0\1\1", 5);
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), DNS_EIGNORE);
	resp(&p, F_OK, DNS_TYPE_AAAA, 1);
	rr(&p, Q, DNS_TYPE_AAAA, 60, a4, 4);
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_AAAA, &out), DNS_EIGNORE);
	TEST_DONE();

	TEST_START("dns_parse rdlength beyond the end");
	resp(&p, F_OK, DNS_TYPE_A, 1);
	rr_a(&p, Q, 60, "10.0.0.1");
	p.b[p.n - 6] = 0;
	p.b[p.n - 5] = 200;
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), DNS_EIGNORE);
	TEST_DONE();

	TEST_START("dns_parse more answers announced than present");
	resp(&p, F_OK, DNS_TYPE_A, 3);
	rr_a(&p, Q, 60, "10.0.0.1");
	r = parse(&p, DNS_TYPE_A, &out);
	ASSERT_TRUE(r == DNS_EIGNORE || (r == 0 && out.naddrs <= 1));
	TEST_DONE();

	TEST_START("dns_parse compression pointer to itself");
	resp(&p, F_OK, DNS_TYPE_A, 1);
	pos = p.n;
	put16(&p, 0xc000 | (unsigned)pos);
	put16(&p, DNS_TYPE_A);
	put16(&p, C_IN);
	put32(&p, 60);
	put16(&p, 4);
	memcpy(p.b + p.n, a4, 4);
	p.n += 4;
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), DNS_EIGNORE);
	TEST_DONE();

	TEST_START("dns_parse label then pointer back to it");
	resp(&p, F_OK, DNS_TYPE_A, 1);
	pos = p.n;
	put8(&p, 1);
	put8(&p, 'a');
	put16(&p, 0xc000 | (unsigned)pos);
	put16(&p, DNS_TYPE_A);
	put16(&p, C_IN);
	put32(&p, 60);
	put16(&p, 4);
	memcpy(p.b + p.n, a4, 4);
	p.n += 4;
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), DNS_EIGNORE);
	TEST_DONE();

	/*
	 * Answer 1's owner points forward to answer 2's CNAME data, which
	 * points back to answer 1's owner.
	 */
	TEST_START("dns_parse forward-pointing loop");
	resp(&p, F_OK, DNS_TYPE_A, 2);
	o1 = p.n;
	o2 = o1 + 16 + 2 + 10;
	put16(&p, 0xc000 | (unsigned)o2);
	put16(&p, DNS_TYPE_A);
	put16(&p, C_IN);
	put32(&p, 60);
	put16(&p, 4);
	memcpy(p.b + p.n, a4, 4);
	p.n += 4;
	put16(&p, 0xc00c);
	put16(&p, DNS_TYPE_CNAME);
	put16(&p, C_IN);
	put32(&p, 60);
	put16(&p, 2);
	ASSERT_SIZE_EQ(p.n, o2);
	put16(&p, 0xc000 | (unsigned)o1);
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), DNS_EIGNORE);
	TEST_DONE();

	TEST_START("dns_parse pointer beyond the end");
	resp(&p, F_OK, DNS_TYPE_A, 1);
	rr_a(&p, "@16383", 60, "10.0.0.1");
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), DNS_EIGNORE);
	resp(&p, F_OK, DNS_TYPE_A, 1);
	pos = p.n;
	rr_a(&p, "@0", 60, "10.0.0.1");
	p.b[pos + 1] = (uint8_t)(p.n + 1);	/* just past the end */
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), DNS_EIGNORE);
	TEST_DONE();

	TEST_START("dns_parse reserved label types 0x40 and 0x80");
	resp(&p, F_OK, DNS_TYPE_A, 1);
	pos = p.n;
	rr_a(&p, "@12", 60, "10.0.0.1");
	p.b[pos] = 0x40;
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), DNS_EIGNORE);
	p.b[pos] = 0x80;
	ASSERT_INT_EQ(parse(&p, DNS_TYPE_A, &out), DNS_EIGNORE);
	TEST_DONE();

	/* Each name adds a 63-byte label to the previous one: > 255. */
	TEST_START("dns_parse name longer than 255 through pointers");
	{
		char lab[80];
		size_t prev = 12;
		resp(&p, F_OK, DNS_TYPE_A, 5);
		for (i = 0; i < 5; i++) {
			memset(lab, 'a' + i, 63);
			snprintf(lab + 63, sizeof(lab) - 63, "@%zu", prev);
			pos = p.n;
			rr_a(&p, lab, 60, "10.0.0.1");
			prev = pos;
		}
		rr_cname(&p, Q, 60, lab);
		set_an(&p, 6);
		r = parse(&p, DNS_TYPE_A, &out);
		ASSERT_TRUE(r == DNS_EIGNORE || (r == 0 && out.naddrs == 0));
	}
	TEST_DONE();
}

/* Cut a good packet at every length; flip bytes everywhere. */
static void
test_robust(void)
{
	struct dns_answer full, out;
	struct pkt p, q;
	size_t len, qend, i, j, k;
	static const uint8_t vals[] = { 0x00, 0xff, 0xc0, 0x3f, 0x01, 0x80 };
	int r;

	resp(&p, F_OK, DNS_TYPE_A, 5);
	qend = p.n;
	rr_cname(&p, "@12", 60, "cdn@33");
	rr_a(&p, "cdn@33", 60, "10.0.0.1");
	rr_aaaa(&p, "other.example", 60, "2001:db8::1");
	rr_a(&p, "cdn.amazonaws.com", 30, "10.0.0.2");
	rr_a(&p, "evil.example", 1, "6.6.6.6");

	TEST_START("dns_parse the full rich packet");
	r = parse(&p, DNS_TYPE_A, &full);
	if (ASSERT_INT_EQ(r, 0) && ASSERT_SIZE_EQ(full.naddrs, 2)) {
		ASSERT_TRUE(holds(&full, "10.0.0.1"));
		ASSERT_TRUE(holds(&full, "10.0.0.2"));
		ASSERT_INT_EQ(full.ttl, 30);
	}
	TEST_DONE();

	TEST_START("dns_parse truncated at every length 0..%zu", p.n - 1);
	for (len = 0; len < p.n; len++) {
		r = parse_n(&p, len, ID, Q, DNS_TYPE_A, &out);
		if (len < qend) {
			if (!ASSERT_INT_EQ(r, DNS_EIGNORE))
				printf("  length %zu\n", len);
			continue;
		}
		if (!ASSERT_TRUE(r == DNS_EIGNORE || r == 0)) {
			printf("  length %zu\n", len);
			continue;
		}
		if (r != 0)
			continue;
		ASSERT_SIZE_LE(out.naddrs, full.naddrs);
		for (i = 0; i < out.naddrs && i < DNS_MAX_ADDRS; i++) {
			for (k = 0; k < full.naddrs; k++)
				if (cidr_addr_eq(&out.addrs[i],
				    &full.addrs[k]))
					break;
			if (!ASSERT_SIZE_GT(full.naddrs, k))
				printf("  length %zu: unknown address\n", len);
		}
	}
	TEST_DONE();

	TEST_START("dns_parse with every byte flipped (%zu bytes)", p.n);
	for (j = 0; j < p.n; j++) {
		for (k = 0; k < sizeof(vals); k++) {
			q = p;
			q.b[j] = vals[k];
			r = parse(&q, DNS_TYPE_A, &out);
			if (!ASSERT_TRUE(r == 0 || r == DNS_EIGNORE ||
			    r == DNS_ENXDOMAIN || r == DNS_ESERVFAIL) ||
			    (r == 0 && !ASSERT_SIZE_LE(out.naddrs,
			    DNS_MAX_ADDRS))) {
				printf("  byte %zu = 0x%02x\n", j, vals[k]);
				break;
			}
		}
	}
	TEST_DONE();

	TEST_START("dns_build_query then dns_parse its answer");
	{
		uint8_t qb[512];
		int n = dns_build_query(qb, sizeof(qb), 0x4242, Q, DNS_TYPE_A);
		if (ASSERT_INT_GT(n, 12)) {
			memcpy(q.b, qb, (size_t)n);
			q.n = (size_t)n;
			q.b[2] |= 0x80;
			q.b[3] = 0x80;
			set_an(&q, 1);
			rr_a(&q, "@12", 60, "10.1.1.1");
			r = parse_n(&q, q.n, 0x4242, Q, DNS_TYPE_A, &out);
			if (ASSERT_INT_EQ(r, 0) &&
			    ASSERT_SIZE_EQ(out.naddrs, 1))
				ASSERT_TRUE(holds(&out, "10.1.1.1"));
		}
	}
	TEST_DONE();
}

int
main(void)
{

	test_build();
	test_answers();
	test_cnames();
	test_header();
	test_malformed();
	test_robust();
	return (test_summary());
}
