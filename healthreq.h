#ifndef HEALTHREQ_H_
#define HEALTHREQ_H_

#include <stddef.h>

/*
 * The health port's request parser (healthport.h says what it serves): a
 * pure function of the bytes received so far, no I/O (unit-tested and
 * fuzzed).  It looks at the request line only; the headers are skipped up
 * to the blank line (CRLF or bare LF line ends).
 */

/* The probe's buffer: a request, PROXY header apart, of at most one less. */
#define HEALTHREQ_MAX	1024

enum healthreq_verdict {
	HEALTHREQ_MORE,		/* incomplete: wait for more bytes */
	HEALTHREQ_CLOSE,	/* never an answerable request: close, no answer */
	HEALTHREQ_LIVEZ,	/* GET or HEAD /livez: 200 */
	HEALTHREQ_READYZ,	/* GET or HEAD /readyz: 200 or 503 */
	HEALTHREQ_METRICS,	/* GET or HEAD /metrics: 200, the metrics */
	HEALTHREQ_NOT_FOUND,	/* GET or HEAD of another path: 404 */
	HEALTHREQ_BAD_METHOD	/* another method: 405 */
};

struct healthreq {
	enum healthreq_verdict verdict;
	int	head;		/* HEAD: answer without a body */
	size_t	skip;		/* a valid PROXY header's length: drop it */
	int	header_done;	/* no PROXY header is expected any more */
};

/**
 * healthreq_parse(buf, len, expect_header, req): judge the ${len} bytes at
 * ${buf} (${len} < HEALTHREQ_MAX), which start with a PROXY header if
 * ${expect_header}, into ${req}.  A complete valid header's length is put
 * in ${req}->skip: the caller drops those bytes and, as whenever
 * ${req}->header_done is set, calls again with ${expect_header} 0.  An
 * invalid header is taken as the start of the request.  A request is
 * closed when it holds a NUL byte, or when it is still incomplete at
 * HEALTHREQ_MAX - 1 bytes.  Never reads beyond ${len}.
 */
void healthreq_parse(const char *buf, size_t len, int expect_header,
    struct healthreq *req);

#endif /* !HEALTHREQ_H_ */
