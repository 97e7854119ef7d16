#ifndef FUZZ_CHECK_H_
#define FUZZ_CHECK_H_

#include <stdio.h>
#include <stdlib.h>

/* CHECK(c): an invariant of a fuzz target; abort (a finding) if it fails. */
#define CHECK(c)	do {						\
	if (!(c)) {							\
		fprintf(stderr, "invariant failed: %s\n", #c);		\
		abort();						\
	}								\
} while (0)

#endif /* !FUZZ_CHECK_H_ */
