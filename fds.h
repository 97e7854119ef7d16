#ifndef FDS_H_
#define FDS_H_

/*
 * Descriptors: the relay keeps nothing its launcher left open but stdout
 * and stderr; stdin is /dev/null, and all three are always open.
 */

/* The kernel's default fs.nr_open: no descriptor is numbered higher. */
#define FDS_SCAN_MAX	(1 << 20)

/**
 * fds_close_from(lowfd): close every descriptor numbered ${lowfd} or
 * higher: close_range(2); where it fails (a kernel before 5.9, or a
 * seccomp profile that denies it), each descriptor listed in
 * /proc/self/fd; where that cannot be read, every number up to the
 * RLIMIT_NOFILE soft limit (at most FDS_SCAN_MAX).  Cannot fail.
 */
void fds_close_from(int lowfd);

/**
 * fds_sanitise(): first thing in main(): close every descriptor above
 * stderr, put /dev/null on stdin whatever it was, and on stdout or stderr
 * if closed.  Returns 0, or -1 when /dev/null cannot be opened (the caller
 * must exit).
 */
int fds_sanitise(void);

#endif /* !FDS_H_ */
