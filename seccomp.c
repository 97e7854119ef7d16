#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
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
#define NB_CLOEXEC	(SOCK_NONBLOCK | SOCK_CLOEXEC)

#define ROW(n, why) \
	{ __NR_##n, #n, 0, { { 0, 0, 0 } }, "", why }
#define ROW1(n, i, m, v, text, why) \
	{ __NR_##n, #n, 1, { { i, m, v } }, text, why }
#define ROW2(n, i, mi, vi, j, mj, vj, text, why) \
	{ __NR_##n, #n, 2, { { i, mi, vi }, { j, mj, vj } }, text, why }
#define ROW3I(n, i, vi, j, vj, k, vk, text, why) \
	{ __NR_##n, #n, 3, { { i, ALL, vi }, { j, ALL, vj }, { k, ALL, vk } }, \
	    text, why }
#define ROW3(n, a, b, c, text, why) \
	{ __NR_##n, #n, 3, { { 0, ALL, a }, { 1, ALL, b }, { 2, ALL, c } }, \
	    text, why }

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
	ROW1(accept4, 3, ALL, NB_CLOEXEC, "flags == SOCK_NONBLOCK|SOCK_CLOEXEC",
	    "callback_listen, callback_accept: accept a client, or a probe "
	    "on the health port"),
	ROW3(socket, AF_INET, SOCK_STREAM | NB_CLOEXEC, IPPROTO_TCP,
	    "AF_INET, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, IPPROTO_TCP",
	    "connect_next: TCP to SES (never MPTCP, which Landlock misses)"),
	ROW3(socket, AF_INET6, SOCK_STREAM | NB_CLOEXEC, IPPROTO_TCP,
	    "AF_INET6, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, IPPROTO_TCP",
	    "connect_next: TCP to SES over IPv6"),
	ROW3(socket, AF_INET, SOCK_DGRAM | NB_CLOEXEC, IPPROTO_UDP,
	    "AF_INET, SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC, IPPROTO_UDP",
	    "send_query: one UDP socket per DNS query"),
	ROW3(socket, AF_INET6, SOCK_DGRAM | NB_CLOEXEC, IPPROTO_UDP,
	    "AF_INET6, SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC, IPPROTO_UDP",
	    "send_query: DNS to an IPv6 nameserver"),
	ROW(connect,
	    "connect_next: SES port 587 (Landlock denies other TCP ports); "
	    "send_query: the nameserver, so only its replies are received"),
	ROW2(sendto, 3, ALL, MSG_NOSIGNAL | MSG_DONTWAIT, 4, ALL, 0,
	    "flags == MSG_NOSIGNAL|MSG_DONTWAIT, dest_addr == NULL",
	    "fill_copy, flush, reject, respond: relay bytes, 421/554 lines, "
	    "health answers (musl send is "
	    "sendto); no address, no MSG_FASTOPEN: a TCP Fast Open connect "
	    "to another port, which Landlock misses, is impossible"),
	ROW2(sendto, 3, ALL, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE, 4, ALL, 0,
	    "flags == MSG_NOSIGNAL|MSG_DONTWAIT|MSG_MORE, dest_addr == NULL",
	    "fill_copy: the last bytes before a FIN, left for the shutdown "
	    "or close in the same turn to send with the FIN; no address, no "
	    "MSG_FASTOPEN"),
	ROW2(sendto, 3, ALL, MSG_NOSIGNAL, 4, ALL, 0,
	    "flags == MSG_NOSIGNAL, dest_addr == NULL",
	    "send_query: the DNS query on its connected socket"),
	ROW1(recvfrom, 3, ALL, 0, "flags == 0",
	    "fill_copy, callback_dns, callback_probe: relay bytes, DNS "
	    "answers, health requests (musl recv)"),
	ROW1(recvfrom, 3, ALL, MSG_PEEK, "flags == MSG_PEEK",
	    "read_proxy_header: look at a PROXY header without taking the "
	    "bytes after it (--proxy-protocol)"),
	ROW3I(splice, 1, 0, 3, 0, 5, SPLICE_F_MOVE | SPLICE_F_NONBLOCK,
	    "off_in == NULL, off_out == NULL, flags == SPLICE_F_MOVE|"
	    "SPLICE_F_NONBLOCK",
	    "fill_pipe, flush: bulk bytes socket to pipe to socket, never "
	    "through user space"),
	ROW2(fcntl, 1, ALL, F_SETPIPE_SZ, 2, ALL, PUMP_PIPE_SIZE,
	    "cmd == F_SETPIPE_SZ, size == PUMP_PIPE_SIZE (1 MiB)",
	    "pipe_borrow: a 1 MiB pipe moves bulk in 16 times fewer splices "
	    "than the default 64 KiB"),
	ROW1(pipe2, 1, ALL, O_NONBLOCK | O_CLOEXEC,
	    "flags == O_NONBLOCK|O_CLOEXEC",
	    "pipe_borrow: a splice pipe, at most PUMP_PIPES_MAX of them"),
	ROW2(setsockopt, 1, ALL, IPPROTO_TCP, 2, ALL, TCP_NODELAY,
	    "IPPROTO_TCP, TCP_NODELAY",
	    "set_nodelay: pass small SMTP writes on at once (upstream "
	    "sockets; clients inherit it from the listener)"),
	ROW2(setsockopt, 1, ALL, SOL_SOCKET, 2, ALL, SO_LINGER,
	    "SOL_SOCKET, SO_LINGER",
	    "reset_fd: pass a reset on as a reset"),
	ROW2(getsockopt, 1, ALL, SOL_SOCKET, 2, ALL, SO_ERROR,
	    "SOL_SOCKET, SO_ERROR",
	    "connect_done: why a non-blocking connect failed"),
	ROW1(shutdown, 1, ALL, SHUT_WR, "how == SHUT_WR",
	    "pass_eof: pass a half-close on"),
	ROW(close,
	    "loop_watch_close, reject, pipe_return: end of a session, a DNS "
	    "query, or a pipe that still held bytes"),
	ROW1(write, 0, ALL, 2, "fd == 2",
	    "log_end, log_flush: log lines, gathered into writes of at "
	    "most 4 KiB"),
	ROW1(write, 0, ALL, 1, "fd == 1",
	    "--check: the report on stdout"),
	ROW1(getrandom, 2, ALL, GRND_NONBLOCK, "flags == GRND_NONBLOCK",
	    "send_query: random DNS query IDs"),
	ROW(clock_gettime,
	    "loop_clock, log: the vDSO falls back to the syscall on some "
	    "clock sources and under valgrind"),
	ROW1(mmap, 2, PROT_EXEC, 0, "prot without PROT_EXEC",
	    "musl malloc: sessions, buffers held under backpressure"),
	ROW1(mprotect, 2, ALL, PROT_READ | PROT_WRITE,
	    "prot == PROT_READ|PROT_WRITE",
	    "musl malloc (mallocng alloc_meta): once brk fails (RLIMIT_DATA), "
	    "each page of its bookkeeping is mapped PROT_NONE, then made "
	    "read-write; never executable"),
	ROW(munmap, "musl free"),
	ROW1(madvise, 2, ALL, MADV_FREE, "advice == MADV_FREE",
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
	ROW1(wait4, 2, ALL, WNOHANG, "options == WNOHANG",
	    "reap: collect each worker that ended, without blocking"),
	ROW2(kill, 0, 0xffffffff80000000ULL, 0, 1, ALL, SIGTERM,
	    "pid >= 0, sig == SIGTERM",
	    "stop_workers: pass a stop on to each worker"),
	ROW2(kill, 0, 0xffffffff80000000ULL, 0, 1, ALL, SIGINT,
	    "pid >= 0, sig == SIGINT",
	    "stop_workers: pass SIGINT on to each worker"),
	ROW1(write, 0, ALL, 2, "fd == 2", "log_end, log_flush: log lines"),
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
	char line[512], arg[128];
	size_t i;
	int len;

	len = snprintf(line, sizeof(line), "\nFilter of %s:\n\n"
	    "| syscall | argument rule | who needs it |\n|---|---|---|\n",
	    tables[t].title);
	put_line(fd, line, len, sizeof(line));
	for (i = 0; i < tables[t].n; i++) {
		len = snprintf(line, sizeof(line), "| %s | %s | %s |\n",
		    r[i].name, r[i].nargs ? cell(r[i].argtext, arg,
		    sizeof(arg)) : "-", r[i].reason);
		put_line(fd, line, len, sizeof(line));
	}
}

void
seccomp_print(int fd)
{

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
