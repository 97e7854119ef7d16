#ifndef READFILE_H_
#define READFILE_H_

#include <stddef.h>

/*
 * Whole files read at startup, before the sandbox forbids opening any:
 * ip-ranges.json (allowlist.c), /etc/resolv.conf and /etc/hosts
 * (resolvconf.c).  Only regular files are read, never more than a cap.
 */

/* A file over the cap yields its first bytes instead of an error. */
#define READFILE_PREFIX	0x1

/**
 * readfile(path, max, flags, buf, len, err, errlen): read the regular file
 * ${path} (opened O_CLOEXEC|O_NONBLOCK|O_NOCTTY, so that a FIFO or a
 * device is refused without blocking) into *${buf}, NUL-terminated, its
 * length in *${len}.  If *${buf} is NULL, a buffer of the file's size plus
 * one is allocated for the caller to free; otherwise *${buf} has room for
 * ${max} + 1 bytes.  A file of more than ${max} bytes is refused, or with
 * READFILE_PREFIX cut to its first ${max} bytes.  Returns 0, or -1 with
 * errno set and the reason in ${err}: "open: STRERROR", "fstat: ...",
 * "read: ...", "not a regular file" (EINVAL), "larger than MAX bytes"
 * (EFBIG), "out of memory" (ENOMEM) or "file changed while being read"
 * (EIO).  The caller names ${path} when it reports it.
 */
int readfile(const char *path, size_t max, int flags, char **buf,
    size_t *len, char *err, size_t errlen);

#endif /* !READFILE_H_ */
