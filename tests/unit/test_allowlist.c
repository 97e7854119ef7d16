#include <sys/socket.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allowlist.h"
#include "cidr.h"
#include "harness.h"

/* Small ip-ranges.json documents, written the way AWS writes them. */
#define E4(p, r, s, g)	"{\"ip_prefix\":\"" p "\",\"region\":\"" r \
	"\",\"service\":\"" s "\",\"network_border_group\":\"" g "\"}"
#define E6(p, r, s, g)	"{\"ipv6_prefix\":\"" p "\",\"region\":\"" r \
	"\",\"service\":\"" s "\",\"network_border_group\":\"" g "\"}"
#define TOK		"\"syncToken\":\"1787411825\""
#define DATE		"\"createDate\":\"2026-08-22-15-17-05\""
#define P4(x)		"\"prefixes\":[" x "]"
#define P6(x)		"\"ipv6_prefixes\":[" x "]"
#define DOC4(x)		"{" TOK "," DATE "," P4(x) "," P6("") "}"
#define DOC6(x)		"{" TOK "," DATE "," P4("") "," P6(x) "}"
#define DOCD(d)		"{" TOK ",\"createDate\":\"" d "\"," P4("") "," \
	P6("") "}"
#define OK4		E4("10.0.0.0/8", "us-east-1", "AMAZON", "us-east-1")

static const char good[] =
    "{\n"
    "  \"syncToken\": \"1787411825\",\n"
    "  \"createDate\": \"2026-08-22-15-17-05\",\n"
    "  \"prefixes\": [\n"
    "    " E4("3.4.12.4/32", "eu-west-1", "AMAZON", "eu-west-1") ",\n"
    "    " E4("10.0.0.0/8", "us-east-1", "AMAZON", "us-east-1") ",\n"
    "    " E4("10.0.0.0/8", "us-east-1", "AMAZON", "us-east-1-bos-1") ",\n"
    "    " E4("10.0.0.0/8", "us-east-1", "EC2", "us-east-1") ",\n"
    "    " E4("192.0.2.0/24", "us-east-1", "S3", "us-east-1") ",\n"
    "    " E4("192.0.3.0/24", "us-east-1", "AMAZON_CONNECT", "us-east-1")
    ",\n"
    "    " E4("198.51.100.0/24", "us-east-2", "AMAZON", "us-east-2") ",\n"
    "    " E4("198.51.101.0/24", "us-east-10", "AMAZON", "us-east-10")
    ",\n"
    "    " E4("203.0.113.0/24", "us-east-1", "AMAZON", "us-east-1") ",\n"
    "    " E4("100.64.0.0/10", "GLOBAL", "AMAZON", "GLOBAL") "\n"
    "  ],\n"
    "  \"ipv6_prefixes\": [\n"
    "    " E6("2001:db8::/32", "us-east-1", "AMAZON", "us-east-1") ",\n"
    "    " E6("2001:db8::/32", "us-east-1", "AMAZON", "us-east-1-wl1")
    ",\n"
    "    " E6("2600:1f18::/36", "eu-west-1", "AMAZON", "eu-west-1") ",\n"
    "    " E6("2600:1f19::/36", "us-east-1", "EC2", "us-east-1") "\n"
    "  ]\n"
    "}";

static int
parse(const char *doc, size_t len, const char *region, struct cidrset *s,
    struct allowlist_info *info, char *err, size_t errlen)
{
	void *g = test_guarded(doc, len);
	int r;

	r = allowlist_parse(g, len, region, s, info, err, errlen);
	test_guarded_free(g, len);
	return (r);
}

static int
has(const struct cidrset *s, const char *text)
{
	struct cidr_addr a;

	if (cidr_addr_parse(text, strlen(text), &a) != 0)
		return (-1);
	return (cidrset_find(s, &a) != NULL);
}

static void
test_good(void)
{
	static const struct {
		const char *addr;
		int	in;
	} look[] = {
		{ "10.1.2.3", 1 }, { "203.0.113.255", 1 }, { "2001:db8::5", 1 },
		{ "3.4.12.4", 0 },		/* other region */
		{ "192.0.2.1", 0 },		/* S3 */
		{ "192.0.3.1", 0 },		/* AMAZON_CONNECT */
		{ "198.51.100.1", 0 },		/* us-east-2 */
		{ "198.51.101.1", 0 },		/* us-east-10 */
		{ "100.64.0.1", 0 },		/* GLOBAL */
		{ "2600:1f18::1", 0 }, { "2600:1f19::1", 0 },
	};
	struct allowlist_info info;
	struct cidrset s = { NULL, 0, 0 };
	char err[256];
	size_t i;

	TEST_START("allowlist_parse good document, us-east-1");
	err[0] = '\0';
	ASSERT_INT_EQ(parse(good, strlen(good), "us-east-1", &s, &info, err,
	    sizeof(err)), 0);
	ASSERT_STR_EQ(err, "");
	ASSERT_STR_EQ(info.sync_token, "1787411825");
	ASSERT_STR_EQ(info.create_date, "2026-08-22-15-17-05");
	ASSERT_INT_EQ(info.created, 1787411825);
	ASSERT_SIZE_EQ(info.entries, 14);
	ASSERT_SIZE_EQ(info.v4, 2);
	ASSERT_SIZE_EQ(info.v6, 1);
	ASSERT_SIZE_EQ(s.n, 3);
	for (i = 0; i < s.n; i++)
		ASSERT_INT_EQ(s.v[i].tag, ALLOWLIST_TAG_AWS);
	for (i = 0; i < sizeof(look) / sizeof(look[0]); i++)
		if (!ASSERT_INT_EQ(has(&s, look[i].addr), look[i].in))
			printf("  address %s\n", look[i].addr);
	cidrset_free(&s);
	TEST_DONE();

	TEST_START("allowlist_parse good document, eu-west-1");
	ASSERT_INT_EQ(parse(good, strlen(good), "eu-west-1", &s, &info, err,
	    sizeof(err)), 0);
	ASSERT_SIZE_EQ(info.v4, 1);
	ASSERT_SIZE_EQ(info.v6, 1);
	ASSERT_SIZE_EQ(info.entries, 14);
	ASSERT_INT_EQ(has(&s, "3.4.12.4"), 1);
	ASSERT_INT_EQ(has(&s, "3.4.12.5"), 0);
	ASSERT_INT_EQ(has(&s, "2600:1f18::1"), 1);
	ASSERT_INT_EQ(has(&s, "10.0.0.1"), 0);
	cidrset_free(&s);
	TEST_DONE();

	TEST_START("allowlist_parse good document, region without prefixes");
	ASSERT_INT_EQ(parse(good, strlen(good), "ap-south-2", &s, &info, err,
	    sizeof(err)), 0);
	ASSERT_SIZE_EQ(info.v4, 0);
	ASSERT_SIZE_EQ(info.v6, 0);
	ASSERT_SIZE_EQ(info.entries, 14);
	ASSERT_SIZE_EQ(s.n, 0);
	cidrset_free(&s);
	TEST_DONE();

	/* info counts the region's prefixes, not what the set held before. */
	TEST_START("allowlist_parse into a set holding operator prefixes");
	{
		struct cidr c;
		cidr_parse("172.16.0.0/12", 13, &c);
		c.tag = ALLOWLIST_TAG_OPERATOR;
		cidrset_add(&s, &c);
	}
	ASSERT_INT_EQ(parse(good, strlen(good), "us-east-1", &s, &info, err,
	    sizeof(err)), 0);
	ASSERT_SIZE_EQ(info.v4, 2);
	ASSERT_SIZE_EQ(info.v6, 1);
	ASSERT_INT_EQ(has(&s, "172.16.1.1"), 1);
	ASSERT_INT_EQ(has(&s, "10.1.1.1"), 1);
	cidrset_free(&s);
	TEST_DONE();
}

/* Documents that must parse, and what they hold for us-east-1. */
static void
test_variants(void)
{
	static const struct {
		const char *what, *doc;
		size_t	entries, v4, v6, top, ent;	/* ignored keys */
	} t[] = {
		{ "empty arrays", DOC4(""), 0, 0, 0, 0, 0 },
		{ "keys in another order", "{" P6(E6("2001:db8::/32",
		    "us-east-1", "AMAZON", "x")) "," P4(OK4) "," DATE "," TOK
		    "}", 2, 1, 1, 0, 0 },
		{ "entry keys in another order", DOC4("{\"service\":\"AMAZON\","
		    "\"network_border_group\":\"b\",\"region\":\"us-east-1\","
		    "\"ip_prefix\":\"10.0.0.0/8\"}"), 1, 1, 0, 0, 0 },
		{ "whitespace everywhere", " \t\r\n{ \"syncToken\" :\t"
		    "\"1787411825\" ,\r\n\"createDate\"\n:"
		    "\"2026-08-22-15-17-05\""
		    " , \"prefixes\" : [ ] , \"ipv6_prefixes\" : [\n] }\n\n",
		    0, 0, 0, 0, 0 },
		{ "trailing newline", DOC4(OK4) "\n", 1, 1, 0, 0, 0 },
		{ "/0 and /32", DOC4(E4("0.0.0.0/0", "us-east-1", "AMAZON", "g")
		    "," E4("1.2.3.4/32", "us-east-1", "AMAZON", "g")), 2, 2,
		    0, 0, 0 },
		{ "/0 and /128", DOC6(E6("::/0", "us-east-1", "AMAZON", "g") ","
		    E6("::1/128", "us-east-1", "AMAZON", "g")), 2, 0, 2, 0, 0 },
		{ "same entry twice", DOC4(OK4 "," OK4), 2, 1, 0, 0, 0 },
		/* Fields AWS may add: skipped, counted, never fatal. */
		{ "unknown top-level key", "{" TOK "," DATE "," P4(OK4) ","
		    P6("") ",\"extra\":\"x\"}", 1, 1, 0, 1, 0 },
		{ "unknown top-level key first", "{\"extra\":{\"a\":[1]}," TOK
		    "," DATE "," P4(OK4) "," P6("") "}", 1, 1, 0, 1, 0 },
		{ "entry without network_border_group", DOC4("{\"ip_prefix\":"
		    "\"10.0.0.0/8\",\"region\":\"us-east-1\",\"service\":"
		    "\"AMAZON\"}"), 1, 1, 0, 0, 0 },
		{ "entry with a fifth key", DOC4("{\"ip_prefix\":"
		    "\"10.0.0.0/8\",\"region\":\"us-east-1\",\"service\":"
		    "\"AMAZON\",\"network_border_group\":\"g\",\"x\":\"y\"}"),
		    1, 1, 0, 0, 1 },
		{ "entry with an unknown key for network_border_group",
		    DOC4("{\"ip_prefix\":\"10.0.0.0/8\",\"region\":"
		    "\"us-east-1\",\"service\":\"AMAZON\",\"border\":\"g\"}"),
		    1, 1, 0, 0, 1 },
		{ "unknown key named like the other family's key",
		    DOC4("{\"ip_prefix\":\"10.0.0.0/8\",\"region\":"
		    "\"us-east-1\",\"service\":\"AMAZON\",\"ipv6\":\"::/0\"}"),
		    1, 1, 0, 0, 1 },
		{ "unknown keys of every type", DOC4("{\"s\":\"x\","
		    "\"n\":-1.5e3,\"t\":true,\"f\":false,\"z\":null,"
		    "\"o\":{\"k\":1},\"a\":[1,\"b\"],\"e\":{},\"ea\":[],"
		    "\"ip_prefix\":\"10.0.0.0/8\",\"region\":\"us-east-1\","
		    "\"service\":\"AMAZON\"}"), 1, 1, 0, 0, 9 },
		{ "unknown key with escapes in its value", DOC4("{\"note\":"
		    "\"a\\\"b\\u00e9\",\"ip_prefix\":\"10.0.0.0/8\",\"region\":"
		    "\"us-east-1\",\"service\":\"AMAZON\"}"), 1, 1, 0, 0, 1 },
		{ "new service of 100 bytes", DOC4(OK4 "," E4("10.0.0.0/8",
		    "us-east-1", "SERVICE_NAME_OF_ONE_HUNDRED_BYTES_"
		    "0123456789012345678901234567890123456789012345678901234567"
		    "89", "g")), 2, 1, 0, 0, 0 },
		{ "new region of 40 bytes", DOC4(OK4 "," E4("10.0.0.0/8",
		    "xx-region-of-forty-bytes-0123456789012-1", "AMAZON",
		    "g")), 2, 1, 0, 0, 0 },
	};
	struct allowlist_info info;
	struct cidrset s = { NULL, 0, 0 };
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("allowlist_parse accepts: %s", t[i].what);
		err[0] = '\0';
		if (!ASSERT_INT_EQ(parse(t[i].doc, strlen(t[i].doc),
		    "us-east-1", &s, &info, err, sizeof(err)), 0))
			printf("  err: %s\n", err);
		ASSERT_SIZE_EQ(info.entries, t[i].entries);
		ASSERT_SIZE_EQ(info.v4, t[i].v4);
		ASSERT_SIZE_EQ(info.v6, t[i].v6);
		ASSERT_SIZE_EQ(info.ignored_top_keys, t[i].top);
		ASSERT_SIZE_EQ(info.ignored_entry_keys, t[i].ent);
		cidrset_free(&s);
		TEST_DONE();
	}
}

/*
 * A file as AWS might write it next: new keys of every JSON type at the
 * top level and in entries, a new service and a new region.
 */
static const char future[] =
    "{\n"
    "  \"syncToken\": \"1787411825\",\n"
    "  \"createDate\": \"2026-08-22-15-17-05\",\n"
    "  \"schemaVersion\": 2,\n"
    "  \"ipv4_lists\": [{\"name\": \"ses\", \"prefixes\": [\"10.0.0.0/8\"]}],\n"
    "  \"prefixes\": [\n"
    "    {\"ip_prefix\": \"10.0.0.0/8\", \"region\": \"us-east-1\",\n"
    "     \"service\": \"AMAZON\", \"network_border_group\": \"us-east-1\",\n"
    "     \"scope\": \"public\", \"weight\": 3, \"tags\": {\"tier\": \"a\"},\n"
    "     \"labels\": [{\"k\": \"tier\", \"v\": [\"a\", \"b\"]}],\n"
    "     \"ports\": [25, 587]},\n"
    "    {\"ip_prefix\": \"192.0.2.0/24\", \"region\": \"us-east-1\",\n"
    "     \"service\": \"SES_SMTP\", \"network_border_group\": \"us-east-1\",\n"
    "     \"scope\": \"public\"},\n"
    "    {\"ip_prefix\": \"198.51.100.0/24\", \"region\": \"us-north-7\",\n"
    "     \"service\": \"AMAZON\",\n"
    "     \"network_border_group\": \"us-north-7-zzz-1\"},\n"
    "    {\"ip_prefix\": \"203.0.113.0/24\", \"region\": \"us-east-1\",\n"
    "     \"service\": \"AMAZON\", \"deprecated\": null, \"active\": true}\n"
    "  ],\n"
    "  \"ipv6_prefixes\": [\n"
    "    {\"ipv6_prefix\": \"2001:db8::/32\", \"service\": \"AMAZON\",\n"
    "     \"region\": \"us-east-1\", \"scope\": \"public\",\n"
    "     \"network_border_group\": \"us-east-1\"},\n"
    "    {\"ipv6_prefix\": \"2001:db9::/32\", \"service\": \"SES_SMTP\",\n"
    "     \"region\": \"us-east-1\", \"network_border_group\": \"us-east-1\"}\n"
    "  ],\n"
    "  \"ipv6_lists\": []\n"
    "}\n";

static void
test_future(void)
{
	static const struct {
		const char *region;
		size_t	v4, v6;
		const char *in, *out;	/* an address allowed, one not */
	} t[] = {
		{ "us-east-1", 2, 1, "203.0.113.9", "192.0.2.1" },
		{ "us-east-1", 2, 1, "2001:db8::1", "2001:db9::1" },
		{ "us-north-7", 1, 0, "198.51.100.1", "10.0.0.1" },
	};
	struct allowlist_info info;
	struct cidrset s = { NULL, 0, 0 };
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("allowlist_parse future file, %s, %s", t[i].region,
		    t[i].in);
		err[0] = '\0';
		if (!ASSERT_INT_EQ(parse(future, strlen(future), t[i].region,
		    &s, &info, err, sizeof(err)), 0))
			printf("  err: %s\n", err);
		ASSERT_SIZE_EQ(info.entries, 6);
		ASSERT_SIZE_EQ(info.v4, t[i].v4);
		ASSERT_SIZE_EQ(info.v6, t[i].v6);
		/* schemaVersion, ipv4_lists, ipv6_lists */
		ASSERT_SIZE_EQ(info.ignored_top_keys, 3);
		/* 5 + 1 + 0 + 2 in prefixes (scope ...), 1 in ipv6_prefixes */
		ASSERT_SIZE_EQ(info.ignored_entry_keys, 9);
		ASSERT_STR_EQ(info.sync_token, "1787411825");
		ASSERT_INT_EQ(has(&s, t[i].in), 1);
		ASSERT_INT_EQ(has(&s, t[i].out), 0);
		cidrset_free(&s);
		TEST_DONE();
	}
}

static void
test_dates(void)
{
	static const struct {
		const char *doc;
		long long created;	/* -1: must be rejected */
	} t[] = {
		{ DOCD("2026-08-22-15-17-05"), 1787411825LL },
		{ DOCD("2000-01-01-00-00-00"), 946684800LL },
		{ DOCD("2024-02-29-23-59-59"), 1709251199LL },
		{ DOCD("2038-01-19-03-14-08"), 2147483648LL },
		{ DOCD("2026-08-22 15:17:05"), -1 },
		{ DOCD("2026-08-22T15:17:05Z"), -1 },
		{ DOCD("2026-08-22-15-17-05Z"), -1 },
		{ DOCD("2026-08-22-15-17-5"), -1 },
		{ DOCD("26-08-22-15-17-05"), -1 },
		{ DOCD("2026-8-22-15-17-05"), -1 },
		{ DOCD("2026-00-22-15-17-05"), -1 },
		{ DOCD("2026-13-22-15-17-05"), -1 },
		{ DOCD("2026-08-00-15-17-05"), -1 },
		{ DOCD("2026-08-32-15-17-05"), -1 },
		{ DOCD("2026-02-30-00-00-00"), -1 },	/* no such day */
		{ DOCD("2026-08-22-24-00-00"), -1 },
		{ DOCD("2026-08-22-15-60-00"), -1 },
		{ DOCD("2026-08-22-15-17-61"), -1 },
		{ DOCD("+026-08-22-15-17-05"), -1 },
		{ DOCD("2026-08-22-15-17- 5"), -1 },
		{ DOCD("abcd-ef-gh-ij-kl-mn"), -1 },
		{ DOCD(""), -1 },
		{ "{" TOK ",\"createDate\":20260822," P4("") "," P6("") "}",
		    -1 },
	};
	struct allowlist_info info;
	struct cidrset s = { NULL, 0, 0 };
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("allowlist_parse %.34s",
		    strstr(t[i].doc, "createDate"));
		err[0] = '\0';
		if (t[i].created >= 0) {
			ASSERT_INT_EQ(parse(t[i].doc, strlen(t[i].doc),
			    "us-east-1", &s, &info, err, sizeof(err)), 0);
			ASSERT_INT_EQ(info.created, t[i].created);
		} else {
			ASSERT_INT_EQ(parse(t[i].doc, strlen(t[i].doc),
			    "us-east-1", &s, &info, err, sizeof(err)), -1);
			ASSERT_SIZE_GT(strlen(err), 0);
		}
		cidrset_free(&s);
		TEST_DONE();
	}
}

/* Every one of these is malformed and must give -1 and a reason. */
static void
test_reject(void)
{
	static const struct {
		const char *what, *doc;
		size_t	len;	/* 0: strlen */
		const char *why;	/* in the message */
	} t[] = {
		{ "empty", "", 0, "invalid JSON" },
		{ "not JSON", "hello", 0, "invalid JSON" },
		{ "whitespace only", " \n ", 0, "invalid JSON" },
		{ "top level array", "[]", 0, "not a JSON object" },
		{ "top level string", "\"x\"", 0, "not a JSON object" },
		{ "top level number", "1", 0, "not a JSON object" },
		{ "top level null", "null", 0, "not a JSON object" },
		{ "empty object", "{}", 0, "missing key syncToken" },
		{ "two objects", DOC4("") DOC4(""), 0, "invalid JSON" },
		{ "trailing garbage", DOC4("") "x", 0, "invalid JSON" },
		{ "trailing bracket", DOC4("") "]", 0, "invalid JSON" },
		{ "trailing number", DOC4("") " 1", 0, "invalid JSON" },
		{ "trailing NUL", DOC4("") "\0", sizeof(DOC4("")),
		    "invalid JSON" },
		{ "NUL inside", "{" TOK ",\0" DATE "," P4("") "," P6("") "}",
		    sizeof("{" TOK ",\0" DATE "," P4("") "," P6("") "}") - 1,
		    "invalid JSON" },
		{ "missing syncToken", "{" DATE "," P4("") "," P6("") "}", 0,
		    "missing key syncToken" },
		{ "missing createDate", "{" TOK "," P4("") "," P6("") "}", 0,
		    "missing key createDate" },
		{ "missing prefixes", "{" TOK "," DATE "," P6("") "}", 0,
		    "missing key prefixes" },
		{ "missing ipv6_prefixes", "{" TOK "," DATE "," P4("") "}", 0,
		    "missing key ipv6_prefixes" },
		{ "repeated syncToken", "{" TOK "," TOK "," DATE "," P4("") ","
		    P6("") "}", 0, "repeated key syncToken" },
		{ "repeated createDate", "{" TOK "," DATE "," DATE ","
		    P4("") "," P6("") "}", 0, "repeated key createDate" },
		{ "repeated prefixes", "{" TOK "," DATE "," P4("") "," P4(OK4)
		    "," P6("") "}", 0, "repeated key prefixes" },
		{ "repeated ipv6_prefixes", "{" TOK "," DATE "," P4("") ","
		    P6("") "," P6("") "}", 0, "repeated key ipv6_prefixes" },
		{ "key case", "{\"synctoken\":\"1\"," DATE "," P4("") "," P6("")
		    "}", 0, "missing key syncToken" },
		{ "syncToken number", "{\"syncToken\":1787411825," DATE ","
		    P4("") "," P6("") "}", 0, "syncToken is not a string" },
		{ "syncToken null", "{\"syncToken\":null," DATE "," P4("") ","
		    P6("") "}", 0, "syncToken is not a string" },
		{ "prefixes object", "{" TOK "," DATE ",\"prefixes\":{},"
		    P6("") "}", 0, "prefixes is not an array" },
		{ "prefixes string", "{" TOK "," DATE ",\"prefixes\":\"x\","
		    P6("") "}", 0, "prefixes is not an array" },
		{ "prefixes null", "{" TOK "," DATE ",\"prefixes\":null,"
		    P6("") "}", 0, "prefixes is not an array" },
		{ "ipv6_prefixes string", "{" TOK "," DATE "," P4("")
		    ",\"ipv6_prefixes\":\"x\"}", 0,
		    "ipv6_prefixes is not an array" },
		{ "entry is a string", DOC4("\"10.0.0.0/8\""), 0,
		    "is not an object" },
		{ "entry is an array", DOC4("[]"), 0, "is not an object" },
		{ "entry is null", DOC4("null"), 0, "is not an object" },
		{ "ip_prefix number", DOC4("{\"ip_prefix\":10,\"region\":"
		    "\"us-east-1\",\"service\":\"AMAZON\","
		    "\"network_border_group\":\"g\"}"), 0,
		    "ip_prefix is not a string" },
		{ "region null", DOC4("{\"ip_prefix\":\"10.0.0.0/8\","
		    "\"region\":null,\"service\":\"AMAZON\","
		    "\"network_border_group\":\"g\"}"), 0,
		    "region is not a string" },
		{ "service array", DOC4("{\"ip_prefix\":\"10.0.0.0/8\","
		    "\"region\":\"us-east-1\",\"service\":[\"AMAZON\"],"
		    "\"network_border_group\":\"g\"}"), 0,
		    "service is not a string" },
		{ "network_border_group object", DOC4("{\"ip_prefix\":"
		    "\"10.0.0.0/8\",\"region\":\"us-east-1\",\"service\":"
		    "\"AMAZON\",\"network_border_group\":{}}"), 0,
		    "network_border_group is not a string" },
		{ "entry with a repeated key", DOC4("{\"ip_prefix\":"
		    "\"10.0.0.0/8\",\"region\":\"us-east-1\",\"service\":"
		    "\"AMAZON\",\"service\":\"AMAZON\"}"), 0,
		    "repeated key service" },
		{ "ipv6_prefix key in prefixes", DOC4("{\"ipv6_prefix\":"
		    "\"10.0.0.0/8\",\"region\":\"us-east-1\",\"service\":"
		    "\"AMAZON\",\"network_border_group\":\"g\"}"), 0,
		    "ipv6_prefix in prefixes" },
		{ "ip_prefix key in ipv6_prefixes", DOC6("{\"ip_prefix\":"
		    "\"2001:db8::/32\",\"region\":\"us-east-1\",\"service\":"
		    "\"AMAZON\",\"network_border_group\":\"g\"}"), 0,
		    "ip_prefix in ipv6_prefixes" },
		{ "v4 host bits", DOC4(E4("10.0.0.1/8", "us-east-1", "AMAZON",
		    "g")), 0, "has host bits set" },
		{ "v4 host bits, other region", DOC4(OK4 "," E4("10.0.0.1/8",
		    "eu-west-1", "EC2", "g")), 0, "has host bits set" },
		{ "v6 host bits", DOC6(E6("2001:db8::1/32", "us-east-1",
		    "AMAZON", "g")), 0, "has host bits set" },
		{ "v6 host bits, other region", DOC6(E6("2001:db8::1/32",
		    "sa-east-1", "S3", "g")), 0, "has host bits set" },
		{ "v4 /33", DOC4(E4("10.0.0.0/33", "us-east-1", "AMAZON", "g")),
		    0, "is malformed" },
		{ "v4 three octets", DOC4(E4("10.0.0/8", "us-east-1", "AMAZON",
		    "g")), 0, "is malformed" },
		{ "v4 leading zero length", DOC4(E4("10.0.0.0/08", "us-east-1",
		    "AMAZON", "g")), 0, "is malformed" },
		{ "v4 trailing space", DOC4(E4("10.0.0.0/8 ", "us-east-1",
		    "AMAZON", "g")), 0, "is malformed" },
		{ "empty prefix", DOC4(E4("", "us-east-1", "AMAZON", "g")), 0,
		    "bad length or escapes" },
		{ "garbage prefix", DOC4(E4("banana", "us-east-1", "AMAZON",
		    "g")), 0, "is malformed" },
		{ "v6 /129", DOC6(E6("2001:db8::/129", "us-east-1", "AMAZON",
		    "g")), 0, "is malformed" },
		{ "v6 prefix in prefixes", DOC4(E4("2001:db8::/32", "us-east-1",
		    "AMAZON", "g")), 0, "is malformed" },
		{ "v4 prefix in ipv6_prefixes", DOC6(E6("10.0.0.0/8",
		    "us-east-1", "AMAZON", "g")), 0, "is malformed" },
		{ "too deep in an entry", DOC4("{\"ip_prefix\":[[[[[\"x\"]]]]],"
		    "\"region\":\"us-east-1\",\"service\":\"AMAZON\","
		    "\"network_border_group\":\"g\"}"), 0,
		    "nested deeper than 6" },
		{ "too deep in an unknown key", "{" TOK "," DATE "," P4("") ","
		    P6("") ",\"x\":[[[[[[]]]]]]}", 0, "nested deeper than 6" },
		{ "array in array", DOC4("[[]]"), 0, "is not an object" },
		/* Known keys keep their rules beside unknown ones. */
		{ "region number beside an unknown key", DOC4("{\"ip_prefix\":"
		    "\"10.0.0.0/8\",\"region\":5,\"service\":\"AMAZON\","
		    "\"new\":1}"), 0, "region is not a string" },
		{ "network_border_group number", DOC4("{\"ip_prefix\":"
		    "\"10.0.0.0/8\",\"region\":\"us-east-1\",\"service\":"
		    "\"AMAZON\",\"network_border_group\":5}"), 0,
		    "network_border_group is not a string" },
		{ "network_border_group empty", DOC4(E4("10.0.0.0/8",
		    "us-east-1", "AMAZON", "")), 0,
		    "network_border_group has a bad length" },
		{ "region with escapes", DOC4(E4("10.0.0.0/8",
		    "us-east-\\u0031", "AMAZON", "g")), 0,
		    "region has a bad length or escapes" },
		{ "entry lacks ip_prefix", DOC4("{\"region\":\"us-east-1\","
		    "\"service\":\"AMAZON\",\"prefix\":\"10.0.0.0/8\"}"), 0,
		    "lacks key ip_prefix" },
		{ "entry lacks ipv6_prefix", DOC6("{\"region\":\"us-east-1\","
		    "\"service\":\"AMAZON\",\"network_border_group\":\"g\"}"),
		    0, "lacks key ipv6_prefix" },
		{ "entry lacks region", DOC4("{\"ip_prefix\":\"10.0.0.0/8\","
		    "\"regions\":[\"us-east-1\"],\"service\":\"AMAZON\"}"), 0,
		    "lacks key region" },
		{ "entry lacks service", DOC4("{\"ip_prefix\":\"10.0.0.0/8\","
		    "\"region\":\"us-east-1\",\"network_border_group\":\"g\"}"),
		    0, "lacks key service" },
		{ "repeated region beside unknown keys", DOC4("{\"ip_prefix\":"
		    "\"10.0.0.0/8\",\"region\":\"eu-west-1\",\"x\":1,"
		    "\"region\":\"us-east-1\",\"service\":\"AMAZON\"}"), 0,
		    "repeated key region" },
		{ "repeated network_border_group", DOC4("{\"ip_prefix\":"
		    "\"10.0.0.0/8\",\"region\":\"us-east-1\",\"service\":"
		    "\"AMAZON\",\"network_border_group\":\"a\","
		    "\"network_border_group\":\"a\"}"), 0,
		    "repeated key network_border_group" },
		{ "escaped entry key spelling region", DOC4("{\"ip_prefix\":"
		    "\"10.0.0.0/8\",\"regio\\u006e\":\"eu-west-1\",\"region\":"
		    "\"us-east-1\",\"service\":\"AMAZON\"}"), 0,
		    "has escapes" },
		{ "escaped top-level key", "{" TOK "," DATE "," P4("") ","
		    P6("") ",\"\\u0078\":1}", 0, "has escapes" },
		{ "unknown key in place of a required one", "{" TOK "," DATE ","
		    P4("") ",\"ipv6_prefixes_v2\":[]}", 0,
		    "missing key ipv6_prefixes" },
		{ "unknown entry key nested too deep", DOC4("{\"ip_prefix\":"
		    "\"10.0.0.0/8\",\"region\":\"us-east-1\",\"service\":"
		    "\"AMAZON\",\"k\":{\"a\":[[[1]]]}}"), 0,
		    "nested deeper than 6" },
		{ "unknown top-level key nested too deep", "{" TOK "," DATE ","
		    P4("") "," P6("") ",\"ipv4_lists\":[{\"a\":[[[[1]]]]}]}", 0,
		    "nested deeper than 6" },
		/* JSON syntax that lenient tokenizers let through. */
		{ "trailing comma in array", DOC4(OK4 ","), 0, "invalid JSON" },
		{ "trailing comma in object", "{" TOK "," DATE "," P4("") ","
		    P6("") ",}", 0, "invalid JSON" },
		{ "trailing comma in entry", DOC4("{\"ip_prefix\":"
		    "\"10.0.0.0/8\",\"region\":\"us-east-1\",\"service\":"
		    "\"AMAZON\",\"network_border_group\":\"g\",}"), 0,
		    "invalid JSON" },
		{ "leading comma in array", DOC4("," OK4), 0, "invalid JSON" },
		{ "missing comma between entries", DOC4(OK4 " " OK4), 0,
		    "invalid JSON" },
		{ "missing comma between keys", "{" TOK " " DATE "," P4("") ","
		    P6("") "}", 0, "invalid JSON" },
		{ "missing colon", "{\"syncToken\" \"1787411825\"," DATE ","
		    P4("") "," P6("") "}", 0, "invalid JSON" },
		{ "comma for colon", "{\"syncToken\",\"1787411825\"," DATE ","
		    P4("") "," P6("") "}", 0, "invalid JSON" },
		{ "double colon", "{\"syncToken\"::\"1787411825\"," DATE ","
		    P4("") "," P6("") "}", 0, "invalid JSON" },
		{ "key without value", "{\"syncToken\"," DATE "," P4("") ","
		    P6("") "}", 0, "invalid JSON" },
		{ "single quotes", "{'syncToken':'1787411825'," DATE ","
		    P4("") "," P6("") "}", 0, "invalid JSON" },
		{ "unquoted key", "{syncToken:\"1787411825\"," DATE "," P4("")
		    "," P6("") "}", 0, "invalid JSON" },
		{ "unquoted value", DOC4("{\"ip_prefix\":\"10.0.0.0/8\","
		    "\"region\":\"us-east-1\",\"service\":AMAZON,"
		    "\"network_border_group\":\"g\"}"), 0, "invalid JSON" },
		{ "bad escape", DOC4(E4("10.0.0.0/8", "us-east-1", "AMAZON",
		    "\\x")), 0, "invalid JSON" },
		{ "raw control byte in a string", DOC4(E4("10.0.0.0/8",
		    "us-east-1", "AMAZON", "a\tb")), 0, "invalid JSON" },
		{ "unterminated string", "{\"syncToken\":\"1787411825}", 0,
		    "invalid JSON" },
		{ "mismatched brackets", "{" TOK "," DATE ",\"prefixes\":[},"
		    P6("") "}", 0, "invalid JSON" },
		{ "comment", "{" TOK "," DATE "," P4("") "," P6("")
		    "/* x */}", 0, "invalid JSON" },
	};
	struct allowlist_info info;
	struct cidrset s = { NULL, 0, 0 };
	char err[256];
	size_t i, len;
	int r;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("allowlist_parse rejects: %s", t[i].what);
		len = t[i].len ? t[i].len : strlen(t[i].doc);
		memset(err, 0, sizeof(err));
		r = parse(t[i].doc, len, "us-east-1", &s, &info, err,
		    sizeof(err));
		ASSERT_INT_EQ(r, -1);
		if (!ASSERT_PTR_NONNULL(strstr(err, t[i].why)))
			printf("  err: %s\n", err);
		cidrset_free(&s);
		TEST_DONE();
	}
}

/* Every prefix of a valid document that ends before its last '}'. */
static void
test_truncated(void)
{
	struct allowlist_info info;
	struct cidrset s = { NULL, 0, 0 };
	char err[256];
	size_t len, end = (size_t)(strrchr(good, '}') - good);
	unsigned bad = 0;

	TEST_START("allowlist_parse rejects every truncation (%zu)", end);
	for (len = 0; len <= end; len++) {
		err[0] = '\0';
		if (!ASSERT_INT_EQ(parse(good, len, "us-east-1", &s, &info,
		    err, sizeof(err)), -1) || !ASSERT_SIZE_GT(strlen(err), 0)) {
			printf("  at length %zu\n", len);
			if (++bad == 3)
				break;
		}
		cidrset_free(&s);
	}
	cidrset_free(&s);
	TEST_DONE();
}

/*
 * A document of exactly ${ntok} JSON tokens whose bulk is the array value
 * of an unknown top-level key: the token cap bounds what is skipped.
 */
static char *
doc_of_tokens(size_t ntok, size_t *len)
{
	static const char head[] = "{" TOK "," DATE "," P4("") "," P6("")
	    ",\"x\":[";
	const size_t fixed = 11;	/* {, 5 keys, 2 strings, 3 arrays */
	size_t m = ntok - fixed, i;
	char *doc = malloc(sizeof(head) + 2 * m + 2);

	memcpy(doc, head, sizeof(head) - 1);
	*len = sizeof(head) - 1;
	for (i = 0; i < m; i++) {
		doc[(*len)++] = '0';
		doc[(*len)++] = i + 1 < m ? ',' : ']';
	}
	doc[(*len)++] = '}';
	return (doc);
}

static void
test_limits(void)
{
	static const char small[] = DOC4(OK4);
	struct allowlist_info info;
	struct cidrset s = { NULL, 0, 0 };
	char err[256], tiny[9];
	char *big;
	size_t n, i;

	TEST_START("allowlist_parse nesting 20000 deep");
	n = 40000;
	big = malloc(n);
	memset(big, '[', n / 2);
	memset(big + n / 2, ']', n / 2);
	err[0] = '\0';
	ASSERT_INT_EQ(parse(big, n, "us-east-1", &s, &info, err, sizeof(err)),
	    -1);
	ASSERT_SIZE_GT(strlen(err), 0);
	for (i = 0; i < n / 2; i += 5)
		memcpy(big + i, "{\"a\":", 5);
	memset(big + n / 2, '}', n / 5);
	ASSERT_INT_EQ(parse(big, n / 2 + n / 5, "us-east-1", &s, &info, err,
	    sizeof(err)), -1);
	free(big);
	cidrset_free(&s);
	TEST_DONE();

	TEST_START("allowlist_parse exactly ALLOWLIST_MAX_BYTES");
	n = ALLOWLIST_MAX_BYTES;
	big = malloc(n + 1);
	memcpy(big, small, sizeof(small) - 1);
	memset(big + sizeof(small) - 1, ' ', n + 1 - (sizeof(small) - 1));
	if (!ASSERT_INT_EQ(parse(big, n, "us-east-1", &s, &info, err,
	    sizeof(err)), 0))
		printf("  err: %s\n", err);
	ASSERT_SIZE_EQ(info.v4, 1);
	cidrset_free(&s);
	TEST_DONE();

	TEST_START("allowlist_parse ALLOWLIST_MAX_BYTES + 1");
	err[0] = '\0';
	ASSERT_INT_EQ(parse(big, n + 1, "us-east-1", &s, &info, err,
	    sizeof(err)), -1);
	ASSERT_SIZE_GT(strlen(err), 0);
	ASSERT_SIZE_EQ(s.n, 0);
	free(big);
	cidrset_free(&s);
	TEST_DONE();

	TEST_START("allowlist_parse exactly ALLOWLIST_MAX_TOKENS tokens");
	big = doc_of_tokens(ALLOWLIST_MAX_TOKENS, &n);
	err[0] = '\0';
	if (!ASSERT_INT_EQ(parse(big, n, "us-east-1", &s, &info, err,
	    sizeof(err)), 0))
		printf("  err: %s\n", err);
	ASSERT_SIZE_EQ(info.ignored_top_keys, 1);
	free(big);
	cidrset_free(&s);
	TEST_DONE();

	TEST_START("allowlist_parse ALLOWLIST_MAX_TOKENS + 1 tokens");
	big = doc_of_tokens(ALLOWLIST_MAX_TOKENS + 1, &n);
	err[0] = '\0';
	ASSERT_INT_EQ(parse(big, n, "us-east-1", &s, &info, err, sizeof(err)),
	    -1);
	ASSERT_PTR_NONNULL(strstr(err, "JSON tokens"));
	free(big);
	cidrset_free(&s);
	TEST_DONE();

	TEST_START("allowlist_parse err is cut to errlen");
	memset(tiny, '#', sizeof(tiny));
	ASSERT_INT_EQ(parse("[]", 2, "us-east-1", &s, &info, tiny, 8), -1);
	ASSERT_SIZE_GT(strnlen(tiny, 8), 0);
	ASSERT_SIZE_LE(strnlen(tiny, 8), 7);
	ASSERT_INT_EQ(tiny[8], '#');
	cidrset_free(&s);
	TEST_DONE();

	TEST_START("allowlist_parse syncToken of 23 and 100 bytes");
	{
		static const char d23[] = "{\"syncToken\":"
		    "\"12345678901234567890123\"," DATE "," P4("") "," P6("")
		    "}";
		static const char d100[] = "{\"syncToken\":\""
		    "1234567890123456789012345678901234567890"
		    "1234567890123456789012345678901234567890"
		    "12345678901234567890\"," DATE "," P4("") "," P6("") "}";
		ASSERT_INT_EQ(parse(d23, sizeof(d23) - 1, "us-east-1", &s,
		    &info, err, sizeof(err)), 0);
		ASSERT_STR_EQ(info.sync_token, "12345678901234567890123");
		ASSERT_STR_EQ(info.create_date, "2026-08-22-15-17-05");
		if (parse(d100, sizeof(d100) - 1, "us-east-1", &s, &info, err,
		    sizeof(err)) == 0) {
			/* Accepted: then cut, not overflowing. */
			ASSERT_SIZE_LE(strnlen(info.sync_token,
			    sizeof(info.sync_token)), 23);
			ASSERT_STR_EQ(info.create_date, "2026-08-22-15-17-05");
		}
		cidrset_free(&s);
	}
	TEST_DONE();
}

static void
test_load(void)
{
	char path[] = "/tmp/test_allowlist.XXXXXX";
	struct allowlist_info info;
	struct cidrset s = { NULL, 0, 0 };
	char err[256];
	int fd;

	TEST_START("allowlist_load missing file");
	err[0] = '\0';
	ASSERT_INT_EQ(allowlist_load("/nonexistent/ip-ranges.json",
	    "us-east-1", &s, &info, err, sizeof(err)), -1);
	ASSERT_SIZE_GT(strlen(err), 0);
	TEST_DONE();

	TEST_START("allowlist_load directory");
	err[0] = '\0';
	ASSERT_INT_EQ(allowlist_load("/tmp", "us-east-1", &s, &info, err,
	    sizeof(err)), -1);
	ASSERT_SIZE_GT(strlen(err), 0);
	TEST_DONE();

	TEST_START("allowlist_load /dev/zero terminates");
	alarm(60);
	err[0] = '\0';
	ASSERT_INT_EQ(allowlist_load("/dev/zero", "us-east-1", &s, &info, err,
	    sizeof(err)), -1);
	ASSERT_SIZE_GT(strlen(err), 0);
	alarm(0);
	TEST_DONE();

	if ((fd = mkstemp(path)) < 0) {
		perror("mkstemp");
		exit(2);
	}

	TEST_START("allowlist_load empty file");
	err[0] = '\0';
	ASSERT_INT_EQ(allowlist_load(path, "us-east-1", &s, &info, err,
	    sizeof(err)), -1);
	ASSERT_SIZE_GT(strlen(err), 0);
	TEST_DONE();

	TEST_START("allowlist_load valid file");
	ASSERT_INT_EQ(write(fd, good, strlen(good)), (long long)strlen(good));
	err[0] = '\0';
	if (!ASSERT_INT_EQ(allowlist_load(path, "us-east-1", &s, &info, err,
	    sizeof(err)), 0))
		printf("  err: %s\n", err);
	ASSERT_SIZE_EQ(info.v4, 2);
	ASSERT_SIZE_EQ(info.v6, 1);
	ASSERT_SIZE_EQ(info.entries, 14);
	ASSERT_STR_EQ(info.sync_token, "1787411825");
	ASSERT_INT_EQ(has(&s, "10.9.8.7"), 1);
	cidrset_free(&s);
	TEST_DONE();

	TEST_START("allowlist_load file larger than ALLOWLIST_MAX_BYTES");
	ASSERT_INT_EQ(ftruncate(fd, (off_t)ALLOWLIST_MAX_BYTES + 1), 0);
	err[0] = '\0';
	ASSERT_INT_EQ(allowlist_load(path, "us-east-1", &s, &info, err,
	    sizeof(err)), -1);
	ASSERT_SIZE_GT(strlen(err), 0);
	ASSERT_SIZE_EQ(s.n, 0);
	TEST_DONE();

	close(fd);
	unlink(path);
	cidrset_free(&s);
}

/*
 * Rejecting deep nesting must not cost time quadratic in the depth: a
 * 1 MB document of 500000 '[' then 500000 ']' (well under the size cap)
 * is refused in milliseconds by a linear check; SIGALRM after 30 s marks
 * a parser that walks the open brackets once per closing one.  Run last:
 * the alarm ends the program.
 */
static void
test_deep_is_cheap(void)
{
	struct allowlist_info info;
	struct cidrset s = { NULL, 0, 0 };
	char err[256];
	size_t n = 1000000;
	char *big = malloc(n);

	TEST_START("allowlist_parse rejects 500000-deep nesting in < 30 s");
	memset(big, '[', n / 2);
	memset(big + n / 2, ']', n / 2);
	alarm(30);
	ASSERT_INT_EQ(allowlist_parse(big, n, "us-east-1", &s, &info, err,
	    sizeof(err)), -1);
	alarm(0);
	free(big);
	cidrset_free(&s);
	TEST_DONE();
}

int
main(void)
{

	test_good();
	test_variants();
	test_future();
	test_dates();
	test_reject();
	test_truncated();
	test_limits();
	test_load();
	test_deep_is_cheap();
	return (test_summary());
}
