#ifndef DNS_H_
#define DNS_H_

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

/*
 * DNS messages for the stub resolver: build one A or AAAA query, and parse
 * its response.  Pure functions on buffers: no I/O (fuzzed).
 */

#define DNS_TYPE_A	1
#define DNS_TYPE_CNAME	5
#define DNS_TYPE_AAAA	28
#define DNS_MAX_ADDRS	16	/* addresses kept from one answer */
#define DNS_MAX_CHAIN	8	/* CNAME hops followed */
#define DNS_MAX_PACKET	1232	/* receive buffer (no EDNS is sent) */
#define DNS_NAME_MAX	255

/* dns_parse results other than 0. */
#define DNS_EIGNORE	-1	/* not our answer or malformed: drop it */
#define DNS_ENXDOMAIN	-2	/* RCODE 3 */
#define DNS_ESERVFAIL	-3	/* any other non-zero RCODE */

struct dns_answer {
	struct cidr_addr addrs[DNS_MAX_ADDRS];
	size_t	naddrs;
	size_t	extra;		/* addresses beyond DNS_MAX_ADDRS, dropped */
	uint32_t ttl;		/* min TTL over the chain and addresses */
	int	truncated;	/* TC bit */
};

/**
 * dns_build_query(buf, cap, id, name, qtype): write a recursive query for
 * ${name} (dotted, no trailing dot needed) of type ${qtype} with ID ${id}.
 * Returns its length, or -1 when ${name} is not a valid host name or
 * ${cap} is too small.
 */
int dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name,
    uint16_t qtype);

/**
 * dns_parse(pkt, len, id, name, qtype, out): check that ${pkt} answers the
 * query (${id}, ${name}, ${qtype}): QR set, opcode 0, one question equal to
 * ours (case-insensitively).  Follow the CNAME chain from ${name} through
 * the answer section and collect the ${qtype} addresses of the chain's last
 * name into ${out}.  Returns 0 (possibly with no address: NODATA),
 * DNS_ENXDOMAIN, DNS_ESERVFAIL, or DNS_EIGNORE.
 */
int dns_parse(const uint8_t *pkt, size_t len, uint16_t id, const char *name,
    uint16_t qtype, struct dns_answer *out);

#endif /* !DNS_H_ */
