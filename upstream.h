#ifndef UPSTREAM_H_
#define UPSTREAM_H_

#include <stddef.h>

#include "cidr.h"
#include "dns.h"
#include "resolvconf.h"
#include "upstream_set.h"

/*
 * The SES endpoint: resolve its name inside the event loop (A and AAAA
 * over UDP to the resolv.conf nameservers; never blocking), check every
 * address against the allowlist, and hand out validated addresses in
 * round-robin order.  Only addresses that passed the check are ever
 * returned; connecting to the very address that was checked means a DNS
 * answer cannot change between check and connect.
 */

/* The SES submission port: a constant, never a setting. */
#define UPSTREAM_PORT		587

#define UPSTREAM_TTL_MIN	2	/* seconds */
#define UPSTREAM_TTL_MAX	300
#define UPSTREAM_RETRY_MAX	30	/* backoff cap after failures */
#define UPSTREAM_KICK_MIN	5	/* early re-resolve at most this often */

/**
 * upstream_init(host, region, allow, rc, hosts, nhosts, notify): prepare to
 * resolve ${host}, checking addresses against ${allow} (tags say AMAZON
 * prefix of ${region} or --allow-cidr).  When ${nhosts} > 0, the /etc/hosts
 * addresses ${hosts} are used instead of DNS.  ${notify} is called after
 * every completed resolution.  Nothing is sent until upstream_start().
 * Call after loop_init().  Returns 0, or -1 after logging startup_failed.
 */
int upstream_init(const char *host, const char *region,
    const struct cidrset *allow, const struct resolvconf *rc,
    const struct cidr_addr *hosts, size_t nhosts, void (*notify)(void));

/** upstream_start(): begin the first resolution (needs loop_init). */
void upstream_start(void);

/**
 * upstream_count(): number of validated addresses available now (0 once
 * the last good answer is older than UPSTREAM_STALE_MAX).
 */
size_t upstream_count(void);

/** upstream_resolving(): is a resolution in flight? */
int upstream_resolving(void);

/**
 * upstream_first(): where a new session starts in the validated set (a
 * round-robin cursor shared by all sessions).
 */
size_t upstream_first(void);

/**
 * upstream_pick(k, out): validated address number ${k} (modulo the set's
 * size), so that a session walking k, k+1, ... tries each address once.
 * Returns 0, or -1 when there is none.
 */
int upstream_pick(size_t k, struct cidr_addr *out);

/**
 * upstream_kick(): an upstream connect failed; resolve again now, or
 * UPSTREAM_KICK_MIN seconds after the start of the last resolution if
 * that is later.
 */
void upstream_kick(void);

/**
 * upstream_results(out): the addresses of the last completed resolution
 * with their verdicts; returns how many.  For --check.
 */
size_t upstream_results(const struct upstream_result **out);

/**
 * upstream_why(match, buf, len): "AMAZON/<region> P", "--allow-cidr P" or
 * "--vpc-endpoint-cidrs P".
 */
void upstream_why(const struct cidr *match, char *buf, size_t len);

/** upstream_queries(): DNS queries sent so far (for stats). */
unsigned long upstream_queries(void);

/**
 * upstream_metrics(wall_ms): put the validated addresses by family, and
 * when the last good answer came (as Unix ms, given the Unix time now
 * ${wall_ms}), into this worker's gauges (metrics.h).
 */
void upstream_metrics(uint64_t wall_ms);

/** upstream_fds(): the resolver's open sockets (0 to 2). */
size_t upstream_fds(void);

/** upstream_stop(): close the resolver's sockets and disarm its timer. */
void upstream_stop(void);

#endif /* !UPSTREAM_H_ */
