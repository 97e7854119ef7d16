#ifndef SECCOMP_H_
#define SECCOMP_H_

#include <stddef.h>
#include <stdint.h>

/*
 * The syscall allowlists: the tables of seccomp.c are the single source of
 * truth, one for the relay and one for the --workers supervisor.  At build
 * time tools/seccomp-gen.c compiles them to BPF with libseccomp (Debian's
 * libseccomp.a is built for glibc and cannot be linked into this static
 * musl binary), once for each architecture the binary is built for
 * (x86_64, aarch64); the program embeds that BPF and loads one filter
 * with seccomp(2).  Architecture mismatches and every call not in the
 * table kill the process.
 */

#define SECCOMP_MAX_ARGS	3

/*
 * The architectures a filter is built for, as bits of a row's arch; each
 * filter kills every other architecture.  Their names are libseccomp's
 * (seccomp_archs[]).
 */
#define SECCOMP_X86_64		0x1u
#define SECCOMP_AARCH64		0x2u
#define SECCOMP_ARCHES		(SECCOMP_X86_64 | SECCOMP_AARCH64)

struct seccomp_archname {
	unsigned bit;
	const char *name;
};

/* { SECCOMP_X86_64, "x86_64" }, ..., then { 0, NULL }. */
extern const struct seccomp_archname seccomp_archs[];

/* One argument condition: (arg[idx] & mask) == val, on all 64 bits. */
struct seccomp_arg {
	unsigned idx;
	uint64_t mask;
	uint64_t val;
};

/*
 * A row names its syscall; tools/seccomp-gen.c takes the number for each
 * architecture from libseccomp, by that name, so one table serves all.
 */
struct seccomp_rule {
	const char *name;
	unsigned arch;			/* SECCOMP_ARCHES, or the ones it is on */
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

/*
 * seccomp_rowname(r, buf, cap): the syscall column of ${r}'s row in ${buf}
 * of ${cap} bytes: its name, followed by " (x86_64 only)" or the like when
 * the row is not on every architecture.  Returns 0, or -1 if it does not
 * fit or an arch bit has no name.
 */
int seccomp_rowname(const struct seccomp_rule *r, char *buf, size_t cap);

/* Room for any row's syscall column. */
#define SECCOMP_ROWNAME_MAX	64

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
