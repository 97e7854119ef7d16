/*
 * Listening sockets (listener.h): their creation, the accept loop shared by
 * the relay and the health port, and its back-off when descriptors or
 * memory run out.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"

static void callback_accept(struct loop_watch *, uint32_t);
static void callback_resume(struct loop_timer *);

int
listener_socket(const struct sockaddr *sa, socklen_t len, const char **what)
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
listener_init(struct listener *l, unsigned batch,
    void (*on_accept)(int, const struct sockaddr_storage *),
    void (*on_error)(void))
{

	l->batch = batch;
	l->on_accept = on_accept;
	l->on_error = on_error;
	l->resume.cb = callback_resume;
	return (loop_timer_add(&l->resume));
}

int
listener_add(struct listener *l, int fd)
{

	if (l->n == CONFIG_MAX_LISTEN) {
		errno = EMFILE;
		return (-1);
	}
	l->fd[l->n].w.fd = fd;
	l->fd[l->n].w.events = 0;
	l->fd[l->n].w.cb = callback_accept;
	l->fd[l->n].set = l;
	l->n++;
	return (0);
}

/* Watch ${l}'s sockets for ${events}, or (0) stop watching them. */
static void
listener_set(struct listener *l, uint32_t events)
{
	size_t i;

	/* EPOLLEXCLUSIVE goes only with EPOLL_CTL_ADD: a listener is
	 * paused by removing it, never modified. */
	if (events != 0)
		events |= EPOLLEXCLUSIVE;
	for (i = 0; i < l->n; i++)
		if (l->fd[i].w.fd >= 0 &&
		    loop_watch_set(&l->fd[i].w, events) != 0)
			l->on_error();
}

void
listener_watch(struct listener *l)
{

	listener_set(l, EPOLLIN);
}

size_t
listener_fds(const struct listener *l)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++)
		n += l->fd[i].w.fd >= 0;
	return (n);
}

void
listener_close(struct listener *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		loop_watch_close(&l->fd[i].w);
	l->resume.at = 0;
}

/*
 * Accept up to a batch; level-triggered, so the rest wait for the next
 * turn, and new sessions interleave with the work of open ones.
 */
static void
callback_accept(struct loop_watch *w, uint32_t revents)
{
	struct listener *l = CONTAINER_OF(w, struct listener_fd, w)->set;
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned i;
	int fd;

	(void)revents;
	for (i = 0; i < l->batch; i++) {
		sl = sizeof(ss);
		fd = accept4(w->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			l->on_accept(fd, &ss);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Out of descriptors: pause instead of spinning. */
			log_errno("accept_paused", "accept4");
			listener_set(l, 0);
			l->resume.at = loop_now() + LISTENER_PAUSE_MS;
			return;
		}
		/* Lost before it was accepted: on to the next one. */
		if (errno != ECONNABORTED && errno != EINTR &&
		    errno != EPROTO && errno != EPERM) {
			log_errno("conn_error", "accept4");
			return;
		}
	}
}

static void
callback_resume(struct loop_timer *t)
{

	listener_set(CONTAINER_OF(t, struct listener, resume), EPOLLIN);
}
