#ifndef LANDLOCK_H_
#define LANDLOCK_H_

/*
 * Landlock: after startup the process needs no file at all, may connect
 * over TCP only to port 587, may bind no TCP port, and (ABI 6) may neither
 * signal other processes nor reach abstract unix sockets.
 */

struct landlock_status {
	int	abi;		/* 0: Landlock unavailable */
	int	fs;		/* all filesystem access denied */
	int	net;		/* TCP connect 587 only, no bind (ABI >= 4) */
	int	scope;		/* signals and abstract sockets (ABI >= 6) */
	const char *why;	/* why something is not enforced, or NULL */
};

/**
 * landlock_apply(port, st): restrict this process (NO_NEW_PRIVS must be
 * set) as far as the kernel's ABI allows, with TCP connect allowed to
 * ${port} only.  Fills ${st}.  Returns 0 when the ruleset is enforced (in
 * part, for ABI < 6), 1 when Landlock is unavailable (ENOSYS, EOPNOTSUPP,
 * EPERM from a runtime profile), -1 when a step failed after the ruleset
 * was created (the caller must exit).
 */
int landlock_apply(unsigned port, struct landlock_status *st);

#endif /* !LANDLOCK_H_ */
