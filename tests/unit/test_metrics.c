/*
 * The metrics text (metrics.c): counters under their labels, histogram
 * buckets cumulative with the count equal to +Inf, the worker label only
 * with workers, +Inf for "never resolved", and the whole text with the
 * largest worker count inside METRICS_TEXT_MAX.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "metrics.h"

static char text[METRICS_TEXT_MAX];

/* Does the text hold the line ${line} exactly? */
static int
has_line(const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = text; (p = strstr(p, line)) != NULL; p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return (1);
	return (0);
}

#define LINE(l)	ASSERT_TRUE(has_line(l))

static void
test_alone(void)
{
	TEST_START("one process: counters, histograms, gauges");
	metrics_add(MC_ACCEPTED, 3);
	metrics_add(MC_REJ_MAX_CONNS, 2);
	metrics_add(MC_END_CLIENT_CLOSE, 1);
	metrics_add(MC_BYTES_TO_CLIENT, 12345);
	metrics_observe(MH_CONNECT, 1);		/* le 0.001: inclusive */
	metrics_observe(MH_CONNECT, 7);		/* le 0.010 */
	metrics_observe(MH_CONNECT, 20000);	/* +Inf only */
	metrics_set(MG_ACTIVE, 2);
	metrics_set(MG_CPU_US, 1500001);
	ASSERT_SIZE_GT(metrics_render(text, sizeof(text), 5000), 0);
	LINE("ses_smtp_proxy_sessions_accepted_total 3");
	LINE("ses_smtp_proxy_sessions_rejected_total{reason=\"max_conns\"} 2");
	LINE("ses_smtp_proxy_sessions_rejected_total{reason=\"no_memory\"} 0");
	LINE("ses_smtp_proxy_sessions_ended_total{cause=\"client_close\"} 1");
	LINE("ses_smtp_proxy_relayed_bytes_total{direction=\"to_client\"} "
	    "12345");
	LINE("ses_smtp_proxy_upstream_connect_duration_seconds_bucket"
	    "{le=\"0.001\"} 1");
	LINE("ses_smtp_proxy_upstream_connect_duration_seconds_bucket"
	    "{le=\"0.005\"} 1");
	LINE("ses_smtp_proxy_upstream_connect_duration_seconds_bucket"
	    "{le=\"0.01\"} 2");
	LINE("ses_smtp_proxy_upstream_connect_duration_seconds_bucket"
	    "{le=\"10\"} 2");
	LINE("ses_smtp_proxy_upstream_connect_duration_seconds_bucket"
	    "{le=\"+Inf\"} 3");
	LINE("ses_smtp_proxy_upstream_connect_duration_seconds_count 3");
	LINE("ses_smtp_proxy_upstream_connect_duration_seconds_sum 20.008");
	LINE("ses_smtp_proxy_upstream_connect_duration_seconds_bucket"
	    "{le=\"2.5\"} 2");
	LINE("ses_smtp_proxy_session_duration_seconds_bucket{le=\"3600\"} 0");
	LINE("ses_smtp_proxy_sessions_active 2");
	LINE("ses_smtp_proxy_process_cpu_seconds_total 1.500001");
	LINE("ses_smtp_proxy_upstream_resolution_age_seconds +Inf");
	LINE("# TYPE ses_smtp_proxy_session_duration_seconds histogram");
	ASSERT_TRUE(strstr(text, "worker=") == NULL);
	ASSERT_U64_EQ(metrics_get(MC_ACCEPTED), 3);
	ASSERT_STR_EQ(metrics_label(MC_END_IDLE_TIMEOUT), "idle_timeout");
	TEST_DONE();
}

static void
test_workers(void)
{
	struct metrics_info mi;
	size_t len;
	unsigned w;

	TEST_START("METRICS_WORKERS_MAX workers: labels, sums, the size cap");
	memset(&mi, 0, sizeof(mi));
	mi.version = "9.9.9";
	mi.region = "ap-southeast-2";
	mi.mode = "vpc-endpoint";
	mi.fips = 1;
	mi.start_ms = 1700000000123ull;
	mi.workers = METRICS_WORKERS_MAX;
	mi.sync_token = UINT64_MAX;
	mi.sessions_limit = 4096;
	ASSERT_INT_EQ(metrics_init(&mi), 0);
	/* The largest values everywhere: the longest possible text. */
	for (w = 0; w < METRICS_WORKERS_MAX; w++) {
		metrics_set_worker(w);
		metrics_set(MG_ACTIVE, 1);
		metrics_set(MG_UPSTREAM_V4, 8);
		metrics_set(MG_RESOLVED_MS, 1000);
		metrics_set(MG_CPU_US, UINT64_MAX);
		metrics_set(MG_MAXRSS_BYTES, UINT64_MAX);
		metrics_set(MG_FDS, UINT64_MAX / 2);
	}
	for (w = 0; w < MC_N; w++)
		metrics_add((enum metrics_counter)w, UINT64_MAX);
	len = metrics_render(text, sizeof(text), UINT64_MAX);
	ASSERT_SIZE_GT(len, 0);
	ASSERT_SIZE_LE(len, METRICS_TEXT_MAX - 1);
	LINE("ses_smtp_proxy_build_info{version=\"9.9.9\","
	    "region=\"ap-southeast-2\",fips=\"true\",mode=\"vpc-endpoint\"} 1");
	/* No file was read: the families are there, without a sample. */
	LINE("# TYPE ses_smtp_proxy_allowlist_sync_token gauge");
	ASSERT_TRUE(strstr(text, "\nses_smtp_proxy_allowlist_sync_token ") ==
	    NULL);
	LINE("ses_smtp_proxy_start_time_seconds 1700000000.123");
	LINE("ses_smtp_proxy_sessions_active 16");
	LINE("ses_smtp_proxy_workers 16");
	LINE("ses_smtp_proxy_upstream_addresses{family=\"ipv4\",worker=\"15\"}"
	    " 8");
	LINE("ses_smtp_proxy_open_fds{worker=\"0\"} 9223372036854775807");
	/* A buffer one byte short: nothing, never a cut text. */
	ASSERT_SIZE_EQ(metrics_render(text, len, UINT64_MAX), 0);
	TEST_DONE();
}

int
main(void)
{

	test_alone();
	test_workers();
	return (test_summary());
}
