/*
 * The health port's request parser (healthreq.h): the PROXY header, the
 * end of the request, and the request line's method and path.
 */
#include <sys/types.h>

#include <stdint.h>
#include <string.h>

#include "healthreq.h"
#include "proxyproto.h"

/* Do the ${len} bytes at ${buf} start with the string ${s}? */
static int
starts(const char *buf, size_t len, const char *s)
{
	size_t n = strlen(s);

	return (len >= n && memcmp(buf, s, n) == 0);
}

/* Does the request line at ${req} start with ${method} ${path} HTTP/1.? */
static int
request_is(const char *req, size_t len, const char *method,
    const char *path)
{
	size_t m = strlen(method), n = strlen(path);

	return (starts(req, len, method) && starts(req + m, len - m, " ") &&
	    starts(req + m + 1, len - m - 1, path) &&
	    starts(req + m + 1 + n, len - m - 1 - n, " HTTP/1."));
}

/* The whole request at ${buf} is in: which answer? */
static void
judge(const char *buf, size_t len, struct healthreq *req)
{
	const char *method;

	req->head = starts(buf, len, "HEAD ");
	method = req->head ? "HEAD" : "GET";
	if (!req->head && !starts(buf, len, "GET "))
		req->verdict = HEALTHREQ_BAD_METHOD;
	else if (request_is(buf, len, method, "/livez"))
		req->verdict = HEALTHREQ_LIVEZ;
	else if (request_is(buf, len, method, "/readyz"))
		req->verdict = HEALTHREQ_READYZ;
	else if (request_is(buf, len, method, "/metrics"))
		req->verdict = HEALTHREQ_METRICS;
	else
		req->verdict = HEALTHREQ_NOT_FOUND;
}

void
healthreq_parse(const char *buf, size_t len, int expect_header,
    struct healthreq *req)
{
	struct proxyproto pp;
	ssize_t hl = 0;
	int ended;

	memset(req, 0, sizeof(*req));
	req->verdict = HEALTHREQ_MORE;
	if (expect_header &&
	    (hl = proxyproto_parse((const uint8_t *)buf, len, &pp)) == 0) {
		if (len >= HEALTHREQ_MAX - 1)
			req->verdict = HEALTHREQ_CLOSE;
		return;
	}
	req->header_done = 1;
	if (hl > 0) {
		req->skip = (size_t)hl;
		buf += hl;
		len -= (size_t)hl;
	}
	ended = memmem(buf, len, "\r\n\r\n", 4) != NULL ||
	    memmem(buf, len, "\n\n", 2) != NULL;
	/* HTTP is text: a NUL can only be garbage.  Unended, full: never. */
	if (memchr(buf, '\0', len) != NULL ||
	    (!ended && len >= HEALTHREQ_MAX - 1))
		req->verdict = HEALTHREQ_CLOSE;
	else if (ended)
		judge(buf, len, req);
}
