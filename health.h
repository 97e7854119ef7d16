#ifndef HEALTH_H_
#define HEALTH_H_

#include <sys/socket.h>

/*
 * --healthcheck: the image's HEALTHCHECK (a FROM scratch image has no shell
 * or nc).  A deep check: the relay accepts, reaches SES and relays its
 * greeting.  Every probe therefore opens one SES session.
 */

#define HEALTH_TIMEOUT_MS	5000

/**
 * health_prepare(sa): create the non-blocking socket and the epoll
 * instance for a check of ${sa}, before the sandbox.  Returns 0 or -1.
 */
int health_prepare(const struct sockaddr *sa);

/**
 * health_run(sa, len, proxy_header): connect to ${sa}, send a PROXY v1
 * "UNKNOWN" header first if ${proxy_header} (--proxy-protocol: the relay
 * then judges this process's own address against --allow-client), expect
 * a line starting "220" within HEALTH_TIMEOUT_MS, send QUIT.  Returns 0
 * when healthy, else 1 after logging why (healthcheck_failed).
 */
int health_run(const struct sockaddr *sa, socklen_t len, int proxy_header);

#endif /* !HEALTH_H_ */
