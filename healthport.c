/*
 * The health port (healthport.h): its probe connections, their requests
 * and answers, and their deadlines.  Its listening socket is a listener.c
 * set of one.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cidr.h"
#include "healthport.h"
#include "healthreq.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

/* One probe connection: its request so far. */
struct probe {
	struct loop_watch w;
	uint64_t deadline;
	size_t	len;
	int	header_done;	/* a PROXY header was skipped, or none came */
	struct cidr_addr src;	/* the socket's peer */
	char	*out;		/* a /metrics answer not yet all sent */
	size_t	outlen, sent;
	char	buf[HEALTHREQ_MAX];
};

static struct listener lis;	/* none until healthport_listen */
static struct loop_timer timer;	/* the earliest probe deadline */
static struct probe probes[HEALTHPORT_CONNS];
static int proxy_protocol;
static int (*is_ready)(void);
static void (*refresh)(void);	/* this worker's gauges, before a scrape */

int
healthport_listen(const struct sockaddr *sa, socklen_t len)
{
	char name[CIDR_ADDRSTRLEN + 8], msg[160];
	const char *what;
	struct log_line l;
	int fd;

	cidr_sockaddr_format(sa, name);
	if ((fd = listener_socket(sa, len, &what)) < 0) {
		snprintf(msg, sizeof(msg), "--health-listen %s: %s: %s", name,
		    what, strerror(errno));
		log_msg(LOG_ERROR, "startup_failed", msg);
		return (-1);
	}
	(void)listener_add(&lis, fd);	/* the first of CONFIG_MAX_LISTEN */
	log_begin(&l, LOG_INFO, "health_listening");
	log_str(&l, "addr", name);
	log_end(&l);
	return (0);
}

/*
 * The health port's own descriptors (its listener and open probes), in
 * this worker's gauge: kept current on every change, so that a scrape
 * answered by another worker sees them too.
 */
static void
count_fds(void)
{
	uint64_t n = listener_fds(&lis);
	int i;

	for (i = 0; i < HEALTHPORT_CONNS; i++)
		n += probes[i].w.fd >= 0;
	metrics_set(MG_PROBE_FDS, n);
}

static void
probe_close(struct probe *p)
{

	loop_watch_close(&p->w);
	free(p->out);
	p->out = NULL;
	count_fds();
}

/* Arm the timer for the earliest probe deadline. */
static void
timer_arm(void)
{
	uint64_t at = 0;
	int i;

	for (i = 0; i < HEALTHPORT_CONNS; i++)
		if (probes[i].w.fd >= 0 && (at == 0 || probes[i].deadline < at))
			at = probes[i].deadline;
	timer.at = at;
}

/* Answer ${code} ${status} with ${body}, or without it if ${head}. */
static void
respond(struct probe *p, int code, const char *status, const char *body,
    int head)
{
	char out[256];
	int n;

	n = snprintf(out, sizeof(out), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", code, status, strlen(body),
	    head ? "" : body);
	/* Best effort: a short answer fits in an empty socket buffer. */
	if (n > 0 && (size_t)n < sizeof(out))
		(void)send(p->w.fd, out, (size_t)n, MSG_NOSIGNAL |
		    MSG_DONTWAIT);
}

/*
 * Send what is left of ${p}'s /metrics answer.  Returns 1 when it is all
 * sent or the peer is gone (close), 0 to wait for EPOLLOUT.
 */
static int
send_rest(struct probe *p)
{
	ssize_t n;

	while (p->sent < p->outlen) {
		n = send(p->w.fd, p->out + p->sent, p->outlen - p->sent,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return (loop_watch_set(&p->w, EPOLLOUT) != 0);
		if (n <= 0)
			return (1);
		p->sent += (size_t)n;
	}
	return (1);
}

#define METRICS_HEAD_MAX	160

/*
 * GET or HEAD /metrics: the text, made now from the shared counters and
 * this worker's fresh gauges, in a buffer of the probe's own, since it
 * may take more than one send.  Returns 1 when the probe can be closed.
 */
static int
answer_metrics(struct probe *p, int head)
{
	char *body;
	size_t len;
	int n;

	if ((p->out = malloc(METRICS_HEAD_MAX + METRICS_TEXT_MAX)) == NULL) {
		respond(p, 503, "Service Unavailable", "no memory\n", head);
		return (1);
	}
	refresh();
	body = p->out + METRICS_HEAD_MAX;
	if ((len = metrics_render(body, METRICS_TEXT_MAX,
	    loop_wall_ms())) == 0) {
		respond(p, 500, "Internal Server Error", "metrics too long\n",
		    head);
		return (1);
	}
	n = snprintf(p->out, METRICS_HEAD_MAX, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
	/* The head goes right before the body: one contiguous answer. */
	p->sent = METRICS_HEAD_MAX - (size_t)n;
	memmove(p->out + p->sent, p->out, (size_t)n);
	p->outlen = head ? METRICS_HEAD_MAX : METRICS_HEAD_MAX + len;
	return (send_rest(p));
}

/*
 * Answer ${p}'s whole request, judged ${r} (healthreq.h).  Returns 1 when
 * the probe can be closed, 0 while a /metrics answer is still going out.
 */
static int
answer(struct probe *p, const struct healthreq *r)
{

	switch (r->verdict) {
	case HEALTHREQ_LIVEZ:
		respond(p, 200, "OK", "ok\n", r->head);
		break;
	case HEALTHREQ_READYZ:
		if (is_ready())
			respond(p, 200, "OK", "ready\n", r->head);
		else
			respond(p, 503, "Service Unavailable", "not ready\n",
			    r->head);
		break;
	case HEALTHREQ_METRICS:
		return (answer_metrics(p, r->head));
	case HEALTHREQ_NOT_FOUND:
		respond(p, 404, "Not Found", "not found\n", r->head);
		break;
	default:
		respond(p, 405, "Method Not Allowed", "method not allowed\n",
		    0);
		break;
	}
	return (1);
}

static void
callback_probe(struct loop_watch *w, uint32_t revents)
{
	struct probe *p = CONTAINER_OF(w, struct probe, w);
	struct healthreq r;
	ssize_t n;

	if (p->out != NULL) {
		/* The rest of a /metrics answer; the request is done. */
		if ((revents & (EPOLLERR | EPOLLHUP)) || send_rest(p))
			probe_close(p);
		return;
	}
	n = recv(w->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		/* A TCP check: connect, then close. */
		probe_close(p);
		return;
	}
	p->len += (size_t)n;
	healthreq_parse(p->buf, p->len, proxy_protocol && !p->header_done,
	    &r);
	/* Drop a PROXY header: the request gets the whole buffer. */
	memmove(p->buf, p->buf + r.skip, p->len - r.skip);
	p->len -= r.skip;
	p->header_done |= r.header_done;
	if (r.verdict == HEALTHREQ_MORE)
		return;
	if (r.verdict == HEALTHREQ_CLOSE || answer(p, &r))
		probe_close(p);
}

/*
 * Are ${a} and ${b} one source?  An IPv6 host usually holds a whole /64,
 * so IPv6 sources are counted by /64; IPv4 by address.
 */
static int
same_source(const struct cidr_addr *a, const struct cidr_addr *b)
{

	if (a->family != b->family)
		return (0);
	return (memcmp(a->a, b->a, a->family == AF_INET6 ? 8 : 4) == 0);
}

/* How many slots does ${src} hold? */
static int
held_by(const struct cidr_addr *src)
{
	int i, n = 0;

	for (i = 0; i < HEALTHPORT_CONNS; i++)
		if (probes[i].w.fd >= 0 && same_source(&probes[i].src, src))
			n++;
	return (n);
}

/*
 * A slot for a new probe from ${src}: a free one, else the oldest probe of
 * the source that holds the most slots, ${src} included.  Evicting (not
 * refusing the newest) means that idle connections cannot starve real
 * probes; charging the heaviest source means that a flood from one
 * address (or IPv6 /64) churns through its own slots and never evicts a
 * probe from another (a load balancer's), however fast it connects.
 */
static struct probe *
probe_slot(const struct cidr_addr *src)
{
	struct probe *victim = NULL;
	int i, n, most = 0;

	for (i = 0; i < HEALTHPORT_CONNS; i++)
		if (probes[i].w.fd < 0)
			return (&probes[i]);
	for (i = 0; i < HEALTHPORT_CONNS; i++) {
		n = same_source(&probes[i].src, src) ? held_by(src) + 1 :
		    held_by(&probes[i].src);
		if (victim == NULL || n > most || (n == most &&
		    probes[i].deadline < victim->deadline)) {
			most = n;
			victim = &probes[i];
		}
	}
	probe_close(victim);
	return (victim);
}

static void
callback_listen_error(void)
{

	log_errno("health_error", "epoll_ctl");
}

/* A probe connection ${fd} from ${ss} (listener.c). */
static void
callback_accept(int fd, const struct sockaddr_storage *ss)
{
	struct cidr_addr src;
	struct probe *p;
	uint16_t port;

	memset(&src, 0, sizeof(src));
	(void)cidr_addr_from_sockaddr((const struct sockaddr *)ss, &src,
	    &port);
	p = probe_slot(&src);
	p->w.fd = fd;
	p->src = src;
	p->len = 0;
	p->header_done = 0;
	p->deadline = loop_now() + HEALTHPORT_MS;
	if (loop_watch_set(&p->w, EPOLLIN) != 0)
		probe_close(p);
	count_fds();
	timer_arm();
}

static void
callback_timer(struct loop_timer *t)
{
	int i;

	(void)t;
	for (i = 0; i < HEALTHPORT_CONNS; i++)
		if (probes[i].w.fd >= 0 && probes[i].deadline <= loop_now())
			probe_close(&probes[i]);
	timer_arm();
}

void
healthport_stop(void)
{
	int i;

	/* Without --health-listen the slots were never set up (fd 0). */
	if (lis.n == 0)
		return;
	for (i = 0; i < HEALTHPORT_CONNS; i++)
		probe_close(&probes[i]);
	listener_close(&lis);
}

int
healthport_start(int pp, int (*ready)(void), void (*gauges)(void))
{
	int i;

	if (lis.n == 0)
		return (0);
	proxy_protocol = pp;
	is_ready = ready;
	refresh = gauges;
	for (i = 0; i < HEALTHPORT_CONNS; i++) {
		probes[i].w.fd = -1;
		probes[i].w.cb = callback_probe;
	}
	timer.cb = callback_timer;
	if (loop_timer_add(&timer) != 0 || listener_init(&lis,
	    HEALTHPORT_CONNS, callback_accept, callback_listen_error) != 0)
		return (-1);
	listener_watch(&lis);
	count_fds();
	return (0);
}
