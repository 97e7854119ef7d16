#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "harness.h"
#include "proxyproto.h"

/* Bytes after a header: what a client sends first, and must not be read. */
#define SMTP	"EHLO client.example\r\n"

/* A header under construction. */
struct hdr {
	uint8_t	b[2 * PROXYPROTO_MAX + 64];
	size_t	n;
};

/* Parse through a guarded copy: a read past ${len} crashes the test. */
static ssize_t
parse(const void *buf, size_t len, struct proxyproto *pp)
{
	void *g = test_guarded(buf, len);
	ssize_t r;

	memset(pp, 0x5a, sizeof(*pp));
	r = proxyproto_parse(g, len, pp);
	test_guarded_free(g, len);
	return (r);
}

static void
put(struct hdr *h, const void *p, size_t n)
{

	if (h->n + n > sizeof(h->b)) {
		fprintf(stderr, "test header too long\n");
		exit(2);
	}
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void
put8(struct hdr *h, unsigned v)
{
	uint8_t b = (uint8_t)v;

	put(h, &b, 1);
}

static void
put16(struct hdr *h, unsigned v)
{

	put8(h, v >> 8);
	put8(h, v & 0xff);
}

/* The 12-byte v2 signature, ver_cmd, fam and the length of the rest. */
static void
v2_start(struct hdr *h, unsigned ver_cmd, unsigned fam, unsigned len)
{
	static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

	h->n = 0;
	put(h, sig, sizeof(sig));
	put8(h, ver_cmd);
	put8(h, fam);
	put16(h, len);
}

/* The binary form of the textual address ${s}. */
static void
put_addr(struct hdr *h, int family, const char *s)
{
	uint8_t a[16];

	if (inet_pton(family, s, a) != 1) {
		fprintf(stderr, "bad test address %s\n", s);
		exit(2);
	}
	put(h, a, family == AF_INET ? 4 : 16);
}

/* A v2 PROXY TCP over IPv4 header, ${tlvlen} bytes of TLVs to follow. */
static void
v2_tcp4(struct hdr *h, unsigned tlvlen)
{

	v2_start(h, 0x21, 0x11, 12 + tlvlen);
	put_addr(h, AF_INET, "192.0.2.1");
	put_addr(h, AF_INET, "198.51.100.2");
	put16(h, 51234);
	put16(h, 1587);
}

static void
v2_tcp6(struct hdr *h, const char *src, unsigned tlvlen)
{

	v2_start(h, 0x21, 0x21, 36 + tlvlen);
	put_addr(h, AF_INET6, src);
	put_addr(h, AF_INET6, "2001:db8::2");
	put16(h, 65535);
	put16(h, 0);
}

/* What a valid header must yield. */
struct want {
	int	version;
	int	local;
	const char *src, *dst;		/* when not local */
	unsigned sport, dport;
};

static int
addr_is(const struct cidr_addr *a, const char *want)
{
	char buf[CIDR_ADDRSTRLEN];

	cidr_addr_format(a, buf);
	return (ASSERT_STR_EQ(buf, want));
}

/*
 * ${n} bytes at ${b} are one valid header: parsed whole, with SMTP bytes
 * after it, and every proper prefix is "more needed".
 */
static void
check_valid(const char *what, const void *b, size_t n, const struct want *w)
{
	struct proxyproto pp;
	struct hdr h;
	size_t k;

	TEST_START("proxyproto_parse valid %s", what);
	ASSERT_INT_EQ(parse(b, n, &pp), (ssize_t)n);
	ASSERT_INT_EQ(pp.version, w->version);
	ASSERT_INT_EQ(pp.local, w->local);
	if (!w->local) {
		addr_is(&pp.src, w->src);
		addr_is(&pp.dst, w->dst);
		ASSERT_INT_EQ(pp.sport, w->sport);
		ASSERT_INT_EQ(pp.dport, w->dport);
	}
	for (k = 0; k < n; k++)
		if (!ASSERT_INT_EQ(parse(b, k, &pp), 0))
			printf("  prefix of %zu bytes\n", k);
	h.n = 0;
	put(&h, b, n);
	put(&h, SMTP, strlen(SMTP));
	ASSERT_INT_EQ(parse(h.b, h.n, &pp), (ssize_t)n);
	/* Another header after it is just more bytes. */
	h.n = 0;
	put(&h, b, n);
	put(&h, b, n);
	ASSERT_INT_EQ(parse(h.b, h.n, &pp), (ssize_t)n);
	TEST_DONE();
}

#define V1MAX6	"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff " \
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
#define V1MAXU	"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff " \
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"

static void
test_v1_valid(void)
{
	static const struct {
		const char *text;
		struct want w;
	} t[] = {
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 51234 1587\r\n",
		    { 1, 0, "192.0.2.1", "198.51.100.2", 51234, 1587 } },
		{ "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
		    { 1, 0, "0.0.0.0", "255.255.255.255", 0, 65535 } },
		{ "PROXY TCP4 10.0.0.1 10.0.0.2 1 9\r\n",
		    { 1, 0, "10.0.0.1", "10.0.0.2", 1, 9 } },
		{ "PROXY TCP6 2001:db8::1 2001:db8::2 40000 587\r\n",
		    { 1, 0, "2001:db8::1", "2001:db8::2", 40000, 587 } },
		{ "PROXY TCP6 :: ::1 10 20\r\n",
		    { 1, 0, "::", "::1", 10, 20 } },
		{ "PROXY TCP6 2001:DB8::A ::2.3.4.5 10 20\r\n",
		    { 1, 0, "2001:db8::a", "::203:405", 10, 20 } },
		{ "PROXY TCP6 1:2:3:4:5:6:7:: 1:2:3:4:5:6:1.2.3.4 10 20\r\n",
		    { 1, 0, "1:2:3:4:5:6:7:0", "1:2:3:4:5:6:102:304", 10,
		    20 } },
		/* v4-mapped: the IPv4 address it carries (proxyproto.h). */
		{ "PROXY TCP6 ::ffff:192.0.2.7 ::ffff:c633:6402 1 2\r\n",
		    { 1, 0, "192.0.2.7", "198.51.100.2", 1, 2 } },
		{ V1MAX6, { 1, 0, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535 } },
		{ "PROXY UNKNOWN\r\n", { 1, 1, NULL, NULL, 0, 0 } },
		{ "PROXY UNKNOWN \r\n", { 1, 1, NULL, NULL, 0, 0 } },
		{ "PROXY UNKNOWN 192.0.2.1 198.51.100.2 1 2\r\n",
		    { 1, 1, NULL, NULL, 0, 0 } },
		{ "PROXY UNKNOWN anything \x01\xff goes\r\n",
		    { 1, 1, NULL, NULL, 0, 0 } },
		{ V1MAXU, { 1, 1, NULL, NULL, 0, 0 } },
	};
	size_t i;

	TEST_START("proxyproto_parse the longest v1 lines");
	ASSERT_SIZE_EQ(strlen(V1MAX6), 104);
	ASSERT_SIZE_EQ(strlen(V1MAXU), PROXYPROTO_V1_MAX);
	TEST_DONE();
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		check_valid(t[i].text, t[i].text, strlen(t[i].text), &t[i].w);
}

static void
test_v2_valid(void)
{
	static const uint8_t vpce[] = "\x01vpce-08d2bf15fac5001c9";
	const struct want w4 = { 2, 0, "192.0.2.1", "198.51.100.2", 51234,
	    1587 };
	const struct want w6 = { 2, 0, "2001:db8::1", "2001:db8::2", 65535,
	    0 };
	const struct want wm = { 2, 0, "192.0.2.9", "2001:db8::2", 65535,
	    0 };
	const struct want wl = { 2, 1, NULL, NULL, 0, 0 };
	struct hdr h;
	size_t i;

	v2_tcp4(&h, 0);
	check_valid("v2 PROXY TCP4", h.b, h.n, &w4);
	v2_tcp6(&h, "2001:db8::1", 0);
	check_valid("v2 PROXY TCP6", h.b, h.n, &w6);
	v2_tcp6(&h, "::ffff:192.0.2.9", 0);
	check_valid("v2 PROXY TCP6 v4-mapped source", h.b, h.n, &wm);

	/* An NLB with a VPC endpoint: PP2_TYPE_AWS, subtype VPCE_ID. */
	v2_tcp4(&h, 3 + sizeof(vpce) - 1);
	put8(&h, 0xea);
	put16(&h, sizeof(vpce) - 1);
	put(&h, vpce, sizeof(vpce) - 1);
	check_valid("v2 PROXY TCP4 AWS VPCE TLV", h.b, h.n, &w4);

	/* Several TLVs, empty ones included (NOOP, ALPN, AUTHORITY). */
	v2_tcp6(&h, "2001:db8::1", 3 + 4 + 5);
	put8(&h, 0x04);
	put16(&h, 0);
	put8(&h, 0x01);
	put16(&h, 1);
	put8(&h, 'x');
	put8(&h, 0x02);
	put16(&h, 2);
	put(&h, "ab", 2);
	check_valid("v2 PROXY TCP6 three TLVs", h.b, h.n, &w6);

	/* Exactly PROXYPROTO_MAX bytes. */
	v2_tcp4(&h, PROXYPROTO_MAX - 28);
	put8(&h, 0x04);
	put16(&h, PROXYPROTO_MAX - 28 - 3);
	for (i = 0; i < PROXYPROTO_MAX - 28 - 3; i++)
		put8(&h, 0);
	check_valid("v2 PROXY TCP4 PROXYPROTO_MAX bytes", h.b, h.n, &w4);

	v2_start(&h, 0x20, 0x00, 0);
	check_valid("v2 LOCAL UNSPEC", h.b, h.n, &wl);
	v2_start(&h, 0x20, 0x11, 12);
	for (i = 0; i < 12; i++)
		put8(&h, 0xff);
	check_valid("v2 LOCAL with an address block", h.b, h.n, &wl);
	/* LOCAL: the family is ignored, and so is the block (a UNIX one). */
	v2_start(&h, 0x20, 0x31, 216);
	for (i = 0; i < 216; i++)
		put8(&h, 0xff);
	check_valid("v2 LOCAL UNIX block ignored", h.b, h.n, &wl);
	v2_start(&h, 0x20, 0x77, 3);
	put(&h, "\xff\xff\xff", 3);
	check_valid("v2 LOCAL unknown family, broken TLV", h.b, h.n, &wl);
	v2_start(&h, 0x21, 0x00, 0);
	check_valid("v2 PROXY UNSPEC", h.b, h.n, &wl);
	v2_start(&h, 0x21, 0x00, 3 + 4);
	put8(&h, 0xea);
	put16(&h, 4);
	put(&h, "\x01vpc", 4);
	check_valid("v2 PROXY UNSPEC with a TLV", h.b, h.n, &wl);
}

/*
 * The ${n} bytes at ${b} can never be a header: every prefix is "more
 * needed" until one is -1, and then every longer one is -1 too.  With
 * ${at} > 0, the first -1 is the prefix of ${at} bytes.
 */
static void
check_invalid(const char *what, const void *b, size_t n, size_t at)
{
	struct proxyproto pp;
	size_t k, first = 0;
	ssize_t r;

	TEST_START("proxyproto_parse invalid %s", what);
	for (k = 0; k <= n; k++) {
		r = parse(b, k, &pp);
		if (r == -1 && first == 0)
			first = k;
		if (!ASSERT_INT_EQ(r, first != 0 ? -1 : 0)) {
			printf("  prefix of %zu bytes\n", k);
			break;
		}
	}
	ASSERT_SIZE_GT(first, 0);
	if (at > 0)
		ASSERT_SIZE_EQ(first, at);
	TEST_DONE();
}

#define NUL_LINE	"PROXY TCP4 1.2\0.3.4 5.6.7.8 1 2\r\n"

static void
test_v1_invalid(void)
{
	static char longunk[160], longtcp6[160], fill[130];
	static const struct {
		const char *what, *text;
		size_t	at;		/* first -1, 0: not checked */
		size_t	len;		/* 0: strlen(text) */
	} t[] = {
		{ "CRLF CRLF CRLF", "\r\n\r\n\r\n", 5, 0 },
		{ "bare LF", "\n", 1, 0 },
		{ "SMTP", "EHLO x\r\n", 1, 0 },
		{ "HTTP", "GET / HTTP/1.0\r\n", 1, 0 },
		{ "lowercase", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 1, 0 },
		{ "PROXX", "PROXX TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 5, 0 },
		{ "no space", "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", 6, 0 },
		{ "PROXY CRLF", "PROXY\r\n", 6, 0 },
		{ "PROXY space CRLF", "PROXY \r\n", 7, 0 },
		{ "double space after PROXY",
		    "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 7, 0 },
		{ "lowercase tcp4", "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		    7, 0 },
		{ "TCP5", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", 10, 0 },
		{ "TCP4 without space", "PROXY TCP4\r\n", 11, 0 },
		{ "double space after TCP4",
		    "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", 12, 0 },
		{ "double space between addresses",
		    "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", 20, 0 },
		{ "double space between ports",
		    "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", 30, 0 },
		{ "tab", "PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", 11, 0 },
		{ "TCP4 with IPv6", "PROXY TCP4 ::1 ::1 1 2\r\n", 12, 0 },
		{ "TCP4 with IPv6 destination",
		    "PROXY TCP4 1.2.3.4 2001:db8::1 1 2\r\n", 23, 0 },
		{ "TCP6 with IPv4", "PROXY TCP6 192.0.2.1 ::1 1 2\r\n", 15, 0 },
		{ "TCP6 with IPv4 destination",
		    "PROXY TCP6 ::1 192.0.2.1 1 2\r\n", 19, 0 },
		{ "octet 256", "PROXY TCP4 256.0.0.1 5.6.7.8 1 2\r\n", 14, 0 },
		{ "octet leading zero", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
		    13, 0 },
		{ "five octets", "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
		    19, 0 },
		{ "three octets", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", 17, 0 },
		{ "hex in IPv4", "PROXY TCP4 1.2.3.a 5.6.7.8 1 2\r\n", 18, 0 },
		{ "IPv6 zone", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", 19, 0 },
		{ "IPv6 brackets", "PROXY TCP6 [::1] ::1 1 2\r\n", 12, 0 },
		{ "IPv6 two ::", "PROXY TCP6 1::2::3 ::1 1 2\r\n", 17, 0 },
		{ "IPv6 nine groups",
		    "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", 27, 0 },
		{ "IPv6 five hex digits", "PROXY TCP6 12345:: ::1 1 2\r\n",
		    16, 0 },
		{ "IPv6 single leading colon", "PROXY TCP6 :1 ::1 1 2\r\n",
		    13, 0 },
		{ "port leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		    29, 0 },
		{ "port 00", "PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", 31, 0 },
		{ "port 65536", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		    32, 0 },
		{ "port 100000", "PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n", 35,
		    0 },
		{ "port sign", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", 28, 0 },
		{ "port minus", "PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n", 30, 0 },
		{ "port hex", "PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n", 29, 0 },
		{ "missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 29, 0 },
		{ "extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		    31, 0 },
		{ "trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		    31, 0 },
		{ "missing CR", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 31, 0 },
		{ "CR CR LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", 32, 0 },
		{ "CR then text", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rEHLO\r\n",
		    32, 0 },
		{ "NUL in address", NUL_LINE, 15, sizeof(NUL_LINE) - 1 },
		{ "UNKNOWNX", "PROXY UNKNOWNX\r\n", 14, 0 },
		{ "UNKNOWN LF", "PROXY UNKNOWN\n", 14, 0 },
		{ "UNKNOWN bare LF inside", "PROXY UNKNOWN a\nb\r\n", 16, 0 },
		{ "UNKNOWN bare CR inside", "PROXY UNKNOWN a\rb\r\n", 17, 0 },
		{ "UNKNOWN over 107 bytes", longunk, 106, 0 },
		{ "TCP6 over 107 bytes", longtcp6, 0, 0 },
		{ "TCP6 v4-embedded, over 107 bytes",
		    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
		    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 "
		    "65535\r\n", 0, 0 },
	};
	size_t i;

	memset(fill, 'x', sizeof(fill) - 1);
	snprintf(longunk, sizeof(longunk), "PROXY UNKNOWN %s\r\n", fill);
	memset(fill, '0', sizeof(fill) - 1);
	snprintf(longtcp6, sizeof(longtcp6), "PROXY TCP6 ::%s\r\n", fill);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		check_invalid(t[i].what, t[i].text, t[i].len != 0 ? t[i].len :
		    strlen(t[i].text), t[i].at);
}

/* v2 headers with one defect each, and where it shows. */
static void
test_v2_invalid(void)
{
	struct hdr h, g;
	char what[64];
	size_t i;

	for (i = 0; i < 12; i++) {
		v2_tcp4(&h, 0);
		h.b[i] ^= 0x20;
		snprintf(what, sizeof(what), "v2 signature byte %zu", i);
		check_invalid(what, h.b, h.n, i + 1);
	}
	v2_tcp4(&h, 0);
	h.b[12] = 0x11;
	check_invalid("v2 version 1", h.b, h.n, 13);
	h.b[12] = 0x31;
	check_invalid("v2 version 3", h.b, h.n, 13);
	h.b[12] = 0x01;
	check_invalid("v2 version 0", h.b, h.n, 13);
	h.b[12] = 0x22;
	check_invalid("v2 command 2", h.b, h.n, 13);
	h.b[12] = 0x2f;
	check_invalid("v2 command 15", h.b, h.n, 13);
	h.b[12] = 0x21;

	v2_start(&h, 0x21, 0x31, 216);
	for (i = 0; i < 216; i++)
		put8(&h, 0);
	check_invalid("v2 PROXY AF_UNIX stream", h.b, h.n, 14);
	h.b[13] = 0x32;
	check_invalid("v2 PROXY AF_UNIX dgram", h.b, h.n, 14);
	v2_tcp4(&h, 0);
	h.b[13] = 0x12;
	check_invalid("v2 PROXY UDP over IPv4", h.b, h.n, 14);
	h.b[13] = 0x10;
	check_invalid("v2 PROXY IPv4 transport UNSPEC", h.b, h.n, 14);
	h.b[13] = 0x01;
	check_invalid("v2 PROXY family UNSPEC transport STREAM", h.b, h.n,
	    14);
	h.b[13] = 0x41;
	check_invalid("v2 PROXY family 4", h.b, h.n, 14);
	v2_tcp6(&h, "2001:db8::1", 0);
	h.b[13] = 0x22;
	check_invalid("v2 PROXY UDP over IPv6", h.b, h.n, 14);
	v2_tcp4(&h, 0);
	h.b[13] = 0x21;
	check_invalid("v2 PROXY TCP6 with a TCP4 length", h.b, h.n, 16);

	v2_tcp4(&h, 0);
	h.b[15] = 11;
	check_invalid("v2 length 11 for TCP4", h.b, h.n, 16);
	v2_tcp6(&h, "2001:db8::1", 0);
	h.b[15] = 35;
	check_invalid("v2 length 35 for TCP6", h.b, h.n, 16);
	v2_tcp4(&h, 0);
	h.b[14] = (PROXYPROTO_MAX - 16 + 1) >> 8;
	h.b[15] = (PROXYPROTO_MAX - 16 + 1) & 0xff;
	check_invalid("v2 length over PROXYPROTO_MAX", h.b, h.n, 16);
	h.b[14] = h.b[15] = 0xff;
	check_invalid("v2 length 65535", h.b, h.n, 16);
	v2_start(&h, 0x20, 0x00, PROXYPROTO_MAX - 16 + 1);
	check_invalid("v2 LOCAL length over PROXYPROTO_MAX", h.b, h.n, 16);

	/* TLVs: a partial header, a value running past the end. */
	v2_tcp4(&h, 2);
	put(&h, "\x04\x00", 2);
	check_invalid("v2 partial TLV header", h.b, h.n, 16);
	v2_tcp4(&h, 1);
	put8(&h, 0x04);
	check_invalid("v2 one trailing byte", h.b, h.n, 16);
	v2_tcp4(&h, 3 + 4);
	put8(&h, 0xea);
	put16(&h, 5);
	put(&h, "\x01vpc", 4);
	check_invalid("v2 TLV value past the end", h.b, h.n, 31);
	v2_tcp4(&h, 3 + 4 + 3);
	put8(&h, 0xea);
	put16(&h, 4);
	put(&h, "\x01vpc", 4);
	put8(&h, 0x04);
	put16(&h, 1);
	check_invalid("v2 second TLV past the end", h.b, h.n, 38);
	v2_start(&h, 0x21, 0x00, 2);
	put(&h, "\xea\x00", 2);
	check_invalid("v2 UNSPEC partial TLV", h.b, h.n, 16);

	/* A valid v2 header inside a v1 one, and the other way round. */
	v2_tcp4(&g, 0);
	h.n = 0;
	put(&h, "PROXY ", 6);
	put(&h, g.b, g.n);
	check_invalid("v2 after \"PROXY \"", h.b, h.n, 7);
	h.n = 0;
	put(&h, g.b, 4);
	put(&h, "PROXY UNKNOWN\r\n", 15);
	check_invalid("v1 after the start of the v2 signature", h.b, h.n, 5);
}

/* A header split anywhere still parses once whole, with no bytes lost. */
static void
test_pieces(void)
{
	const char *t = "PROXY TCP4 192.0.2.1 198.51.100.2 51234 1587\r\n"
	    SMTP;
	struct proxyproto pp;
	size_t hl = strlen(t) - strlen(SMTP), k;

	TEST_START("proxyproto_parse result depends only on the bytes so far");
	for (k = 0; k <= strlen(t); k++)
		if (!ASSERT_INT_EQ(parse(t, k, &pp), k < hl ? 0 : (ssize_t)hl))
			printf("  prefix of %zu bytes\n", k);
	TEST_DONE();

	TEST_START("proxyproto_parse leaves pp zeroed when not complete");
	for (k = 0; k < hl; k++) {
		ASSERT_INT_EQ(parse(t, k, &pp), 0);
		ASSERT_INT_EQ(pp.version, 0);
		ASSERT_INT_EQ(pp.src.family, 0);
		ASSERT_INT_EQ(pp.sport, 0);
	}
	ASSERT_INT_EQ(parse("PROXY UNKNOWN\r\r", 15, &pp), -1);
	ASSERT_INT_EQ(pp.version, 0);
	ASSERT_INT_EQ(pp.local, 0);
	TEST_DONE();
}

int
main(void)
{

	test_v1_valid();
	test_v2_valid();
	test_v1_invalid();
	test_v2_invalid();
	test_pieces();
	return (test_summary());
}
