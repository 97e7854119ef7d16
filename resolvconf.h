#ifndef RESOLVCONF_H_
#define RESOLVCONF_H_

#include <sys/socket.h>

#include <stddef.h>

#include "cidr.h"

/*
 * /etc/resolv.conf and /etc/hosts, read once at startup (after that the
 * process opens no file).  The parsers work on buffers and are fuzzed.
 */

#define RESOLVCONF_MAX_NS	3	/* as MAXNS in resolv.h */
#define RESOLVCONF_MAX_BYTES	(64u * 1024)
#define HOSTS_MAX_BYTES		(1024u * 1024)
#define HOSTS_MAX_ADDRS		16

struct resolvconf {
	struct cidr_addr ns[RESOLVCONF_MAX_NS];
	size_t	nns;
	unsigned timeout_s;	/* options timeout:N, 1..30, default 2 */
	unsigned attempts;	/* options attempts:N, 1..5, default 2 */
};

/**
 * resolvconf_parse(buf, len, rc): read "nameserver ADDR" lines (the first
 * RESOLVCONF_MAX_NS valid ones) and "options timeout:N attempts:N" from
 * ${buf}.  With no nameserver, 127.0.0.1 is used, as libc does.  Unknown
 * lines are ignored.  Always succeeds.
 */
void resolvconf_parse(const char *buf, size_t len, struct resolvconf *rc);

/**
 * hosts_lookup(buf, len, name, out, max): the addresses that hosts-file
 * text ${buf} gives ${name} (case-insensitive; canonical names and
 * aliases), at most ${max}, in file order.  Returns how many.
 */
size_t hosts_lookup(const char *buf, size_t len, const char *name,
    struct cidr_addr *out, size_t max);

/**
 * resolvconf_read(path, buf, cap): read the first ${cap} - 1 bytes (or
 * fewer) of the regular file ${path} into ${buf}, NUL-terminated
 * (readfile with READFILE_PREFIX).  Returns the length, or -1 (errno set)
 * when the file cannot be opened or read, is not a regular file, changed
 * while being read, or ${cap} is 0.  Callers treat a failure as an empty
 * file.
 */
long resolvconf_read(const char *path, char *buf, size_t cap);

#endif /* !RESOLVCONF_H_ */
