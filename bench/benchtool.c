/*
 * benchtool: the server and the clients of bench/run.sh (not part of the
 * relay). One binary, one subcommand per role:
 *
 *   server ADDR PORT            epoll server; each connection's first byte
 *                               picks its job:
 *                                 'U' + u64 n : read n bytes, answer 'K'
 *                                 'D' + u64 n : send n bytes
 *                                 'E'         : echo everything
 *   bulk up|down ADDR PORT BYTES      -> "seconds S"
 *   pingpong ADDR PORT N              -> "median_us M p99_us P"
 *   connrate ADDR PORT CONC SECONDS   -> "conns N failures F seconds S"
 *   idle ADDR PORT N                  open N echo connections, check each
 *                                     with a 1-byte round trip, print
 *                                     "ready OK FAILED", hold them until
 *                                     stdin reaches EOF, then exit
 *   waitport ADDR PORT TIMEOUT_MS     -> "ms M" once a relayed echo works
 *   wakecost N                        what waking a thread costs the waker:
 *                                     a thread on CPU 0 writes an eventfd
 *                                     N times that a thread on CPU 1 waits
 *                                     on, first in epoll_wait (its CPU
 *                                     idle: the wake-up needs an
 *                                     interrupt), then polling it (no
 *                                     waiter to wake at all); the medians
 *                                     of the write(2) in microseconds:
 *                                     "sleeping_us S polling_us P"
 *
 * Build: gcc -O2 -pthread -o benchtool benchtool.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (256 * 1024)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *m)
{
	perror(m);
	exit(1);
}

static struct sockaddr_in mkaddr(const char *a, const char *p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)atoi(p))};
	if (inet_pton(AF_INET, a, &sa.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", a);
		exit(2);
	}
	return sa;
}

static int dial(struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)sa, sizeof *sa) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int writeall(int fd, const void *b, size_t n)
{
	const char *p = b;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int readall(int fd, void *b, size_t n)
{
	char *p = b;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---------------------------------------------------------------- server */

enum { S_HDR, S_UP, S_DOWN, S_ECHO };

struct conn {
	int fd, state;
	unsigned char hdr[9];
	int hlen;
	uint64_t left;
	char *ebuf; /* echo: pending bytes */
	size_t eoff, elen;
};

static char zbuf[BUF];

static void cclose(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->ebuf);
	free(c);
}

static void setev(int ep, struct conn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* returns 0 to keep, -1 to close */
static int serve(int ep, struct conn *c, uint32_t ev)
{
	static char rbuf[BUF];
	(void)ev;
	for (int round = 0; round < 64; round++) {
		if (c->state == S_HDR) {
			ssize_t r = read(c->fd, c->hdr + c->hlen,
					 c->hlen == 0 ? 1 : (size_t)(9 - c->hlen));
			if (r < 0)
				return errno == EAGAIN ? 0 : -1;
			if (r == 0)
				return -1;
			c->hlen += (int)r;
			if (c->hdr[0] == 'E') {
				c->state = S_ECHO;
				c->ebuf = malloc(65536);
				continue;
			}
			if (c->hlen < 9)
				continue;
			memcpy(&c->left, c->hdr + 1, 8);
			if (c->hdr[0] == 'U') {
				c->state = S_UP;
			} else if (c->hdr[0] == 'D') {
				c->state = S_DOWN;
				setev(ep, c, EPOLLIN | EPOLLOUT);
			} else {
				return -1;
			}
			continue;
		}
		if (c->state == S_UP) {
			if (c->left > 0) {
				ssize_t r = read(c->fd, rbuf, c->left < BUF ?
						 (size_t)c->left : BUF);
				if (r < 0)
					return errno == EAGAIN ? 0 : -1;
				if (r == 0)
					return -1;
				c->left -= (uint64_t)r;
			}
			/* At once: when the last read was this call's last
			 * round, no further event would come to send it. */
			if (c->left == 0) {
				if (write(c->fd, "K", 1) != 1)
					return -1;
				c->state = S_ECHO; /* then wait for EOF */
				c->ebuf = malloc(65536);
				return 0;
			}
			continue;
		}
		if (c->state == S_DOWN) {
			if (c->left == 0) {
				shutdown(c->fd, SHUT_WR);
				c->state = S_ECHO;
				c->ebuf = malloc(65536);
				setev(ep, c, EPOLLIN);
				return 0;
			}
			ssize_t w = write(c->fd, zbuf,
					  c->left < BUF ? (size_t)c->left : BUF);
			if (w < 0)
				return errno == EAGAIN ? 0 : -1;
			c->left -= (uint64_t)w;
			continue;
		}
		/* S_ECHO */
		if (c->elen > c->eoff) {
			ssize_t w = write(c->fd, c->ebuf + c->eoff,
					  c->elen - c->eoff);
			if (w < 0) {
				if (errno != EAGAIN)
					return -1;
				setev(ep, c, EPOLLIN | EPOLLOUT);
				return 0;
			}
			c->eoff += (size_t)w;
			if (c->eoff < c->elen) {
				setev(ep, c, EPOLLIN | EPOLLOUT);
				return 0;
			}
			setev(ep, c, EPOLLIN);
		}
		ssize_t r = read(c->fd, c->ebuf, 65536);
		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		if (r == 0)
			return -1;
		c->eoff = 0;
		c->elen = (size_t)r;
	}
	return 0;
}

static int cmd_server(char **av)
{
	raise_nofile();
	struct sockaddr_in sa = mkaddr(av[0], av[1]);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (listen(l, 4096) < 0)
		die("listen");
	int ep = epoll_create1(0);
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &e);
	struct epoll_event evs[256];
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				for (int k = 0; k < 256; k++) {
					int fd = accept4(l, NULL, NULL,
							 SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (fd < 0)
						break;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
						   &one, sizeof one);
					c = calloc(1, sizeof *c);
					c->fd = fd;
					struct epoll_event ce = {.events = EPOLLIN,
								 .data.ptr = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
				}
				continue;
			}
			if (serve(ep, c, evs[i].events) < 0)
				cclose(ep, c);
		}
	}
	return 0;
}

/* --------------------------------------------------------------- clients */

static int cmd_bulk(char **av)
{
	struct sockaddr_in sa = mkaddr(av[1], av[2]);
	uint64_t n = strtoull(av[3], NULL, 10);
	int up = strcmp(av[0], "up") == 0;
	static char buf[BUF];
	unsigned char hdr[9];
	hdr[0] = up ? 'U' : 'D';
	memcpy(hdr + 1, &n, 8);
	double t0 = now();
	int fd = dial(&sa);
	if (fd < 0)
		die("connect");
	if (writeall(fd, hdr, 9) < 0)
		die("write");
	if (up) {
		uint64_t left = n;
		while (left) {
			size_t k = left < BUF ? (size_t)left : BUF;
			if (writeall(fd, buf, k) < 0)
				die("write");
			left -= k;
		}
		char k;
		if (readall(fd, &k, 1) < 0 || k != 'K') {
			fprintf(stderr, "bulk up: no ack\n");
			return 1;
		}
	} else {
		uint64_t got = 0;
		for (;;) {
			ssize_t r = read(fd, buf, BUF);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (uint64_t)r;
		}
		if (got != n) {
			fprintf(stderr, "bulk down: got %llu of %llu\n",
				(unsigned long long)got, (unsigned long long)n);
			return 1;
		}
	}
	double t = now() - t0;
	close(fd);
	printf("seconds %.6f\n", t);
	return 0;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmd_pingpong(char **av)
{
	struct sockaddr_in sa = mkaddr(av[0], av[1]);
	int n = atoi(av[2]);
	int fd = dial(&sa);
	if (fd < 0)
		die("connect");
	/* a lost echo ends the run instead of hanging it */
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (writeall(fd, "E", 1) < 0)
		die("write");
	double *rt = malloc(sizeof(double) * (size_t)n);
	char b = 'x';
	for (int i = -100; i < n; i++) { /* 100 warm-up round trips */
		double t0 = now();
		if (writeall(fd, &b, 1) < 0 || readall(fd, &b, 1) < 0) {
			fprintf(stderr, "pingpong: connection lost at %d\n", i);
			return 1;
		}
		if (i >= 0)
			rt[i] = (now() - t0) * 1e6;
	}
	qsort(rt, (size_t)n, sizeof *rt, dcmp);
	printf("median_us %.2f p99_us %.2f\n", rt[n / 2],
	       rt[(int)(n * 0.99)]);
	close(fd);
	return 0;
}

struct crarg {
	struct sockaddr_in sa;
	double end;
	long ok, fail;
	char err[64];
};

static void *crthread(void *p)
{
	struct crarg *a = p;
	while (now() < a->end) {
		int fd = dial(&a->sa);
		char b = 'x';
		if (fd < 0) {
			a->fail++;
			if (!a->err[0])
				snprintf(a->err, sizeof a->err, "connect: %s",
					 strerror(errno));
			continue;
		}
		if (writeall(fd, "Ex", 2) < 0 || readall(fd, &b, 1) < 0 ||
		    b != 'x') {
			a->fail++;
			if (!a->err[0])
				snprintf(a->err, sizeof a->err, "echo: %s",
					 errno ? strerror(errno) : "eof");
		} else {
			a->ok++;
		}
		close(fd);
	}
	return NULL;
}

static int cmd_connrate(char **av)
{
	raise_nofile();
	struct sockaddr_in sa = mkaddr(av[0], av[1]);
	int conc = atoi(av[2]);
	double secs = atof(av[3]);
	pthread_t *th = calloc((size_t)conc, sizeof *th);
	struct crarg *a = calloc((size_t)conc, sizeof *a);
	double t0 = now();
	for (int i = 0; i < conc; i++) {
		a[i].sa = sa;
		a[i].end = t0 + secs;
		pthread_create(&th[i], NULL, crthread, &a[i]);
	}
	long ok = 0, fail = 0;
	const char *err = "";
	for (int i = 0; i < conc; i++) {
		pthread_join(th[i], NULL);
		ok += a[i].ok;
		fail += a[i].fail;
		if (!err[0] && a[i].err[0])
			err = a[i].err;
	}
	double t = now() - t0;
	printf("conns %ld failures %ld seconds %.3f\n", ok, fail, t);
	if (err[0])
		fprintf(stderr, "connrate: first failure: %s\n", err);
	return 0;
}

static int cmd_idle(char **av)
{
	raise_nofile();
	struct sockaddr_in sa = mkaddr(av[0], av[1]);
	int n = atoi(av[2]), ok = 0, bad = 0;
	int *fds = calloc((size_t)n, sizeof *fds);
	/* open all, then check all, in batches so the backlog never overflows */
	for (int base = 0; base < n; base += 256) {
		int end = base + 256 < n ? base + 256 : n;
		for (int i = base; i < end; i++) {
			fds[i] = dial(&sa);
			if (fds[i] >= 0 && writeall(fds[i], "Ex", 2) < 0) {
				close(fds[i]);
				fds[i] = -1;
			}
		}
		for (int i = base; i < end; i++) {
			char b = 0;
			if (fds[i] >= 0) {
				struct timeval tv = {.tv_sec = 10};
				setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv,
					   sizeof tv);
				if (readall(fds[i], &b, 1) == 0 && b == 'x') {
					ok++;
					continue;
				}
			}
			bad++;
		}
	}
	printf("ready %d %d\n", ok, bad);
	fflush(stdout);
	char b;
	while (read(0, &b, 1) > 0)
		;
	return 0;
}

/* ready = a relayed 1-byte echo round trip succeeds */
static int cmd_waitport(char **av)
{
	struct sockaddr_in sa = mkaddr(av[0], av[1]);
	double t0 = now(), lim = atof(av[2]) / 1000.0;
	while (now() - t0 < lim) {
		int fd = dial(&sa);
		if (fd >= 0) {
			char b = 0;
			struct timeval tv = {.tv_sec = 1};
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
			int ok = writeall(fd, "Ex", 2) == 0 &&
				 readall(fd, &b, 1) == 0 && b == 'x';
			close(fd);
			if (ok) {
				printf("ms %.2f\n", (now() - t0) * 1000);
				return 0;
			}
		}
		usleep(200);
	}
	fprintf(stderr, "waitport: timeout\n");
	return 1;
}

struct wake {
	int efd, ep, polling;
	int seen, stop;		/* __atomic_* only: two threads */
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof set, &set))
		die("pthread_setaffinity_np");
}

/* CPU 1: wait for the eventfd, count each wake-up in ${seen}. */
static void *wakee(void *p)
{
	struct wake *w = p;
	struct epoll_event ev;
	uint64_t v;

	pin(1);
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		if (!w->polling && epoll_wait(w->ep, &ev, 1, 100) <= 0)
			continue;
		if (read(w->efd, &v, sizeof v) == sizeof v)
			__atomic_add_fetch(&w->seen, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Median microseconds of ${n} eventfd writes from CPU 0, each after the
 * other side has taken the last and had 1 ms to go back to sleep. */
static double wake_median(int n, int polling)
{
	struct wake w = {.polling = polling};
	struct epoll_event ev = {.events = EPOLLIN};
	pthread_t th;
	double *t = malloc(sizeof(double) * (size_t)n), m;
	uint64_t one = 1;

	w.efd = eventfd(0, EFD_NONBLOCK);
	w.ep = epoll_create1(0);
	if (!t || w.efd < 0 || w.ep < 0 ||
	    epoll_ctl(w.ep, EPOLL_CTL_ADD, w.efd, &ev))
		die("wakecost: eventfd/epoll");
	pin(0);
	if (pthread_create(&th, NULL, wakee, &w))
		die("wakecost: pthread_create");
	usleep(10000);
	for (int i = 0; i < n; i++) {
		double t0 = now();
		if (write(w.efd, &one, sizeof one) != sizeof one)
			die("wakecost: write");
		t[i] = (now() - t0) * 1e6;
		while (__atomic_load_n(&w.seen, __ATOMIC_ACQUIRE) <= i)
			if (now() - t0 > 1)
				die("wakecost: no wake-up within 1 s");
		usleep(1000);
	}
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	close(w.efd);
	close(w.ep);
	qsort(t, (size_t)n, sizeof *t, dcmp);
	m = t[n / 2];
	free(t);
	return m;
}

static int cmd_wakecost(char **av)
{
	int n = atoi(av[0]);

	if (n < 1 || n > 1000000)
		die("wakecost: N must be 1-1000000");
	printf("sleeping_us %.2f", wake_median(n, 0));
	printf(" polling_us %.2f\n", wake_median(n, 1));
	return 0;
}

int main(int ac, char **av)
{
	if (ac >= 4 && !strcmp(av[1], "server"))
		return cmd_server(av + 2);
	if (ac >= 6 && !strcmp(av[1], "bulk"))
		return cmd_bulk(av + 2);
	if (ac >= 5 && !strcmp(av[1], "pingpong"))
		return cmd_pingpong(av + 2);
	if (ac >= 6 && !strcmp(av[1], "connrate"))
		return cmd_connrate(av + 2);
	if (ac >= 5 && !strcmp(av[1], "idle"))
		return cmd_idle(av + 2);
	if (ac >= 5 && !strcmp(av[1], "waitport"))
		return cmd_waitport(av + 2);
	if (ac >= 3 && !strcmp(av[1], "wakecost"))
		return cmd_wakecost(av + 2);
	fprintf(stderr, "usage: see the comment at the top of benchtool.c\n");
	return 2;
}
