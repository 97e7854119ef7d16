/*
 * The health port's request parser (healthreq.c): every path and method,
 * HTTP/1.0 and 1.1, bare LF line ends, a PROXY header before the request,
 * partial requests, NUL bytes, the size limit, and a request fed in pieces
 * as healthport.c feeds it.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "healthreq.h"

#define V2_SIG	"\r\n\r\n\0\r\nQUIT\n"
#define V2_LOCAL	V2_SIG "\x20\x00\x00\x00"
#define V2_TCP4		V2_SIG "\x21\x11\x00\x0c" \
	"\x0a\x00\x01\x09" "\x0a\x00\x00\x01" "\xa8\xca" "\x1f\x90"
#define V1	"PROXY TCP4 10.0.1.9 10.0.0.1 43210 8080\r\n"
#define LIVEZ	"GET /livez HTTP/1.1\r\n\r\n"

enum { MORE = HEALTHREQ_MORE, CLOSE = HEALTHREQ_CLOSE,
    LIVE = HEALTHREQ_LIVEZ, READY = HEALTHREQ_READYZ, METR = HEALTHREQ_METRICS,
    E404 = HEALTHREQ_NOT_FOUND, E405 = HEALTHREQ_BAD_METHOD };

struct tcase {
	const char *name;
	const char *in;
	size_t	len;		/* sizeof(in) - 1: NULs count */
	int	pp;		/* a PROXY header is expected */
	int	verdict, head;
	size_t	skip;
	int	header_done;
};

#define T(name, in, pp, v, head, skip, done) \
	{ name, in, sizeof(in) - 1, pp, v, head, skip, done }

static const struct tcase cases[] = {
	T("livez 1.1", LIVEZ, 0, LIVE, 0, 0, 1),
	T("livez 1.0", "GET /livez HTTP/1.0\r\n\r\n", 0, LIVE, 0, 0, 1),
	T("readyz", "GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n", 0, READY, 0,
	    0, 1),
	T("readyz 1.0", "GET /readyz HTTP/1.0\r\n\r\n", 0, READY, 0, 0, 1),
	T("head livez", "HEAD /livez HTTP/1.1\r\n\r\n", 0, LIVE, 1, 0, 1),
	T("head readyz", "HEAD /readyz HTTP/1.0\r\n\r\n", 0, READY, 1, 0, 1),
	T("metrics", "GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n\r\n",
	    0, METR, 0, 0, 1),
	T("head metrics", "HEAD /metrics HTTP/1.0\r\n\r\n", 0, METR, 1, 0, 1),
	T("metrics slash", "GET /metrics/ HTTP/1.1\r\n\r\n", 0, E404, 0, 0,
	    1),
	T("post metrics", "POST /metrics HTTP/1.1\r\n\r\n", 0, E405, 0, 0,
	    1),
	T("head 404", "HEAD /nope HTTP/1.1\r\n\r\n", 0, E404, 1, 0, 1),
	T("bare LF", "GET /livez HTTP/1.1\nHost: a\n\n", 0, LIVE, 0, 0, 1),
	T("CRLF then LF", "GET /readyz HTTP/1.1\r\n\n", 0, READY, 0, 0, 1),
	T("404", "GET /nope HTTP/1.1\r\n\r\n", 0, E404, 0, 0, 1),
	T("root", "GET / HTTP/1.1\r\n\r\n", 0, E404, 0, 0, 1),
	T("dot-dot", "GET /livez/../readyz HTTP/1.1\r\n\r\n", 0, E404, 0, 0,
	    1),
	T("longer path", "GET /livezz HTTP/1.1\r\n\r\n", 0, E404, 0, 0, 1),
	T("query", "GET /readyz?x=1 HTTP/1.1\r\n\r\n", 0, E404, 0, 0, 1),
	T("path case", "GET /LIVEZ HTTP/1.1\r\n\r\n", 0, E404, 0, 0, 1),
	T("HTTP/2", "GET /livez HTTP/2.0\r\n\r\n", 0, E404, 0, 0, 1),
	T("no version", "GET /livez\r\n\r\n", 0, E404, 0, 0, 1),
	T("two spaces", "GET  /livez HTTP/1.1\r\n\r\n", 0, E404, 0, 0, 1),
	T("405 POST", "POST /livez HTTP/1.1\r\n\r\n", 0, E405, 0, 0, 1),
	T("405 case", "get /livez HTTP/1.1\r\n\r\n", 0, E405, 0, 0, 1),
	T("405 head case", "Head /livez HTTP/1.1\r\n\r\n", 0, E405, 0, 0, 1),
	T("405 GETX", "GETX /livez HTTP/1.1\r\n\r\n", 0, E405, 0, 0, 1),
	T("405 blank", "\r\n\r\n", 0, E405, 0, 0, 1),
	T("empty", "", 0, MORE, 0, 0, 1),
	T("half line", "GET /li", 0, MORE, 0, 0, 1),
	T("no blank line", "GET /livez HTTP/1.1\r\n", 0, MORE, 0, 0, 1),
	T("CR CR", "GET /livez HTTP/1.1\r\r", 0, MORE, 0, 0, 1),
	T("NUL in line", "GET /livez\0 HTTP/1.1\r\n\r\n", 0, CLOSE, 0, 0, 1),
	T("NUL after end", LIVEZ "\0", 0, CLOSE, 0, 0, 1),
	T("NUL partial", "GE\0", 0, CLOSE, 0, 0, 1),
	T("v1 livez", V1 LIVEZ, 1, LIVE, 0, sizeof(V1) - 1, 1),
	T("v1 unknown", "PROXY UNKNOWN\r\nGET /readyz HTTP/1.1\r\n\r\n", 1,
	    READY, 0, 15, 1),
	T("v2 local readyz", V2_LOCAL "GET /readyz HTTP/1.1\r\n\r\n", 1,
	    READY, 0, 16, 1),
	T("v2 tcp4 head", V2_TCP4 "HEAD /livez HTTP/1.0\n\n", 1, LIVE, 1,
	    28, 1),
	T("v2 tcp4 404", V2_TCP4 "GET /x HTTP/1.1\r\n\r\n", 1, E404, 0, 28,
	    1),
	T("v2 then NUL", V2_LOCAL "GET /livez\0\r\n\r\n", 1, CLOSE, 0, 16, 1),
	T("v2 alone", V2_TCP4, 1, MORE, 0, 28, 1),
	T("v1 partial", "PROXY TCP4 10.0", 1, MORE, 0, 0, 0),
	T("v2 partial", "\r\n\r\n\0\r\n", 1, MORE, 0, 0, 0),
	T("no header sent", LIVEZ, 1, LIVE, 0, 0, 1),
	T("bad header", "PROXY BOGUS\r\n" LIVEZ, 1, E405, 0, 0, 1),
	T("v1 unexpected", V1 LIVEZ, 0, E405, 0, 0, 1),
	T("v2 unexpected", V2_LOCAL LIVEZ, 0, CLOSE, 0, 0, 1),
};

/* Parse ${len} bytes of ${in} through a guarded copy into ${r}. */
static void
parse(const char *in, size_t len, int pp, struct healthreq *r)
{
	void *g = test_guarded(in, len);

	healthreq_parse(g, len, pp, r);
	test_guarded_free(g, len);
}

static void
test_table(void)
{
	const struct tcase *c;
	struct healthreq r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		TEST_START("healthreq %s", c->name);
		parse(c->in, c->len, c->pp, &r);
		ASSERT_INT_EQ(r.verdict, c->verdict);
		ASSERT_INT_EQ(r.head, c->head);
		ASSERT_SIZE_EQ(r.skip, c->skip);
		ASSERT_INT_EQ(r.header_done, c->header_done);
		TEST_DONE();
	}
}

/* A request of ${n} bytes: the line, then padding, then the end if ${end}. */
static size_t
padded(char *buf, size_t n, int end)
{
	const char *line = "GET /livez HTTP/1.1\r\nX: ";

	memset(buf, 'a', n);
	memcpy(buf, line, strlen(line));
	if (end)
		memcpy(buf + n - 4, "\r\n\r\n", 4);
	return (n);
}

static void
test_size_limit(void)
{
	char buf[HEALTHREQ_MAX + 16];
	struct healthreq r;
	size_t n;

	TEST_START("healthreq a complete request of the longest size");
	parse(buf, padded(buf, HEALTHREQ_MAX - 1, 1), 0, &r);
	ASSERT_INT_EQ(r.verdict, LIVE);
	TEST_DONE();

	TEST_START("healthreq incomplete at one less than the longest");
	parse(buf, padded(buf, HEALTHREQ_MAX - 2, 0), 0, &r);
	ASSERT_INT_EQ(r.verdict, MORE);
	TEST_DONE();

	TEST_START("healthreq incomplete at the longest: closed");
	parse(buf, padded(buf, HEALTHREQ_MAX - 1, 0), 0, &r);
	ASSERT_INT_EQ(r.verdict, CLOSE);
	TEST_DONE();

	/* A v2 LOCAL header of HEALTHREQ_MAX bytes, one byte short. */
	n = HEALTHREQ_MAX - 1;
	memset(buf, 0, n);
	memcpy(buf, V2_SIG "\x20\x00", 14);
	buf[14] = (char)((HEALTHREQ_MAX - 16) >> 8);
	buf[15] = (char)((HEALTHREQ_MAX - 16) & 0xff);
	TEST_START("healthreq a PROXY header incomplete at the longest");
	parse(buf, n, 1, &r);
	ASSERT_INT_EQ(r.verdict, CLOSE);
	ASSERT_INT_EQ(r.header_done, 0);
	parse(buf, n - 1, 1, &r);
	ASSERT_INT_EQ(r.verdict, MORE);
	TEST_DONE();
}

/*
 * Feed ${len} bytes of ${in}, ${step} at a time, into a buffer as
 * healthport.c does (a PROXY header dropped once parsed).  Returns the
 * verdict, with the bytes left unfed in ${left}.
 */
static int
feed(const char *in, size_t len, size_t step, int pp, size_t *left)
{
	char buf[HEALTHREQ_MAX];
	struct healthreq r;
	size_t n, have = 0;
	int done = 0;

	r.verdict = HEALTHREQ_MORE;
	while (len > 0 && have < sizeof(buf) - 1) {
		n = step < len ? step : len;
		if (n > sizeof(buf) - 1 - have)
			n = sizeof(buf) - 1 - have;
		memcpy(buf + have, in, n);
		in += n;
		len -= n;
		have += n;
		parse(buf, have, pp && !done, &r);
		memmove(buf, buf + r.skip, have - r.skip);
		have -= r.skip;
		done |= r.header_done;
		if (r.verdict != HEALTHREQ_MORE)
			break;
	}
	*left = len;
	return (r.verdict);
}

static void
test_pieces(void)
{
	static const char v1big_head[] = V1;
	char in[sizeof(v1big_head) + HEALTHREQ_MAX];
	size_t i, left, n;
	static const size_t steps[] = { 1, 7, 64 };

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		TEST_START("healthreq fed %zu bytes at a time", steps[i]);
		ASSERT_INT_EQ(feed(V2_TCP4 "GET /readyz HTTP/1.1\r\n\r\n",
		    sizeof(V2_TCP4 "GET /readyz HTTP/1.1\r\n\r\n") - 1,
		    steps[i], 1, &left), READY);
		ASSERT_SIZE_EQ(left, 0);
		ASSERT_INT_EQ(feed(V1 "HEAD /nope HTTP/1.0\n\n",
		    sizeof(V1 "HEAD /nope HTTP/1.0\n\n") - 1, steps[i], 1,
		    &left), E404);
		/* A second header is the request's start, not skipped. */
		ASSERT_INT_EQ(feed(V1 V1 LIVEZ, sizeof(V1 V1 LIVEZ) - 1,
		    steps[i], 1, &left), E405);
		TEST_DONE();
	}

	/* The header apart, the request has the whole buffer. */
	n = sizeof(v1big_head) - 1;
	memcpy(in, v1big_head, n);
	n += padded(in + n, HEALTHREQ_MAX - 1, 1);
	TEST_START("healthreq a PROXY header and a request of the longest");
	ASSERT_INT_EQ(feed(in, n, 100, 1, &left), LIVE);
	ASSERT_SIZE_EQ(left, 0);
	TEST_DONE();

	TEST_START("healthreq an oversized request closed before its end");
	n = padded(in, sizeof(in), 1);
	ASSERT_INT_EQ(feed(in, n, 100, 0, &left), CLOSE);
	ASSERT_SIZE_GT(left, 0);
	TEST_DONE();
}

int
main(void)
{

	test_table();
	test_size_limit();
	test_pieces();
	return (test_summary());
}
