/*
 * One direction of a session (pump.c), driven without the event loop over
 * loopback TCP (splice needs a real socket pair on each side): the copy
 * path, the splice path, backpressure in both, the EOF passed on with
 * shutdown(SHUT_WR), and the last bytes held under backpressure leaving
 * before the FIN.
 *
 *	A (client) --TCP-- B  [pump B -> C]  C --TCP-- D (server)
 *
 * The test writes to A and reads from D.  Waits use poll with a bound
 * that only stops a hang; no test depends on timing.
 */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "pump.h"

#define HANG_MS		10000	/* a poll that waits longer has hung */
#define BULK		(4 * 1024 * 1024)
#define SPINS_MAX	1000000	/* turns of a loop that cannot end */

struct rig {
	int	a, d;			/* the test's ends */
	struct pump_end src, dst;	/* B and C */
	struct pump p;
};

static void
die(const char *what)
{

	perror(what);
	exit(2);
}

/* A connected loopback TCP pair, both ends non-blocking, in ${fd}. */
static void
tcp_pair(int fd[2])
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int l;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(l, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&sin, &len) != 0 ||
	    (fd[0] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd[0], (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    (fd[1] = accept(l, NULL, NULL)) < 0)
		die("tcp_pair");
	close(l);
	if (fcntl(fd[0], F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(fd[1], F_SETFL, O_NONBLOCK) != 0)
		die("fcntl");
}

/* Small socket buffers on the C -> D leg make backpressure come early. */
static void
rig_open(struct rig *r, int small)
{
	int ab[2], cd[2], sz = 65536;

	tcp_pair(ab);
	tcp_pair(cd);
	if (small && (setsockopt(cd[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)) != 0 || setsockopt(cd[1], SOL_SOCKET, SO_RCVBUF, &sz,
	    sizeof(sz)) != 0))
		die("setsockopt");
	memset(r, 0, sizeof(*r));
	r->a = ab[0];
	r->src.w.fd = ab[1];
	r->dst.w.fd = cd[0];
	r->d = cd[1];
	pump_init(&r->p);
}

static void
rig_close(struct rig *r)
{

	pump_free(&r->p);
	close(r->a);
	close(r->src.w.fd);
	close(r->dst.w.fd);
	close(r->d);
}

/* Wait until ${fd} has ${events}; fail the test run if it never does. */
static void
wait_for(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	if (poll(&pfd, 1, HANG_MS) != 1)
		die("wait_for: poll timed out");
}

/* Bytes queued for reading on ${fd}. */
static int
inq(int fd)
{
	int n;

	if (ioctl(fd, FIONREAD, &n) != 0)
		die("FIONREAD");
	return (n);
}

/* One turn as the relay takes it: every event hinted, run to idle. */
static int
turn(struct rig *r)
{
	int active = 0, ret;

	pump_events(&r->src, EPOLLIN);
	pump_events(&r->dst, EPOLLOUT);
	while ((ret = pump_run(&r->p, &r->src, &r->dst, &active)) ==
	    PUMP_MORE)
		;
	return (ret);
}

/* Send all ${n} bytes at ${buf} to ${fd} (blocking for room). */
static void
put(int fd, const char *buf, size_t n)
{
	ssize_t w;

	while (n > 0) {
		wait_for(fd, POLLOUT);
		if ((w = send(fd, buf, n, MSG_NOSIGNAL)) < 0 && errno != EAGAIN)
			die("send");
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
		}
	}
}

/*
 * Relay until ${n} bytes have reached D, into ${out}: pump turns
 * alternated with reads from D of at most ${gulp} bytes.  Returns the
 * bytes read.
 */
static size_t
relay_into(struct rig *r, char *out, size_t n, size_t gulp)
{
	size_t got = 0;
	ssize_t m;

	while (got < n) {
		if (turn(r) != PUMP_IDLE)
			return (got);
		wait_for(r->d, POLLIN);
		m = recv(r->d, out + got, gulp < n - got ? gulp : n - got, 0);
		if (m <= 0)
			return (got);
		got += (size_t)m;
	}
	return (got);
}

/* Is D at EOF (a FIN after every byte)? */
static int
d_at_eof(struct rig *r)
{
	char c;

	wait_for(r->d, POLLIN);
	return (recv(r->d, &c, 1, 0) == 0);
}

static void
pattern(char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (char)(i * 7 + i / 4096);
}

static void
test_copy(void)
{
	const char msg[] = "EHLO client.example\r\n";
	char out[sizeof(msg)];
	struct rig r;

	TEST_START("pump copy mode: a command, no pipe");
	rig_open(&r, 0);
	put(r.a, msg, sizeof(msg) - 1);
	wait_for(r.src.w.fd, POLLIN);
	ASSERT_SIZE_EQ(relay_into(&r, out, sizeof(msg) - 1, sizeof(out)),
	    sizeof(msg) - 1);
	ASSERT_MEM_EQ(out, msg, sizeof(msg) - 1);
	ASSERT_U64_EQ(r.p.bytes, sizeof(msg) - 1);
	ASSERT_INT_EQ(r.p.pipe[0], -1);
	ASSERT_INT_EQ(pump_pipes(), 0);
	ASSERT_FALSE(pump_done(&r.p));
	rig_close(&r);
	TEST_DONE();
}

/* ${BULK} bytes A -> D; ${small}: D's leg pushes back. */
static void
bulk(int small)
{
	char *in, *out;
	struct rig r;
	size_t sent = 0, got = 0, spins = 0;
	ssize_t m;
	int held_in_pipe = 0;

	if ((in = malloc(BULK)) == NULL || (out = malloc(BULK)) == NULL)
		die("malloc");
	pattern(in, BULK);
	rig_open(&r, small);
	/* A full first read (PUMP_CHUNK) is what borrows a pipe. */
	put(r.a, in, 2 * PUMP_CHUNK);
	sent = 2 * PUMP_CHUNK;
	while (inq(r.src.w.fd) < PUMP_CHUNK && spins++ < SPINS_MAX)
		wait_for(r.src.w.fd, POLLIN);
	while (got < BULK && ASSERT_SIZE_LE(spins++, SPINS_MAX)) {
		if ((m = send(r.a, in + sent, BULK - sent, MSG_NOSIGNAL)) > 0)
			sent += (size_t)m;
		if (!ASSERT_INT_EQ(turn(&r), PUMP_IDLE))
			break;
		if (r.p.plen > 0 && !r.dst.writable)
			held_in_pipe = 1;
		if (inq(r.d) == 0 && sent < BULK)
			continue;
		wait_for(r.d, POLLIN);
		/* Never past the end of out: qemu-user checks the whole
		 * length (EFAULT), as the kernel would if the bytes came. */
		if ((m = recv(r.d, out + got, small && BULK - got > 65536 ?
		    65536 : BULK - got, 0)) <= 0)
			break;
		got += (size_t)m;
	}
	ASSERT_SIZE_EQ(got, BULK);
	ASSERT_INT_EQ(memcmp(in, out, BULK), 0);
	ASSERT_U64_EQ(r.p.bytes, BULK);
	if (small)
		ASSERT_TRUE(held_in_pipe);
	rig_close(&r);
	/* The pipe is back in the pool, not closed. */
	ASSERT_INT_EQ(pump_pipes(), 1);
	pump_cleanup();
	ASSERT_INT_EQ(pump_pipes(), 0);
	free(in);
	free(out);
}

static void
test_splice(void)
{

	TEST_START("pump splice mode: %d bytes intact", BULK);
	bulk(0);
	TEST_DONE();
	TEST_START("pump splice mode under backpressure: bytes wait in "
	    "the pipe");
	bulk(1);
	TEST_DONE();
}

/* Fill the C -> D leg until C's send buffer takes no more. */
static size_t
fill_dst(struct rig *r)
{
	char junk[4096];
	size_t n = 0;
	ssize_t w;

	memset(junk, 'j', sizeof(junk));
	while ((w = send(r->dst.w.fd, junk, sizeof(junk), MSG_NOSIGNAL)) > 0)
		n += (size_t)w;
	if (errno != EAGAIN)
		die("fill_dst");
	return (n);
}

/* Read and drop ${n} bytes from D. */
static void
drain_d(struct rig *r, size_t n)
{
	char junk[4096];
	ssize_t m;

	while (n > 0) {
		wait_for(r->d, POLLIN);
		m = recv(r->d, junk, n < sizeof(junk) ? n : sizeof(junk), 0);
		if (m <= 0)
			die("drain_d");
		n -= (size_t)m;
	}
}

/*
 * A rig whose C -> D leg is full, then the ${n} bytes at ${msg} from A
 * (and A's FIN if ${fin}), pumped: they must be held.  Returns the bytes
 * that fill the leg, for drain_d.
 */
static size_t
blocked(struct rig *r, const char *msg, size_t n, int fin)
{
	size_t junk;

	rig_open(r, 1);
	junk = fill_dst(r);
	put(r->a, msg, n);
	if (fin && shutdown(r->a, SHUT_WR) != 0)
		die("shutdown");
	wait_for(r->src.w.fd, fin ? POLLRDHUP : POLLIN);
	pump_events(&r->src, fin ? EPOLLIN | EPOLLRDHUP : EPOLLIN);
	ASSERT_INT_EQ(turn(r), PUMP_IDLE);
	ASSERT_SIZE_EQ(r->p.len, n);
	return (junk);
}

static void
test_backpressure(void)
{
	const char msg[] = "250 OK queued\r\n";
	char out[sizeof(msg)];
	struct rig r;
	size_t junk;
	int active = 0, before;

	TEST_START("pump copy mode backpressure: held, source left unread");
	junk = blocked(&r, msg, sizeof(msg) - 1, 0);
	ASSERT_FALSE(r.dst.writable);
	ASSERT_U64_EQ(r.p.bytes, 0);
	/* More from A stays in B while the held bytes cannot leave. */
	put(r.a, msg, sizeof(msg) - 1);
	wait_for(r.src.w.fd, POLLIN);
	before = inq(r.src.w.fd);
	ASSERT_INT_GT(before, 0);
	pump_events(&r.src, EPOLLIN);
	ASSERT_INT_EQ(pump_run(&r.p, &r.src, &r.dst, &active), PUMP_IDLE);
	ASSERT_INT_EQ(active, 0);
	ASSERT_INT_EQ(inq(r.src.w.fd), before);
	/* D reads: the held bytes leave first, then the rest. */
	drain_d(&r, junk);
	ASSERT_SIZE_EQ(relay_into(&r, out, sizeof(msg) - 1, sizeof(out)),
	    sizeof(msg) - 1);
	ASSERT_MEM_EQ(out, msg, sizeof(msg) - 1);
	ASSERT_SIZE_EQ(relay_into(&r, out, sizeof(msg) - 1, sizeof(out)),
	    sizeof(msg) - 1);
	ASSERT_MEM_EQ(out, msg, sizeof(msg) - 1);
	ASSERT_U64_EQ(r.p.bytes, 2 * (sizeof(msg) - 1));
	ASSERT_PTR_NULL(r.p.buf);
	rig_close(&r);
	TEST_DONE();
}

static void
test_half_close(void)
{
	const char quit[] = "QUIT\r\n", bye[] = "221 bye\r\n";
	char out[16];
	struct rig r;

	TEST_START("pump EOF passed on once, after the bytes; the other "
	    "direction stays open");
	rig_open(&r, 0);
	put(r.a, quit, sizeof(quit) - 1);
	if (shutdown(r.a, SHUT_WR) != 0)
		die("shutdown");
	wait_for(r.src.w.fd, POLLRDHUP);
	pump_events(&r.src, EPOLLIN | EPOLLRDHUP);
	ASSERT_INT_EQ(turn(&r), PUMP_IDLE);
	ASSERT_TRUE(r.p.eof);
	ASSERT_TRUE(pump_done(&r.p));
	ASSERT_INT_EQ(pump_pass_eof(&r.p, r.dst.w.fd), 0);
	ASSERT_TRUE(r.p.shut);
	/* Once only: a second call does not shut down again. */
	ASSERT_INT_EQ(pump_pass_eof(&r.p, r.dst.w.fd), 0);
	wait_for(r.d, POLLIN);
	ASSERT_INT_EQ(recv(r.d, out, sizeof(out), 0), sizeof(quit) - 1);
	ASSERT_MEM_EQ(out, quit, sizeof(quit) - 1);
	ASSERT_TRUE(d_at_eof(&r));
	/* The server's reply still travels D -> C and B -> A. */
	put(r.d, bye, sizeof(bye) - 1);
	wait_for(r.dst.w.fd, POLLIN);
	ASSERT_INT_EQ(recv(r.dst.w.fd, out, sizeof(out), 0), sizeof(bye) - 1);
	put(r.src.w.fd, bye, sizeof(bye) - 1);
	wait_for(r.a, POLLIN);
	ASSERT_INT_EQ(recv(r.a, out, sizeof(out), 0), sizeof(bye) - 1);
	ASSERT_MEM_EQ(out, bye, sizeof(bye) - 1);
	rig_close(&r);
	TEST_DONE();
}

static void
test_last_bytes_before_fin(void)
{
	const char last[] = "221 2.0.0 closing\r\n";
	char out[sizeof(last)];
	struct rig r;
	size_t junk;

	TEST_START("pump bytes held at EOF leave before the FIN");
	junk = blocked(&r, last, sizeof(last) - 1, 1);
	ASSERT_TRUE(r.p.eof);
	/* Not done while bytes are held: no FIN yet. */
	ASSERT_FALSE(pump_done(&r.p));
	ASSERT_INT_EQ(pump_pass_eof(&r.p, r.dst.w.fd), 0);
	ASSERT_FALSE(r.p.shut);
	drain_d(&r, junk);
	ASSERT_SIZE_EQ(relay_into(&r, out, sizeof(last) - 1, sizeof(out)),
	    sizeof(last) - 1);
	ASSERT_MEM_EQ(out, last, sizeof(last) - 1);
	ASSERT_TRUE(pump_done(&r.p));
	ASSERT_INT_EQ(pump_pass_eof(&r.p, r.dst.w.fd), 0);
	ASSERT_TRUE(d_at_eof(&r));
	rig_close(&r);
	TEST_DONE();
}

int
main(void)
{

	test_copy();
	test_splice();
	test_backpressure();
	test_half_close();
	test_last_bytes_before_fin();
	return (test_summary());
}
