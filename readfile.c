/*
 * The one bounded reader of whole files (readfile.h): open, check that it
 * is a regular file no larger than the cap, read it in one loop, and see
 * whether it changed size meanwhile.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "readfile.h"

/* Put the reason in ${err}, set errno to ${e}; returns -1. */
static int
fail(int e, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	errno = e;
	return (-1);
}

/* The syscall ${call} failed: its name and errno's text in ${err}. */
static int
fail_errno(const char *call, char *err, size_t errlen)
{
	int e = errno;

	return (fail(e, err, errlen, "%s: %s", call, strerror(e)));
}

/*
 * Read ${fd}, of ${size} bytes by fstat, into ${p}, which has room for
 * ${want} + 1 bytes (${want} is ${size}, or less under READFILE_PREFIX).
 * One byte more than ${want} is asked for, to see a file that grew.
 */
static int
read_all(int fd, uintmax_t size, char *p, size_t want, size_t *len,
    char *err, size_t errlen)
{
	size_t n = 0;
	ssize_t r;

	while (n <= want) {
		r = read(fd, p + n, want + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return (fail_errno("read", err, errlen));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	/* Shorter than fstat said, or longer when it was read whole. */
	if (n < want || (n > want && size == want))
		return (fail(EIO, err, errlen,
		    "file changed while being read"));
	p[want] = '\0';
	*len = want;
	return (0);
}

int
readfile(const char *path, size_t max, int flags, char **buf, size_t *len,
    char *err, size_t errlen)
{
	struct stat st;
	char *p = *buf, *mine = NULL;
	size_t want;
	int fd, rc = -1, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	    O_NOCTTY)) < 0)
		return (fail_errno("open", err, errlen));
	if (fstat(fd, &st) != 0) {
		fail_errno("fstat", err, errlen);
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(EINVAL, err, errlen, "not a regular file");
		goto done;
	}
	if ((uintmax_t)st.st_size > max && !(flags & READFILE_PREFIX)) {
		fail(EFBIG, err, errlen, "larger than %zu bytes", max);
		goto done;
	}
	want = (uintmax_t)st.st_size > max ? max : (size_t)st.st_size;
	if (p == NULL && (p = mine = malloc(want + 1)) == NULL) {
		fail(ENOMEM, err, errlen, "out of memory");
		goto done;
	}
	if ((rc = read_all(fd, (uintmax_t)st.st_size, p, want, len, err,
	    errlen)) == 0)
		*buf = p;
	else
		free(mine);
done:
	e = errno;
	close(fd);
	errno = e;
	return (rc);
}
