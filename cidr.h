#ifndef CIDR_H_
#define CIDR_H_

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

/*
 * IPv4/IPv6 addresses and prefixes.  An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is always converted to the IPv4 address it carries, both
 * when parsed and when taken from a sockaddr, so that "::ffff:10.0.0.1" is
 * judged exactly as "10.0.0.1" is (connecting to one reaches the other).
 */

#define CIDR_ADDRSTRLEN	48	/* "ffff:...:ffff" or "[...]:65535" + NUL */

struct cidr_addr {
	uint8_t	family;		/* AF_INET or AF_INET6 */
	uint8_t	a[16];		/* IPv4 uses a[0..3] */
};

struct cidr {
	struct cidr_addr net;
	uint8_t	len;		/* prefix length */
	uint8_t	tag;		/* caller's label, e.g. where it came from */
};

struct cidrset {
	struct cidr *v;
	size_t	n;
	size_t	cap;
};

/**
 * cidr_addr_parse(s, n, out): parse the ${n}-byte textual IPv4 or IPv6
 * address ${s} (no brackets, no zone) into ${out}.  Returns 0 or -1.
 */
int cidr_addr_parse(const char *s, size_t n, struct cidr_addr *out);

/**
 * cidr_addr_set(out, family, bytes): ${out} = the 4 (AF_INET) or 16
 * (AF_INET6) bytes at ${bytes}, a v4-mapped IPv6 address unmapped.
 */
void cidr_addr_set(struct cidr_addr *out, int family, const uint8_t *bytes);

/**
 * cidr_parse(s, n, out): parse "ADDR/LEN" (or a bare address, meaning /32
 * or /128).  Returns 0, -1 when malformed, or -2 when bits beyond the
 * prefix length are set (as OpenSSH's addr_pton_cidr does).
 */
int cidr_parse(const char *s, size_t n, struct cidr *out);

/**
 * cidr_addr_from_sockaddr(sa, out, port): convert ${sa} (AF_INET or
 * AF_INET6) into ${out}; store its port in ${port} if not NULL.
 * Returns 0, or -1 for another family.
 */
int cidr_addr_from_sockaddr(const struct sockaddr *sa, struct cidr_addr *out,
    uint16_t *port);

/**
 * cidr_addr_to_sockaddr(a, port, ss): fill ${ss} for ${a} and ${port};
 * returns the sockaddr length.
 */
socklen_t cidr_addr_to_sockaddr(const struct cidr_addr *a, uint16_t port,
    struct sockaddr_storage *ss);

/**
 * cidr_addr_carried(a, v4): if ${a} is an IPv6 address of a range whose
 * addresses carry an IPv4 address, one that a connection to ${a} reaches
 * through a translator or a tunnel (NAT64 64:ff9b::/96, 6to4 2002::/16,
 * Teredo 2001::/32, the deprecated IPv4-compatible ::/96 but for :: and
 * ::1), store that IPv4
 * address in ${v4} and return 1.  Return -1 for the local-use NAT64
 * prefix 64:ff9b:1::/48, whose layout is a local choice (RFC 8215): the
 * address it carries is unknown.  Otherwise return 0.  (A v4-mapped
 * address is IPv4 already.)
 */
int cidr_addr_carried(const struct cidr_addr *a, struct cidr_addr *v4);

/**
 * cidr_unsafe(c, why, len): may ${c} NOT be trusted as an upstream network
 * (--allow-cidr)?  Returns 0 if it may; else 1, with the reason in ${why}:
 * it is shorter than /8 (IPv4) or /16 (IPv6); it contains an unspecified,
 * loopback, link-local, multicast or instance metadata address
 * (169.254.169.254 and fd00:ec2::254, with the other AWS instance service
 * addresses fd00:ec2::253 and fd00:ec2::123); it overlaps the local-use
 * NAT64 prefix; or the IPv4 range that its addresses in a
 * cidr_addr_carried range carry is unsafe by the same rules.
 */
int cidr_unsafe(const struct cidr *c, char *why, size_t len);

/** cidr_contains(c, a): is ${a} inside prefix ${c}? */
int cidr_contains(const struct cidr *c, const struct cidr_addr *a);

/** cidr_addr_eq(a, b): are the two addresses equal? */
int cidr_addr_eq(const struct cidr_addr *a, const struct cidr_addr *b);

/** cidr_addr_format(a, buf): write ${a} as text into ${buf}. */
void cidr_addr_format(const struct cidr_addr *a, char buf[CIDR_ADDRSTRLEN]);

/** cidr_format(c, buf): write ${c} as "ADDR/LEN" into ${buf}. */
void cidr_format(const struct cidr *c, char buf[CIDR_ADDRSTRLEN + 4]);

/**
 * cidr_sockaddr_format(sa, buf): "a.b.c.d:port" or "[v6]:port" into ${buf};
 * a v4-mapped peer of a dual-stack socket is shown as the IPv4 address it
 * carries, as everywhere else in this module.
 */
void cidr_sockaddr_format(const struct sockaddr *sa,
    char buf[CIDR_ADDRSTRLEN + 8]);

/** cidrset_add(s, c): append ${c}.  Returns 0, or -1 on ENOMEM. */
int cidrset_add(struct cidrset *s, const struct cidr *c);

/**
 * cidrset_finish(s): sort the set and drop exact duplicates (the same
 * prefix listed for several border groups); call after the last add.
 */
void cidrset_finish(struct cidrset *s);

/**
 * cidrset_find(s, a): the first prefix of ${s} that contains ${a}, or NULL.
 * An empty set contains nothing.
 */
const struct cidr *cidrset_find(const struct cidrset *s,
    const struct cidr_addr *a);

/**
 * cidrset_find_strict(s, a): cidrset_find(s, a) for an address to dial:
 * an address that carries an IPv4 address (cidr_addr_carried) is found
 * only if that IPv4 address is in ${s} as well, and one whose IPv4
 * address is unknown never.
 */
const struct cidr *cidrset_find_strict(const struct cidrset *s,
    const struct cidr_addr *a);

/** cidrset_free(s): release the storage of ${s}; NULL-safe. */
void cidrset_free(struct cidrset *s);

#endif /* !CIDR_H_ */
