/*
 * Landlock (landlock.h): the ruleset for this kernel's ABI, applied
 * once before the seccomp filter.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "landlock.h"
#include "log.h"

/*
 * The UAPI of Debian 12's 6.1 headers stops at ABI 2, so the structures and
 * bits used here are defined locally, from include/uapi/linux/landlock.h.
 */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset	444
#define __NR_landlock_add_rule		445
#define __NR_landlock_restrict_self	446
#endif

#define LL_CREATE_RULESET_VERSION	(1U << 0)
#define LL_RULE_NET_PORT		2

/* Filesystem rights by ABI: 1 has bits 0-12, 2 adds REFER, 3 TRUNCATE,
 * 5 IOCTL_DEV. */
#define LL_FS_ABI1	((1ULL << 13) - 1)
#define LL_FS_REFER	(1ULL << 13)
#define LL_FS_TRUNCATE	(1ULL << 14)
#define LL_FS_IOCTL_DEV	(1ULL << 15)
#define LL_NET_BIND_TCP		(1ULL << 0)
#define LL_NET_CONNECT_TCP	(1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX	(1ULL << 0)
#define LL_SCOPE_SIGNAL		(1ULL << 1)

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

/* The rights this kernel knows, as the sandboxer sample's switch (abi). */
static void
rights_for_abi(int abi, struct ll_ruleset_attr *ra)
{

	memset(ra, 0, sizeof(*ra));
	ra->handled_access_fs = LL_FS_ABI1;
	if (abi >= 2)
		ra->handled_access_fs |= LL_FS_REFER;
	if (abi >= 3)
		ra->handled_access_fs |= LL_FS_TRUNCATE;
	if (abi >= 4)
		ra->handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
	if (abi >= 5)
		ra->handled_access_fs |= LL_FS_IOCTL_DEV;
	if (abi >= 6)
		ra->scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
}

static const char *
unavailable(int err)
{

	switch (err) {
	case ENOSYS:
		return ("kernel without Landlock (before 5.13, or gVisor)");
	case EOPNOTSUPP:
		return ("Landlock disabled at boot (lsm= without landlock)");
	case EPERM:
		return ("landlock_create_ruleset blocked by the runtime's "
		    "seccomp profile (Docker before 20.10.18?)");
	default:
		return ("landlock_create_ruleset failed");
	}
}

int
landlock_apply(unsigned port, struct landlock_status *st)
{
	struct ll_ruleset_attr ra;
	struct ll_net_port_attr np;
	long abi;
	int fd;

	memset(st, 0, sizeof(*st));
	abi = syscall(__NR_landlock_create_ruleset, NULL, 0,
	    LL_CREATE_RULESET_VERSION);
	if (abi < 0) {
		st->why = unavailable(errno);
		return (1);
	}
	st->abi = (int)abi;
	rights_for_abi(st->abi, &ra);
	/* No path rule at all: every file right is denied from here on. */
	fd = (int)syscall(__NR_landlock_create_ruleset, &ra, sizeof(ra), 0);
	if (fd < 0) {
		st->why = unavailable(errno);
		return (1);
	}
	if (ra.handled_access_net != 0) {
		np.allowed_access = LL_NET_CONNECT_TCP;
		np.port = port;
		if (syscall(__NR_landlock_add_rule, fd, LL_RULE_NET_PORT, &np,
		    0) != 0) {
			log_errno("sandbox_failed", "landlock_add_rule");
			close(fd);
			return (-1);
		}
	}
	if (syscall(__NR_landlock_restrict_self, fd, 0) != 0) {
		log_errno("sandbox_failed", "landlock_restrict_self");
		close(fd);
		return (-1);
	}
	close(fd);
	st->fs = 1;
	st->net = ra.handled_access_net != 0;
	st->scope = ra.scoped != 0;
	if (!st->net)
		st->why = "ABI below 4: no TCP port rules";
	else if (!st->scope)
		st->why = "ABI below 6: no signal or abstract socket scoping";
	return (0);
}
