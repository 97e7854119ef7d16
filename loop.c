/*
 * The event loop: the epoll set, the timers, signal delivery inside
 * epoll_pwait, and when gathered log lines are written.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_MAX_TIMERS	12	/* a few per module; loop_timer_add says when full */
#define LOOP_BATCH	64
/* Gathered log lines wait at most this long (wait_events). */
#define LOOP_LOG_HOLD_MS	100

static int epfd = -1;
static uint64_t now_ms;
static struct loop_timer *timers[LOOP_MAX_TIMERS];
static int ntimers;
static int stopped, stop_code;
static volatile sig_atomic_t pending_signal;
static sigset_t wait_mask;	/* the mask while inside epoll_pwait */

static void
callback_signal(int signo)
{

	pending_signal = signo;
}

uint64_t
loop_clock(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC: wall-clock jumps never move a timeout. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

uint64_t
loop_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

uint64_t
loop_now(void)
{

	return (now_ms);
}

int
loop_init(void)
{
	struct sigaction sa;
	sigset_t block;

	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		log_errno("startup_failed", "epoll_create1");
		return (-1);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	/* As PID 1 SIGPIPE is dropped anyway; elsewhere it would kill us. */
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		log_errno("startup_failed", "sigaction SIGPIPE");
		return (-1);
	}
	sa.sa_handler = callback_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0) {
		log_errno("startup_failed", "sigaction SIGTERM");
		return (-1);
	}
	/* Blocked except inside epoll_pwait: no lost wakeup. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if (sigprocmask(SIG_BLOCK, &block, &wait_mask) != 0) {
		log_errno("startup_failed", "sigprocmask");
		return (-1);
	}
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGINT);
	now_ms = loop_clock();
	return (0);
}

int
loop_watch_set(struct loop_watch *w, uint32_t events)
{
	struct epoll_event ev;
	int op;

	if (events == w->events)
		return (0);
	if (events == 0)
		op = EPOLL_CTL_DEL;
	else if (w->events == 0)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = w;
	if (epoll_ctl(epfd, op, w->fd, &ev) != 0)
		return (-1);
	w->events = events;
	return (0);
}

void
loop_watch_close(struct loop_watch *w)
{

	if (w->fd < 0)
		return;
	/* close() drops the fd from the epoll set (it is never dup'ed). */
	close(w->fd);
	w->fd = -1;
	w->events = 0;
}

int
loop_timer_add(struct loop_timer *t)
{

	if (ntimers == LOOP_MAX_TIMERS) {
		log_msg(LOG_ERROR, "startup_failed", "loop_timer_add: more "
		    "than LOOP_MAX_TIMERS timers");
		return (-1);
	}
	timers[ntimers++] = t;
	return (0);
}

void
loop_stop(int code)
{

	stopped = 1;
	stop_code = code;
}

/* Milliseconds until the earliest armed timer, or -1 for none. */
static int
next_timeout(void)
{
	uint64_t at = 0;
	int i;

	for (i = 0; i < ntimers; i++)
		if (timers[i]->at != 0 && (at == 0 || timers[i]->at < at))
			at = timers[i]->at;
	if (at == 0)
		return (-1);
	if (at <= now_ms)
		return (0);
	/* Wake at most once a minute even with far deadlines. */
	return (at - now_ms > 60000 ? 60000 : (int)(at - now_ms));
}

static void
run_timers(void)
{
	int i;

	for (i = 0; i < ntimers; i++) {
		if (timers[i]->at != 0 && timers[i]->at <= now_ms) {
			timers[i]->at = 0;
			timers[i]->cb(timers[i]);
		}
	}
}

/*
 * Wait for events.  Gathered log lines are written once 4 KiB of them
 * have gathered (log_end) or once the oldest has waited LOOP_LOG_HOLD_MS,
 * whichever comes first; the wait is cut short for that.  Not when the
 * loop would sleep: a relay under load sleeps between most events, and a
 * write each time wakes the log reader (Docker's, ECS's) that often
 * (bench/README.md, "The apart topology, in short").  An idle relay's
 * lines are out within LOOP_LOG_HOLD_MS.
 */
static int
wait_events(struct epoll_event *ev)
{
	static uint64_t held;
	int timeout;
	uint64_t due;

	/* The turn's callbacks took time: count from now, not its start. */
	now_ms = loop_clock();
	timeout = next_timeout();
	if (!log_pending())
		held = 0;
	else {
		if (held == 0)
			held = now_ms;
		due = held + LOOP_LOG_HOLD_MS;
		if (due <= now_ms) {
			log_flush();
			held = 0;
		} else if (timeout < 0 || (uint64_t)timeout > due - now_ms)
			timeout = (int)(due - now_ms);
	}
	return (epoll_pwait(epfd, ev, LOOP_BATCH, timeout, &wait_mask));
}

int
loop_run(const struct loop_hooks *hooks)
{
	struct epoll_event ev[LOOP_BATCH];
	struct loop_watch *w;
	int i, n, sig;

	log_batch(1);
	while (!stopped) {
		n = wait_events(ev);
		now_ms = loop_clock();
		if (n < 0 && errno != EINTR) {
			log_errno("loop_failed", "epoll_pwait");
			log_batch(0);
			return (-1);
		}
		for (i = 0; i < n; i++) {
			w = ev[i].data.ptr;
			/* A callback earlier in the batch may have closed it. */
			if (w->fd >= 0)
				w->cb(w, ev[i].events);
		}
		if ((sig = pending_signal) != 0) {
			pending_signal = 0;
			if (hooks->on_signal != NULL)
				hooks->on_signal(sig);
		}
		run_timers();
		if (hooks->after_batch != NULL)
			hooks->after_batch();
	}
	log_batch(0);
	return (stop_code);
}
