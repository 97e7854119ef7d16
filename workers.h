#ifndef WORKERS_H_
#define WORKERS_H_

#include "config.h"

/*
 * --workers N: N relay processes on the same listening sockets, and the
 * supervisor that started them (workers.c says what it does and why).
 */

/**
 * workers_fork(n, index, shared_conns): map the page the workers share
 * (their session count, into ${*shared_conns}), block SIGTERM, SIGINT and
 * SIGCHLD, then start ${n} workers.  Returns 0 in a worker, with its
 * number (0 to n - 1) in ${*index} and on every line it logs; 1 in the
 * supervisor; -1 when the setup before the first fork failed, or in a
 * worker that must exit at once.  A failed fork is logged, stops the
 * workers already started, and still returns 1: the supervisor waits for
 * them and exits 1.
 */
int workers_fork(unsigned n, unsigned *index, unsigned **shared_conns);

/**
 * workers_supervise(abort): wait for signals and for the workers to end;
 * pass SIGTERM and SIGINT on.  With ${abort} (the supervisor could not
 * box itself) the workers are stopped at once.  Returns the exit code: 0
 * if a stop came first and every worker exited 0, else 1.
 */
int workers_supervise(int abort);

#endif /* !WORKERS_H_ */
