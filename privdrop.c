/*
 * Privileges (privdrop.h): leaving root for good, checked, and the
 * resource limits set with it.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

/* ${what} failed: log it with errno. */
static int
fail(const char *what)
{

	log_errno("privdrop_failed", what);
	return (-1);
}

/* A step of leaving root failed: say what a root start needs. */
static int
fail_root(const char *what)
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
		return (fail_root("getresuid"));
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid) {
		errno = EPERM;
		return (fail_root("ids differ from --user after setresuid"));
	}
	if (getgroups(0, NULL) != 0) {
		errno = EPERM;
		return (fail_root("supplementary groups remain after "
		    "setgroups"));
	}
	/* As OpenSSH's permanently_set_uid: regaining root must fail. */
	if (setuid(0) == 0 || setgid(0) == 0) {
		errno = EPERM;
		return (fail_root("setuid 0 succeeded after the drop"));
	}
	return (0);
}

/*
 * Empty the capability bounding set, in every start, while CAP_SETPCAP may
 * still be held: setresuid clears the permitted and effective sets, not
 * this one.  Without CAP_SETPCAP (a root given only CAP_SETUID and
 * CAP_SETGID, a non-root start outside `--cap-drop=ALL`) what is left is
 * logged and kept: the bounding set only limits what an execve could gain,
 * and NO_NEW_PRIVS and seccomp (no execve) close that anyway.  A set that
 * is already empty is left alone.
 */
static int
drop_bounding_set(void)
{
	struct log_line l;
	uint64_t kept = 0;
	char hex[24];
	int cap, in;

	/* PR_CAPBSET_READ fails (EINVAL) past CAP_LAST_CAP of this kernel. */
	for (cap = 0; cap < 64 && (in = prctl(PR_CAPBSET_READ, cap, 0, 0,
	    0)) >= 0; cap++) {
		if (in == 0 || prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno != EPERM)
			return (fail("prctl PR_CAPBSET_DROP"));
		kept |= (uint64_t)1 << cap;
	}
	errno = 0;
	if (kept != 0) {
		snprintf(hex, sizeof(hex), "%#018" PRIx64, kept);
		log_begin(&l, geteuid() == 0 ? LOG_WARN : LOG_INFO,
		    "capbset_kept");
		log_str(&l, "caps", hex);
		log_str(&l, "why", "no CAP_SETPCAP: the bounding set "
		    "stays; NO_NEW_PRIVS and seccomp forbid execve");
		log_end(&l);
	}
	return (0);
}

/*
 * Clear the ambient, inheritable, permitted and effective sets, in every
 * start.  A root start's setresuid clears all but the inheritable set; a
 * non-root start keeps whatever its launcher gave it (ambient capabilities
 * survive execve: `setpriv --ambient-caps`, a runtime's ambient set).
 * Giving capabilities up is always allowed, so any failure is fatal.
 */
static int
clear_capabilities(void)
{
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	size_t i;

	/* EINVAL: a kernel before 4.3, which has no ambient set. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
	    errno != EINVAL)
		return (fail("prctl PR_CAP_AMBIENT_CLEAR_ALL"));
	memset(&hdr, 0, sizeof(hdr));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) != 0)
		return (fail("capset"));
	/* Verify: the kernel keeps ambient within permitted. */
	if (syscall(SYS_capget, &hdr, data) != 0)
		return (fail("capget"));
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective != 0 || data[i].permitted != 0 ||
		    data[i].inheritable != 0) {
			errno = EPERM;
			return (fail("capabilities remain after capset"));
		}
	errno = 0;
	return (0);
}

int
privdrop_user_applies(unsigned uid, unsigned gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (geteuid() == 0)
		return (1);
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
		return (0);
	return (ru == uid && eu == uid && su == uid && rg == gid &&
	    eg == gid && sg == gid);
}

int
privdrop_apply(unsigned uid, unsigned gid)
{
	struct rlimit zero = { 0, 0 };
	int root = geteuid() == 0;

	if (drop_bounding_set() != 0)
		return (-1);
	if (root) {
		/* Groups first: setgroups needs privileges we drop next. */
		if (setgroups(0, NULL) != 0)
			return (fail_root("setgroups"));
		if (setresgid(gid, gid, gid) != 0)
			return (fail_root("setresgid"));
		if (setresuid(uid, uid, uid) != 0)
			return (fail_root("setresuid"));
	}
	/*
	 * Capabilities before the check: under SECBIT_NO_SETUID_FIXUP a
	 * process keeps them across setresuid, and verify's setuid(0) would
	 * then succeed (and be refused) instead of failing as it must.
	 */
	if (clear_capabilities() != 0)
		return (-1);
	if (root && verify(uid, gid) != 0)
		return (-1);
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
