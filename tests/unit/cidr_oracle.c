/*
 * cidr_oracle: the address matcher as a filter, for tests/unit/diff_cidr.py.
 * Each stdin line "PREFIX ADDR" gives one output line
 *
 *	P A M C U
 *
 * P = cidr_parse(PREFIX) (0, -1 malformed, -2 host bits set), A =
 * cidr_addr_parse(ADDR) (0 or -1), M = cidr_contains (1 or 0; 0 when
 * either parse failed), C = cidr_addr_carried(ADDR): the IPv4 address it
 * carries, "x" when unknown, "-" for none or a failed parse, U =
 * cidr_unsafe(PREFIX) (1 or 0; "-" when the parse failed).  Not linked
 * into the proxy.
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
		char carried[CIDR_ADDRSTRLEN] = "-", why[256];
		struct cidr c;
		struct cidr_addr a, v4;
		int p, q, m = 0;

		if (sp == NULL) {
			fputs("bad input line\n", stderr);
			return (2);
		}
		p = cidr_parse(line, (size_t)(sp - line), &c);
		q = cidr_addr_parse(sp + 1, n - (size_t)(sp + 1 - line), &a);
		if (p == 0 && q == 0)
			m = cidr_contains(&c, &a) ? 1 : 0;
		if (q == 0) {
			switch (cidr_addr_carried(&a, &v4)) {
			case 1:
				cidr_addr_format(&v4, carried);
				break;
			case -1:
				strcpy(carried, "x");
				break;
			}
		}
		printf("%d %d %d %s %s\n", p, q, m, carried, p != 0 ? "-" :
		    cidr_unsafe(&c, why, sizeof(why)) ? "1" : "0");
	}
	return (ferror(stdin) ? 1 : 0);
}
