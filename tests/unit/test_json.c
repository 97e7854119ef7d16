#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "json.h"

#define NTOK	64

/* json_parse on a guarded copy (the text is not NUL-terminated). */
static long
jparse(const char *s, size_t len, struct json_tok *t, size_t cap,
    unsigned maxdepth, size_t *errpos)
{
	void *g = test_guarded(s, len);
	long r;

	r = json_parse(g, len, t, cap, maxdepth, errpos);
	test_guarded_free(g, len);
	return (r);
}

/* Tokens as text: type letter, size, then the bytes they delimit. */
static void
dump(const char *s, const struct json_tok *t, long n, char *out, size_t cap)
{
	static const char letter[] = "?OASP";
	size_t o = 0;
	long i;

	out[0] = '\0';
	for (i = 0; i < n && o < cap; i++) {
		int k = t[i].type >= JSON_OBJECT &&
		    t[i].type <= JSON_PRIMITIVE ? (int)t[i].type : 0;
		if (t[i].end < t[i].start || t[i].end > strlen(s)) {
			o += (size_t)snprintf(out + o, cap - o, "%sBAD",
			    i ? " " : "");
			continue;
		}
		o += (size_t)snprintf(out + o, cap - o, "%s%c%zu<%.*s>",
		    i ? " " : "", letter[k], t[i].size,
		    (int)(t[i].end - t[i].start), s + t[i].start);
	}
}

static void
test_valid(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "{}", "O0<{}>" },
		{ "[]", "A0<[]>" },
		{ "\"\"", "S0<>" },
		{ "\"a\"", "S0<a>" },
		{ "0", "P0<0>" },
		{ "-0", "P0<-0>" },
		{ "1.5e+10", "P0<1.5e+10>" },
		{ "-1.0E-2", "P0<-1.0E-2>" },
		{ "123456789012345678901234567890", "P0<123456789012345678901"
		    "234567890>" },
		{ "true", "P0<true>" },
		{ "false", "P0<false>" },
		{ "null", "P0<null>" },
		{ " \t\r\n{} \n", "O0<{}>" },
		{ "{\"a\":\"b\"}", "O1<{\"a\":\"b\"}> S1<a> S0<b>" },
		{ "{ \"a\" : [ 1 , 2 ] }", "O1<{ \"a\" : [ 1 , 2 ] }> S1<a> "
		    "A2<[ 1 , 2 ]> P0<1> P0<2>" },
		{ "{\"a\":\"b\",\"c\":[1,{\"d\":null}]}", "O2<{\"a\":\"b\","
		    "\"c\":[1,{\"d\":null}]}> S1<a> S0<b> S1<c> "
		    "A2<[1,{\"d\":null}]> P0<1> O1<{\"d\":null}> S1<d> "
		    "P0<null>" },
		{ "[[[]]]", "A1<[[[]]]> A1<[[]]> A0<[]>" },
		{ "[1,[2,[3]]]", "A2<[1,[2,[3]]]> P0<1> A2<[2,[3]]> P0<2> "
		    "A1<[3]> P0<3>" },
		{ "\"\\u00e9\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
		    "S0<\\u00e9\\\"\\\\\\/\\b\\f\\n\\r\\t>" },
		{ "\"\\uD83D\\uDE00\"", "S0<\\uD83D\\uDE00>" },
		{ "\"\xc3\xa9\"", "S0<\xc3\xa9>" },
		{ "{\"a\":1,\"a\":2}", "O2<{\"a\":1,\"a\":2}> S1<a> P0<1> "
		    "S1<a> P0<2>" },
		{ "[true,false,null]", "A3<[true,false,null]> P0<true> "
		    "P0<false> P0<null>" },
		{ "{\"\":\"\"}", "O1<{\"\":\"\"}> S1<> S0<>" },
	};
	struct json_tok tok[NTOK];
	char got[1024];
	size_t i, ep;
	long n, c;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("json_parse accepts %s", t[i].in);
		memset(tok, 0x5a, sizeof(tok));
		n = jparse(t[i].in, strlen(t[i].in), tok, NTOK, JSON_MAX_DEPTH,
		    &ep);
		if (ASSERT_INT_GT(n, 0)) {
			dump(t[i].in, tok, n, got, sizeof(got));
			ASSERT_STR_EQ(got, t[i].want);
			c = jparse(t[i].in, strlen(t[i].in), NULL, 0,
			    JSON_MAX_DEPTH, &ep);
			ASSERT_INT_EQ(c, n);
		}
		TEST_DONE();
	}
}

static void
test_invalid(void)
{
	static const struct {
		const char *in;
		size_t	len;		/* 0: strlen */
		long	errpos;		/* -1: any offset within the text */
	} t[] = {
		{ "", 0, -1 }, { " ", 0, -1 }, { "{", 0, -1 }, { "}", 0, 0 },
		{ "[", 0, -1 }, { "]", 0, 0 }, { "{]", 0, 1 }, { "[}", 0, 1 },
		{ "{\"a\"}", 0, 4 }, { "{\"a\":}", 0, 5 },
		{ "{\"a\" 1}", 0, 5 },
		{ "{\"a\"::1}", 0, 5 }, { "{\"a\":1,}", 0, 7 }, { "{,}", 0, 1 },
		{ "[1,]", 0, 3 }, { "[,1]", 0, 1 }, { "[1 2]", 0, 3 },
		{ "[1,,2]", 0, 3 }, { "{1:2}", 0, 1 }, { "{\"a\":1 \"b\":2}", 0,
		    7 }, { "{\"a\",\"b\"}", 0, 4 }, { "{\"a\":1:2}", 0, -1 },
		{ "'a'", 0, 0 }, { "\"abc", 0, -1 }, { "\"a\\x\"", 0, -1 },
		{ "\"\\u12\"", 0, -1 }, { "\"\\u12g4\"", 0, -1 },
		{ "\"a\tb\"", 0, -1 }, { "\"a\nb\"", 0, -1 },
		{ "\"a\x1f" "b\"", 0, -1 }, { "\"a\0b\"", 5, -1 },
		{ "01", 0, -1 }, { "-", 0, -1 }, { "1.", 0, -1 },
		{ ".5", 0, 0 }, { "1e", 0, -1 }, { "+1", 0, 0 },
		{ "1e+", 0, -1 }, { "--1", 0, -1 }, { "0x10", 0, -1 },
		{ "tru", 0, -1 }, { "truex", 0, -1 }, { "nul", 0, -1 },
		{ "True", 0, 0 }, { "NaN", 0, 0 }, { "Infinity", 0, 0 },
		{ "[1]x", 0, 3 }, { "{}{}", 0, 2 }, { "{} x", 0, 3 },
		{ "[1]]", 0, 3 }, { "/*c*/{}", 0, 0 }, { "[1]\0", 4, 3 },
		{ "[1] 2", 0, 4 }, { "[true false]", 0, 6 }, { "[1,2", 0, -1 },
		{ "{\"a\":[}", 0, 6 }, { "[\"a\":1]", 0, 4 },
	};
	struct json_tok tok[NTOK];
	size_t i, len, ep;
	long n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		len = t[i].len ? t[i].len : strlen(t[i].in);
		TEST_START("json_parse rejects %.*s (%zu bytes)", (int)len,
		    t[i].in, len);
		ep = (size_t)-1;
		n = jparse(t[i].in, len, tok, NTOK, JSON_MAX_DEPTH, &ep);
		ASSERT_INT_EQ(n, -1);
		if (t[i].errpos >= 0)
			ASSERT_INT_EQ(ep, t[i].errpos);
		else
			ASSERT_SIZE_LE(ep, len);
		n = jparse(t[i].in, len, NULL, 0, JSON_MAX_DEPTH, &ep);
		ASSERT_INT_EQ(n, -1);
		TEST_DONE();
	}
}

/* Every prefix of a document short of its end is malformed. */
static void
test_prefixes(void)
{
	static const char doc[] = "{\"a\":[1,-2.5e3,true,null,\"x\\\"y\"],"
	    "\"b\":{\"c\":false}}";
	struct json_tok tok[NTOK];
	size_t len, ep;

	TEST_START("json_parse rejects every proper prefix");
	for (len = 0; len < sizeof(doc) - 1; len++)
		if (!ASSERT_INT_EQ(jparse(doc, len, tok, NTOK, JSON_MAX_DEPTH,
		    &ep), -1)) {
			printf("  length %zu\n", len);
			break;
		}
	ASSERT_INT_EQ(jparse(doc, sizeof(doc) - 1, tok, NTOK, JSON_MAX_DEPTH,
	    &ep), 12);
	TEST_DONE();
}

static void
test_limits(void)
{
	struct json_tok tok[NTOK];
	char deep[2 * (JSON_MAX_DEPTH + 2)];
	size_t ep, i, n;
	long r;
	char *big;

	TEST_START("json_parse cap");
	memset(tok, 0x5a, sizeof(tok));
	ASSERT_INT_EQ(jparse("[1,2,3]", 7, tok, 4, 4, &ep), 4);
	memset(tok, 0x5a, sizeof(tok));
	ASSERT_INT_EQ(jparse("[1,2,3]", 7, tok, 3, 4, &ep), -2);
	ASSERT_INT_EQ(((unsigned char *)&tok[3])[0], 0x5a);
	ASSERT_INT_EQ(((unsigned char *)&tok[3])[sizeof(tok[3]) - 1], 0x5a);
	ASSERT_INT_EQ(jparse("[1,2,3]", 7, tok, 0, 4, &ep), -2);
	ASSERT_INT_EQ(jparse("[1,2,3]", 7, NULL, 0, 4, &ep), 4);
	TEST_DONE();

	TEST_START("json_parse maxdepth");
	ASSERT_INT_EQ(jparse("[[[[1]]]]", 9, tok, NTOK, 4, &ep), 5);
	ASSERT_INT_EQ(jparse("[[[[[1]]]]]", 11, tok, NTOK, 4, &ep), -1);
	ASSERT_INT_EQ(jparse("{\"a\":[{\"b\":[]}]}", 16, tok, NTOK, 4, &ep),
	    6);
	ASSERT_INT_EQ(jparse("{\"a\":[{\"b\":[[]]}]}", 18, tok, NTOK, 4,
	    &ep), -1);
	ASSERT_INT_EQ(jparse("1", 1, tok, NTOK, 0, &ep) == 1 ||
	    jparse("1", 1, tok, NTOK, 0, &ep) == -1, 1);
	ASSERT_INT_EQ(jparse("[]", 2, tok, NTOK, 1, &ep), 1);
	ASSERT_INT_EQ(jparse("[[]]", 4, tok, NTOK, 1, &ep), -1);
	TEST_DONE();

	TEST_START("json_parse JSON_MAX_DEPTH is the ceiling");
	for (i = 0; i < JSON_MAX_DEPTH; i++) {
		deep[i] = '[';
		deep[2 * JSON_MAX_DEPTH - 1 - i] = ']';
	}
	ASSERT_INT_EQ(jparse(deep, 2 * JSON_MAX_DEPTH, NULL, 0,
	    JSON_MAX_DEPTH, &ep), JSON_MAX_DEPTH);
	for (i = 0; i < JSON_MAX_DEPTH + 1; i++) {
		deep[i] = '[';
		deep[2 * (JSON_MAX_DEPTH + 1) - 1 - i] = ']';
	}
	ASSERT_INT_EQ(jparse(deep, 2 * (JSON_MAX_DEPTH + 1), NULL, 0,
	    JSON_MAX_DEPTH, &ep), -1);
	ASSERT_INT_EQ(jparse(deep, 2 * (JSON_MAX_DEPTH + 1), NULL, 0, 1000,
	    &ep), -1);
	TEST_DONE();

	/* SIGALRM (reported by the harness) if the work is not linear. */
	TEST_START("json_parse 4 MB: deep nesting and a wide array");
	n = 4u << 20;
	big = malloc(n);
	memset(big, '[', n / 2);
	memset(big + n / 2, ']', n / 2);
	alarm(30);
	ASSERT_INT_EQ(jparse(big, n, NULL, 0, JSON_MAX_DEPTH, &ep), -1);
	big[0] = '[';
	for (i = 1; i + 2 < n; i += 2)
		memcpy(big + i, "1,", 2);
	big[i - 1] = ']';
	r = jparse(big, i, NULL, 0, JSON_MAX_DEPTH, &ep);
	ASSERT_INT_EQ(r, 1 + (long)(i - 1) / 2);
	alarm(0);
	free(big);
	TEST_DONE();
}

int
main(void)
{

	test_valid();
	test_invalid();
	test_prefixes();
	test_limits();
	return (test_summary());
}
