/*
 * One direction of a session (pump.h): copy mode through a shared buffer,
 * splice mode through a pooled pipe, and the EOF passed on after the last
 * byte.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pump.h"

#define SPLICE_LEN	PUMP_PIPE_SIZE	/* a whole pipe per splice */
#define SPLICE_FLAGS	(SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

/* One copy buffer for every session: the loop is single-threaded. */
static char scratch[PUMP_CHUNK];

/* Empty pipes kept for the next bulk transfer; npipes counts all. */
static int pool[PUMP_PIPES_MAX][2];
static unsigned npool, npipes;

void
pump_init(struct pump *p)
{

	memset(p, 0, sizeof(*p));
	p->pipe[0] = p->pipe[1] = -1;
}

void
pump_events(struct pump_end *e, uint32_t revents)
{

	if (revents & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		e->hup = 1;
	if (revents & EPOLLPRI)
		e->urgent = 1;
	/* An error or hang-up is found by the next recv or send. */
	if (revents & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		e->readable = 1;
	if (revents & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		e->writable = 1;
}

void
pump_end_clear(struct pump_end *e)
{

	e->readable = e->writable = e->hup = e->urgent = 0;
}

void
pump_end_empty(struct pump_end *e)
{

	e->readable = 0;
}

unsigned
pump_pipes(void)
{

	return (npipes);
}

void
pump_cleanup(void)
{

	while (npool > 0) {
		npool--;
		close(pool[npool][0]);
		close(pool[npool][1]);
		npipes--;
	}
}

/* Borrow a pipe for ${p}: from the pool, or a new one while under the cap. */
static void
pipe_borrow(struct pump *p)
{

	if (npool > 0) {
		npool--;
		p->pipe[0] = pool[npool][0];
		p->pipe[1] = pool[npool][1];
		return;
	}
	/* Failure is fine: the direction keeps copying. */
	if (npipes < PUMP_PIPES_MAX &&
	    pipe2(p->pipe, O_NONBLOCK | O_CLOEXEC) == 0) {
		npipes++;
		/* Fewer, larger splices; the default 64 KiB stays if the
		 * user's pipe quota says no. */
		(void)fcntl(p->pipe[1], F_SETPIPE_SZ, PUMP_PIPE_SIZE);
	}
}

/* Give ${p}'s pipe back: pooled when empty, closed when it holds bytes. */
static void
pipe_return(struct pump *p)
{

	if (p->pipe[0] < 0)
		return;
	if (p->plen == 0 && npool < PUMP_PIPES_MAX) {
		pool[npool][0] = p->pipe[0];
		pool[npool][1] = p->pipe[1];
		npool++;
	} else {
		close(p->pipe[0]);
		close(p->pipe[1]);
		npipes--;
	}
	p->pipe[0] = p->pipe[1] = -1;
	p->plen = 0;
}

static int
held(const struct pump *p)
{

	return (p->len > 0 || p->plen > 0);
}

static int
again(void)
{

	return (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Write what ${p} holds to ${dst}.  Returns 0, or -1 (errno set). */
static int
flush(struct pump *p, struct pump_end *dst, int *active)
{
	ssize_t w;

	if (p->len > 0) {
		w = send(dst->w.fd, p->buf + p->off, p->len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && !again())
			return (-1);
		if (w < 0)
			w = 0;
		if (w > 0)
			*active = 1;
		p->bytes += (uint64_t)w;
		p->off += (size_t)w;
		p->len -= (size_t)w;
		if (p->len > 0) {
			dst->writable = 0;
			return (0);
		}
		free(p->buf);
		p->buf = NULL;
	}
	if (p->plen > 0) {
		w = splice(p->pipe[0], NULL, dst->w.fd, NULL, p->plen,
		    SPLICE_FLAGS);
		if (w < 0 && !again())
			return (-1);
		if (w == 0) {
			/* A pipe that holds bytes never yields none. */
			errno = EIO;
			return (-1);
		}
		if (w < 0)
			w = 0;
		if (w > 0)
			*active = 1;
		p->bytes += (uint64_t)w;
		p->plen -= (size_t)w;
		if (p->plen > 0)
			dst->writable = 0;
	}
	return (0);
}

/* Keep the ${n} bytes at ${src} that ${dst} did not take. */
static int
hold(struct pump *p, const char *src, size_t n)
{

	if ((p->buf = malloc(n)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	memcpy(p->buf, src, n);
	p->off = 0;
	p->len = n;
	return (0);
}

/*
 * A read from ${src} returned ${n} <= 0: EOF, nothing more for now
 * (EAGAIN; for a splice into an empty pipe, too, it means the socket is
 * empty), or an error.
 */
static int
read_end(struct pump *p, struct pump_end *src, ssize_t n)
{

	if (n == 0) {
		p->eof = 1;
		return (PUMP_IDLE);
	}
	if (errno == EINTR)
		return (PUMP_IDLE);
	if (!again())
		return (PUMP_FAIL_SRC);
	src->readable = 0;
	return (PUMP_IDLE);
}

/*
 * A short read of ${*n} bytes from ${src}, which has sent a FIN: everything
 * before the FIN is queued in order, so the next read is the EOF (or an
 * error).  Read it now, into the rest of the buffer, so that the bytes can
 * leave in one segment with the FIN.  Returns 1 at EOF, 0 otherwise (more
 * bytes, added to ${*n}, or nothing yet), -1 on an error (errno set).
 */
static int
read_ahead(struct pump_end *src, ssize_t *n)
{
	ssize_t m;

	m = recv(src->w.fd, scratch + *n, sizeof(scratch) - (size_t)*n, 0);
	if (m == 0)
		return (1);
	if (m > 0)
		*n += m;
	return (m < 0 && !again() ? -1 : 0);
}

/*
 * Copy mode: one recv, then one send; the rest is held.  Bytes followed by
 * the source's EOF go out with MSG_MORE: the shutdown(SHUT_WR) or close
 * that passes the EOF on in this same turn (relay_pump) sends them with
 * the FIN, one segment where there would be two.
 */
static int
fill_copy(struct pump *p, struct pump_end *src, struct pump_end *dst,
    int *active)
{
	ssize_t n, w;
	int ahead = 0, err = 0, flags = MSG_NOSIGNAL | MSG_DONTWAIT;

	if ((n = recv(src->w.fd, scratch, sizeof(scratch), 0)) <= 0)
		return (read_end(p, src, n));
	*active = 1;
	if ((size_t)n == sizeof(scratch))
		pipe_borrow(p);		/* bulk: splice from now on */
	else if (!src->hup && !src->urgent)
		src->readable = 0;	/* a short read emptied the socket */
	else if (!src->urgent && (ahead = read_ahead(src, &n)) < 0)
		err = errno;
	if (ahead == 1)
		flags |= MSG_MORE;
	w = send(dst->w.fd, scratch, (size_t)n, flags);
	if (w < 0 && !again())
		return (PUMP_FAIL_DST);
	if (w < 0)
		w = 0;
	p->bytes += (uint64_t)w;
	if (w < n) {
		dst->writable = 0;
		if (hold(p, scratch + w, (size_t)(n - w)) != 0)
			return (PUMP_FAIL_DST);
	}
	if (ahead == 1)
		p->eof = 1;
	if (ahead < 0) {
		errno = err;
		return (PUMP_FAIL_SRC);
	}
	return (PUMP_IDLE);
}

/*
 * Splice mode: socket to the (empty) pipe.  A splice stops at TCP urgent
 * data and returns EAGAIN there (or 0 when a FIN is queued behind it): only
 * recv steps over the mark.  So the end of a burst is settled by one recv
 * in copy mode, which tells the empty socket, the mark and the real EOF
 * apart.
 */
static int
fill_pipe(struct pump *p, struct pump_end *src, struct pump_end *dst,
    int *active)
{
	ssize_t n;

	n = splice(src->w.fd, NULL, p->pipe[1], NULL, SPLICE_LEN,
	    SPLICE_FLAGS);
	if (n > 0) {
		p->plen = (size_t)n;
		*active = 1;
		return (PUMP_IDLE);
	}
	if (n < 0 && !again())
		return (read_end(p, src, n));
	pipe_return(p);
	return (fill_copy(p, src, dst, active));
}

int
pump_run(struct pump *p, struct pump_end *src, struct pump_end *dst,
    int *active)
{
	unsigned budget = PUMP_BUDGET;
	int r;

	for (;;) {
		if (held(p)) {
			if (!dst->writable)
				return (PUMP_IDLE);
			if (flush(p, dst, active) != 0)
				return (PUMP_FAIL_DST);
			if (held(p))
				return (PUMP_IDLE);
		}
		if (p->eof || !src->readable) {
			pipe_return(p);
			return (PUMP_IDLE);
		}
		if (budget-- == 0)
			return (PUMP_MORE);
		r = p->pipe[0] >= 0 ? fill_pipe(p, src, dst, active) :
		    fill_copy(p, src, dst, active);
		if (r != PUMP_IDLE)
			return (r);
	}
}

int
pump_done(const struct pump *p)
{

	return (p->eof && !held(p));
}

int
pump_pass_eof(struct pump *p, int dst)
{

	if (!pump_done(p) || p->shut)
		return (0);
	p->shut = 1;
	/* ENOTCONN: the peer is already gone; a simultaneous close. */
	if (shutdown(dst, SHUT_WR) != 0 && errno != ENOTCONN)
		return (-1);
	return (0);
}

void
pump_free(struct pump *p)
{

	free(p->buf);
	p->buf = NULL;
	p->len = 0;
	pipe_return(p);
}
