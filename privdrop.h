#ifndef PRIVDROP_H_
#define PRIVDROP_H_

/*
 * Privileges: leave root for good, and set the resource limits that keep a
 * compromised relay from forking or dumping its memory.
 */

/**
 * privdrop_apply(uid, gid): in every start, empty the capability bounding
 * set where CAP_SETPCAP allows it (else log capbset_kept with what stays).
 * If the effective uid is 0, drop supplementary groups, then
 * setresgid(${gid}) and setresuid(${uid}); verify all ids and that
 * regaining root fails.  When not root, keep the ids.  Then, in every
 * start, clear the ambient, inheritable, permitted and effective
 * capability sets and verify them empty, and set RLIMIT_CORE to 0.
 * Returns 0, or -1 after logging the syscall that failed (the caller must
 * exit: never serve as root or with a capability).
 */
int privdrop_apply(unsigned uid, unsigned gid);

/**
 * privdrop_user_applies(uid, gid): can privdrop_apply give this process
 * the ids ${uid}:${gid}?  1 when the effective uid is 0, or when the real,
 * effective and saved uids and gids already are ${uid} and ${gid}; else 0
 * (a non-root start cannot change its ids).
 */
int privdrop_user_applies(unsigned uid, unsigned gid);

/**
 * privdrop_no_fork(): RLIMIT_NPROC 0, after the --workers fork: no new
 * process from here on.  Returns 0, or -1 after logging.
 */
int privdrop_no_fork(void);

#endif /* !PRIVDROP_H_ */
