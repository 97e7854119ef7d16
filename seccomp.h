#ifndef SECCOMP_H_
#define SECCOMP_H_

#include <stddef.h>
#include <stdint.h>

/*
 * The syscall allowlists: the tables of seccomp.c are the single source of
 * truth, one for the relay and one for the --workers supervisor.  At build
 * time tools/seccomp-gen.c compiles them to BPF with libseccomp (Debian's
 * libseccomp.a is built for glibc and cannot be linked into this static
 * musl binary); the program embeds that BPF and loads one filter with
 * seccomp(2).  Architecture mismatches and every call not in the table
 * kill the process.
 */

#define SECCOMP_MAX_ARGS	3

/* One argument condition: (arg[idx] & mask) == val, on all 64 bits. */
struct seccomp_arg {
	unsigned idx;
	uint64_t mask;
	uint64_t val;
};

struct seccomp_rule {
	int	nr;			/* __NR_* for x86_64 */
	const char *name;
	unsigned nargs;
	struct seccomp_arg args[SECCOMP_MAX_ARGS];
	const char *reason;		/* the code path that needs it */
};

/* The two tables: the relay's, and the --workers supervisor's. */
enum seccomp_table {
	SECCOMP_RELAY,
	SECCOMP_SUPERVISOR
};

/** seccomp_rules(t, n): table ${t}; its length in ${n}. */
const struct seccomp_rule *seccomp_rules(enum seccomp_table t, size_t *n);

/* Room for any rule's argument text. */
#define SECCOMP_ARGTEXT_MAX	160

/**
 * seccomp_argtext(r, buf, cap): write the argument conditions of ${r} as
 * text to ${buf} of ${cap} bytes, made from the rule's numbers and names
 * for them ("flags == SOCK_NONBLOCK|SOCK_CLOEXEC, dest_addr == NULL"; ""
 * for a rule without conditions).  Returns 0, or -1 when an argument, a
 * value or a mask has no name in seccomp.c or the text does not fit.
 */
int seccomp_argtext(const struct seccomp_rule *r, char *buf, size_t cap);

/**
 * seccomp_print(fd): write both tables as Markdown tables to ${fd}
 * (--print-seccomp, and the copy in SECURITY.md).
 */
void seccomp_print(int fd);

/**
 * seccomp_install(t): load the embedded filter of table ${t} (NO_NEW_PRIVS
 * must already be set).  Returns 0, or -1 after logging the failed syscall.
 */
int seccomp_install(enum seccomp_table t);

#endif /* !SECCOMP_H_ */
