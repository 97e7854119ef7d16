#ifndef PRIVDROP_H_
#define PRIVDROP_H_

/*
 * Privileges: leave root for good, and set the resource limits that keep a
 * compromised relay from forking or dumping its memory.
 */

/**
 * privdrop_apply(uid, gid): if the effective uid is 0, empty the capability
 * bounding set (when CAP_SETPCAP allows it), drop supplementary groups,
 * then setresgid(${gid}) and setresuid(${uid}); verify all ids and that
 * regaining root fails.  When not root, change nothing.  Then set
 * RLIMIT_CORE to 0.  Returns 0, or -1 after logging the syscall that
 * failed (the caller must exit: never serve as root).
 */
int privdrop_apply(unsigned uid, unsigned gid);

/**
 * privdrop_no_fork(): RLIMIT_NPROC 0, after the --workers fork: no new
 * process from here on.  Returns 0, or -1 after logging.
 */
int privdrop_no_fork(void);

#endif /* !PRIVDROP_H_ */
