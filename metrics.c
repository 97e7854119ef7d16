/*
 * Metrics (metrics.h): the shared block of counters, histograms and
 * worker gauges, and its Prometheus text.  The names, types and labels
 * are listed once, in the tables below; docs/metrics.md is checked
 * against what metrics_render prints (tests/integration/test_metrics.py).
 */
#include <sys/mman.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

#define PREFIX	"ses_smtp_proxy_"

/* One family's text header. */
struct family {
	const char *name;	/* without PREFIX */
	const char *type;
	const char *help;
	const char *label;	/* the label of its counters, or NULL */
};

enum {
	F_ACCEPTED, F_REJECTED, F_ENDED, F_BYTES, F_ATTEMPTS, F_FAILURES,
	F_DENIED, F_QUERIES, F_RESOLVE_FAIL, F_N
};

static const struct family families[F_N] = {
	[F_ACCEPTED] = { "sessions_accepted_total", "counter",
	    "Sessions begun (conn_open).", NULL },
	[F_REJECTED] = { "sessions_rejected_total", "counter",
	    "Connections turned away before a session began, by the "
	    "conn_rejected reason.", "reason" },
	[F_ENDED] = { "sessions_ended_total", "counter",
	    "Sessions ended, by cause (conn_close reason; closed is split "
	    "by the side whose FIN came first).", "cause" },
	[F_BYTES] = { "relayed_bytes_total", "counter",
	    "Bytes relayed in ended sessions, by direction.", "direction" },
	[F_ATTEMPTS] = { "upstream_connect_attempts_total", "counter",
	    "TCP connects begun to SES addresses.", NULL },
	[F_FAILURES] = { "upstream_connect_failures_total", "counter",
	    "TCP connects to SES that failed, by reason.", "reason" },
	[F_DENIED] = { "upstream_denied_addresses_total", "counter",
	    "Addresses in DNS answers for the SES name that the allowlist "
	    "denied (each answer counts its own).", NULL },
	[F_QUERIES] = { "resolver_queries_total", "counter",
	    "DNS queries sent for the SES name (A and AAAA each count).",
	    NULL },
	[F_RESOLVE_FAIL] = { "resolver_failures_total", "counter",
	    "Resolutions of the SES name that gave no address, by reason.",
	    "reason" },
};

static const struct {
	unsigned family;
	const char *value;	/* label value, or NULL */
} counters[MC_N] = {
	[MC_ACCEPTED] = { F_ACCEPTED, NULL },
	[MC_REJ_ACCESS_DENIED] = { F_REJECTED, "access_denied" },
	[MC_REJ_MAX_CONNS] = { F_REJECTED, "max_conns" },
	[MC_REJ_NO_MEMORY] = { F_REJECTED, "no_memory" },
	[MC_REJ_PROXY_HEADER_INVALID] = { F_REJECTED,
	    "proxy_header_invalid" },
	[MC_REJ_PROXY_HEADER_TIMEOUT] = { F_REJECTED,
	    "proxy_header_timeout" },
	[MC_REJ_ERROR] = { F_REJECTED, "error" },
	[MC_END_CLIENT_CLOSE] = { F_ENDED, "client_close" },
	[MC_END_UPSTREAM_CLOSE] = { F_ENDED, "upstream_close" },
	[MC_END_CLIENT_RESET] = { F_ENDED, "client_reset" },
	[MC_END_UPSTREAM_RESET] = { F_ENDED, "upstream_reset" },
	[MC_END_IDLE_TIMEOUT] = { F_ENDED, "idle_timeout" },
	[MC_END_MAX_SESSION] = { F_ENDED, "max_session" },
	[MC_END_DRAIN_TIMEOUT] = { F_ENDED, "drain_timeout" },
	[MC_END_NO_UPSTREAM] = { F_ENDED, "no_upstream" },
	[MC_END_ERROR] = { F_ENDED, "error" },
	[MC_BYTES_TO_UPSTREAM] = { F_BYTES, "to_upstream" },
	[MC_BYTES_TO_CLIENT] = { F_BYTES, "to_client" },
	[MC_CONNECT_ATTEMPTS] = { F_ATTEMPTS, NULL },
	[MC_CONNECT_FAIL_REFUSED] = { F_FAILURES, "refused" },
	[MC_CONNECT_FAIL_TIMEOUT] = { F_FAILURES, "timeout" },
	[MC_CONNECT_FAIL_UNREACHABLE] = { F_FAILURES, "unreachable" },
	[MC_CONNECT_FAIL_OTHER] = { F_FAILURES, "other" },
	[MC_DENIED_ADDRESSES] = { F_DENIED, NULL },
	[MC_RESOLVER_QUERIES] = { F_QUERIES, NULL },
	[MC_RESOLVER_FAIL_TIMEOUT] = { F_RESOLVE_FAIL, "timeout" },
	[MC_RESOLVER_FAIL_SERVFAIL] = { F_RESOLVE_FAIL, "servfail" },
	[MC_RESOLVER_FAIL_NXDOMAIN] = { F_RESOLVE_FAIL, "nxdomain" },
	[MC_RESOLVER_FAIL_NO_ADDRESS] = { F_RESOLVE_FAIL, "no_address" },
	[MC_RESOLVER_FAIL_NETWORK] = { F_RESOLVE_FAIL, "network_error" },
};

/* Histogram bucket bounds, milliseconds; +Inf follows the last. */
#define NBUCKETS	12
static const struct {
	const char *name;
	const char *help;
	uint64_t le[NBUCKETS];
} hists[MH_N] = {
	[MH_CONNECT] = { "upstream_connect_duration_seconds",
	    "From a TCP connect to SES begun to its outcome (established, "
	    "failed or timed out).",
	    { 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 } },
	[MH_SESSION] = { "session_duration_seconds",
	    "Sessions from accept to close.",
	    { 100, 500, 1000, 5000, 10000, 30000, 60000, 120000, 300000,
	    600000, 1800000, 3600000 } },
};

struct hist {
	uint64_t bucket[NBUCKETS + 1];	/* not cumulative; last: +Inf */
	uint64_t sum_ms;
};

struct block {
	uint64_t c[MC_N];
	struct hist h[MH_N];
	uint64_t g[METRICS_WORKERS_MAX][MG_N];
};

static struct block local;		/* until metrics_init */
static struct block *m = &local;
static struct metrics_info info = { "", "", "public", 0, 0, 0, 0, 0, 0, 0,
    0, 0, 1 };
static unsigned self;

int
metrics_init(const struct metrics_info *i)
{
	void *p;

	p = mmap(NULL, sizeof(struct block), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return (-1);
	m = p;
	info = *i;
	return (0);
}

void
metrics_set_worker(unsigned i)
{

	self = i < METRICS_WORKERS_MAX ? i : 0;
}

void
metrics_add(enum metrics_counter c, uint64_t n)
{

	__atomic_add_fetch(&m->c[c], n, __ATOMIC_RELAXED);
}

const char *
metrics_label(enum metrics_counter c)
{

	return (counters[c].value);
}

uint64_t
metrics_get(enum metrics_counter c)
{

	return (__atomic_load_n(&m->c[c], __ATOMIC_RELAXED));
}

void
metrics_observe(enum metrics_hist h, uint64_t ms)
{
	struct hist *x = &m->h[h];
	unsigned b;

	for (b = 0; b < NBUCKETS && ms > hists[h].le[b]; b++)
		;
	__atomic_add_fetch(&x->sum_ms, ms, __ATOMIC_RELAXED);
	__atomic_add_fetch(&x->bucket[b], 1, __ATOMIC_RELAXED);
}

void
metrics_set(enum metrics_gauge g, uint64_t v)
{

	__atomic_store_n(&m->g[self][g], v, __ATOMIC_RELAXED);
}

static uint64_t
gauge(unsigned w, enum metrics_gauge g)
{

	return (__atomic_load_n(&m->g[w][g], __ATOMIC_RELAXED));
}

/* ---- the text */

struct out {
	char	*buf;
	size_t	cap, len;
	int	full;
};

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = 1;
		return;
	}
	o->len += (size_t)n;
}

static void
head(struct out *o, const char *name, const char *type, const char *help)
{

	put(o, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name, help,
	    name, type);
}

/* ${ms} milliseconds as seconds, exactly. */
static void
put_seconds(struct out *o, uint64_t ms)
{

	put(o, "%llu.%03llu", (unsigned long long)(ms / 1000),
	    (unsigned long long)(ms % 1000));
}

/* A bucket bound of ${ms} as the shortest decimal: 0.005, 0.1, 2.5, 10. */
static void
put_le(struct out *o, uint64_t ms)
{
	char frac[4];
	int n = 3;

	snprintf(frac, sizeof(frac), "%03u", (unsigned)(ms % 1000));
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	put(o, "%llu%s%s", (unsigned long long)(ms / 1000), n ? "." : "",
	    frac);
}

static void
render_counters(struct out *o)
{
	unsigned f, c;

	for (f = 0; f < F_N; f++) {
		head(o, families[f].name, families[f].type, families[f].help);
		for (c = 0; c < MC_N; c++) {
			if (counters[c].family != f)
				continue;
			if (counters[c].value == NULL)
				put(o, PREFIX "%s %llu\n", families[f].name,
				    (unsigned long long)metrics_get(c));
			else
				put(o, PREFIX "%s{%s=\"%s\"} %llu\n",
				    families[f].name, families[f].label,
				    counters[c].value,
				    (unsigned long long)metrics_get(c));
		}
	}
}

static void
render_hist(struct out *o, enum metrics_hist h)
{
	const char *n = hists[h].name;
	uint64_t cum = 0;
	unsigned b;

	head(o, n, "histogram", hists[h].help);
	for (b = 0; b <= NBUCKETS; b++) {
		cum += __atomic_load_n(&m->h[h].bucket[b], __ATOMIC_RELAXED);
		put(o, PREFIX "%s_bucket{le=\"", n);
		if (b == NBUCKETS)
			put(o, "+Inf");
		else
			put_le(o, hists[h].le[b]);
		put(o, "\"} %llu\n", (unsigned long long)cum);
	}
	put(o, PREFIX "%s_sum ", n);
	put_seconds(o, __atomic_load_n(&m->h[h].sum_ms, __ATOMIC_RELAXED));
	/* The count is the +Inf bucket's, read once: the two always agree. */
	put(o, "\n" PREFIX "%s_count %llu\n", n, (unsigned long long)cum);
}

/* A gauge of constant value with no label. */
static void
render_const(struct out *o, const char *name, const char *help, uint64_t v)
{

	head(o, name, "gauge", help);
	put(o, PREFIX "%s %llu\n", name, (unsigned long long)v);
}

/* The sum over the workers of gauge ${g}, with ${g2} added if not MG_N. */
static uint64_t
sum_gauge(enum metrics_gauge g, enum metrics_gauge g2)
{
	uint64_t v = 0;
	unsigned w;

	for (w = 0; w < info.workers && w < METRICS_WORKERS_MAX; w++)
		v += gauge(w, g) + (g2 != MG_N ? gauge(w, g2) : 0);
	return (v);
}

/* The worker label, if there are workers: ${sep} then worker="N". */
static void
put_worker(struct out *o, unsigned w, const char *open, const char *sep)
{

	if (info.workers > 1)
		put(o, "%s%sworker=\"%u\"", open, sep, w);
}

/* Per-worker gauge lines: ${name}{worker="N"} value, one per worker. */
static void
render_worker_gauge(struct out *o, const char *name, const char *type,
    const char *help, enum metrics_gauge g, enum metrics_gauge g2)
{
	uint64_t v;
	unsigned w;

	head(o, name, type, help);
	for (w = 0; w < info.workers && w < METRICS_WORKERS_MAX; w++) {
		v = gauge(w, g) + (g2 != MG_N ? gauge(w, g2) : 0);
		put(o, PREFIX "%s", name);
		put_worker(o, w, "{", "");
		put(o, "%s %llu\n", info.workers > 1 ? "}" : "",
		    (unsigned long long)v);
	}
}

static void
render_worker_cpu(struct out *o)
{
	uint64_t us;
	unsigned w;

	head(o, "process_cpu_seconds_total", "counter",
	    "User and system CPU time of the relay process (getrusage).");
	for (w = 0; w < info.workers && w < METRICS_WORKERS_MAX; w++) {
		us = gauge(w, MG_CPU_US);
		put(o, PREFIX "process_cpu_seconds_total");
		put_worker(o, w, "{", "");
		put(o, "%s %llu.%06llu\n", info.workers > 1 ? "}" : "",
		    (unsigned long long)(us / 1000000),
		    (unsigned long long)(us % 1000000));
	}
}

static void
render_upstream(struct out *o, uint64_t now_ms)
{
	static const char *const fam[2] = { "ipv4", "ipv6" };
	uint64_t at;
	unsigned w, k;

	head(o, "upstream_addresses", "gauge",
	    "Validated SES addresses now, by address family.");
	for (w = 0; w < info.workers && w < METRICS_WORKERS_MAX; w++)
		for (k = 0; k < 2; k++) {
			put(o, PREFIX "upstream_addresses{family=\"%s\"",
			    fam[k]);
			put_worker(o, w, "", ",");
			put(o, "} %llu\n", (unsigned long long)gauge(w,
			    k == 0 ? MG_UPSTREAM_V4 : MG_UPSTREAM_V6));
		}
	head(o, "upstream_resolution_age_seconds", "gauge",
	    "Seconds since the last resolution that gave a validated "
	    "address (+Inf before the first).");
	for (w = 0; w < info.workers && w < METRICS_WORKERS_MAX; w++) {
		put(o, PREFIX "upstream_resolution_age_seconds");
		put_worker(o, w, "{", "");
		put(o, "%s ", info.workers > 1 ? "}" : "");
		at = gauge(w, MG_RESOLVED_MS);
		if (at == 0)
			put(o, "+Inf");
		else
			put_seconds(o, now_ms > at ? now_ms - at : 0);
		put(o, "\n");
	}
}

static void
render_info(struct out *o)
{

	head(o, "build_info", "gauge",
	    "Always 1; the labels say which build runs where.");
	put(o, PREFIX "build_info{version=\"%s\",region=\"%s\","
	    "fips=\"%s\",mode=\"%s\"} 1\n", info.version, info.region,
	    info.fips ? "true" : "false", info.mode);
	head(o, "start_time_seconds", "gauge",
	    "When the relay started, Unix time (counters start from 0 "
	    "then).");
	put(o, PREFIX "start_time_seconds ");
	put_seconds(o, info.start_ms);
	put(o, "\n");
	render_const(o, "workers", "Relay processes (--workers).",
	    info.workers);
	render_const(o, "sessions_limit", "Sessions allowed at once "
	    "(--max-conns, as lowered to fit the descriptor limit).",
	    info.sessions_limit);
	render_const(o, "max_fds", "The descriptor limit of each relay "
	    "process (RLIMIT_NOFILE).", info.max_fds);
	/* Endpoint-only mode reads no file: the families, no sample. */
	head(o, "allowlist_create_time_seconds", "gauge", "The createDate "
	    "of the ip-ranges.json in force, Unix time.");
	if (info.allow_file)
		put(o, PREFIX "allowlist_create_time_seconds %llu\n",
		    (unsigned long long)info.allow_created);
	head(o, "allowlist_sync_token", "gauge", "The syncToken of the "
	    "ip-ranges.json in force.");
	if (info.allow_file)
		put(o, PREFIX "allowlist_sync_token %llu\n",
		    (unsigned long long)info.sync_token);
	head(o, "allowlist_prefixes", "gauge", "Prefixes an SES address "
	    "may be in (the region's AMAZON ones and --allow-cidr, or "
	    "--vpc-endpoint-cidrs).");
	put(o, PREFIX "allowlist_prefixes{family=\"ipv4\"} %llu\n"
	    PREFIX "allowlist_prefixes{family=\"ipv6\"} %llu\n",
	    (unsigned long long)info.prefixes_v4,
	    (unsigned long long)info.prefixes_v6);
}

size_t
metrics_render(char *buf, size_t cap, uint64_t now_ms)
{
	struct out o = { buf, cap, 0, 0 };

	render_info(&o);
	head(&o, "sessions_active", "gauge", "Sessions open now, all "
	    "workers.");
	put(&o, PREFIX "sessions_active %llu\n",
	    (unsigned long long)sum_gauge(MG_ACTIVE, MG_N));
	render_const(&o, "draining", "1 once a SIGTERM drain has begun.",
	    sum_gauge(MG_DRAINING, MG_N) != 0);
	render_counters(&o);
	render_hist(&o, MH_CONNECT);
	render_hist(&o, MH_SESSION);
	render_upstream(&o, now_ms);
	render_worker_cpu(&o);
	render_worker_gauge(&o, "process_max_resident_memory_bytes",
	    "gauge", "Peak resident memory of the relay process "
	    "(getrusage).", MG_MAXRSS_BYTES, MG_N);
	render_worker_gauge(&o, "open_fds", "gauge", "Descriptors the "
	    "relay holds: sessions, pipes, listeners, DNS and health "
	    "probes, stdio and epoll.", MG_FDS, MG_PROBE_FDS);
	if (o.full)
		return (0);
	return (o.len);
}
