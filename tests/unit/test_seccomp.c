#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "pump.h"
#include "seccomp.h"

#define ALL	0xffffffffffffffffULL

/* The argument text seccomp_argtext() makes of one rule, or "(none)". */
static const char *
text_of(const struct seccomp_rule *r)
{
	static char buf[SECCOMP_ARGTEXT_MAX];

	if (seccomp_argtext(r, buf, sizeof(buf)) != 0)
		return ("(none)");
	return (buf);
}

/*
 * Rules written here with the numbers, the way seccomp.c writes them: the
 * text must name each condition's argument, operator and value.
 */
static void
test_derived(void)
{
	static const struct {
		struct seccomp_rule r;
		const char *want;
	} t[] = {
		{ { "accept4", SECCOMP_ARCHES, 1,
		    { { 3, ALL, SOCK_NONBLOCK | SOCK_CLOEXEC } }, "" },
		    "flags == SOCK_NONBLOCK|SOCK_CLOEXEC" },
		{ { "accept4", SECCOMP_ARCHES, 1, { { 3, ALL, SOCK_CLOEXEC } },
		    "" }, "flags == SOCK_CLOEXEC" },
		{ { "socket", SECCOMP_ARCHES, 3, { { 0, ALL, AF_INET6 },
		    { 1, ALL, SOCK_DGRAM | SOCK_CLOEXEC },
		    { 2, ALL, IPPROTO_UDP } }, "" },
		    "domain == AF_INET6, type == SOCK_DGRAM|SOCK_CLOEXEC, "
		    "protocol == IPPROTO_UDP" },
		{ { "sendto", SECCOMP_ARCHES, 2, { { 3, ALL, MSG_NOSIGNAL |
		    MSG_MORE }, { 4, ALL, 0 } }, "" },
		    "flags == MSG_NOSIGNAL|MSG_MORE, dest_addr == NULL" },
		{ { "recvfrom", SECCOMP_ARCHES, 1, { { 3, ALL, 0 } }, "" },
		    "flags == 0" },
		{ { "fcntl", SECCOMP_ARCHES, 2, { { 1, ALL, F_SETPIPE_SZ },
		    { 2, ALL, PUMP_PIPE_SIZE } }, "" },
		    "cmd == F_SETPIPE_SZ, arg == PUMP_PIPE_SIZE" },
		{ { "setsockopt", SECCOMP_ARCHES, 2, { { 1, ALL, SOL_SOCKET },
		    { 2, ALL, SO_LINGER } }, "" },
		    "level == SOL_SOCKET, optname == SO_LINGER" },
		{ { "write", SECCOMP_ARCHES, 1, { { 0, ALL, 2 } }, "" },
		    "fd == 2" },
		{ { "mmap", SECCOMP_ARCHES, 1, { { 2, PROT_EXEC, 0 } }, "" },
		    "prot without PROT_EXEC" },
		{ { "mprotect", SECCOMP_ARCHES, 1, { { 2, ALL, PROT_READ } },
		    "" }, "prot == PROT_READ" },
		{ { "kill", SECCOMP_ARCHES, 2, { { 0, 0xffffffff80000000ULL, 0 },
		    { 1, ALL, SIGINT } }, "" }, "pid >= 0, sig == SIGINT" },
		{ { "kill", SECCOMP_ARCHES, 1, { { 0, ALL, 1 } }, "" }, "pid == 1" },
		{ { "close", SECCOMP_ARCHES, 0, { { 0, 0, 0 } }, "" }, "" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("seccomp_argtext %s: %s", t[i].r.name, t[i].want);
		ASSERT_STR_EQ(text_of(&t[i].r), t[i].want);
		TEST_DONE();
	}
}

/* What has no name gives no text: never a number where a name belongs. */
static void
test_unnamed(void)
{
	static const struct {
		struct seccomp_rule r;
		const char *what;
	} t[] = {
		{ { "accept4", SECCOMP_ARCHES, 1, { { 3, ALL, SOCK_NONBLOCK |
		    O_APPEND } }, "" }, "a flag bit without a name" },
		{ { "socket", SECCOMP_ARCHES, 1, { { 0, ALL, AF_UNIX } }, "" },
		    "a value that is none of the names" },
		{ { "sendto", SECCOMP_ARCHES, 1, { { 4, ALL, 8 } }, "" },
		    "a pointer other than NULL" },
		{ { "write", SECCOMP_ARCHES, 1, { { 2, ALL, 1 } }, "" },
		    "an argument without a name" },
		{ { "openat", SECCOMP_ARCHES, 1, { { 2, ALL, 0 } }, "" },
		    "a syscall without argument names" },
		{ { "mmap", SECCOMP_ARCHES, 1, { { 2, PROT_EXEC, PROT_EXEC } }, "" },
		    "a mask with a value: no wording for it" },
		{ { "write", SECCOMP_ARCHES, 1, { { 0, 0xff, 2 } }, "" },
		    "a partial mask on a number" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("seccomp_argtext refuses %s", t[i].what);
		ASSERT_STR_EQ(text_of(&t[i].r), "(none)");
		TEST_DONE();
	}
}

static void
test_small_buffer(void)
{
	const struct seccomp_rule r = { "write", SECCOMP_ARCHES, 1,
	    { { 0, ALL, 2 } }, "" };
	char buf[8];

	TEST_START("seccomp_argtext: the text and its NUL must fit");
	ASSERT_INT_EQ(seccomp_argtext(&r, buf, 7), -1);	/* "fd == 2" */
	ASSERT_INT_EQ(seccomp_argtext(&r, buf, 8), 0);
	ASSERT_STR_EQ(buf, "fd == 2");
	ASSERT_INT_EQ(seccomp_argtext(&r, buf, 0), -1);
	TEST_DONE();
}

/*
 * Every row of both tables has a text (tools/seccomp-gen.c also refuses to
 * build a filter otherwise), and a row with conditions never reads empty.
 */
static void
test_tables(void)
{
	static const struct {
		enum seccomp_table t;
		const char *name;
	} tables[] = {
		{ SECCOMP_RELAY, "relay" },
		{ SECCOMP_SUPERVISOR, "supervisor" },
	};
	const struct seccomp_rule *r;
	const char *s;
	size_t i, k, n;

	for (k = 0; k < sizeof(tables) / sizeof(tables[0]); k++) {
		r = seccomp_rules(tables[k].t, &n);
		for (i = 0; i < n; i++) {
			TEST_START("%s row %zu (%s) has its text",
			    tables[k].name, i, r[i].name);
			s = text_of(&r[i]);
			ASSERT_STR_NE(s, "(none)");
			ASSERT_INT_EQ(*s != '\0', r[i].nargs > 0);
			TEST_DONE();
		}
	}
}

/* The syscall column: a row not on every architecture names its own. */
static void
test_rowname(void)
{
	static const struct {
		unsigned arch;
		const char *want;	/* NULL: refused */
	} t[] = {
		{ SECCOMP_ARCHES, "open" },
		{ SECCOMP_X86_64, "open (x86_64 only)" },
		{ SECCOMP_AARCH64, "open (aarch64 only)" },
		{ 0, NULL },			/* on no architecture */
		{ SECCOMP_X86_64 | 0x80u, NULL },	/* a bit without a name */
	};
	struct seccomp_rule r = { "open", 0, 0, { { 0, 0, 0 } }, "" };
	char buf[SECCOMP_ROWNAME_MAX];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("seccomp_rowname arch %#x: %s", t[i].arch,
		    t[i].want != NULL ? t[i].want : "refused");
		r.arch = t[i].arch;
		if (t[i].want == NULL)
			ASSERT_INT_EQ(seccomp_rowname(&r, buf, sizeof(buf)), -1);
		else if (ASSERT_INT_EQ(seccomp_rowname(&r, buf, sizeof(buf)),
		    0))
			ASSERT_STR_EQ(buf, t[i].want);
		TEST_DONE();
	}
	TEST_START("seccomp_rowname: the text and its NUL must fit");
	r.arch = SECCOMP_X86_64;
	ASSERT_INT_EQ(seccomp_rowname(&r, buf, 18), -1);
	ASSERT_INT_EQ(seccomp_rowname(&r, buf, 19), 0);
	ASSERT_INT_EQ(seccomp_rowname(&r, buf, 0), -1);
	TEST_DONE();
}

/* A few rows of the real tables, as --print-seccomp shows them. */
static void
test_known_rows(void)
{
	static const struct {
		enum seccomp_table t;
		const char *name;
		size_t nth;		/* 0: the first row of ${name} */
		const char *want;
	} t[] = {
		{ SECCOMP_RELAY, "accept4", 0,
		    "flags == SOCK_NONBLOCK|SOCK_CLOEXEC" },
		{ SECCOMP_RELAY, "socket", 0, "domain == AF_INET, type == "
		    "SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, protocol == "
		    "IPPROTO_TCP" },
		{ SECCOMP_RELAY, "sendto", 1, "flags == "
		    "MSG_NOSIGNAL|MSG_DONTWAIT|MSG_MORE, dest_addr == NULL" },
		{ SECCOMP_RELAY, "splice", 0, "off_in == NULL, off_out == NULL, "
		    "flags == SPLICE_F_MOVE|SPLICE_F_NONBLOCK" },
		{ SECCOMP_RELAY, "mmap", 0, "prot without PROT_EXEC" },
		{ SECCOMP_RELAY, "write", 1, "fd == 1" },
		{ SECCOMP_SUPERVISOR, "kill", 0, "pid >= 0, sig == SIGTERM" },
		{ SECCOMP_SUPERVISOR, "wait4", 0, "options == WNOHANG" },
	};
	const struct seccomp_rule *r;
	size_t i, j, n, seen;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		TEST_START("row %s #%zu reads %s", t[i].name, t[i].nth,
		    t[i].want);
		r = seccomp_rules(t[i].t, &n);
		for (j = 0, seen = 0; j < n; j++)
			if (strcmp(r[j].name, t[i].name) == 0 &&
			    seen++ == t[i].nth)
				break;
		if (ASSERT_SIZE_GT(n, j))
			ASSERT_STR_EQ(text_of(&r[j]), t[i].want);
		TEST_DONE();
	}
}

int
main(void)
{

	test_derived();
	test_unnamed();
	test_small_buffer();
	test_tables();
	test_rowname();
	test_known_rows();
	return (test_summary());
}
