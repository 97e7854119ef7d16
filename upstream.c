/*
 * The SES endpoint (upstream.h): the resolver inside the event loop,
 * the check of every address against the allowlist, and the set of
 * validated addresses with its backoff and keep.
 */
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "allowlist.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "upstream.h"
#include "upstream_set.h"

struct query {
	struct loop_watch w;
	uint16_t qtype;
	uint16_t id;
	int	done;
	int	status;		/* dns_parse result, or QUERY_TIMEOUT etc. */
	struct dns_answer ans;
};

#define QUERY_TIMEOUT	(-10)
#define QUERY_NETERR	(-11)

static struct {
	const char *host;
	const char *region;
	const struct cidrset *allow;
	struct resolvconf rc;
	const struct cidr_addr *hosts;
	size_t	nhosts;
	void	(*notify)(void);

	struct upstream_set set;	/* validated, and the last answer */
	size_t	rr;

	struct query q[2];
	unsigned attempt;
	int	inflight;
	uint64_t started;
	unsigned backoff;
	struct loop_timer timer;
	unsigned long queries;
} up;

static void callback_dns(struct loop_watch *, uint32_t);
static void callback_timer(struct loop_timer *);

int
upstream_init(const char *host, const char *region,
    const struct cidrset *allow, const struct resolvconf *rc,
    const struct cidr_addr *hosts, size_t nhosts, void (*notify)(void))
{
	int i;

	memset(&up, 0, sizeof(up));
	up.host = host;
	up.region = region;
	up.allow = allow;
	up.rc = *rc;
	up.hosts = hosts;
	up.nhosts = nhosts;
	up.notify = notify;
	upstream_set_init(&up.set, host, allow, nhosts > 0);
	up.q[0].qtype = DNS_TYPE_A;
	up.q[1].qtype = DNS_TYPE_AAAA;
	for (i = 0; i < 2; i++) {
		up.q[i].w.fd = -1;
		up.q[i].w.cb = callback_dns;
	}
	up.timer.cb = callback_timer;
	return (loop_timer_add(&up.timer));
}

void
upstream_why(const struct cidr *match, char *buf, size_t len)
{
	char p[CIDR_ADDRSTRLEN + 4];

	cidr_format(match, p);
	if (match->tag == ALLOWLIST_TAG_OPERATOR)
		snprintf(buf, len, "--allow-cidr %s", p);
	else if (match->tag == ALLOWLIST_TAG_VPCE)
		snprintf(buf, len, "--vpc-endpoint-cidrs %s", p);
	else
		snprintf(buf, len, "AMAZON/%s %s", up.region, p);
}

static void
close_query(struct query *q)
{

	loop_watch_close(&q->w);
}

/* Send query ${q} to the nameserver picked by the attempt number. */
static void
send_query(struct query *q)
{
	const struct cidr_addr *ns = &up.rc.ns[up.attempt % up.rc.nns];
	uint8_t pkt[DNS_NAME_MAX + 32];
	struct sockaddr_storage ss;
	socklen_t sl;
	int len;

	close_query(q);
	q->done = 0;
	if (getrandom(&q->id, sizeof(q->id), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(q->id))
		q->id = (uint16_t)(loop_clock() * 2654435761u >> 7);
	len = dns_build_query(pkt, sizeof(pkt), q->id, up.host, q->qtype);
	sl = cidr_addr_to_sockaddr(ns, 53, &ss);
	/* A connected socket: the kernel drops datagrams from anyone else. */
	q->w.fd = socket(ns->family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, IPPROTO_UDP);
	if (len < 0 || q->w.fd < 0 ||
	    connect(q->w.fd, (struct sockaddr *)&ss, sl) != 0 ||
	    send(q->w.fd, pkt, (size_t)len, MSG_NOSIGNAL) != len ||
	    loop_watch_set(&q->w, EPOLLIN) != 0) {
		/* Not done: callback_timer moves on to the next nameserver. */
		q->status = QUERY_NETERR;
		close_query(q);
		return;
	}
	up.queries++;
	metrics_add(MC_RESOLVER_QUERIES, 1);
}

static void
resolve_begin(void)
{
	int i;

	up.inflight = 1;
	up.attempt = 0;
	up.started = loop_now();
	for (i = 0; i < 2; i++)
		send_query(&up.q[i]);
	up.timer.at = loop_now() + up.rc.timeout_s * 1000;
}

static const char *
status_text(int status)
{

	switch (status) {
	case 0:
		return ("no address records");
	case DNS_ENXDOMAIN:
		return ("NXDOMAIN");
	case DNS_ESERVFAIL:
		return ("SERVFAIL or REFUSED");
	case QUERY_TIMEOUT:
		return ("timeout");
	default:
		return ("network error");
	}
}

/* The metrics counter of a failed resolution's ${status}. */
static enum metrics_counter
status_counter(int status)
{

	switch (status) {
	case 0:
		return (MC_RESOLVER_FAIL_NO_ADDRESS);
	case DNS_ENXDOMAIN:
		return (MC_RESOLVER_FAIL_NXDOMAIN);
	case DNS_ESERVFAIL:
		return (MC_RESOLVER_FAIL_SERVFAIL);
	case QUERY_TIMEOUT:
		return (MC_RESOLVER_FAIL_TIMEOUT);
	default:
		return (MC_RESOLVER_FAIL_NETWORK);
	}
}

static void
finish_failed(void)
{
	int status = up.q[0].status != 0 ? up.q[0].status : up.q[1].status;
	struct log_line l;

	up.backoff = up.backoff == 0 ? 1 : up.backoff * 2;
	if (up.backoff > UPSTREAM_RETRY_MAX)
		up.backoff = UPSTREAM_RETRY_MAX;
	/* Keep serving the last good set for a while (serve-stale). */
	log_begin(&l, LOG_WARN, "upstream_resolve_failed");
	log_str(&l, "host", up.host);
	log_str(&l, "error", status_text(status));
	log_u64(&l, "retry_s", up.backoff);
	log_u64(&l, "kept", upstream_set_count(&up.set, loop_now()));
	log_end(&l);
	up.timer.at = loop_now() + up.backoff * 1000;
	metrics_add(status_counter(status), 1);
}

/* Both queries have ended: adopt the answer or keep the old set. */
static void
finish(void)
{
	struct cidr_addr all[UPSTREAM_MAX_ADDRS];
	uint32_t ttl = UINT32_MAX;
	size_t n = 0, i;
	int k;

	up.inflight = 0;
	for (k = 0; k < 2; k++) {
		struct query *q = &up.q[k];
		close_query(q);
		if (q->status != 0 || q->ans.naddrs == 0)
			continue;
		for (i = 0; i < q->ans.naddrs; i++)
			all[n++] = q->ans.addrs[i];
		if (q->ans.ttl < ttl)
			ttl = q->ans.ttl;
	}
	if (n == 0) {
		finish_failed();
	} else {
		if (ttl < UPSTREAM_TTL_MIN)
			ttl = UPSTREAM_TTL_MIN;
		if (ttl > UPSTREAM_TTL_MAX)
			ttl = UPSTREAM_TTL_MAX;
		up.backoff = 0;
		upstream_set_adopt(&up.set, all, n, "dns", ttl, loop_now());
		up.timer.at = loop_now() + ttl * 1000ull;
	}
	upstream_metrics(loop_wall_ms());
	if (up.notify != NULL)
		up.notify();
}

static void
callback_dns(struct loop_watch *w, uint32_t revents)
{
	struct query *q = CONTAINER_OF(w, struct query, w);
	uint8_t pkt[DNS_MAX_PACKET];
	ssize_t n;
	int i;

	(void)revents;
	/* Bounded: a flood of bogus datagrams cannot hold the loop. */
	for (i = 0; i < 8 && !q->done; i++) {
		n = recv(w->fd, pkt, sizeof(pkt), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			/*
			 * e.g. ECONNREFUSED from an ICMP port unreachable:
			 * callback_timer tries the next nameserver, or gives
			 * up after attempts x nameservers.
			 */
			q->status = QUERY_NETERR;
			close_query(q);
			return;
		}
		q->status = dns_parse(pkt, (size_t)n, q->id, up.host,
		    q->qtype, &q->ans);
		if (q->status != DNS_EIGNORE)
			q->done = 1;
	}
	if (!q->done)
		return;
	close_query(q);
	if (up.q[0].done && up.q[1].done)
		finish();
}

static void
callback_timer(struct loop_timer *t)
{
	int i, retry = 0;

	(void)t;
	if (!up.inflight) {
		resolve_begin();
		return;
	}
	/* The attempt timed out: next nameserver for unanswered queries. */
	up.attempt++;
	for (i = 0; i < 2; i++) {
		if (up.q[i].done)
			continue;
		if (up.attempt < up.rc.attempts * up.rc.nns) {
			send_query(&up.q[i]);
			retry = 1;
		} else {
			close_query(&up.q[i]);
			up.q[i].status = QUERY_TIMEOUT;
			up.q[i].done = 1;
		}
	}
	if (retry)
		up.timer.at = loop_now() + up.rc.timeout_s * 1000;
	else if (up.q[0].done && up.q[1].done)
		finish();
}

void
upstream_start(void)
{

	if (up.nhosts > 0) {
		/* /etc/hosts names the SES host: static, never re-resolved. */
		upstream_set_adopt(&up.set, up.hosts, up.nhosts, "hosts", 0,
		    loop_now());
		upstream_metrics(loop_wall_ms());
		if (up.notify != NULL)
			up.notify();
		return;
	}
	resolve_begin();
}

size_t
upstream_count(void)
{

	return (upstream_set_count(&up.set, loop_now()));
}

int
upstream_resolving(void)
{

	return (up.inflight);
}

size_t
upstream_first(void)
{

	return (up.rr++);
}

int
upstream_pick(size_t k, struct cidr_addr *out)
{

	return (upstream_set_pick(&up.set, k, loop_now(), out));
}

void
upstream_kick(void)
{

	uint64_t at = up.started + UPSTREAM_KICK_MIN * 1000;

	if (up.nhosts > 0 || up.inflight)
		return;
	/* Too soon after the last one: bring the next resolution forward. */
	if (loop_now() < at) {
		if (up.timer.at > at)
			up.timer.at = at;
		return;
	}
	resolve_begin();
}

size_t
upstream_results(const struct upstream_result **out)
{

	*out = up.set.res;
	return (up.set.nres);
}

void
upstream_metrics(uint64_t wall_ms)
{
	size_t v4 = 0, v6 = 0, i, n = upstream_count();
	uint64_t age = loop_now() - up.set.good_at;

	for (i = 0; i < n; i++) {
		if (up.set.good[i].family == AF_INET6)
			v6++;
		else
			v4++;
	}
	metrics_set(MG_UPSTREAM_V4, v4);
	metrics_set(MG_UPSTREAM_V6, v6);
	metrics_set(MG_RESOLVED_MS, up.set.good_at == 0 || age > wall_ms ?
	    0 : wall_ms - age);
}

size_t
upstream_fds(void)
{

	return ((up.q[0].w.fd >= 0) + (up.q[1].w.fd >= 0));
}

unsigned long
upstream_queries(void)
{

	return (up.queries);
}

void
upstream_stop(void)
{

	close_query(&up.q[0]);
	close_query(&up.q[1]);
	up.timer.at = 0;
	up.inflight = 0;
}
