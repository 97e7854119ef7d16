/* libFuzzer: the health port's request parser, with its invariants. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "healthreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Is ${r} an answer (not more, not close)? */
static int
answered(const struct healthreq *r)
{

	return (r->verdict != HEALTHREQ_MORE && r->verdict != HEALTHREQ_CLOSE);
}

/* ${r} agrees with the ${len} bytes at ${buf} it was judged from. */
static void
check(const char *buf, size_t len, int pp, const struct healthreq *r)
{
	struct healthreq again;

	CHECK(r->verdict >= HEALTHREQ_MORE &&
	    r->verdict <= HEALTHREQ_BAD_METHOD);
	CHECK(r->skip <= len);
	CHECK(r->header_done || (pp && r->skip == 0));
	CHECK(pp || r->skip == 0);
	if (r->head)
		CHECK(answered(r) && r->verdict != HEALTHREQ_BAD_METHOD &&
		    memcmp(buf + r->skip, "HEAD ", 5) == 0);
	if (answered(r))
		CHECK(memchr(buf + r->skip, '\0', len - r->skip) == NULL);
	/* Once the header is dropped, the rest is judged the same. */
	if (r->skip > 0 || (pp && r->header_done)) {
		healthreq_parse(buf + r->skip, len - r->skip, 0, &again);
		CHECK(again.verdict == r->verdict && again.head == r->head);
	}
	/* Whatever comes next, an answer stays the same answer. */
	if (answered(r) && len > 0) {
		healthreq_parse(buf, len - 1, pp, &again);
		CHECK(again.verdict == HEALTHREQ_MORE ||
		    again.verdict == r->verdict ||
		    again.verdict == HEALTHREQ_CLOSE);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char *buf = (const char *)data;
	struct healthreq r;
	int pp;

	/* The probe's buffer never holds more. */
	if (len > HEALTHREQ_MAX - 1)
		len = HEALTHREQ_MAX - 1;
	for (pp = 0; pp <= 1; pp++) {
		healthreq_parse(buf, len, pp, &r);
		check(buf, len, pp, &r);
	}
	return (0);
}
