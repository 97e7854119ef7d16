#ifndef METRICS_H_
#define METRICS_H_

#include <stddef.h>
#include <stdint.h>

/*
 * The numbers behind GET /metrics of the health port (docs/metrics.md):
 * counters and histograms in one block that every --workers process
 * shares (mapped before the fork, updated with atomic adds), each
 * worker's gauges in a slot of its own in that block, and their text in
 * the Prometheus exposition format 0.0.4.  No I/O: the caller gives the
 * time, and the text is made from memory (unit-tested alone).
 */

#define METRICS_WORKERS_MAX	16	/* CONFIG_WORKERS_MAX */
/* The whole text with METRICS_WORKERS_MAX workers fits (unit-tested). */
#define METRICS_TEXT_MAX	24576

/* Counters; the label value of each is its name in metrics.c. */
enum metrics_counter {
	MC_ACCEPTED,
	/* sessions_rejected_total{reason}: the conn_rejected reasons */
	MC_REJ_ACCESS_DENIED, MC_REJ_MAX_CONNS, MC_REJ_NO_MEMORY,
	MC_REJ_PROXY_HEADER_INVALID, MC_REJ_PROXY_HEADER_TIMEOUT,
	MC_REJ_ERROR,
	/* sessions_ended_total{cause}: the conn_close reasons, "closed"
	 * split by the side whose FIN came first */
	MC_END_CLIENT_CLOSE, MC_END_UPSTREAM_CLOSE, MC_END_CLIENT_RESET,
	MC_END_UPSTREAM_RESET, MC_END_IDLE_TIMEOUT, MC_END_MAX_SESSION,
	MC_END_DRAIN_TIMEOUT, MC_END_NO_UPSTREAM, MC_END_ERROR,
	MC_BYTES_TO_UPSTREAM, MC_BYTES_TO_CLIENT,
	MC_CONNECT_ATTEMPTS,
	MC_CONNECT_FAIL_REFUSED, MC_CONNECT_FAIL_TIMEOUT,
	MC_CONNECT_FAIL_UNREACHABLE, MC_CONNECT_FAIL_OTHER,
	MC_DENIED_ADDRESSES,
	MC_RESOLVER_QUERIES,
	MC_RESOLVER_FAIL_TIMEOUT, MC_RESOLVER_FAIL_SERVFAIL,
	MC_RESOLVER_FAIL_NXDOMAIN, MC_RESOLVER_FAIL_NO_ADDRESS,
	MC_RESOLVER_FAIL_NETWORK,
	MC_N
};

enum metrics_hist {
	MH_CONNECT,		/* upstream_connect_duration_seconds */
	MH_SESSION,		/* session_duration_seconds */
	MH_N
};

/* Gauges of one worker, in its slot; each written by that worker only. */
enum metrics_gauge {
	MG_ACTIVE,		/* sessions open */
	MG_UPSTREAM_V4,		/* validated SES addresses */
	MG_UPSTREAM_V6,
	MG_RESOLVED_MS,		/* last good resolution, Unix ms; 0: none */
	MG_CPU_US,		/* user + system CPU, microseconds */
	MG_MAXRSS_BYTES,
	MG_FDS,			/* the relay's descriptors */
	MG_PROBE_FDS,		/* the health port's descriptors */
	MG_DRAINING,
	MG_N
};

/* What is fixed at startup, the same in every worker. */
struct metrics_info {
	const char *version;
	const char *region;
	const char *mode;		/* "public" or "vpc-endpoint" */
	int	fips;
	uint64_t start_ms;		/* Unix ms */
	int	allow_file;		/* an ip-ranges.json was read */
	uint64_t allow_created;		/* its createDate, Unix seconds */
	uint64_t sync_token;
	uint64_t prefixes_v4, prefixes_v6;	/* the allowlist in force */
	uint64_t max_fds;		/* RLIMIT_NOFILE */
	uint64_t sessions_limit;	/* --max-conns */
	unsigned workers;		/* 1, or --workers N: a worker label */
};

/**
 * metrics_init(info): keep ${info} (its strings must outlive the process)
 * and map the shared block, before any fork.  Until it is called the
 * numbers go to a block of this process alone.  Returns 0, or -1 (mmap
 * failed; errno set).
 */
int metrics_init(const struct metrics_info *info);

/** metrics_set_worker(i): this process is worker ${i} (its gauge slot). */
void metrics_set_worker(unsigned i);

/** metrics_add(c, n): add ${n} to counter ${c}, for the whole group. */
void metrics_add(enum metrics_counter c, uint64_t n);

/** metrics_label(c): the label value of counter ${c} ("max_conns"). */
const char *metrics_label(enum metrics_counter c);

/** metrics_observe(h, ms): one observation of ${ms} milliseconds. */
void metrics_observe(enum metrics_hist h, uint64_t ms);

/** metrics_set(g, v): this worker's gauge ${g} is ${v}. */
void metrics_set(enum metrics_gauge g, uint64_t v);

/** metrics_get(c): counter ${c}, summed over the group (for tests). */
uint64_t metrics_get(enum metrics_counter c);

/**
 * metrics_render(buf, cap, now_ms): the exposition text at Unix time
 * ${now_ms} in ${buf}.  Returns its length, or 0 if it did not fit.
 */
size_t metrics_render(char *buf, size_t cap, uint64_t now_ms);

#endif /* !METRICS_H_ */
