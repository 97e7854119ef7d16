/*
 * The seccomp policy: the rule tables of the relay and of the --workers
 * supervisor (one row per syscall, with its argument rule and the code
 * path that needs it), the BPF compiled from them at build time and
 * embedded, its installation, the SIGSYS reporter and --print-seccomp.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pump.h"
#include "seccomp.h"

/* The filters, generated at build time from the tables below. */
extern const struct sock_filter seccomp_bpf[], seccomp_supervisor_bpf[];
extern const size_t seccomp_bpf_len, seccomp_supervisor_bpf_len;

#define ALL		0xffffffffffffffffULL
/* (arg & INT_NONNEG) == 0: an int argument, sign-extended, that is >= 0. */
#define INT_NONNEG	0xffffffff80000000ULL
#define NB_CLOEXEC	(SOCK_NONBLOCK | SOCK_CLOEXEC)

/*
 * A row: the syscall by name, the architectures it is on, its argument
 * conditions and why.  The ROW macros make rows on every architecture; a
 * syscall that some architecture lacks (aarch64 has no open, poll or
 * epoll_wait, only their *at and p* forms) is written with RULE and the
 * architectures that have it, e.g.
 *	RULE(SECCOMP_X86_64, open, 1, "why", { 1, ALL, O_RDONLY }),
 * and --print-seccomp says "open (x86_64 only)".  tools/seccomp-gen.c
 * refuses a row on an architecture that lacks its syscall.
 */
#define RULE(a, n, k, why, ...) \
	{ #n, a, k, { __VA_ARGS__ }, why }
#define ROW(n, why) \
	RULE(SECCOMP_ARCHES, n, 0, why, { 0, 0, 0 })
#define ROW1(n, i, m, v, why) \
	RULE(SECCOMP_ARCHES, n, 1, why, { i, m, v })
#define ROW2(n, i, mi, vi, j, mj, vj, why) \
	RULE(SECCOMP_ARCHES, n, 2, why, { i, mi, vi }, { j, mj, vj })
#define ROW3I(n, i, vi, j, vj, k, vk, why) \
	RULE(SECCOMP_ARCHES, n, 3, why, { i, ALL, vi }, { j, ALL, vj }, \
	    { k, ALL, vk })
#define ROW3(n, a, b, c, why) \
	RULE(SECCOMP_ARCHES, n, 3, why, { 0, ALL, a }, { 1, ALL, b }, \
	    { 2, ALL, c })

const struct seccomp_archname seccomp_archs[] = {
	{ SECCOMP_X86_64, "x86_64" },
	{ SECCOMP_AARCH64, "aarch64" },
	{ 0, NULL }
};

/*
 * Every syscall the process makes after the sandbox is up, derived from
 * strace of the whole integration suite (tests/seccomp/drift.sh re-checks
 * it), with the code path that needs it.  Rows of one syscall are ORed.
 */
static const struct seccomp_rule rules[] = {
	ROW(epoll_pwait,
	    "loop_run: wait for events; musl's epoll_wait is epoll_pwait, and "
	    "the mask admits SIGTERM/SIGINT only while waiting"),
	ROW(epoll_ctl,
	    "loop_watch_set: add a session socket (once, edge-triggered), "
	    "pause or resume the listeners"),
	ROW1(accept4, 3, ALL, NB_CLOEXEC,
	    "listener callback_accept: accept a client, or a probe on the "
	    "health port"),
	ROW3(socket, AF_INET, SOCK_STREAM | NB_CLOEXEC, IPPROTO_TCP,
	    "connect_next: TCP to SES (never MPTCP, which Landlock misses)"),
	ROW3(socket, AF_INET6, SOCK_STREAM | NB_CLOEXEC, IPPROTO_TCP,
	    "connect_next: TCP to SES over IPv6"),
	ROW3(socket, AF_INET, SOCK_DGRAM | NB_CLOEXEC, IPPROTO_UDP,
	    "send_query: one UDP socket per DNS query"),
	ROW3(socket, AF_INET6, SOCK_DGRAM | NB_CLOEXEC, IPPROTO_UDP,
	    "send_query: DNS to an IPv6 nameserver"),
	ROW(connect,
	    "connect_next: SES port 587 (Landlock denies other TCP ports); "
	    "send_query: the nameserver, so only its replies are received"),
	ROW2(sendto, 3, ALL, MSG_NOSIGNAL | MSG_DONTWAIT, 4, ALL, 0,
	    "fill_copy, flush, reject, respond: relay bytes, 421/554 lines, "
	    "health answers (musl send is "
	    "sendto); no address, no MSG_FASTOPEN: a TCP Fast Open connect "
	    "to another port, which Landlock misses, is impossible"),
	ROW2(sendto, 3, ALL, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE, 4, ALL, 0,
	    "fill_copy: the last bytes before a FIN, left for the shutdown "
	    "or close in the same turn to send with the FIN; no address, no "
	    "MSG_FASTOPEN"),
	ROW2(sendto, 3, ALL, MSG_NOSIGNAL, 4, ALL, 0,
	    "send_query: the DNS query on its connected socket"),
	ROW1(recvfrom, 3, ALL, 0,
	    "fill_copy, callback_dns, callback_probe: relay bytes, DNS "
	    "answers, health requests (musl recv)"),
	ROW1(recvfrom, 3, ALL, MSG_PEEK,
	    "read_proxy_header: look at a PROXY header without taking the "
	    "bytes after it (--proxy-protocol)"),
	ROW3I(splice, 1, 0, 3, 0, 5, SPLICE_F_MOVE | SPLICE_F_NONBLOCK,
	    "fill_pipe, flush: bulk bytes socket to pipe to socket, never "
	    "through user space"),
	ROW2(fcntl, 1, ALL, F_SETPIPE_SZ, 2, ALL, PUMP_PIPE_SIZE,
	    "pipe_borrow: a 1 MiB pipe moves bulk in fewer splices than the "
	    "default 64 KiB"),
	ROW1(pipe2, 1, ALL, O_NONBLOCK | O_CLOEXEC,
	    "pipe_borrow: a splice pipe, at most PUMP_PIPES_MAX of them"),
	ROW2(setsockopt, 1, ALL, IPPROTO_TCP, 2, ALL, TCP_NODELAY,
	    "set_nodelay: pass small SMTP writes on at once (upstream "
	    "sockets; clients inherit it from the listener)"),
	ROW2(setsockopt, 1, ALL, SOL_SOCKET, 2, ALL, SO_LINGER,
	    "reset_fd: pass a reset on as a reset"),
	ROW2(getsockopt, 1, ALL, SOL_SOCKET, 2, ALL, SO_ERROR,
	    "connect_done: why a non-blocking connect failed"),
	ROW1(shutdown, 1, ALL, SHUT_WR,
	    "pump_pass_eof: pass a half-close on"),
	ROW(close,
	    "loop_watch_close, reject, pipe_return: end of a session, a DNS "
	    "query, or a pipe that still held bytes"),
	ROW1(write, 0, ALL, 2,
	    "log_end, log_flush: log lines, gathered into writes of at "
	    "most 4 KiB"),
	ROW1(write, 0, ALL, 1,
	    "--check: the report on stdout"),
	ROW1(getrandom, 2, ALL, GRND_NONBLOCK,
	    "send_query: random DNS query IDs"),
	ROW(clock_gettime,
	    "loop_clock, log: the vDSO falls back to the syscall on some "
	    "clock sources and under valgrind"),
	ROW1(getrusage, 0, ALL, RUSAGE_SELF,
	    "relay_metrics: this process's CPU time and peak memory for "
	    "/metrics (--health-listen), never another's"),
	ROW1(mmap, 2, PROT_EXEC, 0,
	    "musl malloc: sessions, buffers held under backpressure"),
	ROW1(mprotect, 2, ALL, PROT_READ | PROT_WRITE,
	    "musl malloc (mallocng alloc_meta): once brk fails (RLIMIT_DATA), "
	    "each page of its bookkeeping is mapped PROT_NONE, then made "
	    "read-write; never executable"),
	ROW(munmap, "musl free"),
	ROW1(madvise, 2, ALL, MADV_FREE,
	    "musl 1.2.3 free: returns whole pages of a freed 16 KiB buffer"),
	ROW(brk, "musl malloc: small allocations"),
	ROW(rt_sigreturn, "return from the SIGTERM/SIGINT handler"),
	ROW(exit_group, "exit after the drain (musl exit and _exit)"),
};

/*
 * The supervisor of --workers N (workers.c): it holds no socket and no
 * file, waits for signals and for its workers, and passes SIGTERM/SIGINT
 * on.  Derived from strace of tests/integration/test_workers.py.
 */
static const struct seccomp_rule supervisor_rules[] = {
	ROW(rt_sigtimedwait,
	    "workers_supervise: wait for SIGTERM, SIGINT or SIGCHLD, all "
	    "blocked (musl sigwaitinfo)"),
	ROW1(wait4, 2, ALL, WNOHANG,
	    "reap: collect each worker that ended, without blocking"),
	ROW2(kill, 0, INT_NONNEG, 0, 1, ALL, SIGTERM,
	    "stop_workers: pass a stop on to each worker"),
	ROW2(kill, 0, INT_NONNEG, 0, 1, ALL, SIGINT,
	    "stop_workers: pass SIGINT on to each worker"),
	ROW1(write, 0, ALL, 2, "log_end, log_flush: log lines"),
	ROW(clock_gettime,
	    "log: timestamps, when the vDSO falls back to the syscall"),
	ROW(exit_group, "exit once every worker has ended"),
};

static const struct {
	const char *title;
	const struct seccomp_rule *rules;
	size_t	n;
	const struct sock_filter *bpf;
	const size_t *bpf_len;
} tables[] = {
	[SECCOMP_RELAY] = { "the relay (every worker)", rules,
	    sizeof(rules) / sizeof(rules[0]), seccomp_bpf, &seccomp_bpf_len },
	[SECCOMP_SUPERVISOR] = { "the supervisor (--workers 2 or more)",
	    supervisor_rules, sizeof(supervisor_rules) /
	    sizeof(supervisor_rules[0]), seccomp_supervisor_bpf,
	    &seccomp_supervisor_bpf_len },
};

const struct seccomp_rule *
seccomp_rules(enum seccomp_table t, size_t *n)
{

	*n = tables[t].n;
	return (tables[t].rules);
}

/*
 * The argument text of --print-seccomp is made from the rules above and
 * these names, so it cannot say something other than the filter does.  A
 * constant is named by the token that gives its value.
 */
struct name {
	uint64_t v;
	const char *name;
};

#define NAME(c)		{ (uint64_t)(c), #c }
#define NAMES_END	{ 0, NULL }

static const struct name af[] = { NAME(AF_INET), NAME(AF_INET6), NAMES_END };
static const struct name sock_type[] = { NAME(SOCK_STREAM), NAME(SOCK_DGRAM),
	NAME(SOCK_NONBLOCK), NAME(SOCK_CLOEXEC), NAMES_END };
static const struct name ipproto[] = { NAME(IPPROTO_TCP), NAME(IPPROTO_UDP),
	NAMES_END };
static const struct name msg[] = { NAME(MSG_NOSIGNAL), NAME(MSG_DONTWAIT),
	NAME(MSG_MORE), NAME(MSG_PEEK), NAMES_END };
static const struct name splice_f[] = { NAME(SPLICE_F_MOVE),
	NAME(SPLICE_F_NONBLOCK), NAMES_END };
static const struct name fcntl_cmd[] = { NAME(F_SETPIPE_SZ), NAMES_END };
static const struct name pipe_size[] = { NAME(PUMP_PIPE_SIZE), NAMES_END };
static const struct name o_flags[] = { NAME(O_NONBLOCK), NAME(O_CLOEXEC),
	NAMES_END };
static const struct name sol[] = { NAME(IPPROTO_TCP), NAME(SOL_SOCKET),
	NAMES_END };
static const struct name sockopt[] = { NAME(TCP_NODELAY), NAME(SO_LINGER),
	NAME(SO_ERROR), NAMES_END };
static const struct name shut[] = { NAME(SHUT_WR), NAMES_END };
static const struct name grnd[] = { NAME(GRND_NONBLOCK), NAMES_END };
static const struct name prot[] = { NAME(PROT_READ), NAME(PROT_WRITE),
	NAME(PROT_EXEC), NAMES_END };
static const struct name madv[] = { NAME(MADV_FREE), NAMES_END };
static const struct name rusage_who[] = { NAME(RUSAGE_SELF), NAMES_END };
static const struct name wait_opt[] = { NAME(WNOHANG), NAMES_END };
static const struct name sig[] = { NAME(SIGTERM), NAME(SIGINT), NAMES_END };

/* How an argument's value reads. */
enum argkind {
	NUMBER,		/* in decimal: fd == 2 */
	ONE_OF,		/* one name of the list: AF_INET */
	FLAGS,		/* names of the list ORed, or 0 */
	POINTER		/* NULL */
};

/* The arguments the rules constrain: syscall, index, man page name. */
static const struct argname {
	const char *syscall;
	unsigned idx;
	enum argkind kind;
	const char *name;
	const struct name *names;
} argnames[] = {
	{ "accept4", 3, FLAGS, "flags", sock_type },
	{ "socket", 0, ONE_OF, "domain", af },
	{ "socket", 1, FLAGS, "type", sock_type },
	{ "socket", 2, ONE_OF, "protocol", ipproto },
	{ "sendto", 3, FLAGS, "flags", msg },
	{ "sendto", 4, POINTER, "dest_addr", NULL },
	{ "recvfrom", 3, FLAGS, "flags", msg },
	{ "splice", 1, POINTER, "off_in", NULL },
	{ "splice", 3, POINTER, "off_out", NULL },
	{ "splice", 5, FLAGS, "flags", splice_f },
	{ "fcntl", 1, ONE_OF, "cmd", fcntl_cmd },
	{ "fcntl", 2, ONE_OF, "arg", pipe_size },
	{ "pipe2", 1, FLAGS, "flags", o_flags },
	{ "setsockopt", 1, ONE_OF, "level", sol },
	{ "setsockopt", 2, ONE_OF, "optname", sockopt },
	{ "getsockopt", 1, ONE_OF, "level", sol },
	{ "getsockopt", 2, ONE_OF, "optname", sockopt },
	{ "shutdown", 1, ONE_OF, "how", shut },
	{ "write", 0, NUMBER, "fd", NULL },
	{ "getrandom", 2, FLAGS, "flags", grnd },
	{ "mmap", 2, FLAGS, "prot", prot },
	{ "mprotect", 2, FLAGS, "prot", prot },
	{ "madvise", 2, ONE_OF, "advice", madv },
	{ "getrusage", 0, ONE_OF, "who", rusage_who },
	{ "wait4", 2, FLAGS, "options", wait_opt },
	{ "kill", 0, NUMBER, "pid", NULL },
	{ "kill", 1, ONE_OF, "sig", sig },
};

/* Append to ${buf} of ${cap} at *${off}; -1 if it does not fit. */
static int
append(char *buf, size_t cap, size_t *off, const char *s)
{
	size_t n = strlen(s);

	if (n >= cap - *off)
		return (-1);
	memcpy(buf + *off, s, n + 1);
	*off += n;
	return (0);
}

/* ${v} as the names of ${a}'s kind, appended to ${buf}; -1 if unnamed. */
static int
value_text(const struct argname *a, uint64_t v, char *buf, size_t cap,
    size_t *off)
{
	const struct name *n;
	char num[24];
	const char *sep = "";

	switch (a->kind) {
	case NUMBER:
		snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
		return (append(buf, cap, off, num));
	case POINTER:
		return (v == 0 ? append(buf, cap, off, "NULL") : -1);
	case ONE_OF:
		for (n = a->names; n->name != NULL; n++)
			if (n->v == v)
				return (append(buf, cap, off, n->name));
		return (-1);
	case FLAGS:
		if (v == 0)
			return (append(buf, cap, off, "0"));
		for (n = a->names; n->name != NULL; n++) {
			if (n->v == 0 || (v & n->v) != n->v)
				continue;
			if (append(buf, cap, off, sep) != 0 ||
			    append(buf, cap, off, n->name) != 0)
				return (-1);
			v &= ~n->v;
			sep = "|";
		}
		return (v == 0 ? 0 : -1);
	}
	return (-1);
}

/* One condition, "flags == SOCK_NONBLOCK", appended to ${buf}. */
static int
cond_text(const char *syscall, const struct seccomp_arg *c, char *buf, size_t cap,
    size_t *off)
{
	const struct argname *a;
	size_t i;

	for (i = 0; i < sizeof(argnames) / sizeof(argnames[0]); i++)
		if (strcmp(argnames[i].syscall, syscall) == 0 &&
		    argnames[i].idx == c->idx)
			break;
	if (i == sizeof(argnames) / sizeof(argnames[0]))
		return (-1);
	a = &argnames[i];
	if (append(buf, cap, off, a->name) != 0)
		return (-1);
	if (c->mask == ALL)
		return (append(buf, cap, off, " == ") != 0 ? -1 :
		    value_text(a, c->val, buf, cap, off));
	if (c->mask == INT_NONNEG && c->val == 0)
		return (append(buf, cap, off, " >= 0"));
	if (a->kind == FLAGS && c->mask != 0 && c->val == 0)
		return (append(buf, cap, off, " without ") != 0 ? -1 :
		    value_text(a, c->mask, buf, cap, off));
	return (-1);
}

int
seccomp_argtext(const struct seccomp_rule *r, char *buf, size_t cap)
{
	size_t off = 0;
	unsigned k;

	if (cap == 0)
		return (-1);
	buf[0] = '\0';
	for (k = 0; k < r->nargs; k++)
		if ((k > 0 && append(buf, cap, &off, ", ") != 0) ||
		    cond_text(r->name, &r->args[k], buf, cap, &off) != 0)
			return (-1);
	return (0);
}

int
seccomp_rowname(const struct seccomp_rule *r, char *buf, size_t cap)
{
	const struct seccomp_archname *a;
	unsigned left = r->arch;
	size_t off = 0;
	const char *sep = " (";

	if (cap == 0)
		return (-1);
	buf[0] = '\0';
	if (append(buf, cap, &off, r->name) != 0)
		return (-1);
	if (r->arch == SECCOMP_ARCHES)
		return (0);
	for (a = seccomp_archs; a->name != NULL; a++) {
		if ((r->arch & a->bit) == 0)
			continue;
		if (append(buf, cap, &off, sep) != 0 ||
		    append(buf, cap, &off, a->name) != 0)
			return (-1);
		left &= ~a->bit;
		sep = ", ";
	}
	if (left != 0 || r->arch == 0)
		return (-1);
	return (append(buf, cap, &off, " only)"));
}

/* Copy ${s} into ${out}, escaping '|' for a Markdown table cell. */
static const char *
cell(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	for (; *s != '\0' && n + 3 < cap; s++) {
		if (*s == '|')
			out[n++] = '\\';
		out[n++] = *s;
	}
	out[n] = '\0';
	return (out);
}

/* Write what snprintf made of ${line}, cut to its buffer of ${cap}. */
static void
put_line(int fd, const char *line, int len, size_t cap)
{

	if (len > 0)
		(void)write(fd, line, (size_t)len < cap ? (size_t)len :
		    cap - 1);
}

static void
print_table(int fd, enum seccomp_table t)
{
	const struct seccomp_rule *r = tables[t].rules;
	char line[640], text[SECCOMP_ARGTEXT_MAX], arg[2 * SECCOMP_ARGTEXT_MAX];
	char name[SECCOMP_ROWNAME_MAX];
	size_t i;
	int len;

	len = snprintf(line, sizeof(line), "\nFilter of %s:\n\n"
	    "| syscall | argument rule | who needs it |\n|---|---|---|\n",
	    tables[t].title);
	put_line(fd, line, len, sizeof(line));
	for (i = 0; i < tables[t].n; i++) {
		if (seccomp_argtext(&r[i], text, sizeof(text)) != 0)
			strcpy(text, "?");
		if (seccomp_rowname(&r[i], name, sizeof(name)) != 0)
			strcpy(name, "?");
		len = snprintf(line, sizeof(line), "| %s | %s | %s |\n",
		    name, r[i].nargs ? cell(text, arg, sizeof(arg)) : "-",
		    r[i].reason);
		put_line(fd, line, len, sizeof(line));
	}
}

void
seccomp_print(int fd)
{
	const struct seccomp_archname *a;
	const char *sep;
	char line[200];
	size_t off = 0;

	for (a = seccomp_archs; a->name != NULL; a++) {
		sep = a == seccomp_archs ? "\nEach filter is built for " :
		    a[1].name == NULL ? " and " : ", ";
		if (append(line, sizeof(line), &off, sep) != 0 ||
		    append(line, sizeof(line), &off, a->name) != 0)
			return;
	}
	if (append(line, sizeof(line), &off, " alike; a row that is not "
	    "on every one names those it is on.\n") != 0)
		return;
	(void)write(fd, line, off);
	print_table(fd, SECCOMP_RELAY);
	print_table(fd, SECCOMP_SUPERVISOR);
}

int
seccomp_install(enum seccomp_table t)
{
	struct sock_fprog prog;

	prog.len = (unsigned short)*tables[t].bpf_len;
	prog.filter = (struct sock_filter *)(uintptr_t)tables[t].bpf;
	/* No TSYNC: the process has one thread. */
	if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		log_errno("sandbox_failed", "seccomp SECCOMP_SET_MODE_FILTER");
		return (-1);
	}
	return (0);
}
