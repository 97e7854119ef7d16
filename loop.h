#ifndef LOOP_H_
#define LOOP_H_

#include <stddef.h>
#include <stdint.h>

/*
 * The single-threaded event loop: epoll (listeners level-triggered, sessions
 * edge-triggered: the caller picks the flags), a few coarse timers, and
 * SIGTERM/SIGINT delivered only inside epoll_pwait so that a
 * signal can never be missed between a check and the wait.
 */

/*
 * CONTAINER_OF(ptr, type, member): the ${type} that holds ${ptr} as its
 * ${member}; how a callback finds its object from the loop_watch or
 * loop_timer embedded in it.
 */
#define CONTAINER_OF(ptr, type, member)					\
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct loop_watch {
	int	fd;
	uint32_t events;	/* current interest; 0: not in the epoll set */
	void	(*cb)(struct loop_watch *w, uint32_t revents);
};

struct loop_timer {
	uint64_t at;		/* loop_now() milliseconds; 0: disarmed */
	void	(*cb)(struct loop_timer *t);
};

struct loop_hooks {
	void	(*on_signal)(int signo);	/* SIGTERM or SIGINT */
	void	(*after_batch)(void);		/* after each wakeup */
};

/**
 * loop_init(): create the epoll instance, ignore SIGPIPE, and route SIGTERM
 * and SIGINT to the loop.  Returns 0, or -1 after logging the syscall.
 */
int loop_init(void);

/**
 * loop_watch_set(w, events): make ${events} the interest for ${w}->fd,
 * adding it to, changing it in, or removing it from the epoll set.  A
 * descriptor with no interest is removed so that EPOLLHUP cannot spin.
 * Returns 0 or -1 (errno set).
 */
int loop_watch_set(struct loop_watch *w, uint32_t events);

/** loop_watch_close(w): remove ${w} from the loop and close its fd. */
void loop_watch_close(struct loop_watch *w);

/**
 * loop_timer_add(t): register ${t} (at most LOOP_MAX_TIMERS).  Returns 0,
 * or -1 after logging startup_failed.
 */
int loop_timer_add(struct loop_timer *t);

/** loop_now(): monotonic milliseconds, refreshed after every wakeup. */
uint64_t loop_now(void);

/** loop_clock(): read the monotonic clock now, in milliseconds. */
uint64_t loop_clock(void);

/** loop_wall_ms(): the Unix time now, in milliseconds (for the metrics). */
uint64_t loop_wall_ms(void);

/**
 * loop_run(hooks): dispatch events and timers until loop_stop().
 * Returns the code given to loop_stop(), or -1 if epoll_pwait failed.
 */
int loop_run(const struct loop_hooks *hooks);

/** loop_stop(code): make loop_run() return ${code} after this batch. */
void loop_stop(int code);

#endif /* !LOOP_H_ */
