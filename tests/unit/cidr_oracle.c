/*
 * cidr_oracle: the address matcher as a filter, for tests/unit/diff_cidr.py.
 * Each stdin line "PREFIX ADDR" gives one output line
 *
 *	P A M
 *
 * P = cidr_parse(PREFIX) (0, -1 malformed, -2 host bits set), A =
 * cidr_addr_parse(ADDR) (0 or -1), M = cidr_contains (1 or 0; 0 when
 * either parse failed).  Not linked into the proxy.
 */
#include <stdio.h>
#include <string.h>

#include "cidr.h"

int
main(void)
{
	char line[512];

	while (fgets(line, sizeof(line), stdin) != NULL) {
		size_t n = strcspn(line, "\n");
		char *sp = memchr(line, ' ', n);
		struct cidr c;
		struct cidr_addr a;
		int p, q, m = 0;

		if (sp == NULL) {
			fputs("bad input line\n", stderr);
			return (2);
		}
		p = cidr_parse(line, (size_t)(sp - line), &c);
		q = cidr_addr_parse(sp + 1, n - (size_t)(sp + 1 - line), &a);
		if (p == 0 && q == 0)
			m = cidr_contains(&c, &a) ? 1 : 0;
		printf("%d %d %d\n", p, q, m);
	}
	return (ferror(stdin) ? 1 : 0);
}
