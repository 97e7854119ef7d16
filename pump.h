#ifndef PUMP_H_
#define PUMP_H_

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/*
 * Moving the bytes of one direction of a session from one socket to the
 * other, with edge-triggered readiness.
 *
 * Small reads (SMTP commands and replies) are copied through one shared
 * buffer: recv, then send.  A read that fills the whole buffer means bulk
 * data (a large DATA, an attachment): the direction then borrows a pipe
 * from a small pool and moves the bytes with splice(2), socket to pipe to
 * socket, without copying them through user space.  The pipe goes back to
 * the pool as soon as it is empty and the source has nothing more to read,
 * so idle sessions hold none.  When the pool is exhausted, or pipe2 fails,
 * the direction keeps copying: splice is an optimisation, never required.
 *
 * Memory per direction is bounded either way: at most PUMP_CHUNK bytes held
 * on the heap (only while the destination pushes back), or one pipe of at
 * most PUMP_PIPE_SIZE bytes (kernel memory, used only as bytes flow): 16
 * MiB for all PUMP_PIPES_MAX pipes at worst.
 */

#define PUMP_CHUNK	16384	/* largest copy-mode read */
#define PUMP_PIPES_MAX	16	/* pipes in use at once, 2 fds each */
#define PUMP_PIPE_SIZE	(1024 * 1024)	/* fs.pipe-max-size's default */
#define PUMP_BUDGET	16	/* reads per turn before others get theirs */

/* One socket of a session, with what its edge-triggered events said. */
struct pump_end {
	struct loop_watch w;
	int	readable;	/* bytes or EOF may be waiting */
	int	writable;	/* the send buffer may take bytes */
	int	hup;		/* FIN, HUP or error seen: read to the end */
	int	urgent;		/* TCP urgent data seen: short reads prove
				   nothing (a read stops at the mark) */
};

/* One direction: bytes read from one end, not yet written to the other. */
struct pump {
	char	*buf;		/* copy mode: held under backpressure */
	size_t	off, len;
	int	pipe[2];	/* splice mode: -1 when none is borrowed */
	size_t	plen;		/* bytes in the pipe */
	int	eof;		/* the source sent FIN */
	int	shut;		/* FIN passed on with shutdown(SHUT_WR) */
	uint64_t bytes;		/* delivered to the destination */
};

#define PUMP_IDLE	0	/* waiting for an event */
#define PUMP_MORE	1	/* budget spent; call again soon */
#define PUMP_FAIL_SRC	2	/* the source socket failed (errno) */
#define PUMP_FAIL_DST	3	/* the destination socket failed (errno) */

/** pump_init(p): an empty direction with no pipe. */
void pump_init(struct pump *p);

/**
 * pump_events(e, revents): record what an epoll event says about ${e}.
 */
void pump_events(struct pump_end *e, uint32_t revents);

/** pump_end_clear(e): forget every event of ${e} (its socket is new). */
void pump_end_clear(struct pump_end *e);

/**
 * pump_end_empty(e): a read from ${e} found nothing: it is not readable
 * until its next event.
 */
void pump_end_empty(struct pump_end *e);

/**
 * pump_run(p, src, dst, active): move bytes from ${src} to ${dst} until
 * one side would block or PUMP_BUDGET reads are done.  Sets ${*active} to
 * 1 if a byte was read or written.  Returns PUMP_IDLE, PUMP_MORE, or
 * PUMP_FAIL_SRC / PUMP_FAIL_DST with errno set.  Does not pass EOF on:
 * see pump_done().
 */
int pump_run(struct pump *p, struct pump_end *src, struct pump_end *dst,
    int *active);

/** pump_done(p): the source sent FIN and every byte before it is written. */
int pump_done(const struct pump *p);

/**
 * pump_pass_eof(p, dst): once pump_done(${p}), pass the FIN on to the
 * socket ${dst} with shutdown(SHUT_WR), once.  Returns 0, or -1 (errno
 * set) if the shutdown failed.
 */
int pump_pass_eof(struct pump *p, int dst);

/** pump_free(p): release the held buffer and the pipe, if any. */
void pump_free(struct pump *p);

/** pump_pipes(): pipes that exist now (in use or pooled). */
unsigned pump_pipes(void);

/** pump_cleanup(): close the pooled pipes (at exit, after every session). */
void pump_cleanup(void);

#endif /* !PUMP_H_ */
