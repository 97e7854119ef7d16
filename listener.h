#ifndef LISTENER_H_
#define LISTENER_H_

#include <sys/socket.h>

#include <stddef.h>

#include "config.h"
#include "loop.h"

/*
 * Listening TCP sockets and the accepting from them, for the SMTP listeners
 * (relay.c) and the health port (healthport.c).  Listeners are
 * level-triggered and EPOLLEXCLUSIVE (with --workers, a client wakes one
 * worker).  When accept4 runs out of descriptors or memory, the whole set
 * stops being watched for LISTENER_PAUSE_MS instead of spinning, logging
 * accept_paused, then resumes.
 */

#define LISTENER_PAUSE_MS	100

struct listener;

/* One listening socket of a set. */
struct listener_fd {
	struct loop_watch w;
	struct listener *set;
};

/* Listening sockets accepted from, and paused, together. */
struct listener {
	struct listener_fd fd[CONFIG_MAX_LISTEN];
	size_t	n;
	unsigned batch;			/* accepts per wakeup and socket */
	void	(*on_accept)(int fd, const struct sockaddr_storage *ss);
	void	(*on_error)(void);	/* epoll_ctl failed (errno) */
	struct loop_timer resume;	/* the end of a back-off */
};

/**
 * listener_socket(sa, len, what): a non-blocking listening TCP socket on
 * ${sa} (SO_REUSEADDR, TCP_NODELAY inherited by accepted sockets,
 * IPV6_V6ONLY on IPv6, delayed ACKs).  Returns the fd, or -1 with errno set
 * and the failing syscall's name in ${*what}.
 */
int listener_socket(const struct sockaddr *sa, socklen_t len,
    const char **what);

/**
 * listener_init(l, batch, on_accept, on_error): make ${l}, with the sockets
 * listener_add gave it, hand each accepted socket (non-blocking,
 * close-on-exec) to ${on_accept}, at most ${batch} per wakeup and socket;
 * ${on_error}() logs an epoll_ctl failure on a listener (errno set).  Call
 * after loop_init().  Returns 0, or -1 after logging startup_failed.
 */
int listener_init(struct listener *l, unsigned batch,
    void (*on_accept)(int, const struct sockaddr_storage *),
    void (*on_error)(void));

/**
 * listener_add(l, fd): make the listening socket ${fd} part of ${l}.
 * Returns 0, or -1 if ${l} holds CONFIG_MAX_LISTEN sockets already.
 */
int listener_add(struct listener *l, int fd);

/** listener_watch(l): start accepting (after listener_init). */
void listener_watch(struct listener *l);

/** listener_close(l): close every socket of ${l}; accept no more. */
void listener_close(struct listener *l);

/** listener_fds(l): the listening sockets of ${l} still open. */
size_t listener_fds(const struct listener *l);

#endif /* !LISTENER_H_ */
