#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

static int
fail(const char *what)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "%s (start as a non-root user, or give "
	    "CAP_SETUID and CAP_SETGID to drop from root)", what);
	log_errno("privdrop_failed", msg);
	return (-1);
}

/* After the drop: every id must be the target, and root out of reach. */
static int
verify(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
		return (fail("getresuid"));
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid) {
		errno = EPERM;
		return (fail("ids differ from --user after setresuid"));
	}
	if (getgroups(0, NULL) != 0) {
		errno = EPERM;
		return (fail("supplementary groups remain after setgroups"));
	}
	/* As OpenSSH's permanently_set_uid: regaining root must fail. */
	if (setuid(0) == 0 || setgid(0) == 0) {
		errno = EPERM;
		return (fail("setuid 0 succeeded after the drop"));
	}
	return (0);
}

/*
 * Empty the capability bounding set while CAP_SETPCAP is still held:
 * setresuid clears the permitted and effective sets, not this one.  A root
 * given only CAP_SETUID and CAP_SETGID (Kubernetes drop ALL, add SETUID and
 * SETGID) cannot do it; the bounding set only limits what an execve could
 * gain, and NO_NEW_PRIVS and seccomp (no execve) close that anyway.
 */
static int
drop_bounding_set(void)
{
	struct log_line l;
	int cap;

	for (cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL)
			break;		/* past CAP_LAST_CAP of this kernel */
		if (errno == EPERM && cap == 0) {
			log_begin(&l, LOG_WARN, "capbset_kept");
			log_str(&l, "why", "no CAP_SETPCAP: the bounding set "
			    "stays; NO_NEW_PRIVS and seccomp forbid execve");
			log_end(&l);
			errno = 0;
			return (0);
		}
		return (fail("prctl PR_CAPBSET_DROP"));
	}
	return (0);
}

int
privdrop_apply(unsigned uid, unsigned gid)
{
	struct rlimit zero = { 0, 0 };

	if (geteuid() == 0) {
		if (drop_bounding_set() != 0)
			return (-1);
		/* Groups first: setgroups needs privileges we drop next. */
		if (setgroups(0, NULL) != 0)
			return (fail("setgroups"));
		if (setresgid(gid, gid, gid) != 0)
			return (fail("setresgid"));
		if (setresuid(uid, uid, uid) != 0)
			return (fail("setresuid"));
		if (verify(uid, gid) != 0)
			return (-1);
	}
	/* No core dumps: they would hold relayed bytes. */
	if (setrlimit(RLIMIT_CORE, &zero) != 0)
		return (fail("setrlimit RLIMIT_CORE"));
	return (0);
}

int
privdrop_no_fork(void)
{
	struct rlimit zero = { 0, 0 };

	if (setrlimit(RLIMIT_NPROC, &zero) != 0)
		return (fail("setrlimit RLIMIT_NPROC"));
	return (0);
}
