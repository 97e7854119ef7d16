/*
 * Sandbox probe, after Firecracker's tests/host_tools/test_syscalls.c and
 * bubblewrap's tests/try-syscall.c.  It enters the proxy's sandbox the way
 * proxy.c's sandbox_enter() does (NO_NEW_PRIVS, landlock_apply(587), then
 * the real embedded filter through seccomp_install()), makes exactly one
 * system call, and reports it:
 *
 *   probe --list
 *   probe [--no-landlock] [--no-seccomp] [--supervisor] call NAME|NUMBER
 *       [aI=VALUE ...]
 *   probe [--no-landlock] [--no-seccomp] [--supervisor] CASE [ARG ...]
 *
 * The filter is the relay's (SECCOMP_RELAY); --supervisor loads the one of
 * the --workers supervisor (SECCOMP_SUPERVISOR) instead, the rest alike.
 * --list prints, for each table T ("relay", "supervisor"), the length of
 * its embedded BPF ("filter T LEN") and its rows ("row T I NAME ARCHES
 * NARGS IDX:MASK:VAL ...", ARCHES such as "x86_64,aarch64"), then the harmless default arguments the probe knows
 * ("def NAME NR A0 ... A5").
 * "call" issues syscall(2) with the defaults of NAME, each aI=VALUE
 * replacing argument I; the defaults are a bad fd or a NULL pointer, so an
 * allowed call fails at once with EBADF, EFAULT or EINVAL.  The CASEs are
 * the calls that need real objects: see cases[] below.
 *
 * The result is the last line on stderr, "probe: ret=R errno=E (text)",
 * written with one write(2) to fd 2 (the log row of the filter), and the
 * exit status is 0.  A call the filter forbids kills the probe with SIGSYS
 * (status 128+31).  Exit 64: usage; exit 71: the sandbox or a setup step of
 * a case failed (not a verdict).  Any other status is the call's own doing
 * (exit_group, or i386 exit).  This is a test program: nothing of it is in
 * the release binary.
 */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "landlock.h"
#include "seccomp.h"
#include "upstream.h"		/* UPSTREAM_PORT, as proxy.c passes it */

/* The lengths of the embedded filters (build/seccomp_bpf.c), for --list:
 * drift.py tells the two filters apart in strace by their length. */
extern const size_t seccomp_bpf_len, seccomp_supervisor_bpf_len;

#define EXIT_USAGE	64	/* EX_USAGE */
#define EXIT_SETUP	71	/* EX_OSERR: not a verdict */

#define BADFD	UINT64_MAX		/* fd -1: EBADF */
#define NOPID	0x3fffffffULL		/* above PID_MAX_LIMIT: ESRCH */
#define ANYCHILD UINT64_MAX		/* wait4 pid -1; the probe has none */
#define NBC	(SOCK_NONBLOCK | SOCK_CLOEXEC)
#define NARGS	6

struct sysdef {
	const char *name;
	long	nr;
	uint64_t arg[NARGS];
};

#define DEF(n, ...)	{ #n, SYS_##n, { __VA_ARGS__ } }

/*
 * Harmless default arguments.  First every syscall of the tables in
 * seccomp.c, the relay's then the supervisor's (a row added there needs a
 * line here; test_filter.py and test_supervisor_filter.py say so), then
 * the calls the filters must refuse.  If a filter wrongly let one of them
 * through, it would still do no harm.
 */
static const struct sysdef defs[] = {
	DEF(epoll_pwait, BADFD, 0, 1, 0, 0, 8),
	DEF(epoll_ctl, BADFD, EPOLL_CTL_ADD, BADFD, 0),
	DEF(accept4, BADFD, 0, 0, NBC),
	DEF(socket, AF_INET, SOCK_STREAM | NBC, IPPROTO_TCP),	/* a real fd */
	DEF(connect, BADFD, 0, 0),
	DEF(sendto, BADFD, 0, 0, MSG_NOSIGNAL, 0, 0),
	DEF(recvfrom, BADFD, 0, 0, 0, 0, 0),
	DEF(setsockopt, BADFD, SOL_SOCKET, SO_LINGER, 0, 0),
	DEF(getsockopt, BADFD, SOL_SOCKET, SO_ERROR, 0, 0),
	DEF(shutdown, BADFD, SHUT_WR),
	DEF(close, BADFD),
	DEF(write, BADFD, 0, 1),		/* NULL buffer: EFAULT */
	DEF(getrandom, 0, 1, GRND_NONBLOCK),	/* EFAULT */
	DEF(clock_gettime, CLOCK_MONOTONIC, 0),	/* EFAULT */
	DEF(getrusage, RUSAGE_SELF, 0),		/* NULL usage: EFAULT */
	DEF(mmap, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, BADFD, 0),
	DEF(mprotect, 0, 0, PROT_READ | PROT_WRITE),	/* empty range: 0 */
	DEF(munmap, 0, 0),			/* EINVAL */
	DEF(madvise, 0, 0, MADV_FREE),		/* empty range: 0 */
	DEF(brk, 0),				/* the current break */
	DEF(exit_group, 0),			/* exit 0, nothing printed */
	/* The supervisor's own (write, clock_gettime, exit_group above). */
	DEF(rt_sigtimedwait, 0, 0, 0, 8),	/* NULL set: EFAULT */
	DEF(wait4, ANYCHILD, 0, 0, 0),		/* no child: ECHILD */
	DEF(kill, NOPID, 0),			/* ESRCH, whatever the signal */

	DEF(execve, 0, 0, 0),
	DEF(execveat, BADFD, 0, 0, 0, 0),
	DEF(ptrace, PTRACE_ATTACH, NOPID),
	DEF(fork, 0),				/* the child exits at once */
	DEF(vfork, 0),				/* see call_vfork() */
	DEF(clone, SIGCHLD, 0, 0, 0, 0),	/* fork(), as musl makes it */
	DEF(clone3, 0, 0),
	DEF(open, 0, O_RDONLY),
	DEF(openat, (uint64_t)AT_FDCWD, 0, O_RDONLY),
	DEF(setuid, 0),
	DEF(io_uring_setup, 0, 0),
	DEF(prctl, PR_GET_DUMPABLE),
	DEF(landlock_create_ruleset, 0, 0, 1),	/* the ABI version */
	DEF(seccomp, SECCOMP_GET_ACTION_AVAIL, 0, 0),
	DEF(ioctl, BADFD, TIOCGWINSZ, 0),
	DEF(bpf, UINT32_MAX, 0, 0),
	DEF(getuid, 0),
	DEF(bind, BADFD, 0, 0),
	DEF(listen, BADFD, 0),
	DEF(tkill, NOPID, 0),
	DEF(mremap, 0, 0, 0, 0, 0),
	DEF(read, BADFD, 0, 1),
	DEF(writev, BADFD, 0, 0),
	DEF(poll, 0, 0, 0),
	DEF(nanosleep, 0, 0),
	DEF(fcntl, BADFD, F_GETFD),
	DEF(rt_sigaction, SIGUSR1, 0, 0, 8),
	DEF(rt_sigprocmask, SIG_BLOCK, 0, 0, 8),
	DEF(socketpair, AF_UNIX, SOCK_STREAM, 0, 0),
	DEF(sendmsg, BADFD, 0, 0),
	DEF(recvmsg, BADFD, 0, 0),
	DEF(splice, BADFD, 0, BADFD, 0, 1, 0),
	DEF(pipe2, 0, 0),
	DEF(unshare, 0),
	DEF(memfd_create, 0, 0),
};

static const char *progname = "probe";
static int use_landlock = 1, use_seccomp = 1;
static enum seccomp_table table = SECCOMP_RELAY;	/* --supervisor */

/* The tables by name, for --list and the tests. */
static const struct {
	enum seccomp_table t;
	const char *name;
	const size_t *bpf_len;
} tables[] = {
	{ SECCOMP_RELAY, "relay", &seccomp_bpf_len },
	{ SECCOMP_SUPERVISOR, "supervisor", &seccomp_supervisor_bpf_len },
};

/* One line on fd 2 with one write(2): the only output after the filter. */
static void
say(const char *line)
{

	(void)write(2, line, strlen(line));
}

static void
usage(void)
{

	fprintf(stderr, "usage: %s --list\n"
	    "       %s [--no-landlock] [--no-seccomp] [--supervisor] "
	    "call NAME|NUMBER [aI=VALUE ...]\n"
	    "       %s [--no-landlock] [--no-seccomp] [--supervisor] "
	    "CASE [ARG ...]\n", progname, progname, progname);
	exit(EXIT_USAGE);
}

/*
 * Report the call and exit 0: ${ret} < 0 means it failed with errno, read
 * here, after the call in the argument list has returned.
 */
static void
report(long ret)
{
	char line[160];
	int err = errno;

	snprintf(line, sizeof(line), "probe: ret=%ld errno=%d (%s)\n",
	    ret < 0 ? -1L : ret, ret < 0 ? err : 0,
	    ret < 0 ? strerror(err) : "ok");
	say(line);
	_exit(0);
}

/* A setup step of a case failed under the sandbox: not a verdict. */
static void
setup_failed(const char *what, int err)
{
	char line[160];

	snprintf(line, sizeof(line), "probe: setup %s: %s\n", what,
	    strerror(err));
	say(line);
	_exit(EXIT_SETUP);
}

/* The architectures of ${r}, comma-separated, as seccomp_archs names them. */
static void
print_arches(const struct seccomp_rule *r)
{
	const struct seccomp_archname *a;
	const char *sep = " ";

	for (a = seccomp_archs; a->name != NULL; a++)
		if (r->arch & a->bit) {
			printf("%s%s", sep, a->name);
			sep = ",";
		}
}

static int
list(void)
{
	const struct seccomp_rule *r;
	size_t i, n, t;
	unsigned k;

	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		printf("filter %s %zu\n", tables[t].name, *tables[t].bpf_len);
		r = seccomp_rules(tables[t].t, &n);
		for (i = 0; i < n; i++) {
			printf("row %s %zu %s", tables[t].name, i, r[i].name);
			print_arches(&r[i]);
			printf(" %u", r[i].nargs);
			for (k = 0; k < r[i].nargs; k++)
				printf(" %u:0x%llx:0x%llx", r[i].args[k].idx,
				    (unsigned long long)r[i].args[k].mask,
				    (unsigned long long)r[i].args[k].val);
			printf("\n");
		}
	}
	for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		printf("def %s %ld", defs[i].name, defs[i].nr);
		for (k = 0; k < NARGS; k++)
			printf(" 0x%llx", (unsigned long long)defs[i].arg[k]);
		printf("\n");
	}
	return (fflush(stdout) == 0 ? 0 : 1);
}

/*
 * The proxy's order (proxy.c sandbox_restrict and sandbox_seal, without the
 * privilege drop and RLIMIT_NPROC): NO_NEW_PRIVS, Landlock with TCP connect
 * to 587 only, then the filter of ${table}.  RLIMIT_CORE 0 first, as
 * privdrop does: a SIGSYS kill dumps core.
 */
static void
sandbox(void)
{
	struct landlock_status st;
	struct rlimit rl = { 0, 0 };
	char line[200];

	if (setrlimit(RLIMIT_CORE, &rl) != 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		perror("probe: setrlimit or prctl");
		exit(EXIT_SETUP);
	}
	if (use_landlock) {
		switch (landlock_apply(UPSTREAM_PORT, &st)) {
		case 0:
			break;
		case 1:
			snprintf(line, sizeof(line), "probe: landlock "
			    "unavailable: %s\n", st.why);
			say(line);
			break;
		default:
			exit(EXIT_SETUP);
		}
	}
	if (use_seccomp && seccomp_install(table) != 0)
		exit(EXIT_SETUP);
}

static const struct sysdef *
find_def(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (strcmp(defs[i].name, name) == 0)
			return (&defs[i]);
	return (NULL);
}

static uint64_t
number(const char *s)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0') {
		fprintf(stderr, "%s: not a number: %s\n", progname, s);
		exit(EXIT_USAGE);
	}
	return ((uint64_t)v);
}

/*
 * vfork's child shares the stack: returning through syscall() would
 * clobber the parent's frame, so the child exits from inline asm.
 */
static long
call_vfork(void)
{
	long ret;

	__asm__ volatile ("syscall\n\t"
	    "test %%rax, %%rax\n\t"
	    "jnz 1f\n\t"
	    "mov %2, %%eax\n\t"
	    "xor %%edi, %%edi\n\t"
	    "syscall\n"
	    "1:"
	    : "=a" (ret)
	    : "a" ((long)SYS_vfork), "i" (SYS_exit_group)
	    : "rcx", "r11", "rdi", "memory");
	return (ret);
}

/* "call NAME|NUMBER [aI=VALUE ...]": the generic raw syscall. */
static void
case_call(int argc, char **argv)
{
	const struct sysdef *d;
	uint64_t a[NARGS] = { 0 };
	long nr, ret;
	unsigned i;
	int k;

	if ((d = find_def(argv[0])) != NULL) {
		nr = d->nr;
		memcpy(a, d->arg, sizeof(a));
	} else
		nr = (long)number(argv[0]);	/* x32 numbers, for one */
	for (k = 1; k < argc; k++) {
		if (argv[k][0] != 'a' || argv[k][1] < '0' ||
		    argv[k][1] >= '0' + NARGS || argv[k][2] != '=')
			usage();
		i = (unsigned)(argv[k][1] - '0');
		a[i] = number(argv[k] + 3);
	}
	sandbox();
	if (nr == SYS_vfork)
		ret = call_vfork();
	else
		ret = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (ret == 0 && (nr == SYS_fork || nr == SYS_vfork || nr == SYS_clone))
		_exit(0);			/* the child, if one was made */
	report(ret);
}

static volatile sig_atomic_t filtered, alarmed, early;

static void
callback_alarm(int sig)
{

	(void)sig;
	if (!filtered)
		early = 1;
	alarmed = 1;
}

/*
 * "sigreturn": rt_sigreturn cannot be called raw.  A SIGALRM handler and a
 * timer are set up before the sandbox; the handler's return under the
 * filter is the call (musl's sa_restorer issues rt_sigreturn).
 */
static void
case_sigreturn(int argc, char **argv)
{
	struct itimerval it = { { 0, 0 }, { 0, 200000 } };
	struct sigaction sa;

	(void)argc;
	(void)argv;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = callback_alarm;
	if (sigaction(SIGALRM, &sa, NULL) != 0 ||
	    setitimer(ITIMER_REAL, &it, NULL) != 0) {
		perror("probe: sigaction or setitimer");
		exit(EXIT_SETUP);
	}
	sandbox();
	filtered = 1;
	while (!alarmed)
		;	/* no syscall: the timer interrupts the loop */
	if (early)
		setup_failed("SIGALRM came before the filter", EAGAIN);
	report(0);
}

/*
 * "i386 NR [EBX]": an i386 call through int $0x80 (SBX-05).  The filter
 * must kill it by its arch alone: i386 exit (1) with ebx 2 matches the
 * x86_64 row write(fd == 2) if only the number and arguments were checked.
 */
static void
case_i386(int argc, char **argv)
{
	long ret, nr, ebx;

	nr = (long)number(argv[0]);
	ebx = argc > 1 ? (long)number(argv[1]) : 0;
	sandbox();
	__asm__ volatile ("int $0x80"
	    : "=a" (ret)
	    : "a" (nr), "b" (ebx)
	    : "rcx", "r8", "r9", "r10", "r11", "memory", "cc");
	ret = (int)ret;			/* a 32-bit result */
	if (ret < 0)
		errno = (int)-ret;
	report(ret);
}

/* 127.0.0.1:${port}, or [::1]:${port} for AF_INET6. */
static socklen_t
loopback(int family, const char *port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	uint16_t p = htons((uint16_t)number(port));

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = p;
		sin6->sin6_addr = in6addr_loopback;
		return (sizeof(*sin6));
	}
	sin->sin_family = AF_INET;
	sin->sin_port = p;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return (sizeof(*sin));
}

/*
 * The Landlock cases (SBX-08, SBX-09).  Each makes its socket under the
 * sandbox, with the proxy's flags, then makes the one call under test.
 */
static int
sandboxed_socket(int family, int type, int protocol)
{
	int fd;

	sandbox();
	if ((fd = socket(family, type | NBC, protocol)) < 0)
		setup_failed("socket", errno);
	return (fd);
}

/* TCP to the loopback address of ${family}, as connect_next does. */
static void
tcp_connect(int family, const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, port, &ss);
	int fd = sandboxed_socket(family, SOCK_STREAM, IPPROTO_TCP);

	report(connect(fd, (struct sockaddr *)&ss, len));
}

/* "connect PORT": TCP to 127.0.0.1:PORT. */
static void
case_connect(int argc, char **argv)
{

	(void)argc;
	tcp_connect(AF_INET, argv[0]);
}

/* "connect6 PORT": TCP to [::1]:PORT. */
static void
case_connect6(int argc, char **argv)
{

	(void)argc;
	tcp_connect(AF_INET6, argv[0]);
}

/* "mptcp PORT": MPTCP, which Landlock's TCP rules do not cover. */
static void
case_mptcp(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, argv[0], &ss);
	int fd = sandboxed_socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);

	(void)argc;
	report(connect(fd, (struct sockaddr *)&ss, len));
}

/* "tfo PORT": a TCP Fast Open connect made by sendto(MSG_FASTOPEN). */
static void
case_tfo(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, argv[0], &ss);
	int fd = sandboxed_socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);

	(void)argc;
	report(sendto(fd, "x", 1, MSG_FASTOPEN | MSG_NOSIGNAL,
	    (struct sockaddr *)&ss, len));
}

/* "bind PORT": the proxy binds nothing after startup. */
static void
case_bind(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, argv[0], &ss);
	int fd = sandboxed_socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);

	(void)argc;
	report(bind(fd, (struct sockaddr *)&ss, len));
}

/* "abstract N": connect to the abstract unix socket "@ses-probe-N". */
static void
case_abstract(int argc, char **argv)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	(void)argc;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    (size_t)snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
	    "ses-probe-%s", argv[0]));
	fd = sandboxed_socket(AF_UNIX, SOCK_STREAM, 0);
	report(connect(fd, (struct sockaddr *)&sun, len));
}

/* "open PATH FLAGS": open(2) through libc (SYS_open on x86_64). */
static void
case_open(int argc, char **argv)
{
	int flags = (int)number(argv[1]);

	(void)argc;
	sandbox();
	report(open(argv[0], flags, 0600));
}

/* "kill PID": signal 0 to another process (Landlock scope, ABI 6). */
static void
case_kill(int argc, char **argv)
{
	pid_t pid = (pid_t)number(argv[0]);

	(void)argc;
	sandbox();
	report(kill(pid, 0));
}

/*
 * "malloc-nobrk": musl's malloc (mallocng, alloc_meta in
 * src/malloc/mallocng/malloc.c) takes the pages of its bookkeeping from
 * brk; once brk fails, as under RLIMIT_DATA, it maps them PROT_NONE and
 * makes each one PROT_READ|PROT_WRITE with mprotect when it needs it.  A
 * page mapped at the break before the sandbox makes brk fail; then, under
 * the filter, MALLOC_PROBE_N allocations above musl's mmap threshold (each
 * has a record of its own, more than one page of them) must all succeed.
 * Reports how many did.
 */
#define MALLOC_PROBE_N		256
#define MALLOC_PROBE_SIZE	(256 * 1024)

static void
case_malloc_nobrk(int argc, char **argv)
{
	static void *p[MALLOC_PROBE_N];
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), end;
	long n;

	(void)argc;
	(void)argv;
	end = ((uintptr_t)syscall(SYS_brk, 0) + pg - 1) & ~(pg - 1);
	if (mmap((void *)end, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_FIXED_NOREPLACE, -1, 0) != (void *)end)
		setup_failed("mmap at the break", errno);
	if ((uintptr_t)syscall(SYS_brk, end + 2 * pg) >= end + 2 * pg)
		setup_failed("brk still grows", EEXIST);
	sandbox();
	for (n = 0; n < MALLOC_PROBE_N; n++)
		if ((p[n] = malloc(MALLOC_PROBE_SIZE)) == NULL)
			break;
	/* free is called, so musl links mallocng, the proxy's allocator,
	 * not the brk-only allocator it gives programs without free. */
	free(p[0]);
	report(n);
}

/* "landlock-status": what landlock_apply enforces on this kernel. */
static void
case_landlock_status(int argc, char **argv)
{
	struct landlock_status st;
	char line[200];
	int r;

	(void)argc;
	(void)argv;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		setup_failed("prctl", errno);
	r = landlock_apply(UPSTREAM_PORT, &st);
	snprintf(line, sizeof(line), "probe: landlock rc=%d abi=%d fs=%d "
	    "net=%d scope=%d\n", r, st.abi, st.fs, st.net, st.scope);
	say(line);
	_exit(r < 0 ? EXIT_SETUP : 0);
}

static const struct probe_case {
	const char *name;
	int	nargs;		/* at least, after the name */
	void	(*run)(int, char **);
} cases[] = {
	{ "call", 1, case_call },
	{ "sigreturn", 0, case_sigreturn },
	{ "i386", 1, case_i386 },
	{ "connect", 1, case_connect },
	{ "connect6", 1, case_connect6 },
	{ "mptcp", 1, case_mptcp },
	{ "tfo", 1, case_tfo },
	{ "bind", 1, case_bind },
	{ "abstract", 1, case_abstract },
	{ "open", 2, case_open },
	{ "kill", 1, case_kill },
	{ "malloc-nobrk", 0, case_malloc_nobrk },
	{ "landlock-status", 0, case_landlock_status },
};

int
main(int argc, char **argv)
{
	size_t i;

	progname = argv[0];
	if (argc == 2 && strcmp(argv[1], "--list") == 0)
		return (list());
	for (argc--, argv++; argc > 0 && argv[0][0] == '-'; argc--, argv++) {
		if (strcmp(argv[0], "--no-landlock") == 0)
			use_landlock = 0;
		else if (strcmp(argv[0], "--no-seccomp") == 0)
			use_seccomp = 0;
		else if (strcmp(argv[0], "--supervisor") == 0)
			table = SECCOMP_SUPERVISOR;
		else
			usage();
	}
	for (i = 0; argc > 0 && i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(argv[0], cases[i].name) == 0 &&
		    argc - 1 >= cases[i].nargs) {
			/* Every case ends in report(), setup_failed or exit. */
			cases[i].run(argc - 1, argv + 1);
			return (EXIT_SETUP);
		}
	usage();
	return (EXIT_USAGE);
}
