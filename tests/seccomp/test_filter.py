"""The seccomp filter, call by call (SBX-03, SBX-05, SBX-06, SBX-09), after
Firecracker's test_seccomp_validate.py: every row of the table in seccomp.c
with its allowed arguments must pass; every constrained argument, altered,
must kill unless another row of the same syscall allows the new value; the
calls below must kill. The probe enters the whole sandbox (NO_NEW_PRIVS,
Landlock, the embedded filter) as the proxy does.

Every "must die" case first runs once without the filter and must then not
die: that shows the case reaches the kernel, so its test could fail."""

import mmap
import os
import socket

import pytest

from conftest import (X32_BIT, assert_killed, assert_not_killed,
                      assert_survived, call, row_cases, run_probe)

NBC = socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
IPPROTO_MPTCP = 262
IPPROTO_SCTP = 132
ETH_P_ALL_BE = 0x0300               # htons(ETH_P_ALL)
MSG_FASTOPEN = 0x20000000

# Both tables: the relay's (the filter the probe loads by default), then
# the supervisor's (--supervisor; ids prefixed "supervisor-").
ALLOWED, ALTERED, X32 = (r + s for r, s in zip(row_cases("relay"),
                                               row_cases("supervisor")))


@pytest.mark.parametrize("argv", ALLOWED)
def test_row_allowed(argv):
    """SBX-03: each row of either table, with its allowed arguments,
    passes that table's filter."""
    assert_survived(run_probe(*argv))


@pytest.mark.parametrize("argv,dies", ALTERED)
def test_row_altered(argv, dies):
    """SBX-03, SBX-06: one constrained argument altered kills, unless another
    row of the same syscall allows the new value."""
    if dies:
        assert_not_killed(run_probe("--no-seccomp", *argv))
        assert_killed(run_probe(*argv))
    else:
        assert_survived(run_probe(*argv))


@pytest.mark.parametrize("argv", X32)
def test_row_x32_twin(argv):
    """SBX-05: the x32 number (bit 30 set) of an allowed call, with the
    same arguments, is killed."""
    assert_not_killed(run_probe("--no-seccomp", *argv))
    assert_killed(run_probe(*argv))


AF_INET, AF_INET6 = socket.AF_INET, socket.AF_INET6
MUST_DIE = {
    # Programs and processes.
    "execve": call("execve"),
    "execveat": call("execveat"),
    "ptrace": call("ptrace"),
    "fork": call("fork"),
    "vfork": call("vfork"),
    "clone-process": call("clone"),
    "clone3": call("clone3"),
    "setuid-0": call("setuid", a0=0),
    "unshare": call("unshare"),
    # Sockets other than the four the table lists (SBX-09: MPTCP and SCTP
    # are outside Landlock's TCP rights).
    "socket-unix": call("socket", a0=socket.AF_UNIX, a1=socket.SOCK_STREAM | NBC, a2=0),
    "socket-netlink": call("socket", a0=socket.AF_NETLINK, a1=socket.SOCK_RAW | NBC, a2=0),
    "socket-packet": call("socket", a0=socket.AF_PACKET, a1=socket.SOCK_RAW | NBC,
                          a2=ETH_P_ALL_BE),
    "socket-mptcp": call("socket", a0=AF_INET, a1=socket.SOCK_STREAM | NBC,
                         a2=IPPROTO_MPTCP),
    "socket-mptcp6": call("socket", a0=AF_INET6, a1=socket.SOCK_STREAM | NBC,
                          a2=IPPROTO_MPTCP),
    "socket-sctp": call("socket", a0=AF_INET, a1=socket.SOCK_STREAM | NBC,
                        a2=IPPROTO_SCTP),
    "socket-raw-tcp": call("socket", a0=AF_INET, a1=socket.SOCK_RAW | NBC,
                           a2=socket.IPPROTO_TCP),
    "socket-raw-icmp": call("socket", a0=AF_INET, a1=socket.SOCK_RAW | NBC,
                            a2=socket.IPPROTO_ICMP),
    "socketpair": call("socketpair"),
    "bind": call("bind"),
    "listen": call("listen"),
    "sendmsg": call("sendmsg"),
    "recvmsg": call("recvmsg"),
    # sendto with a destination: TCP Fast Open connects without connect(2),
    # which Landlock does not see (landlock-lsm/linux#41).
    "sendto-fastopen": ["tfo", "25"],
    # Files: the proxy opens none after the sandbox.
    "open": call("open"),
    "open-etc-hosts": ["open", "/etc/hosts", str(os.O_RDONLY)],
    "openat": call("openat"),
    "openat-write": call("openat", a2=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, a3=0o600),
    "read": call("read"),
    # Memory: no executable mapping, ever.
    "mmap-prot-exec": call("mmap", a2=mmap.PROT_READ | mmap.PROT_EXEC),
    "mmap-prot-rwx": call("mmap", a2=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC),
    "mprotect-read-only": call("mprotect", a2=mmap.PROT_READ),
    "mprotect-exec": call("mprotect", a2=mmap.PROT_READ | mmap.PROT_EXEC),
    "mprotect-rwx": call("mprotect", a2=mmap.PROT_READ | mmap.PROT_WRITE |
                         mmap.PROT_EXEC),
    "mremap": call("mremap"),
    "memfd_create": call("memfd_create"),
    # Kernel attack surface and sandbox controls.
    "io_uring_setup": call("io_uring_setup"),
    "bpf": call("bpf"),
    "ioctl-tiocgwinsz": call("ioctl", a0=1),
    "prctl": call("prctl"),
    "seccomp": call("seccomp"),
    "landlock_create_ruleset": call("landlock_create_ruleset"),
    "getuid": call("getuid"),
    # libc paths the relay must not take after the sandbox (pitfall P2 in
    # docs/TESTING.md).
    "writev": call("writev"),
    "poll": call("poll"),
    "nanosleep": call("nanosleep"),
    "fcntl": call("fcntl"),
    "rt_sigaction": call("rt_sigaction"),
    "rt_sigprocmask": call("rt_sigprocmask"),
    "kill": call("kill"),
    "tkill": call("tkill"),
    "pipe2": call("pipe2"),
    "splice": call("splice"),
    # SBX-05: x32 numbers, and i386 calls through int $0x80, die on the
    # arch and x32 checks. i386 exit (1) with ebx 2 has the number and
    # first argument of the allowed x86_64 write(2, ...).
    "x32-write": ["call", f"{X32_BIT | 1:#x}", "a0=2", "a1=0", "a2=1"],
    "x32-getpid": ["call", f"{X32_BIT | 39:#x}"],
    "i386-getpid": ["i386", "20"],
    "i386-exit-as-write": ["i386", "1", "2"],
}


@pytest.mark.parametrize("argv", MUST_DIE.values(), ids=MUST_DIE.keys())
def test_must_die(argv):
    """SBX-02: what the relay must never call is killed; SBX-09: so are
    the sockets Landlock's TCP rules do not see; SBX-05: so are x32 and
    i386 calls."""
    control = run_probe("--no-seccomp", *argv)
    if argv[0] == "i386" and control.returncode == -11:
        pytest.skip("no IA32 emulation on this kernel: int $0x80 faults")
    assert_not_killed(control)
    assert_killed(run_probe(*argv))



def test_malloc_survives_a_failing_brk():
    """Issue 15 item 4: once brk fails (RLIMIT_DATA), musl's malloc makes
    each new page of its bookkeeping read-write with mprotect. Under the
    filter it must go on allocating, not die of SIGSYS (the probe maps a
    page at the break, so that brk fails, before the sandbox)."""
    control = run_probe("--no-seccomp", "malloc-nobrk")
    assert_survived(control)
    out = run_probe("malloc-nobrk")
    assert_survived(out)
    assert out.ret == control.ret == 256, out.describe()
