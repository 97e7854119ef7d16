/*
 * Descriptors inherited from the launcher.  Whatever a shell, an init or a
 * container runtime left open (`7</etc/shadow`, a leaked socket) would stay
 * open across the privilege drop and the sandbox, and splice could move a
 * file's bytes out through a socket: so they are closed before the relay
 * opens anything of its own (OpenSSH's closefrom and sanitise_stdfd).
 */
#include <sys/resource.h>
#include <sys/syscall.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "fds.h"

/* Close each descriptor /proc/self/fd lists from ${lowfd} on; -1 if the
 * directory cannot be read (no /proc, or Landlock denies it). */
static int
close_listed(int lowfd)
{
	struct dirent *d;
	DIR *dir;
	char *end;
	long fd;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return (-1);
	/* Closing while reading is safe: getdents resumes at an offset. */
	while ((d = readdir(dir)) != NULL) {
		fd = strtol(d->d_name, &end, 10);
		if (*end != '\0' || end == d->d_name || fd < lowfd ||
		    fd == dirfd(dir))
			continue;
		(void)close((int)fd);
	}
	(void)closedir(dir);
	return (0);
}

/**
 * fds_close_from(lowfd): close every descriptor numbered ${lowfd} or
 * higher: close_range(2), else each one /proc/self/fd lists, else every
 * number up to the RLIMIT_NOFILE soft limit.  Cannot fail.
 */
void
fds_close_from(int lowfd)
{
	struct rlimit rl;
	rlim_t fd, max = FDS_SCAN_MAX;

	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0U) == 0)
		return;
	if (close_listed(lowfd) == 0)
		return;
	/* A descriptor above the soft limit (lowered after it was opened)
	 * would survive here; both fallbacks above find it. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < max)
		max = rl.rlim_cur;
	for (fd = (rlim_t)lowfd; fd < max; fd++)
		(void)close((int)fd);
	errno = 0;
}

/* Put /dev/null on ${fd}, opening it once into ${*null}.  0 or -1. */
static int
devnull_on(int fd, int *null)
{

	if (*null == -1 && (*null = open("/dev/null", O_RDWR)) == -1) {
		log_errno("startup_failed", "open /dev/null for descriptor "
		    "0, 1 or 2");
		return (-1);
	}
	if (*null != fd && dup2(*null, fd) == -1) {
		log_errno("startup_failed", "dup2 /dev/null");
		return (-1);
	}
	return (0);
}

/**
 * fds_sanitise(): first thing in main(): close every descriptor above
 * stderr, put /dev/null on stdin whatever it was, and on stdout or stderr
 * if closed.  Returns 0, or -1 when /dev/null cannot be opened (the caller
 * must exit).
 */
int
fds_sanitise(void)
{
	int fd, null = -1;

	fds_close_from(STDERR_FILENO + 1);
	/*
	 * The relay never reads stdin: whatever the launcher put there
	 * (`0</etc/shadow`) is replaced, or the splice row would let
	 * compromised code move it out through a socket.  stdout and stderr
	 * carry the report and the log, so they stay; a closed one would be
	 * the number of the next socket the relay opens, and then log lines
	 * would go to a client or to SES, or a client's bytes to the log:
	 * /dev/null takes its place, as in OpenSSH's sanitise_stdfd.
	 * /dev/null is opened only then: a FROM scratch image has no
	 * /dev/null of its own (Docker, ECS and Kubernetes give every
	 * container one).  If it cannot be opened, the relay does not start.
	 */
	(void)close(STDIN_FILENO);
	for (fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (devnull_on(fd, &null) != 0)
			return (-1);
	}
	if (null > STDERR_FILENO)
		(void)close(null);
	errno = 0;
	return (0);
}
