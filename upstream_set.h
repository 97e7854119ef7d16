#ifndef UPSTREAM_SET_H_
#define UPSTREAM_SET_H_

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "dns.h"

#define UPSTREAM_MAX_ADDRS	(2 * DNS_MAX_ADDRS)
/*
 * How long the last validated set is kept when DNS fails or answers only
 * denied addresses (seconds).  A test build shortens it (make shortclock);
 * the release binary has no switch for it.
 */
#ifndef UPSTREAM_STALE_MAX
#define UPSTREAM_STALE_MAX	(24 * 3600)
#endif

struct upstream_result {
	struct cidr_addr addr;
	const struct cidr *match;	/* NULL: denied */
};

/*
 * The validated SES address set behind upstream.h: each answer's addresses
 * checked against the allowlist and the allowed ones adopted; the last
 * validated set kept when an answer holds none (or resolution fails),
 * until UPSTREAM_STALE_MAX after the last good answer.  No I/O but the log
 * lines; the caller gives the time (loop_now() milliseconds), so that the
 * keep is tested with a clock of the test's own.
 */

struct upstream_set {
	const char *host;		/* for the log lines */
	const struct cidrset *allow;
	int	fixed;			/* /etc/hosts: never expires */
	struct cidr_addr good[UPSTREAM_MAX_ADDRS];	/* validated */
	size_t	ngood;
	uint64_t good_at;		/* when the last good answer came */
	struct upstream_result res[UPSTREAM_MAX_ADDRS];	/* last answer */
	size_t	nres;
};

/**
 * upstream_set_init(s, host, allow, fixed): an empty set for ${host}'s
 * addresses, checked against ${allow}; if ${fixed} (the /etc/hosts
 * addresses) it never expires.
 */
void upstream_set_init(struct upstream_set *s, const char *host,
    const struct cidrset *allow, int fixed);

/**
 * upstream_set_adopt(s, addrs, n, source, ttl, now): check the ${n}
 * addresses at ${addrs} (an answer from ${source}, "dns" or "hosts", with
 * ${ttl} for the log) at time ${now}; they become the last answer.  The
 * allowed ones replace the validated set; if none is allowed, the set is
 * kept (until it expires).  Logs upstream_resolved when the set changed or
 * on the first answer, upstream_denied once for each newly denied address,
 * upstream_all_denied when none is allowed.
 */
void upstream_set_adopt(struct upstream_set *s, const struct cidr_addr *addrs,
    size_t n, const char *source, uint32_t ttl, uint64_t now);

/**
 * upstream_set_expire(s, now): forget the validated set (logging
 * upstream_expired) if the last good answer is more than
 * UPSTREAM_STALE_MAX seconds older than ${now}, unless ${s} is fixed.
 */
void upstream_set_expire(struct upstream_set *s, uint64_t now);

/** upstream_set_count(s, now): expire, then the validated addresses. */
size_t upstream_set_count(struct upstream_set *s, uint64_t now);

/**
 * upstream_set_pick(s, k, now, out): expire, then validated address number
 * ${k} (modulo the set's size) in ${out}.  Returns 0, or -1 when there is
 * none.
 */
int upstream_set_pick(struct upstream_set *s, size_t k, uint64_t now,
    struct cidr_addr *out);

#endif /* !UPSTREAM_SET_H_ */
