#ifndef HEALTHPORT_H_
#define HEALTHPORT_H_

#include <sys/socket.h>

/*
 * --health-listen ADDR:PORT: a shallow health port for load balancers and
 * orchestrators, separate from the SMTP listener.  It never contacts SES
 * and never counts against --max-conns.
 *
 *   GET /livez   200 whenever the event loop turns (liveness)
 *   GET /metrics the Prometheus text of metrics.h (docs/metrics.md)
 *   GET /readyz  200 when a validated SES address is known and the relay
 *                is not draining, else 503 (readiness)
 *   other paths  404; other methods 405; HEAD answers without a body
 *
 * A bare TCP connect and close (an NLB TCP health check) is fine too.  With
 * --proxy-protocol the request may start with a PROXY header, which is
 * skipped: an NLB sends one on its health checks as well.  A request must
 * be complete within HEALTHPORT_MS and HEALTHREQ_MAX bytes (healthreq.h),
 * else it is closed.  At most HEALTHPORT_CONNS are open at once; a new one takes the
 * place of the oldest of the source address that holds the most.
 */

#define HEALTHPORT_CONNS	16
#define HEALTHPORT_MS		2000

/**
 * healthport_listen(sa, len): create the listening socket, before the
 * sandbox.  Returns 0, or -1 after logging startup_failed with the flag,
 * address and syscall.
 */
int healthport_listen(const struct sockaddr *sa, socklen_t len);

/**
 * healthport_start(proxy_protocol, ready, gauges): serve probes from the
 * loop (after loop_init), if healthport_listen made a socket; ${ready}()
 * answers /readyz, and ${gauges}() refreshes this worker's gauges before
 * /metrics is made.  Returns 0, or -1 after logging startup_failed.
 */
int healthport_start(int proxy_protocol, int (*ready)(void),
    void (*gauges)(void));

/** healthport_stop(): close the listener and any probe (at exit). */
void healthport_stop(void);

#endif /* !HEALTHPORT_H_ */
