"""Out of memory (issue 15 items 4 and 5): under a small RLIMIT_DATA the
relay turns new clients away with a temporary 421 of its own and
conn_rejected reason=no_memory (never max_conns, which says "add
replicas"), and it keeps running: musl's malloc, once brk fails, takes
memory for its bookkeeping through mmap(PROT_NONE) and mprotect, which the
seccomp filter must allow (PROT_READ|PROT_WRITE only), or the relay dies
of SIGSYS instead of seeing NULL."""

import resource

import pytest

from fakes import SES_GREETING
from helpers import connect, read_line, recv_until_closed
from proxyproc import UNDER_VALGRIND
from sandboxlib import SANITIZER, start_under

# Sessions opened at most while looking for the memory limit; every one
# holds a client socket here and one at the fake SES.
MAX_SESSIONS = 1500


@pytest.fixture
def many_fds():
    """Room for MAX_SESSIONS clients and as many fake-SES sockets here."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 3 * MAX_SESSIONS + 256)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_until_refused(limit):
    """Open sessions until one is not greeted; return (held, that line)."""
    held = []
    for _ in range(limit):
        c = connect()
        line = read_line(c)
        if line != SES_GREETING:
            rest, how = recv_until_closed(c, timeout=5)
            c.close()
            assert how in ("eof", "reset"), (line, rest, how)
            return held, line
        held.append(c)
    return held, None


@pytest.mark.skipif(SANITIZER or UNDER_VALGRIND,
                    reason="RLIMIT_DATA counts the sanitizer's or "
                    "valgrind's own memory")
@pytest.mark.parametrize("data_kib", [1300])
def test_out_of_memory_is_no_memory_not_max_conns(dns, ses, proxy_factory,
                                                 many_fds, data_kib):
    proxy = start_under(proxy_factory,
                        ["prlimit", f"--data={data_kib * 1024}"],
                        "--max-conns", "4000")
    held, line = open_until_refused(MAX_SESSIONS)
    try:
        assert line is not None, \
            f"{len(held)} sessions and no memory shortage: raise MAX_SESSIONS"
        assert proxy.alive(), \
            f"the relay died with {proxy.popen.returncode} after " \
            f"{len(held)} sessions (-31: SIGSYS, the seccomp filter)"
        assert line.startswith(b"421 4.3.0 "), (len(held), line)
        rejected = proxy.wait_event("conn_rejected")
        assert rejected["reason"] == "no_memory"
        assert proxy.named("conn_rejected", reason="max_conns") == []
    finally:
        for c in held:
            c.close()
    # Temporary: memory comes back with the sessions, and so does service.
    proxy.wait_count("conn_close", len(held), timeout=30)
    with connect() as c:
        assert read_line(c) == SES_GREETING
