/*
 * The validated SES address set (upstream_set.h): the check of each
 * answer against the allowlist, the keep when an answer holds no allowed
 * address, the expiry, and their log lines.
 */
#include <stdio.h>
#include <string.h>

#include "allowlist.h"
#include "log.h"
#include "metrics.h"
#include "upstream_set.h"

void
upstream_set_init(struct upstream_set *s, const char *host,
    const struct cidrset *allow, int fixed)
{

	memset(s, 0, sizeof(*s));
	s->host = host;
	s->allow = allow;
	s->fixed = fixed;
}

/* Was ${a} denied by the previous answer too?  (Log each denial once.) */
static int
was_denied(const struct cidr_addr *a, const struct upstream_result *old,
    size_t nold)
{
	size_t i;

	for (i = 0; i < nold; i++)
		if (old[i].match == NULL && cidr_addr_eq(&old[i].addr, a))
			return (1);
	return (0);
}

static void
log_denied(const struct upstream_set *s, const struct cidr_addr *a)
{
	struct log_line l;
	char buf[CIDR_ADDRSTRLEN], v4[CIDR_ADDRSTRLEN], why[192];
	struct cidr_addr c;
	int carried = cidr_addr_carried(a, &c);

	if (carried == 1)
		cidr_addr_format(&c, v4);
	if (carried == 1 && cidrset_find(s->allow, a) != NULL)
		snprintf(why, sizeof(why), "carries the IPv4 address %s, which "
		    "is outside %s", v4, allowlist_scope(s->allow));
	else if (carried == -1)
		snprintf(why, sizeof(why), "in the local-use NAT64 prefix "
		    "64:ff9b:1::/48: the IPv4 address it carries is unknown");
	else
		snprintf(why, sizeof(why), "outside %s",
		    allowlist_scope(s->allow));
	cidr_addr_format(a, buf);
	log_begin(&l, LOG_WARN, "upstream_denied");
	log_str(&l, "host", s->host);
	log_str(&l, "addr", buf);
	log_str(&l, "reason", why);
	log_end(&l);
}

static void
log_resolved(const struct upstream_set *s, const char *source,
    size_t ndenied, uint32_t ttl)
{
	struct log_line l;
	char list[UPSTREAM_MAX_ADDRS * CIDR_ADDRSTRLEN], one[CIDR_ADDRSTRLEN];
	size_t i, n = 0;

	list[0] = '\0';
	for (i = 0; i < s->ngood; i++) {
		cidr_addr_format(&s->good[i], one);
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
		    i ? "," : "", one);
	}
	log_begin(&l, LOG_INFO, "upstream_resolved");
	log_str(&l, "host", s->host);
	log_str(&l, "source", source);
	log_str(&l, "addrs", list);
	log_u64(&l, "denied", ndenied);
	log_u64(&l, "ttl", ttl);
	log_end(&l);
}

/* A whole answer was denied: an error when nothing usable is left. */
static void
log_all_denied(const struct upstream_set *s, size_t ndenied)
{
	struct log_line l;

	log_begin(&l, s->ngood > 0 ? LOG_WARN : LOG_ERROR,
	    "upstream_all_denied");
	log_str(&l, "host", s->host);
	log_u64(&l, "denied", ndenied);
	log_u64(&l, "kept", s->ngood);
	log_end(&l);
}

/*
 * Forget the validated set once the last good answer is older than
 * UPSTREAM_STALE_MAX, whatever kept it alive (failed resolutions or
 * answers of denied addresses alike): by then AWS may have given those
 * addresses to someone else.  The /etc/hosts set is the operator's and
 * never expires.  Called before every use of the set, so that the limit
 * holds to the millisecond, not to the next resolution.
 */
void
upstream_set_expire(struct upstream_set *s, uint64_t now)
{
	struct log_line l;
	uint64_t age;

	if (s->ngood == 0 || s->fixed)
		return;
	age = now - s->good_at;
	if (age <= UPSTREAM_STALE_MAX * 1000ull)
		return;
	log_begin(&l, LOG_ERROR, "upstream_expired");
	log_str(&l, "host", s->host);
	log_u64(&l, "dropped", s->ngood);
	log_u64(&l, "age_s", age / 1000);
	log_end(&l);
	s->ngood = 0;
}

/* Check each address, replace the validated set, log what changed. */
void
upstream_set_adopt(struct upstream_set *s, const struct cidr_addr *addrs,
    size_t n, const char *source, uint32_t ttl, uint64_t now)
{
	struct upstream_result old[UPSTREAM_MAX_ADDRS];
	size_t nold = s->nres, i, ndenied = 0, oldgood = s->ngood;
	struct cidr_addr prev[UPSTREAM_MAX_ADDRS];
	int changed;

	memcpy(old, s->res, sizeof(old));
	memcpy(prev, s->good, sizeof(prev));
	s->nres = s->ngood = 0;
	for (i = 0; i < n && i < UPSTREAM_MAX_ADDRS; i++) {
		s->res[s->nres].addr = addrs[i];
		s->res[s->nres].match = cidrset_find_strict(s->allow,
		    &addrs[i]);
		if (s->res[s->nres].match != NULL) {
			s->good[s->ngood++] = addrs[i];
		} else {
			ndenied++;
			if (!was_denied(&addrs[i], old, nold))
				log_denied(s, &addrs[i]);
		}
		s->nres++;
	}
	metrics_add(MC_DENIED_ADDRESSES, ndenied);
	if (s->ngood == 0) {
		/*
		 * Only denied addresses (a spoofed answer, or SES on ranges
		 * newer than the file): keep the last validated set, as after
		 * a failed resolution, until it expires; it holds only checked
		 * addresses.  With none to keep (the first answer, or after
		 * expiry) this is the same alarm, with kept 0.
		 */
		memcpy(s->good, prev, oldgood * sizeof(prev[0]));
		s->ngood = oldgood;
		upstream_set_expire(s, now);
		log_all_denied(s, ndenied);
		return;
	}
	s->good_at = now;
	changed = s->ngood != oldgood ||
	    memcmp(prev, s->good, s->ngood * sizeof(prev[0])) != 0;
	if (changed || nold == 0)
		log_resolved(s, source, ndenied, ttl);
}

size_t
upstream_set_count(struct upstream_set *s, uint64_t now)
{

	upstream_set_expire(s, now);
	return (s->ngood);
}

int
upstream_set_pick(struct upstream_set *s, size_t k, uint64_t now,
    struct cidr_addr *out)
{

	upstream_set_expire(s, now);
	if (s->ngood == 0)
		return (-1);
	*out = s->good[k % s->ngood];
	/* Defence in depth: the set holds only checked addresses. */
	if (cidrset_find_strict(s->allow, out) == NULL)
		return (-1);
	return (0);
}
