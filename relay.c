/*
 * Client sessions (relay.h): admission of each accepted client, the
 * upstream connect with failover, the relay of both directions through
 * pump.c, and the end of each session (close, timeouts, the SIGTERM
 * drain), with the rate-limited warnings and the stats line.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deadline.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "proxyproto.h"
#include "pump.h"
#include "relay.h"
#include "staleness.h"
#include "upstream.h"

/*
 * Accepts per listener per loop turn: small batches interleave new
 * sessions with the relaying of open ones, rather than starting a burst
 * of upstream handshakes at once (bench/README.md, "Connections").
 */
#define ACCEPT_BATCH		8
#define RATELIMIT_MS		1000	/* repetitive warnings: one line a second */
#define PROXY_HEADER_MS		5000	/* --proxy-protocol: the header's deadline */

static const char msg_denied[] = "554 5.7.1 Access denied\r\n";
static const char msg_busy[] =
    "421 4.3.2 Too many connections, try again later\r\n";
/* malloc failed: a shortage of this process, not a full relay. */
static const char msg_nomem[] =
    "421 4.3.0 Temporary resource shortage, try again later\r\n";
static const char msg_unavail[] =
    "421 4.4.0 SES endpoint unavailable, try again later\r\n";

enum cstate {
	C_PROXY_HEADER,		/* --proxy-protocol: waiting for the header */
	C_WAIT_DNS,		/* no validated address yet; resolving */
	C_CONNECTING,		/* non-blocking connect to one address */
	C_RELAY
};

/* Sessions are edge-triggered: each socket is added once, never changed. */
#define SESSION_EVENTS	(EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET)

struct conn {
	struct pump_end cl, ul;		/* client, upstream */
	enum cstate state;
	struct pump up, down;		/* client->SES, SES->client */
	uint64_t id;
	uint64_t t_open, t_active, t_attempt;
	struct deadline dl;		/* as stored in the heap */
	unsigned tries;
	size_t	first;			/* this session's first address */
	int	have_up;
	struct cidr_addr upaddr;
	struct cidr_addr peer;		/* the client, for --allow-client */
	char	client[CIDR_ADDRSTRLEN + 8];
	struct conn *prev, *next;	/* live list, or dead list (next) */
	struct conn *rq_next;		/* run queue, while queued */
	int	queued;
	enum metrics_counter first_fin;	/* MC_ACCEPTED: no FIN yet */
};

static struct relay_config cfg;
static struct listener lis;
static struct conn *live, *dead;
static struct deadline_heap heap;	/* every session, by deadline */
static unsigned nconns;
static uint64_t conn_seq;
static int draining;
static uint64_t conns_cut;
static const char *stop_reason = "drained";
static struct conn *runq;	/* sessions that spent their read budget */
static struct loop_timer conn_timer, stats_timer, drain_timer, runq_timer;
static struct loop_timer metrics_timer;
/* At most one line a second for each kind of repetitive warning. */
struct ratelimit {
	uint64_t next;
	uint64_t suppressed;
};
static struct ratelimit rl_denied, rl_busy, rl_nomem, rl_connect, rl_header;

static struct {
	uint64_t accepted, rejected, closed, bytes_in, bytes_out;
	uint64_t rejected_nomem;	/* of rejected: no_memory */
	uint64_t upstream_failures;
} st;

static void callback_client(struct loop_watch *, uint32_t);
static void callback_upstream(struct loop_watch *, uint32_t);
static void conn_close(struct conn *, enum metrics_counter);
static void conn_release(struct conn *);
static void conn_drop(struct conn *, struct ratelimit *,
    enum metrics_counter, const char *, size_t);
static void connect_next(struct conn *);
static void fail_no_upstream(struct conn *);

/* ---- deadlines */

/* When must ${c} next be looked at, in its current state? */
static uint64_t
conn_deadline(const struct conn *c)
{
	uint64_t d;

	switch (c->state) {
	case C_PROXY_HEADER:
		return (c->t_open + PROXY_HEADER_MS);
	case C_WAIT_DNS:	/* t_attempt: when the wait began */
	case C_CONNECTING:	/* t_attempt: this address's connect */
		return (c->t_attempt + cfg.connect_s * 1000ull);
	default:
		d = c->t_active + cfg.idle_s * 1000ull;
		if (cfg.max_session_s != 0 &&
		    c->t_open + cfg.max_session_s * 1000ull < d)
			d = c->t_open + cfg.max_session_s * 1000ull;
		return (d);
	}
}

/* Re-key ${c} after a state change (its deadline may move either way). */
static void
conn_rekey(struct conn *c)
{

	deadline_update(&heap, &c->dl, conn_deadline(c));
}

/* ---- logging helpers */

/*
 * May a rate-limited line be written now?  A flood must not become a flood
 * of log lines; the next line carries how many were suppressed.
 */
static int
ratelimit_pass(struct ratelimit *rl, uint64_t *suppressed)
{

	if (loop_now() < rl->next) {
		rl->suppressed++;
		return (0);
	}
	rl->next = loop_now() + RATELIMIT_MS;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return (1);
}

static void
log_rejected(const char *client, struct ratelimit *rl,
    enum metrics_counter reason)
{
	struct log_line l;
	uint64_t suppressed;

	metrics_add(reason, 1);
	if (!ratelimit_pass(rl, &suppressed))
		return;
	log_begin(&l, LOG_WARN, "conn_rejected");
	log_str(&l, "client", client);
	log_str(&l, "reason", metrics_label(reason));
	log_u64(&l, "suppressed", suppressed);
	log_end(&l);
}

static void
log_connect_failed(const struct conn *c, const char *error)
{
	struct log_line l;
	char a[CIDR_ADDRSTRLEN];
	uint64_t suppressed;

	if (!ratelimit_pass(&rl_connect, &suppressed))
		return;
	cidr_addr_format(&c->upaddr, a);
	log_begin(&l, LOG_WARN, "upstream_connect_failed");
	log_u64(&l, "conn", c->id);
	log_str(&l, "upstream", a);
	log_str(&l, "error", error);
	log_u64(&l, "suppressed", suppressed);
	log_end(&l);
}

static void
log_stats(void)
{
	struct log_line l;

	log_begin(&l, LOG_INFO, "stats");
	log_u64(&l, "conns", nconns);
	log_u64(&l, "accepted", st.accepted);
	log_u64(&l, "rejected", st.rejected);
	log_u64(&l, "rejected_no_memory", st.rejected_nomem);
	log_u64(&l, "closed", st.closed);
	log_u64(&l, "bytes_in", st.bytes_in);
	log_u64(&l, "bytes_out", st.bytes_out);
	log_u64(&l, "upstream_failures", st.upstream_failures);
	log_u64(&l, "dns_queries", upstream_queries());
	log_u64(&l, "upstreams", upstream_count());
	log_u64(&l, "pipes", pump_pipes());
	log_u64(&l, "allowlist_age_days", staleness_age_days());
	log_end(&l);
}

/* ---- listening and admission */

int
relay_listen(const struct sockaddr *sa, socklen_t len, const char **what)
{
	int fd;

	if ((fd = listener_socket(sa, len, what)) < 0)
		return (-1);
	if (listener_add(&lis, fd) != 0) {
		close(fd);
		errno = EMFILE;
		*what = "listen (too many)";
		return (-1);
	}
	return (0);
}

static void
callback_listen_error(void)
{

	log_errno("conn_error", "epoll_ctl listener");
}

/* Answer with one SMTP line and close, without touching SES. */
static void
reject(int fd, const char *msg, size_t len)
{

	/* Best effort: the line fits in an empty socket buffer. */
	(void)send(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	st.rejected++;
}

static void
set_nodelay(int fd)
{
	int one = 1;

	/* SMTP is request/response: pass small writes on at once. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A session for the accepted ${fd}; counted against --max-conns. */
static struct conn *
conn_new(int fd, const struct sockaddr_storage *ss)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	/* With --workers, worker w of n numbers its sessions w+1, w+1+n... */
	c->id = conn_seq++ * cfg.nworkers + cfg.worker + 1;
	c->t_open = c->t_active = loop_now();
	c->cl.w.fd = fd;
	c->cl.w.cb = callback_client;
	c->ul.w.fd = -1;
	c->ul.w.cb = callback_upstream;
	pump_init(&c->up);
	pump_init(&c->down);
	(void)cidr_addr_from_sockaddr((const struct sockaddr *)ss, &c->peer,
	    NULL);
	cidr_sockaddr_format((const struct sockaddr *)ss, c->client);
	/* Never full: the heap holds max_conns, as slot_take allows. */
	if (deadline_insert(&heap, &c->dl, conn_deadline(c)) != 0) {
		free(c);
		return (NULL);
	}
	c->next = live;
	if (live != NULL)
		live->prev = c;
	live = c;
	nconns++;
	metrics_set(MG_ACTIVE, nconns);
	return (c);
}

/* The session of ${c} begins: log it, then find SES.  ${via}: the LB. */
static void
conn_start(struct conn *c, const char *via)
{
	struct log_line l;

	st.accepted++;
	metrics_add(MC_ACCEPTED, 1);
	log_begin(&l, LOG_INFO, "conn_open");
	log_u64(&l, "conn", c->id);
	log_str(&l, "client", c->client);
	if (via != NULL)
		log_str(&l, "via", via);
	log_end(&l);

	c->state = C_WAIT_DNS;
	c->t_attempt = loop_now();	/* not counting a PROXY header's wait */
	conn_rekey(c);
	if (upstream_count() > 0) {
		connect_next(c);
		return;
	}
	/* No usable address: wait for a resolution in flight, or fail. */
	upstream_kick();
	if (!upstream_resolving())
		fail_no_upstream(c);
}

/*
 * A place under --max-conns.  With --workers the count is shared by all
 * workers (a counter in a MAP_SHARED page mapped before the fork), so the
 * cap is the relay's, not each worker's.
 */
static int
slot_take(void)
{

	if (nconns >= cfg.max_conns)
		return (0);
	if (cfg.shared_conns == NULL)
		return (1);
	if (__atomic_add_fetch(cfg.shared_conns, 1, __ATOMIC_RELAXED) <=
	    cfg.max_conns)
		return (1);
	__atomic_sub_fetch(cfg.shared_conns, 1, __ATOMIC_RELAXED);
	return (0);
}

static void
slot_give(void)
{

	if (cfg.shared_conns != NULL)
		__atomic_sub_fetch(cfg.shared_conns, 1, __ATOMIC_RELAXED);
}

static int
client_allowed(const struct cidr_addr *a)
{

	return (cfg.allow_client->n == 0 ||
	    cidrset_find(cfg.allow_client, a) != NULL);
}

/* Answer ${fd} with ${msg} and close it; log conn_rejected ${reason}. */
static void
turn_away(int fd, const struct sockaddr_storage *ss, const char *msg,
    size_t len, struct ratelimit *rl, enum metrics_counter reason)
{
	char buf[CIDR_ADDRSTRLEN + 8];

	cidr_sockaddr_format((const struct sockaddr *)ss, buf);
	reject(fd, msg, len);
	log_rejected(buf, rl, reason);
}

/* Admission for one accepted socket. */
static void
admit(int fd, const struct sockaddr_storage *ss)
{
	struct cidr_addr a;
	struct conn *c;

	/* Behind a load balancer the header names the client: see below. */
	if (!cfg.proxy_protocol &&
	    (cidr_addr_from_sockaddr((const struct sockaddr *)ss, &a, NULL) ||
	    !client_allowed(&a))) {
		turn_away(fd, ss, msg_denied, sizeof(msg_denied) - 1,
		    &rl_denied, MC_REJ_ACCESS_DENIED);
		return;
	}
	if (!slot_take()) {
		turn_away(fd, ss, msg_busy, sizeof(msg_busy) - 1, &rl_busy,
		    MC_REJ_MAX_CONNS);
		return;
	}
	/*
	 * Out of memory (RLIMIT_DATA, a cgroup limit) below --max-conns: a
	 * reason and a temporary answer of its own, so that the operator
	 * looks at memory, not at the number of replicas.
	 */
	if ((c = conn_new(fd, ss)) == NULL) {
		slot_give();
		st.rejected_nomem++;
		turn_away(fd, ss, msg_nomem, sizeof(msg_nomem) - 1, &rl_nomem,
		    MC_REJ_NO_MEMORY);
		return;
	}
	/*
	 * The client is watched from its accept: whatever it sends (a PROXY
	 * header, or bytes and a FIN during the upstream connect) is known
	 * by the time the relay starts, without another loop turn.
	 */
	if (loop_watch_set(&c->cl.w, SESSION_EVENTS) != 0) {
		log_errno("conn_error", "epoll_ctl");
		(void)send(fd, msg_nomem, sizeof(msg_nomem) - 1,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		st.rejected++;
		metrics_add(MC_REJ_ERROR, 1);
		conn_release(c);
		return;
	}
	if (!cfg.proxy_protocol) {
		conn_start(c, NULL);
		return;
	}
	c->state = C_PROXY_HEADER;
	conn_rekey(c);
}

/*
 * --proxy-protocol: the header is in; its source address is the client
 * (for --allow-client and the logs) unless it is LOCAL, a load balancer's
 * own health check.
 */
static void
proxy_client(struct conn *c, const struct proxyproto *pp)
{
	struct sockaddr_storage ss;
	char via[sizeof(c->client)];

	memcpy(via, c->client, sizeof(via));
	if (!pp->local) {
		(void)cidr_addr_to_sockaddr(&pp->src, pp->sport, &ss);
		cidr_sockaddr_format((const struct sockaddr *)&ss, c->client);
		c->peer = pp->src;
	}
	if (!client_allowed(&c->peer)) {
		conn_drop(c, &rl_denied, MC_REJ_ACCESS_DENIED, msg_denied,
		    sizeof(msg_denied) - 1);
		return;
	}
	conn_start(c, via);
}

/*
 * --proxy-protocol: look at what the client sent so far (MSG_PEEK takes
 * nothing); once a whole header is there, take exactly its bytes, so
 * that what follows it is relayed.  Anything that is not a header, or a
 * FIN before one is complete, ends the connection without a word.
 */
static void
read_proxy_header(struct conn *c)
{
	uint8_t buf[PROXYPROTO_MAX];
	struct proxyproto pp;
	ssize_t n, hl;

	if (!c->cl.readable)
		return;
	n = recv(c->cl.w.fd, buf, sizeof(buf), MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		pump_end_empty(&c->cl);
		return;
	}
	hl = n > 0 ? proxyproto_parse(buf, (size_t)n, &pp) : -1;
	if (hl == 0 && !c->cl.hup) {
		/* Incomplete: the next bytes bring a new edge. */
		pump_end_empty(&c->cl);
		return;
	}
	if (hl <= 0 || recv(c->cl.w.fd, buf, (size_t)hl, 0) != hl) {
		conn_drop(c, &rl_header, MC_REJ_PROXY_HEADER_INVALID, NULL,
		    0);
		return;
	}
	proxy_client(c, &pp);
}

/* ---- upstream connect with failover */

static void
fail_no_upstream(struct conn *c)
{

	(void)send(c->cl.w.fd, msg_unavail, sizeof(msg_unavail) - 1,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
	conn_close(c, MC_END_NO_UPSTREAM);
}

/*
 * A connect of ${c} ended: with error ${err}, or established if 0.  Its
 * time and, if it failed, why, for the metrics.
 */
static void
connect_outcome(const struct conn *c, int err)
{
	enum metrics_counter why;

	metrics_observe(MH_CONNECT, loop_now() - c->t_attempt);
	if (err == 0)
		return;
	switch (err) {
	case ECONNREFUSED:
		why = MC_CONNECT_FAIL_REFUSED;
		break;
	case ETIMEDOUT:
		why = MC_CONNECT_FAIL_TIMEOUT;
		break;
	case ENETUNREACH:
	case EHOSTUNREACH:
		why = MC_CONNECT_FAIL_UNREACHABLE;
		break;
	default:
		why = MC_CONNECT_FAIL_OTHER;
	}
	metrics_add(why, 1);
}

/* Start a connect to ${c}'s next address; each address is tried once. */
static void
connect_next(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	loop_watch_close(&c->ul.w);
	pump_end_clear(&c->ul);
	while (c->tries < upstream_count()) {
		if (c->tries == 0)
			c->first = upstream_first();
		if (upstream_pick(c->first + c->tries++, &c->upaddr) != 0)
			break;
		c->have_up = 1;
		sl = cidr_addr_to_sockaddr(&c->upaddr, UPSTREAM_PORT, &ss);
		fd = socket(c->upaddr.family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, IPPROTO_TCP);
		if (fd < 0) {
			log_errno("conn_error", "socket");
			break;
		}
		set_nodelay(fd);
		metrics_add(MC_CONNECT_ATTEMPTS, 1);
		c->t_attempt = loop_now();
		if (connect(fd, (struct sockaddr *)&ss, sl) == 0 ||
		    errno == EINPROGRESS) {
			c->ul.w.fd = fd;
			c->state = C_CONNECTING;
			conn_rekey(c);
			/* EPOLLOUT reports the connect's end. */
			if (loop_watch_set(&c->ul.w, SESSION_EVENTS) == 0)
				return;
			log_errno("conn_error", "epoll_ctl");
			break;
		}
		log_connect_failed(c, strerror(errno));
		connect_outcome(c, errno);
		close(fd);
		st.upstream_failures++;
		upstream_kick();
	}
	fail_no_upstream(c);
}

static void
relay_pump(struct conn *c);

/*
 * The connect on ${c}'s upstream socket finished: EPOLLOUT alone means
 * it is established; EPOLLERR or EPOLLHUP that it failed, and SO_ERROR
 * says why.
 */
static void
connect_done(struct conn *c, uint32_t revents)
{
	socklen_t sl = sizeof(int);
	int err = 0;

	if (revents & (EPOLLERR | EPOLLHUP)) {
		if (getsockopt(c->ul.w.fd, SOL_SOCKET, SO_ERROR, &err,
		    &sl) != 0)
			err = errno;
		if (err == 0)
			err = ECONNREFUSED;
		log_connect_failed(c, strerror(err));
		connect_outcome(c, err);
		st.upstream_failures++;
		upstream_kick();
		connect_next(c);
		return;
	}
	if (!(revents & EPOLLOUT))
		return;
	connect_outcome(c, 0);
	c->state = C_RELAY;
	c->t_active = loop_now();
	conn_rekey(c);
	/* The client is watched since its accept: its flags are current.
	 * A fresh socket's send buffer is empty. */
	pump_events(&c->cl, EPOLLOUT);
	relay_pump(c);
}

int
relay_ready(void)
{

	return (!draining && upstream_count() > 0);
}

void
relay_upstream_changed(void)
{
	struct conn *c, *n;

	for (c = live; c != NULL; c = n) {
		n = c->next;
		if (c->state != C_WAIT_DNS)
			continue;
		if (upstream_count() > 0)
			connect_next(c);
		else if (!upstream_resolving())
			fail_no_upstream(c);
	}
}

/* ---- the relay proper */

/* Abort ${fd} with a RST rather than a FIN (propagates a reset). */
static void
reset_fd(int fd)
{
	struct linger lg = { 1, 0 };

	if (fd >= 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* A socket error on ${c}'s client side (or upstream side) ends it. */
static void
conn_fail(struct conn *c, int client_side)
{
	int reset = errno == ECONNRESET || errno == EPIPE ||
	    errno == ETIMEDOUT || errno == EHOSTUNREACH;

	if (!reset) {
		log_errno("conn_error", client_side ? "client socket" :
		    "upstream socket");
		conn_close(c, MC_END_ERROR);
		return;
	}
	reset_fd(client_side ? c->ul.w.fd : c->cl.w.fd);
	conn_close(c, client_side ? MC_END_CLIENT_RESET :
	    MC_END_UPSTREAM_RESET);
}

static void
runq_add(struct conn *c)
{

	if (c->queued)
		return;
	c->queued = 1;
	c->rq_next = runq;
	runq = c;
	runq_timer.at = loop_now() != 0 ? loop_now() : 1;
}

static void
runq_remove(struct conn *c)
{
	struct conn **pp;

	if (!c->queued)
		return;
	for (pp = &runq; *pp != NULL; pp = &(*pp)->rq_next) {
		if (*pp == c) {
			*pp = c->rq_next;
			break;
		}
	}
	c->queued = 0;
}

/* Move what both directions of ${c} can move now; close when both ended. */
static void
relay_pump(struct conn *c)
{
	int active = 0, r, more;

	r = pump_run(&c->up, &c->cl, &c->ul, &active);
	if (r == PUMP_FAIL_SRC || r == PUMP_FAIL_DST) {
		conn_fail(c, r == PUMP_FAIL_SRC);
		return;
	}
	more = r == PUMP_MORE;
	r = pump_run(&c->down, &c->ul, &c->cl, &active);
	if (r == PUMP_FAIL_SRC || r == PUMP_FAIL_DST) {
		conn_fail(c, r == PUMP_FAIL_DST);
		return;
	}
	more |= r == PUMP_MORE;
	if (c->first_fin == MC_ACCEPTED && (c->up.eof || c->down.eof))
		c->first_fin = c->up.eof ? MC_END_CLIENT_CLOSE :
		    MC_END_UPSTREAM_CLOSE;
	if (active)
		c->t_active = loop_now();
	/* Both ended: close(2) sends both FINs; no shutdown needed. */
	if (pump_done(&c->up) && pump_done(&c->down)) {
		conn_close(c, c->first_fin);
		return;
	}
	if (pump_pass_eof(&c->up, c->ul.w.fd) != 0) {
		conn_fail(c, 0);
		return;
	}
	if (pump_pass_eof(&c->down, c->cl.w.fd) != 0) {
		conn_fail(c, 1);
		return;
	}
	if (more)
		runq_add(c);
}

static void
callback_runq(struct loop_timer *t)
{
	struct conn *c, *q;

	(void)t;
	q = runq;
	runq = NULL;
	while ((c = q) != NULL) {
		q = c->rq_next;
		c->queued = 0;
		relay_pump(c);
	}
}

static void
callback_client(struct loop_watch *w, uint32_t revents)
{
	struct conn *c = CONTAINER_OF(w, struct conn, cl.w);

	pump_events(&c->cl, revents);
	if (c->state == C_RELAY)
		relay_pump(c);
	else if (c->state == C_PROXY_HEADER)
		read_proxy_header(c);
	else if (revents & (EPOLLERR | EPOLLHUP))
		/* Reset (or gone both ways) while SES is still being found
		 * or connected: stop, rather than open a session for no one.
		 * A FIN alone (EPOLLRDHUP) is a half-close: the bytes before
		 * it are still relayed. */
		conn_close(c, MC_END_CLIENT_RESET);
}

static void
callback_upstream(struct loop_watch *w, uint32_t revents)
{
	struct conn *c = CONTAINER_OF(w, struct conn, ul.w);

	pump_events(&c->ul, revents);
	if (c->state == C_CONNECTING)
		connect_done(c, revents);
	else
		relay_pump(c);
}

/* ---- closing, timers, drain */

static void
conn_close(struct conn *c, enum metrics_counter cause)
{
	struct log_line l;
	char up[CIDR_ADDRSTRLEN];

	if (c->have_up)
		cidr_addr_format(&c->upaddr, up);
	log_begin(&l, LOG_INFO, "conn_close");
	log_u64(&l, "conn", c->id);
	log_str(&l, "client", c->client);
	log_str(&l, "upstream", c->have_up ? up : NULL);
	log_u64(&l, "bytes_in", c->up.bytes);
	log_u64(&l, "bytes_out", c->down.bytes);
	log_u64(&l, "ms", loop_now() - c->t_open);
	log_str(&l, "reason", cause == MC_END_CLIENT_CLOSE ||
	    cause == MC_END_UPSTREAM_CLOSE ? "closed" : metrics_label(cause));
	log_end(&l);

	st.closed++;
	st.bytes_in += c->up.bytes;
	st.bytes_out += c->down.bytes;
	metrics_add(cause, 1);
	metrics_add(MC_BYTES_TO_UPSTREAM, c->up.bytes);
	metrics_add(MC_BYTES_TO_CLIENT, c->down.bytes);
	metrics_observe(MH_SESSION, loop_now() - c->t_open);
	conn_release(c);
}

/*
 * End ${c} before its session began (--proxy-protocol): write ${msg} if
 * any, log a rate-limited conn_rejected with ${reason}.
 */
static void
conn_drop(struct conn *c, struct ratelimit *rl, enum metrics_counter reason,
    const char *msg, size_t len)
{

	if (msg != NULL)
		(void)send(c->cl.w.fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	log_rejected(c->client, rl, reason);
	st.rejected++;
	conn_release(c);
}

static void
conn_release(struct conn *c)
{

	loop_watch_close(&c->cl.w);
	loop_watch_close(&c->ul.w);
	pump_free(&c->up);
	pump_free(&c->down);
	runq_remove(c);
	deadline_remove(&heap, &c->dl);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		live = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	/* Freed after the batch: later events of this batch may name it. */
	c->next = dead;
	dead = c;
	nconns--;
	metrics_set(MG_ACTIVE, nconns);
	slot_give();
	if (draining && nconns == 0)
		loop_stop(0);
}

static void
expire(struct conn *c)
{

	switch (c->state) {
	case C_PROXY_HEADER:
		conn_drop(c, &rl_header, MC_REJ_PROXY_HEADER_TIMEOUT,
		    NULL, 0);
		break;
	case C_WAIT_DNS:
		fail_no_upstream(c);
		break;
	case C_CONNECTING:
		log_connect_failed(c, "connect timeout");
		connect_outcome(c, ETIMEDOUT);
		st.upstream_failures++;
		upstream_kick();
		connect_next(c);
		break;
	default:
		if (cfg.max_session_s != 0 && loop_now() >=
		    c->t_open + cfg.max_session_s * 1000ull)
			conn_close(c, MC_END_MAX_SESSION);
		else
			conn_close(c, MC_END_IDLE_TIMEOUT);
	}
}

static void
callback_conn_timer(struct loop_timer *t)
{
	struct deadline *d;
	struct conn *c;
	uint64_t at;

	(void)t;
	while ((d = deadline_min(&heap)) != NULL && d->at <= loop_now()) {
		c = CONTAINER_OF(d, struct conn, dl);
		/* Activity only moves a deadline later: re-key lazily. */
		if ((at = conn_deadline(c)) > loop_now())
			deadline_update(&heap, d, at);
		else
			expire(c);
	}
}

static void
callback_stats_timer(struct loop_timer *t)
{

	log_stats();
	t->at = loop_now() + cfg.stats_s * 1000ull;
}

/*
 * The descriptors of this process as the relay counts them: stdin,
 * stdout, stderr and the epoll set, the listeners, each session's one or
 * two sockets, the splice pipes and the resolver's sockets.  The health
 * port counts its own (MG_PROBE_FDS).
 */
static uint64_t
count_fds(void)
{
	const struct conn *c;
	uint64_t n;

	n = 4 + listener_fds(&lis) + 2 * pump_pipes() + upstream_fds();
	for (c = live; c != NULL; c = c->next)
		n += (c->cl.w.fd >= 0) + (c->ul.w.fd >= 0);
	return (n);
}

static uint64_t
timeval_us(const struct timeval *tv)
{

	return ((uint64_t)tv->tv_sec * 1000000 + (uint64_t)tv->tv_usec);
}

void
relay_metrics(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		metrics_set(MG_CPU_US, timeval_us(&ru.ru_utime) +
		    timeval_us(&ru.ru_stime));
		/* Linux gives ru_maxrss in KiB. */
		metrics_set(MG_MAXRSS_BYTES, (uint64_t)ru.ru_maxrss * 1024);
	}
	metrics_set(MG_FDS, count_fds());
	upstream_metrics(loop_wall_ms());
}

static void
callback_metrics_timer(struct loop_timer *t)
{

	relay_metrics();
	t->at = loop_now() + cfg.metrics_s * 1000ull;
}

static void
callback_drain_timer(struct loop_timer *t)
{

	(void)t;
	if (live != NULL)
		stop_reason = "drain_timeout";
	while (live != NULL) {
		conns_cut++;
		conn_close(live, MC_END_DRAIN_TIMEOUT);
	}
	loop_stop(0);
}

static void
callback_signal(int signo)
{
	struct log_line l;

	if (draining) {
		/* A second signal: stop waiting for the sessions. */
		callback_drain_timer(&drain_timer);
		return;
	}
	draining = 1;
	metrics_set(MG_DRAINING, 1);
	listener_close(&lis);
	log_begin(&l, LOG_INFO, "shutdown_begin");
	log_str(&l, "signal", signo == SIGTERM ? "SIGTERM" : "SIGINT");
	log_u64(&l, "conns", nconns);
	log_u64(&l, "drain_timeout", cfg.drain_s);
	log_end(&l);
	if (nconns == 0)
		loop_stop(0);
	else
		drain_timer.at = loop_now() + cfg.drain_s * 1000ull + 1;
}

static void
callback_after_batch(void)
{
	const struct deadline *d;
	struct conn *c;

	while ((c = dead) != NULL) {
		dead = c->next;
		free(c);
	}
	/* The earliest deadline drives the connection timer. */
	d = deadline_min(&heap);
	conn_timer.at = d == NULL ? 0 : d->at != 0 ? d->at : 1;
}

int
relay_init(const struct relay_config *c)
{
	struct loop_timer *const timers[] = {
		&runq_timer, &conn_timer, &stats_timer, &drain_timer,
		&metrics_timer
	};
	size_t i;

	cfg = *c;
	if (deadline_heap_init(&heap, cfg.max_conns) != 0) {
		log_errno("startup_failed", "relay_init: the deadline heap "
		    "for --max-conns");
		return (-1);
	}
	if (listener_init(&lis, ACCEPT_BATCH, admit, callback_listen_error) != 0)
		return (-1);
	conn_timer.cb = callback_conn_timer;
	stats_timer.cb = callback_stats_timer;
	drain_timer.cb = callback_drain_timer;
	runq_timer.cb = callback_runq;
	metrics_timer.cb = callback_metrics_timer;
	for (i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		if (loop_timer_add(timers[i]) != 0)
			return (-1);
	return (0);
}

int
relay_run(void)
{
	static const struct loop_hooks hooks = {
		callback_signal, callback_after_batch
	};
	struct log_line l;
	int rc;

	listener_watch(&lis);
	if (cfg.stats_s != 0)
		stats_timer.at = loop_now() + cfg.stats_s * 1000ull;
	if (cfg.metrics_s != 0)
		metrics_timer.at = loop_now() + cfg.metrics_s * 1000ull;
	rc = loop_run(&hooks);
	callback_after_batch();
	upstream_stop();
	log_begin(&l, rc == 0 ? LOG_INFO : LOG_ERROR, "shutdown");
	log_u64(&l, "conns_cut", conns_cut);
	log_str(&l, "reason", rc == 0 ? stop_reason : "loop_failed");
	log_end(&l);
	return (rc == 0 ? 0 : 1);
}
