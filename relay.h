#ifndef RELAY_H_
#define RELAY_H_

#include <sys/socket.h>

#include "cidr.h"

/*
 * Client sessions: accept, admission (client networks, connection cap),
 * the upstream connect with failover, the byte-for-byte relay with
 * backpressure and half-close, timeouts, and the SIGTERM drain.
 */

struct relay_config {
	unsigned max_conns;
	unsigned idle_s;
	unsigned max_session_s;		/* 0: no cap */
	unsigned connect_s;
	unsigned drain_s;
	unsigned stats_s;		/* 0: no stats events */
	unsigned metrics_s;		/* gauges refreshed; 0: never */
	const struct cidrset *allow_client;	/* empty: any client */
	int	proxy_protocol;		/* a PROXY header starts each conn */
	unsigned worker, nworkers;	/* --workers: this one, of all (0 of 1 alone) */
	unsigned *shared_conns;		/* --workers: sessions of all; or NULL */
};

/**
 * relay_listen(sa, len, what): create a listening socket on ${sa}
 * (listener_socket) for the relay's sessions; call before relay_init().
 * Returns 0, or -1 with errno set and the failing syscall's name stored in
 * ${*what}.
 */
int relay_listen(const struct sockaddr *sa, socklen_t len, const char **what);

/**
 * relay_init(cfg): take ${cfg}; call after loop_init().  Returns 0, or -1
 * after logging startup_failed.
 */
int relay_init(const struct relay_config *cfg);

/** relay_upstream_changed(): a resolution completed (upstream notify). */
void relay_upstream_changed(void);

/**
 * relay_ready(): can a new session reach SES now?  (A validated address is
 * known and the relay is not draining: the health port's /readyz.)
 */
int relay_ready(void);

/**
 * relay_metrics(): put this worker's gauges (sessions, descriptors, CPU,
 * memory, SES addresses) into the metrics; every metrics_s, and before a
 * scrape.
 */
void relay_metrics(void);

/** relay_run(): serve until drained; returns the exit code (0 or 1). */
int relay_run(void);

#endif /* !RELAY_H_ */
