/*
 * --healthcheck (health.h): one TCP connect to the relay and its 220
 * greeting, from a boxed process of its own.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cidr.h"
#include "health.h"
#include "log.h"
#include "loop.h"

static int fd = -1, ep = -1;

int
health_prepare(const struct sockaddr *sa)
{

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    IPPROTO_TCP);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0 || ep < 0) {
		log_errno("healthcheck_failed", fd < 0 ? "socket" :
		    "epoll_create1");
		return (-1);
	}
	return (0);
}

static int
unhealthy(const struct sockaddr *sa, const char *why)
{
	struct log_line l;
	char a[CIDR_ADDRSTRLEN + 8];

	cidr_sockaddr_format(sa, a);
	log_begin(&l, LOG_ERROR, "healthcheck_failed");
	log_str(&l, "addr", a);
	log_str(&l, "error", why);
	log_end(&l);
	return (1);
}

/* Wait for ${events} on fd until ${deadline}; 0 when ready. */
static int
wait_for(uint32_t events, uint64_t deadline)
{
	struct epoll_event ev;
	uint64_t now = loop_clock();
	int n;

	if (now >= deadline)
		return (-1);
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0 &&
	    (errno != EEXIST || epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) != 0))
		return (-1);
	do {
		n = epoll_wait(ep, &ev, 1, (int)(deadline - now));
	} while (n < 0 && errno == EINTR);
	return (n == 1 ? 0 : -1);
}

int
health_run(const struct sockaddr *sa, socklen_t len, int proxy_header)
{
	static const char quit[] = "QUIT\r\n";
	/* A v1 header that names no client: the relay judges our own. */
	static const char unknown[] = "PROXY UNKNOWN\r\n";
	uint64_t deadline = loop_clock() + HEALTH_TIMEOUT_MS;
	char line[512] = "";
	size_t got = 0;
	socklen_t sl = sizeof(int);
	ssize_t n;
	int err = 0;

	if (connect(fd, sa, len) != 0 && errno != EINPROGRESS)
		return (unhealthy(sa, strerror(errno)));
	if (wait_for(EPOLLOUT, deadline) != 0)
		return (unhealthy(sa, "connect timed out"));
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 || err != 0)
		return (unhealthy(sa, strerror(err ? err : errno)));
	if (proxy_header && send(fd, unknown, sizeof(unknown) - 1,
	    MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(unknown) - 1)
		return (unhealthy(sa, "cannot send the PROXY header"));
	/* Read the greeting up to its end of line. */
	while (memchr(line, '\n', got) == NULL && got < sizeof(line)) {
		if (wait_for(EPOLLIN, deadline) != 0)
			return (unhealthy(sa, "no greeting within 5 s"));
		n = recv(fd, line + got, sizeof(line) - got, 0);
		if (n == 0)
			return (unhealthy(sa, "closed before a greeting"));
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return (unhealthy(sa, strerror(errno)));
		if (n > 0)
			got += (size_t)n;
	}
	if (got < 4 || memcmp(line, "220", 3) != 0 ||
	    (line[3] != ' ' && line[3] != '-'))
		return (unhealthy(sa, "greeting is not 220 (SES unreachable "
		    "or refusing)"));
	(void)send(fd, quit, sizeof(quit) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	return (0);
}
