#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "harness.h"

#define V4	AF_INET
#define V6	AF_INET6
#define ALL	((size_t)-1)	/* "use strlen" */

/* The 16 bytes that ${text} (AF_INET or AF_INET6) stands for. */
static struct cidr_addr
A(int family, const char *text)
{
	struct cidr_addr a;

	memset(&a, 0, sizeof(a));
	a.family = (uint8_t)family;
	if (inet_pton(family, text, a.a) != 1) {
		fprintf(stderr, "bad test address %s\n", text);
		exit(2);
	}
	return (a);
}

/* Parse ${s} through a guarded copy, so that an overread crashes. */
static int
addr_parse(const char *s, size_t n, struct cidr_addr *out)
{
	void *g;
	int r;

	if (n == ALL)
		n = strlen(s);
	g = test_guarded(s, n);
	r = cidr_addr_parse(g, n, out);
	test_guarded_free(g, n);
	return (r);
}

static int
cidr_parse_g(const char *s, size_t n, struct cidr *out)
{
	void *g;
	int r;

	if (n == ALL)
		n = strlen(s);
	g = test_guarded(s, n);
	r = cidr_parse(g, n, out);
	test_guarded_free(g, n);
	return (r);
}

static void
test_addr_parse(void)
{
	static const struct {
		const char *in;
		size_t	n;
		int	rc, family;
		const char *want;	/* inet_pton text of the result */
	} t[] = {
		{ "0.0.0.0", ALL, 0, V4, "0.0.0.0" },
		{ "255.255.255.255", ALL, 0, V4, "255.255.255.255" },
		{ "10.0.0.1", ALL, 0, V4, "10.0.0.1" },
		{ "::", ALL, 0, V6, "::" },
		{ "::1", ALL, 0, V6, "::1" },
		{ "2001:db8::1", ALL, 0, V6, "2001:db8::1" },
		{ "2001:DB8::1", ALL, 0, V6, "2001:db8::1" },
		{ "1:2:3:4:5:6:7:8", ALL, 0, V6, "1:2:3:4:5:6:7:8" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ALL, 0, V6,
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
		{ "fe80::1", ALL, 0, V6, "fe80::1" },
		{ "64:ff9b::a00:1", ALL, 0, V6, "64:ff9b::a00:1" },
		{ "::a00:1", ALL, 0, V6, "::a00:1" },	/* v4-compatible */
		{ "::ffff:1:2", ALL, 0, V4, "0.1.0.2" },
		/* v4-mapped addresses become the IPv4 address they carry. */
		{ "::ffff:10.0.0.1", ALL, 0, V4, "10.0.0.1" },
		{ "::FFFF:10.0.0.1", ALL, 0, V4, "10.0.0.1" },
		{ "::ffff:a00:1", ALL, 0, V4, "10.0.0.1" },
		{ "0:0:0:0:0:ffff:a00:1", ALL, 0, V4, "10.0.0.1" },
		{ "::ffff:0.0.0.0", ALL, 0, V4, "0.0.0.0" },
		{ "::ffff:255.255.255.255", ALL, 0, V4, "255.255.255.255" },
		/* The length is what counts, not a NUL. */
		{ "1.2.3.45", 7, 0, V4, "1.2.3.4" },
		{ "::1x", 3, 0, V6, "::1" },
		{ "1.2.3.4\0", 8, -1, 0, NULL },
		{ "1.2\0.3.4", 8, -1, 0, NULL },
		{ "", 0, -1, 0, NULL },
		{ "1.2.3", ALL, -1, 0, NULL },
		{ "1.2.3.4.5", ALL, -1, 0, NULL },
		{ "256.0.0.1", ALL, -1, 0, NULL },
		{ "1.2.3.256", ALL, -1, 0, NULL },
		{ "1.2.3.-1", ALL, -1, 0, NULL },
		{ "010.0.0.1", ALL, -1, 0, NULL },	/* octal to inet_aton */
		{ "0x1.2.3.4", ALL, -1, 0, NULL },
		{ "1.2.3.4.", ALL, -1, 0, NULL },
		{ ".1.2.3.4", ALL, -1, 0, NULL },
		{ "1..2.3", ALL, -1, 0, NULL },
		{ " 1.2.3.4", ALL, -1, 0, NULL },
		{ "1.2.3.4 ", ALL, -1, 0, NULL },
		{ "1.2.3.4\n", ALL, -1, 0, NULL },
		{ "1.2.3.4/32", ALL, -1, 0, NULL },
		{ "1.2.3.4:80", ALL, -1, 0, NULL },
		{ "[::1]", ALL, -1, 0, NULL },
		{ "fe80::1%eth0", ALL, -1, 0, NULL },
		{ ":::", ALL, -1, 0, NULL },
		{ "1::2::3", ALL, -1, 0, NULL },
		{ "12345::", ALL, -1, 0, NULL },
		{ "g::1", ALL, -1, 0, NULL },
		{ "1:2:3:4:5:6:7:8:9", ALL, -1, 0, NULL },
		{ "1:2:3:4:5:6:7", ALL, -1, 0, NULL },
		{ "::ffff:1.2.3", ALL, -1, 0, NULL },
		{ "::ffff:1.2.3.4.5", ALL, -1, 0, NULL },
		{ "abc", ALL, -1, 0, NULL },
		{ "localhost", ALL, -1, 0, NULL },
		{ "0000:0000:0000:0000:0000:0000:0000:0000:0000", ALL, -1, 0,
		    NULL },
		{ "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb",
		    ALL, -1, 0, NULL },
	};
	struct cidr_addr a, want;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("cidr_addr_parse \"%s\" n=%zd", t[i].in,
		    (ssize_t)t[i].n);
		if (ASSERT_INT_EQ(addr_parse(t[i].in, t[i].n, &a), t[i].rc) &&
		    t[i].rc == 0) {
			want = A(t[i].family, t[i].want);
			ASSERT_INT_EQ(a.family, t[i].family);
			ASSERT_MEM_EQ(a.a, want.a, t[i].family == V4 ? 4 : 16);
			ASSERT_TRUE(cidr_addr_eq(&a, &want));
		}
		TEST_DONE();
	}
}

static void
test_cidr_parse(void)
{
	static const struct {
		const char *in;
		size_t	n;
		int	rc;
		const char *want;	/* cidr_format of the result */
	} t[] = {
		{ "0.0.0.0/0", ALL, 0, "0.0.0.0/0" },
		{ "10.0.0.0/8", ALL, 0, "10.0.0.0/8" },
		{ "1.2.3.4/32", ALL, 0, "1.2.3.4/32" },
		{ "1.2.3.4", ALL, 0, "1.2.3.4/32" },
		{ "255.255.255.255/32", ALL, 0, "255.255.255.255/32" },
		{ "255.255.255.254/31", ALL, 0, "255.255.255.254/31" },
		{ "128.0.0.0/1", ALL, 0, "128.0.0.0/1" },
		{ "10.0.0.0/7", ALL, 0, "10.0.0.0/7" },
		{ "1.2.3.4/30", ALL, 0, "1.2.3.4/30" },
		{ "::/0", ALL, 0, "::/0" },
		{ "::1/128", ALL, 0, "::1/128" },
		{ "::1", ALL, 0, "::1/128" },
		{ "8000::/1", ALL, 0, "8000::/1" },
		{ "2001:db8::/32", ALL, 0, "2001:db8::/32" },
		{ "2001:db8::/31", ALL, 0, "2001:db8::/31" },
		{ "2001:db8:0:0:8000::/65", ALL, 0, "2001:db8:0:0:8000::/65" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", ALL, 0,
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128" },
		/* v4-mapped: the prefix length counts from bit 96. */
		{ "::ffff:10.0.0.0/104", ALL, 0, "10.0.0.0/8" },
		{ "::ffff:10.0.0.1/128", ALL, 0, "10.0.0.1/32" },
		{ "::ffff:10.0.0.1", ALL, 0, "10.0.0.1/32" },
		{ "::ffff:0:0/96", ALL, 0, "0.0.0.0/0" },
		{ "::ffff:0:0/95", ALL, -1, NULL },
		{ "::ffff:10.0.0.0/64", ALL, -1, NULL },
		{ "::ffff:10.0.0.0/0", ALL, -1, NULL },
		{ "::ffff:10.0.0.1/129", ALL, -1, NULL },
		{ "::ffff:10.0.0.0/96", ALL, -2, NULL },
		{ "::ffff:10.0.0.1/120", ALL, -2, NULL },
		/* Host bits set. */
		{ "10.0.0.1/8", ALL, -2, NULL },
		{ "11.0.0.0/7", ALL, -2, NULL },
		{ "1.2.3.5/31", ALL, -2, NULL },
		{ "1.2.3.6/30", ALL, -2, NULL },
		{ "255.255.255.255/31", ALL, -2, NULL },
		{ "128.0.0.0/0", ALL, -2, NULL },
		{ "0.0.0.1/0", ALL, -2, NULL },
		{ "2001:db8::1/64", ALL, -2, NULL },
		{ "2001:db8:0:0:8000::/64", ALL, -2, NULL },
		{ "2001:db9::/31", ALL, -2, NULL },
		{ "8000::/0", ALL, -2, NULL },
		{ "::1/127", ALL, -2, NULL },
		/* Malformed lengths. */
		{ "1.2.3.4/33", ALL, -1, NULL },
		{ "0.0.0.0/33", ALL, -1, NULL },
		{ "::/129", ALL, -1, NULL },
		{ "10.0.0.0/08", ALL, -1, NULL },
		{ "10.0.0.0/008", ALL, -1, NULL },
		{ "0.0.0.0/00", ALL, -1, NULL },
		{ "::/0128", ALL, -1, NULL },
		{ "1.2.3.4/", ALL, -1, NULL },
		{ "/8", ALL, -1, NULL },
		{ "/", ALL, -1, NULL },
		{ "", ALL, -1, NULL },
		{ "1.2.3.4/-1", ALL, -1, NULL },
		{ "1.2.3.4/+8", ALL, -1, NULL },
		{ "1.2.3.4/ 8", ALL, -1, NULL },
		{ "1.2.3.4 /8", ALL, -1, NULL },
		{ "1.2.3.4/8 ", ALL, -1, NULL },
		{ " 1.2.3.4/32", ALL, -1, NULL },
		{ "1.2.3.4/32/32", ALL, -1, NULL },
		{ "1.2.3.4//32", ALL, -1, NULL },
		{ "1.2.3.4/1000", ALL, -1, NULL },
		{ "1.2.3.4/4294967304", ALL, -1, NULL },	/* 2^32 + 8 */
		{ "10.0.0.0/0x8", ALL, -1, NULL },
		{ "10.0.0.0/8a", ALL, -1, NULL },
		{ "garbage", ALL, -1, NULL },
		{ "garbage/8", ALL, -1, NULL },
		{ "10.0.0/8", ALL, -1, NULL },
		{ "[::1]/128", ALL, -1, NULL },
		/* The length argument is respected; NULs inside are not. */
		{ "10.0.0.0/8xx", 10, 0, "10.0.0.0/8" },
		{ "10.0.0.0/16", 10, -2, NULL },	/* "10.0.0.0/1" */
		{ "10.0.0.0/8\0", 11, -1, NULL },
		{ "10.0.0.0\0/8", 11, -1, NULL },
		{ "10.0.0.0/\08", 11, -1, NULL },
	};
	char buf[CIDR_ADDRSTRLEN + 4];
	struct cidr c;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("cidr_parse \"%s\" n=%zd", t[i].in,
		    (ssize_t)t[i].n);
		if (ASSERT_INT_EQ(cidr_parse_g(t[i].in, t[i].n, &c),
		    t[i].rc) && t[i].rc == 0) {
			cidr_format(&c, buf);
			ASSERT_STR_EQ(buf, t[i].want);
		}
		TEST_DONE();
	}
}

static void
test_contains(void)
{
	static const struct {
		const char *prefix, *addr;
		int	in;
	} t[] = {
		{ "10.0.0.0/8", "10.0.0.0", 1 },
		{ "10.0.0.0/8", "10.255.255.255", 1 },
		{ "10.0.0.0/8", "10.1.2.3", 1 },
		{ "10.0.0.0/8", "9.255.255.255", 0 },
		{ "10.0.0.0/8", "11.0.0.0", 0 },
		{ "10.0.0.0/8", "::ffff:10.1.2.3", 1 },
		{ "10.0.0.0/8", "::a00:1", 0 },
		{ "10.0.0.0/8", "a00::", 0 },
		{ "192.168.1.128/25", "192.168.1.128", 1 },
		{ "192.168.1.128/25", "192.168.1.255", 1 },
		{ "192.168.1.128/25", "192.168.1.127", 0 },
		{ "192.168.1.128/25", "192.168.2.0", 0 },
		{ "172.16.0.0/12", "172.31.255.255", 1 },
		{ "172.16.0.0/12", "172.32.0.0", 0 },
		{ "172.16.0.0/12", "172.15.255.255", 0 },
		{ "1.2.3.4/32", "1.2.3.4", 1 },
		{ "1.2.3.4/32", "1.2.3.3", 0 },
		{ "1.2.3.4/32", "1.2.3.5", 0 },
		{ "128.0.0.0/1", "128.0.0.0", 1 },
		{ "128.0.0.0/1", "255.255.255.255", 1 },
		{ "128.0.0.0/1", "127.255.255.255", 0 },
		{ "0.0.0.0/0", "0.0.0.0", 1 },
		{ "0.0.0.0/0", "255.255.255.255", 1 },
		{ "0.0.0.0/0", "::ffff:1.2.3.4", 1 },
		{ "0.0.0.0/0", "::", 0 },
		{ "0.0.0.0/0", "::1", 0 },
		{ "0.0.0.0/0", "2001:db8::1", 0 },
		{ "::/0", "::", 1 },
		{ "::/0", "::1", 1 },
		{ "::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
		{ "::/0", "0.0.0.0", 0 },
		{ "::/0", "1.2.3.4", 0 },
		{ "::/0", "::ffff:1.2.3.4", 0 },
		{ "2001:db8::/32", "2001:db8::", 1 },
		{ "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
		    1 },
		{ "2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
		    0 },
		{ "2001:db8::/32", "2001:db9::", 0 },
		{ "2001:db8::/32", "32.1.13.184", 0 },	/* same first bytes */
		{ "32.1.13.184/32", "2001:db8::", 0 },
		{ "2001:db8:0:0:8000::/65", "2001:db8::8000:0:0:0", 1 },
		{ "2001:db8:0:0:8000::/65", "2001:db8::ffff:ffff:ffff:ffff",
		    1 },
		{ "2001:db8:0:0:8000::/65", "2001:db8::7fff:ffff:ffff:ffff",
		    0 },
		{ "2001:db8:0:0:8000::/65", "2001:db8:0:1::", 0 },
		{ "2001:db8::1/128", "2001:db8::1", 1 },
		{ "2001:db8::1/128", "2001:db8::", 0 },
		{ "2001:db8::1/128", "2001:db8::2", 0 },
		{ "8000::/1", "8000::", 1 },
		{ "8000::/1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
		{ "8000::/1", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
		{ "fe80::/10", "fe80::1", 1 },
		{ "fe80::/10", "febf:ffff::", 1 },
		{ "fe80::/10", "fec0::", 0 },
		{ "fe80::/10", "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
		{ "::ffff:10.0.0.0/104", "10.0.0.1", 1 },
		{ "::ffff:10.0.0.0/104", "::ffff:10.0.0.1", 1 },
		{ "::ffff:10.0.0.0/104", "11.0.0.0", 0 },
	};
	struct cidr c;
	struct cidr_addr a;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("cidr_contains %s %s", t[i].prefix, t[i].addr);
		if (ASSERT_INT_EQ(cidr_parse(t[i].prefix, strlen(t[i].prefix),
		    &c), 0) && ASSERT_INT_EQ(cidr_addr_parse(t[i].addr,
		    strlen(t[i].addr), &a), 0))
			ASSERT_INT_EQ(cidr_contains(&c, &a) != 0, t[i].in);
		TEST_DONE();
	}
}

static void
test_addr_eq(void)
{
	static const struct {
		const char *x, *y;
		int	eq;
	} t[] = {
		{ "1.2.3.4", "1.2.3.4", 1 },
		{ "1.2.3.4", "::ffff:1.2.3.4", 1 },
		{ "1.2.3.4", "1.2.3.5", 0 },
		{ "1.2.3.4", "102:304::", 0 },	/* same bytes, other family */
		{ "0.0.0.0", "::", 0 },
		{ "::1", "::1", 1 },
		{ "::1", "0:0:0:0:0:0:0:1", 1 },
		{ "::1", "::2", 0 },
		{ "2001:db8::1", "2001:db8::1:0", 0 },
	};
	struct cidr_addr a, b;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("cidr_addr_eq %s %s", t[i].x, t[i].y);
		if (ASSERT_INT_EQ(cidr_addr_parse(t[i].x, strlen(t[i].x), &a),
		    0) && ASSERT_INT_EQ(cidr_addr_parse(t[i].y,
		    strlen(t[i].y), &b), 0)) {
			ASSERT_INT_EQ(cidr_addr_eq(&a, &b) != 0, t[i].eq);
			ASSERT_INT_EQ(cidr_addr_eq(&b, &a) != 0, t[i].eq);
		}
		TEST_DONE();
	}
}

/* Formatting writes within the declared buffer and round-trips. */
static void
test_format(void)
{
	static const char *const addrs[] = {
		"0.0.0.0", "1.2.3.4", "255.255.255.255", "::", "::1",
		"2001:db8::1", "fe80::1:2", "1:2:3:4:5:6:7:8",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	};
	static const char *const cidrs[] = {
		"0.0.0.0/0", "10.0.0.0/8", "1.2.3.4/32", "::/0",
		"2001:db8::/32", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
	};
	char buf[CIDR_ADDRSTRLEN + 64];
	struct cidr_addr a, b;
	struct cidr c, d;
	size_t i;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		TEST_START("cidr_addr_format %s", addrs[i]);
		memset(buf, '#', sizeof(buf));
		a = A(strchr(addrs[i], ':') ? V6 : V4, addrs[i]);
		cidr_addr_format(&a, buf);
		ASSERT_STR_EQ(buf, addrs[i]);
		ASSERT_INT_EQ(buf[CIDR_ADDRSTRLEN], '#');
		if (ASSERT_INT_EQ(cidr_addr_parse(buf, strlen(buf), &b), 0))
			ASSERT_TRUE(cidr_addr_eq(&a, &b));
		TEST_DONE();
	}
	for (i = 0; i < sizeof(cidrs) / sizeof(cidrs[0]); i++) {
		TEST_START("cidr_format %s", cidrs[i]);
		memset(buf, '#', sizeof(buf));
		if (ASSERT_INT_EQ(cidr_parse(cidrs[i], strlen(cidrs[i]), &c),
		    0)) {
			cidr_format(&c, buf);
			ASSERT_STR_EQ(buf, cidrs[i]);
			ASSERT_INT_EQ(buf[CIDR_ADDRSTRLEN + 4], '#');
			if (ASSERT_INT_EQ(cidr_parse(buf, strlen(buf), &d), 0))
				ASSERT_TRUE(cidr_addr_eq(&c.net, &d.net) &&
				    c.len == d.len);
		}
		TEST_DONE();
	}
}

/*
 * IPv4 addresses and ports are formatted by hand: compare with the C
 * library's inet_ntop and snprintf over every octet value and a spread
 * of ports, including the widest "255.255.255.255:65535".
 */
static void
test_format_v4_differential(void)
{
	static const unsigned ports[] = { 0, 1, 9, 10, 99, 100, 587, 1587,
	    9999, 10000, 65535 };
	char buf[CIDR_ADDRSTRLEN + 8], want[CIDR_ADDRSTRLEN + 8];
	char host[INET_ADDRSTRLEN];
	struct sockaddr_in sin;
	struct cidr_addr a;
	unsigned v, k, bad = 0;

	TEST_START("cidr_addr_format and cidr_sockaddr_format IPv4 agree "
	    "with inet_ntop and snprintf");
	for (v = 0; v < 256 * 11; v++) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		k = v % 256;
		/* every octet value in every position, and mixed widths */
		sin.sin_addr.s_addr = htonl((uint32_t)(k << 24 |
		    ((k * 7) & 255) << 16 | ((k * 13 + v / 256) & 255) << 8 |
		    (255 - k)));
		sin.sin_port = htons((uint16_t)ports[v / 256]);
		if (inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host)) ==
		    NULL)
			bad++;
		memset(&a, 0, sizeof(a));
		a.family = AF_INET;
		memcpy(a.a, &sin.sin_addr, 4);
		memset(buf, '#', sizeof(buf));
		cidr_addr_format(&a, buf);
		if (strcmp(buf, host) != 0)
			bad++;
		snprintf(want, sizeof(want), "%s:%u", host, ports[v / 256]);
		cidr_sockaddr_format((struct sockaddr *)&sin, buf);
		if (strcmp(buf, want) != 0)
			bad++;
	}
	ASSERT_INT_EQ(bad, 0);
	TEST_DONE();
}

static void
test_sockaddr(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_un sun;
	struct cidr_addr a, want;
	char buf[CIDR_ADDRSTRLEN + 8 + 16];
	uint16_t port;
	socklen_t len;

	TEST_START("cidr_addr_from_sockaddr AF_INET");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(587);
	inet_pton(AF_INET, "203.0.113.9", &sin.sin_addr);
	port = 0;
	ASSERT_INT_EQ(cidr_addr_from_sockaddr((struct sockaddr *)&sin, &a,
	    &port), 0);
	want = A(V4, "203.0.113.9");
	ASSERT_INT_EQ(a.family, AF_INET);
	ASSERT_TRUE(cidr_addr_eq(&a, &want));
	ASSERT_INT_EQ(port, 587);
	ASSERT_INT_EQ(cidr_addr_from_sockaddr((struct sockaddr *)&sin, &a,
	    NULL), 0);
	ASSERT_TRUE(cidr_addr_eq(&a, &want));
	memset(buf, '#', sizeof(buf));
	cidr_sockaddr_format((struct sockaddr *)&sin, buf);
	ASSERT_STR_EQ(buf, "203.0.113.9:587");
	TEST_DONE();

	TEST_START("cidr_addr_from_sockaddr AF_INET6");
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(65535);
	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	ASSERT_INT_EQ(cidr_addr_from_sockaddr((struct sockaddr *)&sin6, &a,
	    &port), 0);
	want = A(V6, "2001:db8::1");
	ASSERT_INT_EQ(a.family, AF_INET6);
	ASSERT_TRUE(cidr_addr_eq(&a, &want));
	ASSERT_INT_EQ(port, 65535);
	cidr_sockaddr_format((struct sockaddr *)&sin6, buf);
	ASSERT_STR_EQ(buf, "[2001:db8::1]:65535");
	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    &sin6.sin6_addr);
	memset(buf, '#', sizeof(buf));
	cidr_sockaddr_format((struct sockaddr *)&sin6, buf);
	ASSERT_STR_EQ(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	ASSERT_INT_EQ(buf[CIDR_ADDRSTRLEN + 8], '#');
	TEST_DONE();

	TEST_START("cidr_addr_from_sockaddr v4-mapped sockaddr_in6");
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &sin6.sin6_addr);
	sin6.sin6_port = htons(1587);
	ASSERT_INT_EQ(cidr_addr_from_sockaddr((struct sockaddr *)&sin6, &a,
	    &port), 0);
	want = A(V4, "10.0.0.1");
	ASSERT_INT_EQ(a.family, AF_INET);
	ASSERT_TRUE(cidr_addr_eq(&a, &want));
	ASSERT_INT_EQ(port, 1587);
	TEST_DONE();

	/* cidr.h: a v4-mapped peer is shown as the IPv4 it carries. */
	TEST_START("cidr_sockaddr_format v4-mapped peer uses the v4 form");
	memset(buf, '#', sizeof(buf));
	cidr_sockaddr_format((struct sockaddr *)&sin6, buf);
	ASSERT_STR_EQ(buf, "10.0.0.1:1587");
	TEST_DONE();

	TEST_START("cidr_addr_from_sockaddr AF_UNIX");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ASSERT_INT_EQ(cidr_addr_from_sockaddr((struct sockaddr *)&sun, &a,
	    &port), -1);
	memset(buf, '#', sizeof(buf));
	cidr_sockaddr_format((struct sockaddr *)&sun, buf);
	ASSERT_SIZE_LE(strnlen(buf, sizeof(buf)), CIDR_ADDRSTRLEN + 7);
	TEST_DONE();

	TEST_START("cidr_addr_to_sockaddr AF_INET");
	a = A(V4, "192.0.2.7");
	memset(&ss, 0xa5, sizeof(ss));
	len = cidr_addr_to_sockaddr(&a, 1587, &ss);
	ASSERT_SIZE_EQ(len, sizeof(struct sockaddr_in));
	memcpy(&sin, &ss, sizeof(sin));
	ASSERT_INT_EQ(sin.sin_family, AF_INET);
	ASSERT_INT_EQ(ntohs(sin.sin_port), 1587);
	ASSERT_MEM_EQ(&sin.sin_addr, a.a, 4);
	ASSERT_INT_EQ(cidr_addr_from_sockaddr((struct sockaddr *)&ss, &want,
	    &port), 0);
	ASSERT_TRUE(cidr_addr_eq(&a, &want));
	ASSERT_INT_EQ(port, 1587);
	TEST_DONE();

	TEST_START("cidr_addr_to_sockaddr AF_INET6");
	a = A(V6, "2001:db8::25");
	memset(&ss, 0xa5, sizeof(ss));
	len = cidr_addr_to_sockaddr(&a, 587, &ss);
	ASSERT_SIZE_EQ(len, sizeof(struct sockaddr_in6));
	memcpy(&sin6, &ss, sizeof(sin6));
	ASSERT_INT_EQ(sin6.sin6_family, AF_INET6);
	ASSERT_INT_EQ(ntohs(sin6.sin6_port), 587);
	ASSERT_MEM_EQ(&sin6.sin6_addr, a.a, 16);
	ASSERT_INT_EQ(sin6.sin6_flowinfo, 0);
	ASSERT_INT_EQ(sin6.sin6_scope_id, 0);
	ASSERT_INT_EQ(cidr_addr_from_sockaddr((struct sockaddr *)&ss, &want,
	    &port), 0);
	ASSERT_TRUE(cidr_addr_eq(&a, &want));
	ASSERT_INT_EQ(port, 587);
	TEST_DONE();
}

static void
test_addr_set(void)
{
	static const struct {
		int	family;
		const char *in, *want;	/* want: cidr_addr_parse text */
	} t[] = {
		{ V4, "192.0.2.1", "192.0.2.1" },
		{ V4, "0.0.0.0", "0.0.0.0" },
		{ V6, "2001:db8::1", "2001:db8::1" },
		{ V6, "::", "::" },
		{ V6, "::ffff:10.0.0.1", "10.0.0.1" },
		{ V6, "::ffff:0.0.0.0", "0.0.0.0" },
		{ V6, "::a00:1", "::a00:1" },
		{ V6, "64:ff9b::a00:1", "64:ff9b::a00:1" },
		{ V6, "ffff::a00:1", "ffff::a00:1" },
	};
	struct cidr_addr a, want;
	uint8_t bytes[16];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("cidr_addr_set %s", t[i].in);
		inet_pton(t[i].family, t[i].in, bytes);
		memset(&a, 0x5a, sizeof(a));
		cidr_addr_set(&a, t[i].family, bytes);
		cidr_addr_parse(t[i].want, strlen(t[i].want), &want);
		ASSERT_INT_EQ(a.family, want.family);
		ASSERT_TRUE(cidr_addr_eq(&a, &want));
		TEST_DONE();
	}
}

static void
add(struct cidrset *s, const char *text, uint8_t tag)
{
	struct cidr c;

	if (cidr_parse(text, strlen(text), &c) != 0) {
		fprintf(stderr, "bad test prefix %s\n", text);
		exit(2);
	}
	c.tag = tag;
	if (cidrset_add(s, &c) != 0) {
		fprintf(stderr, "cidrset_add: out of memory\n");
		exit(2);
	}
}

/* Is ${s} sorted by family then address, without exact duplicates? */
static int
sorted_unique(const struct cidrset *s)
{
	size_t i;
	int r;

	for (i = 1; i < s->n; i++) {
		const struct cidr *x = &s->v[i - 1], *y = &s->v[i];
		if (x->net.family != y->net.family)
			continue;
		r = memcmp(x->net.a, y->net.a, 16);
		if (r > 0 || (r == 0 && x->len == y->len))
			return (0);
	}
	return (1);
}

/* Index of the first prefix of ${s} that contains ${a}, or -1. */
static long
first_containing(const struct cidrset *s, const struct cidr_addr *a)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (cidr_contains(&s->v[i], a))
			return ((long)i);
	return (-1);
}

static void
test_cidrset(void)
{
	static const char *const in[] = {
		"2001:db8::/32", "10.0.0.0/8", "192.0.2.0/24", "10.0.0.0/8",
		"::/0", "10.1.0.0/16", "192.0.2.0/24", "2001:db8::/32",
		"1.2.3.4/32", "10.0.0.0/8", "2600:1f18::/36", "10.0.0.0/16",
	};
	static const struct {
		const char *addr;
		int	found;
	} look[] = {
		{ "10.1.2.3", 1 }, { "10.0.0.1", 1 }, { "1.2.3.4", 1 },
		{ "1.2.3.5", 0 }, { "192.0.2.255", 1 }, { "192.0.3.0", 0 },
		{ "::ffff:10.9.9.9", 1 }, { "11.0.0.0", 0 },
		{ "2001:db8::1", 1 }, { "fe80::1", 1 },	/* via ::/0 */
	};
	struct cidrset s = { NULL, 0, 0 }, e = { NULL, 0, 0 };
	struct cidrset r = { NULL, 0, 0 };
	const struct cidr *f;
	struct cidr_addr a;
	size_t i, j;

	TEST_START("cidrset empty");
	cidrset_finish(&e);
	ASSERT_SIZE_EQ(e.n, 0);
	a = A(V4, "10.0.0.1");
	ASSERT_PTR_NULL(cidrset_find(&e, &a));
	a = A(V6, "::");
	ASSERT_PTR_NULL(cidrset_find(&e, &a));
	cidrset_free(&e);
	cidrset_free(NULL);
	TEST_DONE();

	TEST_START("cidrset add/finish dedupes and sorts");
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		add(&s, in[i], 0);
	ASSERT_SIZE_EQ(s.n, sizeof(in) / sizeof(in[0]));
	cidrset_finish(&s);
	ASSERT_SIZE_EQ(s.n, 8);
	ASSERT_TRUE(sorted_unique(&s));
	/* Every input is still there. */
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct cidr c;
		int seen = 0;
		cidr_parse(in[i], strlen(in[i]), &c);
		for (j = 0; j < s.n; j++)
			seen += cidr_addr_eq(&c.net, &s.v[j].net) &&
			    c.len == s.v[j].len;
		ASSERT_INT_EQ(seen, 1);
	}
	/* The same elements added in reverse order give the same array. */
	for (i = sizeof(in) / sizeof(in[0]); i > 0; i--)
		add(&r, in[i - 1], 0);
	cidrset_finish(&r);
	if (ASSERT_SIZE_EQ(r.n, s.n))
		ASSERT_MEM_EQ(r.v, s.v, s.n * sizeof(*s.v));
	/* Finishing twice changes nothing. */
	cidrset_finish(&r);
	if (ASSERT_SIZE_EQ(r.n, s.n))
		ASSERT_MEM_EQ(r.v, s.v, s.n * sizeof(*s.v));
	cidrset_free(&r);
	TEST_DONE();

	for (i = 0; i < sizeof(look) / sizeof(look[0]); i++) {
		TEST_START("cidrset_find %s", look[i].addr);
		cidr_addr_parse(look[i].addr, strlen(look[i].addr), &a);
		f = cidrset_find(&s, &a);
		if (!look[i].found) {
			ASSERT_PTR_NULL(f);
		} else if (ASSERT_PTR_NONNULL(f)) {
			ASSERT_TRUE(f >= s.v && f < s.v + s.n);
			ASSERT_TRUE(cidr_contains(f, &a));
			ASSERT_INT_EQ(f - s.v, first_containing(&s, &a));
		}
		TEST_DONE();
	}

	TEST_START("cidrset v4 only: v6 address not found");
	add(&e, "0.0.0.0/0", 0);
	cidrset_finish(&e);
	a = A(V6, "::");
	ASSERT_PTR_NULL(cidrset_find(&e, &a));
	a = A(V6, "2001:db8::1");
	ASSERT_PTR_NULL(cidrset_find(&e, &a));
	a = A(V4, "255.255.255.255");
	ASSERT_PTR_NONNULL(cidrset_find(&e, &a));
	cidrset_free(&e);
	ASSERT_SIZE_EQ(e.n, 0);
	TEST_DONE();

	TEST_START("cidrset tags are kept");
	add(&e, "10.0.0.0/8", 7);
	cidrset_finish(&e);
	a = A(V4, "10.2.3.4");
	f = cidrset_find(&e, &a);
	if (ASSERT_PTR_NONNULL(f))
		ASSERT_INT_EQ(f->tag, 7);
	cidrset_free(&e);
	TEST_DONE();

	TEST_START("cidrset large: 3000 adds, 1000 distinct");
	for (i = 0; i < 3000; i++) {
		struct cidr c;
		unsigned k = (unsigned)((i * 7919u) % 1000u);
		memset(&c, 0, sizeof(c));
		c.net.family = AF_INET;
		c.net.a[0] = 100;
		c.net.a[1] = (uint8_t)(k >> 8);
		c.net.a[2] = (uint8_t)k;
		c.len = 24;
		if (!ASSERT_INT_EQ(cidrset_add(&r, &c), 0))
			break;
	}
	cidrset_finish(&r);
	ASSERT_SIZE_EQ(r.n, 1000);
	ASSERT_TRUE(sorted_unique(&r));
	for (i = 0; i < 1000; i += 37) {
		a = A(V4, "100.0.0.200");
		a.a[1] = (uint8_t)(i >> 8);
		a.a[2] = (uint8_t)i;
		ASSERT_PTR_NONNULL(cidrset_find(&r, &a));
	}
	a = A(V4, "100.3.232.0");	/* k = 1000 */
	ASSERT_PTR_NULL(cidrset_find(&r, &a));
	cidrset_free(&r);
	TEST_DONE();

	cidrset_free(&s);
}

/* Issue 15 item 8: the IPv4 address an IPv6 address carries. */
static void
test_carried(void)
{
	static const struct {
		const char *addr;
		int	rc;
		const char *v4;		/* with rc 1 */
	} t[] = {
		/* NAT64 64:ff9b::/96 and its edges. */
		{ "64:ff9b::a9fe:a9fe", 1, "169.254.169.254" },
		{ "64:ff9b::", 1, "0.0.0.0" },
		{ "64:ff9b::ffff:ffff", 1, "255.255.255.255" },
		{ "64:ff9b::1:0:0", 0, NULL },		/* bit 95 set */
		{ "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", 0, NULL },
		/* Local-use NAT64 64:ff9b:1::/48: carries an unknown address. */
		{ "64:ff9b:1::a9fe:a9fe", -1, NULL },
		{ "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", -1, NULL },
		{ "64:ff9b:2::", 0, NULL },
		{ "64:ff9b:0:ffff::", 0, NULL },	/* between the two */
		/* 6to4 2002::/16: bits 16 to 47. */
		{ "2002:a9fe:a9fe::1", 1, "169.254.169.254" },
		{ "2002:a9fe:a9fe:ffff:ffff:ffff:ffff:ffff", 1,
		    "169.254.169.254" },
		{ "2002::", 1, "0.0.0.0" },
		{ "2003::a9fe:a9fe", 0, NULL },
		{ "2001:ffff:ffff::", 0, NULL },
		/* Teredo 2001::/32: the client address, inverted. */
		{ "2001::5601:5601", 1, "169.254.169.254" },
		{ "2001:0:4136:e378:8000:63bf:3fff:fdd2", 1, "192.0.2.45" },
		{ "2001:1::5601:5601", 0, NULL },
		/* IPv4-compatible ::/96, but unspecified and loopback. */
		{ "::a9fe:a9fe", 1, "169.254.169.254" },
		{ "::", 0, NULL },
		{ "::1", 0, NULL },
		{ "::2", 1, "0.0.0.2" },
		{ "::ffff:ffff", 1, "255.255.255.255" },
		{ "::1:0:0", 0, NULL },
		/* Others carry nothing. */
		{ "2600:1f18::1", 0, NULL },
		{ "fd00:ec2::254", 0, NULL },
		{ "fe80::a9fe:a9fe", 0, NULL },
	};
	char buf[CIDR_ADDRSTRLEN];
	struct cidr_addr a, v4;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("cidr_addr_carried %s", t[i].addr);
		a = A(V6, t[i].addr);
		if (ASSERT_INT_EQ(cidr_addr_carried(&a, &v4), t[i].rc) &&
		    t[i].rc == 1) {
			ASSERT_INT_EQ(v4.family, V4);
			cidr_addr_format(&v4, buf);
			ASSERT_STR_EQ(buf, t[i].v4);
		}
		TEST_DONE();
	}
	TEST_START("cidr_addr_carried: IPv4 carries nothing");
	a = A(V4, "169.254.169.254");
	ASSERT_INT_EQ(cidr_addr_carried(&a, &v4), 0);
	TEST_DONE();
}

/* Issue 15 item 8: prefixes --allow-cidr refuses, with why. */
static void
test_unsafe(void)
{
	static const struct {
		const char *prefix;
		const char *why;	/* a word of the reason; NULL: safe */
	} t[] = {
		/* Length: /8 and /16 at least. */
		{ "0.0.0.0/0", "shorter than /8" },
		{ "10.0.0.0/7", "shorter than /8" },
		{ "10.0.0.0/8", NULL },
		{ "11.0.0.0/8", NULL },
		{ "::/0", "shorter than /16" },
		{ "2600::/15", "shorter than /16" },
		{ "2600::/16", NULL },
		{ "2600:1f18::/32", NULL },
		{ "::ffff:0:0/96", "shorter than /8" },	/* 0.0.0.0/0 */
		/* Unspecified, loopback, link-local, multicast, metadata. */
		{ "0.0.0.0/8", "unspecified" },
		{ "0.0.0.0/32", "unspecified" },
		{ "0.0.0.1/32", NULL },
		{ "127.0.0.0/8", "loopback" },
		{ "127.0.1.0/29", "loopback" },
		{ "126.0.0.0/8", NULL },
		{ "128.0.0.0/8", NULL },
		{ "169.254.0.0/16", "link-local" },
		{ "169.254.169.254/32", "169.254.169.254" },
		{ "169.0.0.0/8", "link-local" },
		{ "169.253.0.0/16", NULL },
		{ "169.255.0.0/16", NULL },
		{ "224.0.0.0/4", "shorter than /8" },
		{ "239.0.0.0/8", "multicast" },
		{ "239.255.255.255/32", "multicast" },
		{ "223.255.255.0/24", NULL },
		{ "240.0.0.0/8", NULL },
		{ "::/128", "unspecified" },
		{ "::1/128", "loopback" },
		{ "fe80::/10", "shorter than /16" },
		{ "fe80::/64", "link-local" },
		{ "febf:ffff::/32", "link-local" },
		{ "fec0::/16", NULL },
		{ "ff02::/16", "multicast" },
		{ "fd00:ec2::/32", "fd00:ec2::254" },
		{ "fd00:ec2::254/128", "fd00:ec2::254" },
		{ "fd00:ec2::253/128", "fd00:ec2::253" },
		{ "fd00:ec2::123/128", "fd00:ec2::123" },
		{ "fd00:ec2::255/128", NULL },
		{ "fd00:ec3::/32", NULL },
		{ "fd00::/16", "fd00:ec2::254" },
		/* Carried ranges, judged as IPv4. */
		{ "64:ff9b::/96", "0.0.0.0/0 (NAT64)" },
		{ "64::/16", "0.0.0.0/0 (NAT64)" },
		{ "64:ff9b::a00:0/104", NULL },
		{ "64:ff9b::a00:0/103", "10.0.0.0/7" },
		{ "64:ff9b::a9fe:0/112", "169.254.0.0/16" },
		{ "64:ff9b::a9fe:a9fe/128", "169.254.169.254/32" },
		{ "64:ff9b::7f00:0/104", "loopback" },
		{ "64:ff9b:1::/48", "local-use NAT64" },
		{ "64:ff9b:1:1::/64", "local-use NAT64" },
		{ "64:ff9b::/32", "NAT64" },
		{ "2002::/16", "0.0.0.0/0 (6to4)" },
		{ "2002:a00::/24", NULL },
		{ "2002:a9fe::/32", "169.254.0.0/16 (6to4)" },
		{ "2002:a9fe:a9fe::/48", "169.254.169.254/32" },
		{ "2002:a9fe:a9fe:1::/64", "169.254.169.254/32" },
		{ "2002:e000::/24", "224.0.0.0/8 (6to4), which contains multicast" },
		{ "2001::/32", "0.0.0.0/0 (Teredo)" },
		{ "2001::/16", "0.0.0.0/0 (Teredo)" },
		{ "2001::f5ff:ff00/120", NULL },	/* 10.0.0.0/24 */
		{ "2001::5601:5600/120", "169.254.169.0/24 (Teredo)" },
		{ "2001::5601:5601/128", "169.254.169.254/32" },
		{ "2001:1::/32", NULL },
		{ "::a00:0/104", NULL },
		{ "::a9fe:a9fe/128", "169.254.169.254/32" },
		{ "::ffff:10.0.0.0/104", NULL },
	};
	char why[256];
	struct cidr c;
	size_t i;
	int r;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("cidr_unsafe %s", t[i].prefix);
		if (!ASSERT_INT_EQ(cidr_parse_g(t[i].prefix, ALL, &c), 0)) {
			TEST_DONE();
			continue;
		}
		why[0] = '\0';
		r = cidr_unsafe(&c, why, sizeof(why));
		ASSERT_INT_EQ(r, t[i].why != NULL);
		if (t[i].why != NULL && strstr(why, t[i].why) == NULL)
			ASSERT_STR_EQ(why, t[i].why);
		TEST_DONE();
	}
}

/* Issue 15 item 8: a carried IPv4 address must be in the set as well. */
static void
test_find_strict(void)
{
	static const char *set[] = { "64:ff9b::/96", "64:ff9b:1::/48",
	    "2002::/16", "2001::/32", "::/96", "127.0.0.0/28",
	    "2600:1f18::/32" };
	static const struct {
		const char *addr;
		int	found;
	} t[] = {
		{ "64:ff9b::7f00:2", 1 },	/* carries 127.0.0.2 */
		{ "64:ff9b::a9fe:a9fe", 0 },
		{ "64:ff9b::7f00:10", 0 },	/* 127.0.0.16: outside /28 */
		{ "64:ff9b:1::7f00:2", 0 },	/* unknown: never */
		{ "2002:7f00:2::1", 1 },
		{ "2002:a9fe:a9fe::1", 0 },
		{ "2001::80ff:fffd", 1 },	/* Teredo 127.0.0.2 */
		{ "2001::5601:5601", 0 },
		{ "::7f00:2", 1 },
		{ "::a9fe:a9fe", 0 },
		{ "2600:1f18::1", 1 },		/* carries nothing */
		{ "::1", 1 },			/* loopback, carries nothing */
		{ "2600:1f19::1", 0 },
		{ "127.0.0.2", 1 },
		{ "169.254.169.254", 0 },
	};
	struct cidrset s = { NULL, 0, 0 };
	struct cidr c;
	struct cidr_addr a;
	size_t i;

	for (i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		if (cidr_parse(set[i], strlen(set[i]), &c) != 0 ||
		    cidrset_add(&s, &c) != 0)
			exit(2);
	cidrset_finish(&s);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("cidrset_find_strict %s", t[i].addr);
		ASSERT_INT_EQ(cidr_addr_parse(t[i].addr, strlen(t[i].addr),
		    &a), 0);
		ASSERT_INT_EQ(cidrset_find_strict(&s, &a) != NULL,
		    t[i].found);
		TEST_DONE();
	}
	cidrset_free(&s);
}

int
main(void)
{

	test_addr_parse();
	test_cidr_parse();
	test_contains();
	test_addr_eq();
	test_format();
	test_format_v4_differential();
	test_sockaddr();
	test_addr_set();
	test_cidrset();
	test_carried();
	test_unsafe();
	test_find_strict();
	return (test_summary());
}
