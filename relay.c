#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "proxyproto.h"
#include "pump.h"
#include "relay.h"
#include "staleness.h"
#include "upstream.h"

#define MAX_LISTEN		4
/*
 * Accepts per listener per loop turn; the listener is level-triggered, so
 * the rest wait for the next turn.  Small batches interleave new sessions
 * with the relaying of open ones: with 64, a burst of connects started 64
 * upstream handshakes at once and the proxy waited longer to run again
 * (64 clients, 2 CPUs: 8 gave 5-9 % more connections per second).
 */
#define ACCEPT_BATCH		8
#define ACCEPT_PAUSE_MS		100	/* back-off after EMFILE */
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
	uint64_t hkey;			/* deadline as stored in the heap */
	size_t	hidx;
	unsigned tries;
	size_t	first;			/* this session's first address */
	int	have_up;
	struct cidr_addr upaddr;
	struct cidr_addr peer;		/* the client, for --allow-client */
	char	client[CIDR_ADDRSTRLEN + 8];
	struct conn *prev, *next;	/* live list, or dead list (next) */
	struct conn *rq_next;		/* run queue, while queued */
	int	queued;
};

static struct relay_config cfg;
static struct loop_watch listeners[MAX_LISTEN];
static int nlisteners;
static struct conn *live, *dead;
static struct conn **heap;
static size_t nheap;
static unsigned nconns;
static uint64_t conn_seq;
static int draining;
static uint64_t conns_cut;
static const char *stop_reason = "drained";
static struct conn *runq;	/* sessions that spent their read budget */
static struct loop_timer conn_timer, stats_timer, drain_timer, accept_timer;
static struct loop_timer runq_timer;
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
static void conn_close(struct conn *, const char *);
static void conn_release(struct conn *);
static void conn_drop(struct conn *, struct ratelimit *, const char *,
    const char *, size_t);
static void connect_next(struct conn *);
static void fail_no_upstream(struct conn *);

/* ---- deadlines: a binary min-heap keyed lazily on each conn's deadline */

static uint64_t
deadline(const struct conn *c)
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

static void
heap_swap(size_t i, size_t j)
{
	struct conn *t = heap[i];

	heap[i] = heap[j];
	heap[j] = t;
	heap[i]->hidx = i;
	heap[j]->hidx = j;
}

static void
heap_up(size_t i)
{

	while (i > 0 && heap[(i - 1) / 2]->hkey > heap[i]->hkey) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(size_t i)
{
	size_t l, m;

	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < nheap && heap[l]->hkey < heap[m]->hkey)
			m = l;
		if (l + 1 < nheap && heap[l + 1]->hkey < heap[m]->hkey)
			m = l + 1;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

/* Re-key ${c} after a state change (its deadline may move either way). */
static void
heap_update(struct conn *c)
{

	c->hkey = deadline(c);
	heap_up(c->hidx);
	heap_down(c->hidx);
}

static void
heap_remove(struct conn *c)
{
	size_t i = c->hidx;

	heap_swap(i, --nheap);
	if (i < nheap) {
		heap_up(i);
		heap_down(i);
	}
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
log_rejected(const char *client, struct ratelimit *rl, const char *reason)
{
	struct log_line l;
	uint64_t suppressed;

	if (!ratelimit_pass(rl, &suppressed))
		return;
	log_begin(&l, LOG_WARN, "conn_rejected");
	log_str(&l, "client", client);
	log_str(&l, "reason", reason);
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
relay_listen_socket(const struct sockaddr *sa, socklen_t len,
    const char **what)
{
	int fd, one = 1, zero = 0;

	*what = "socket";
	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, IPPROTO_TCP)) < 0)
		return (-1);
	/* REUSEADDR: a restart binds at once despite TIME_WAIT. */
	*what = "setsockopt SO_REUSEADDR";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto err;
	/* SMTP is request/response: pass small writes on at once.  Accepted
	 * sockets inherit TCP_NODELAY from the listener. */
	*what = "setsockopt TCP_NODELAY";
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		goto err;
	*what = "setsockopt IPV6_V6ONLY";
	if (sa->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)))
		goto err;
	*what = "bind";
	if (bind(fd, sa, len))
		goto err;
	*what = "listen";
	if (listen(fd, SOMAXCONN))
		goto err;
	/* Accepted sockets start in delayed-ACK mode: a client's first
	 * command is acknowledged by the reply relayed back to it, not by a
	 * bare ACK of its own (HAProxy's tcp-smart-accept).  After listen(),
	 * which resets the listener's ACK state. */
	*what = "setsockopt TCP_QUICKACK";
	if (setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero)))
		goto err;
	return (fd);
err:
	one = errno;
	close(fd);
	errno = one;
	return (-1);
}

int
relay_listen(const struct sockaddr *sa, socklen_t len, const char **what)
{
	int fd;

	if (nlisteners == MAX_LISTEN) {
		errno = EMFILE;
		*what = "listen (too many)";
		return (-1);
	}
	if ((fd = relay_listen_socket(sa, len, what)) < 0)
		return (-1);
	listeners[nlisteners].fd = fd;
	listeners[nlisteners].events = 0;
	nlisteners++;
	return (0);
}

int
relay_nlisteners(void)
{

	return (nlisteners);
}

static void
listeners_set(uint32_t events)
{
	int i;

	/* EPOLLEXCLUSIVE: with --workers, a client wakes one waiting
	 * worker, not all of them.  (It only goes with EPOLL_CTL_ADD: a
	 * listener is paused by removing it, never modified.) */
	if (events != 0)
		events |= EPOLLEXCLUSIVE;
	for (i = 0; i < nlisteners; i++)
		if (listeners[i].fd >= 0 &&
		    loop_watch_set(&listeners[i], events) != 0)
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
	c->next = live;
	if (live != NULL)
		live->prev = c;
	live = c;
	c->hidx = nheap;
	heap[nheap++] = c;
	nconns++;
	return (c);
}

/* The session of ${c} begins: log it, then find SES.  ${via}: the LB. */
static void
conn_start(struct conn *c, const char *via)
{
	struct log_line l;

	st.accepted++;
	log_begin(&l, LOG_INFO, "conn_open");
	log_u64(&l, "conn", c->id);
	log_str(&l, "client", c->client);
	if (via != NULL)
		log_str(&l, "via", via);
	log_end(&l);

	c->state = C_WAIT_DNS;
	c->t_attempt = loop_now();	/* not counting a PROXY header's wait */
	heap_update(c);
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
    size_t len, struct ratelimit *rl, const char *reason)
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
		    &rl_denied, "access_denied");
		return;
	}
	if (!slot_take()) {
		turn_away(fd, ss, msg_busy, sizeof(msg_busy) - 1, &rl_busy,
		    "max_conns");
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
		    "no_memory");
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
		conn_release(c);
		return;
	}
	if (!cfg.proxy_protocol) {
		conn_start(c, NULL);
		return;
	}
	c->state = C_PROXY_HEADER;
	heap_update(c);
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
		conn_drop(c, &rl_denied, "access_denied", msg_denied,
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
		c->cl.readable = 0;
		return;
	}
	hl = n > 0 ? proxyproto_parse(buf, (size_t)n, &pp) : -1;
	if (hl == 0 && !c->cl.hup) {
		/* Incomplete: the next bytes bring a new edge. */
		c->cl.readable = 0;
		return;
	}
	if (hl <= 0 || recv(c->cl.w.fd, buf, (size_t)hl, 0) != hl) {
		conn_drop(c, &rl_header, "proxy_header_invalid", NULL, 0);
		return;
	}
	proxy_client(c, &pp);
}

static void
callback_listen(struct loop_watch *w, uint32_t revents)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int i, fd;

	(void)revents;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		sl = sizeof(ss);
		fd = accept4(w->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			admit(fd, &ss);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Out of descriptors: pause instead of spinning. */
			log_errno("accept_paused", "accept4");
			listeners_set(0);
			accept_timer.at = loop_now() + ACCEPT_PAUSE_MS;
			return;
		}
		if (errno != ECONNABORTED && errno != EINTR &&
		    errno != EPROTO && errno != EPERM) {
			log_errno("conn_error", "accept4");
			return;
		}
	}
}

static void
callback_accept_timer(struct loop_timer *t)
{

	(void)t;
	if (!draining)
		listeners_set(EPOLLIN);
}

/* ---- upstream connect with failover */

static void
fail_no_upstream(struct conn *c)
{

	(void)send(c->cl.w.fd, msg_unavail, sizeof(msg_unavail) - 1,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
	conn_close(c, "no_upstream");
}

/* Start a connect to ${c}'s next address; each address is tried once. */
static void
connect_next(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	loop_watch_close(&c->ul.w);
	c->ul.readable = c->ul.writable = c->ul.hup = c->ul.urgent = 0;
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
		if (connect(fd, (struct sockaddr *)&ss, sl) == 0 ||
		    errno == EINPROGRESS) {
			c->ul.w.fd = fd;
			c->state = C_CONNECTING;
			c->t_attempt = loop_now();
			heap_update(c);
			/* EPOLLOUT reports the connect's end. */
			if (loop_watch_set(&c->ul.w, SESSION_EVENTS) == 0)
				return;
			log_errno("conn_error", "epoll_ctl");
			break;
		}
		log_connect_failed(c, strerror(errno));
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
		st.upstream_failures++;
		upstream_kick();
		connect_next(c);
		return;
	}
	if (!(revents & EPOLLOUT))
		return;
	c->state = C_RELAY;
	c->t_active = loop_now();
	heap_update(c);
	/* The client is watched since its accept: its flags are current.
	 * A fresh socket's send buffer is empty. */
	c->cl.writable = 1;
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
		conn_close(c, "error");
		return;
	}
	reset_fd(client_side ? c->ul.w.fd : c->cl.w.fd);
	conn_close(c, client_side ? "client_reset" : "upstream_reset");
}

/* Pass ${p}'s EOF on to ${dst} once every byte before it is written. */
static int
pass_eof(struct pump *p, int dst)
{

	if (!pump_done(p) || p->shut)
		return (0);
	p->shut = 1;
	/* ENOTCONN: the peer is already gone; a simultaneous close. */
	if (shutdown(dst, SHUT_WR) != 0 && errno != ENOTCONN)
		return (-1);
	return (0);
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
	if (active)
		c->t_active = loop_now();
	/* Both ended: close(2) sends both FINs; no shutdown needed. */
	if (pump_done(&c->up) && pump_done(&c->down)) {
		conn_close(c, "closed");
		return;
	}
	if (pass_eof(&c->up, c->ul.w.fd) != 0) {
		conn_fail(c, 0);
		return;
	}
	if (pass_eof(&c->down, c->cl.w.fd) != 0) {
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
	struct conn *c = (struct conn *)(void *)((char *)w -
	    offsetof(struct conn, cl.w));

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
		conn_close(c, "client_reset");
}

static void
callback_upstream(struct loop_watch *w, uint32_t revents)
{
	struct conn *c = (struct conn *)(void *)((char *)w -
	    offsetof(struct conn, ul.w));

	pump_events(&c->ul, revents);
	if (c->state == C_CONNECTING)
		connect_done(c, revents);
	else
		relay_pump(c);
}

/* ---- closing, timers, drain */

static void
conn_close(struct conn *c, const char *reason)
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
	log_str(&l, "reason", reason);
	log_end(&l);

	st.closed++;
	st.bytes_in += c->up.bytes;
	st.bytes_out += c->down.bytes;
	conn_release(c);
}

/*
 * End ${c} before its session began (--proxy-protocol): write ${msg} if
 * any, log a rate-limited conn_rejected with ${reason}.
 */
static void
conn_drop(struct conn *c, struct ratelimit *rl, const char *reason,
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
	heap_remove(c);
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
	slot_give();
	if (draining && nconns == 0)
		loop_stop(0);
}

static void
expire(struct conn *c)
{

	switch (c->state) {
	case C_PROXY_HEADER:
		conn_drop(c, &rl_header, "proxy_header_timeout", NULL, 0);
		break;
	case C_WAIT_DNS:
		fail_no_upstream(c);
		break;
	case C_CONNECTING:
		log_connect_failed(c, "connect timeout");
		st.upstream_failures++;
		upstream_kick();
		connect_next(c);
		break;
	default:
		if (cfg.max_session_s != 0 && loop_now() >=
		    c->t_open + cfg.max_session_s * 1000ull)
			conn_close(c, "max_session");
		else
			conn_close(c, "idle_timeout");
	}
}

static void
callback_conn_timer(struct loop_timer *t)
{
	struct conn *c;
	uint64_t d;

	(void)t;
	while (nheap > 0 && heap[0]->hkey <= loop_now()) {
		c = heap[0];
		/* Activity only moves a deadline later: re-key lazily. */
		if ((d = deadline(c)) > loop_now()) {
			c->hkey = d;
			heap_down(0);
		} else {
			expire(c);
		}
	}
}

static void
callback_stats_timer(struct loop_timer *t)
{

	log_stats();
	t->at = loop_now() + cfg.stats_s * 1000ull;
}

static void
callback_drain_timer(struct loop_timer *t)
{

	(void)t;
	if (live != NULL)
		stop_reason = "drain_timeout";
	while (live != NULL) {
		conns_cut++;
		conn_close(live, "drain_timeout");
	}
	loop_stop(0);
}

static void
callback_signal(int signo)
{
	struct log_line l;
	int i;

	if (draining) {
		/* A second signal: stop waiting for the sessions. */
		callback_drain_timer(&drain_timer);
		return;
	}
	draining = 1;
	for (i = 0; i < nlisteners; i++)
		loop_watch_close(&listeners[i]);
	accept_timer.at = 0;
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
	struct conn *c;

	while ((c = dead) != NULL) {
		dead = c->next;
		free(c);
	}
	/* The earliest deadline drives the connection timer. */
	conn_timer.at = nheap > 0 ? (heap[0]->hkey ? heap[0]->hkey : 1) : 0;
}

void
relay_init(const struct relay_config *c)
{
	int i;

	cfg = *c;
	/* The heap never holds more than max_conns entries. */
	heap = calloc(cfg.max_conns, sizeof(struct conn *));
	for (i = 0; i < nlisteners; i++)
		listeners[i].cb = callback_listen;
	conn_timer.cb = callback_conn_timer;
	stats_timer.cb = callback_stats_timer;
	drain_timer.cb = callback_drain_timer;
	accept_timer.cb = callback_accept_timer;
	runq_timer.cb = callback_runq;
	loop_timer_add(&runq_timer);
	loop_timer_add(&conn_timer);
	loop_timer_add(&stats_timer);
	loop_timer_add(&drain_timer);
	loop_timer_add(&accept_timer);
}

int
relay_run(void)
{
	static const struct loop_hooks hooks = {
		callback_signal, callback_after_batch
	};
	struct log_line l;
	int rc;

	if (heap == NULL) {
		log_msg(LOG_ERROR, "startup_failed", "out of memory");
		return (1);
	}
	listeners_set(EPOLLIN);
	if (cfg.stats_s != 0)
		stats_timer.at = loop_now() + cfg.stats_s * 1000ull;
	rc = loop_run(&hooks);
	callback_after_batch();
	upstream_stop();
	log_begin(&l, rc == 0 ? LOG_INFO : LOG_ERROR, "shutdown");
	log_u64(&l, "conns_cut", conns_cut);
	log_str(&l, "reason", rc == 0 ? stop_reason : "loop_failed");
	log_end(&l);
	return (rc == 0 ? 0 : 1);
}
