"""--workers N (WORKERS): N relay processes accept from the same listening
sockets under a supervisor that holds no socket, passes SIGTERM/SIGINT on,
and exits 1 if a worker ends before any stop (workers.c, proxy.c main).

Everything is seen from outside, through the real binary: the process tree
in /proc (children of the supervisor from /proc/PID/task/PID/children),
the log lines (each worker's carry "worker": I, the supervisor's none),
and real client sockets. A worker that SIGSTOP holds is not waiting in
epoll_pwait, so with EPOLLEXCLUSIVE the kernel wakes another one: that is
how a test chooses which worker serves a client.

Under make asan and make valgrind (SES_IT_SANITIZER=1) Landlock and
seccomp are compiled out: Seccomp and the sandbox_ready events are not
checked there; NoNewPrivs, RLIMIT_NPROC and the descriptors still are.
Valgrind follows the fork: each worker runs under valgrind too, and their
tool output goes to the supervisor's log file.
"""

import contextlib
import errno
import os
import signal
import smtplib
import ssl
from pathlib import Path

import pytest

from clients import MESSAGE
from fakes import SES_GREETING, SES_IDENT, TEST_PASSWORD, TEST_USER, ses_name
from helpers import (PROXY_HOST, PROXY_PORT, TCP_LISTEN, connect,
                     connection_refused, read_line, recv_until_closed,
                     tcp_sockets, wait_for)
from proxyproc import UNDER_VALGRIND
from sandboxlib import (SANITIZER, exec_prefix, open_files, proc_limits,
                        proc_status, run_until_exit, seccomp_errno_prefix,
                        start_under, tasks)
from test_config import assert_refused

NO_SANDBOX = "Landlock and seccomp are compiled out of this build"
# Valgrind makes every step slower: startup of N valgrind processes above all.
SLOW = 60 if UNDER_VALGRIND else 20
NR_CLOSE_RANGE = 436    # the same on x86_64 and aarch64


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

# (pid, binary) of every worker a test found; the autouse fixture below
# kills whichever is still running after the proxy fixtures' teardown.
_found_workers = []


@pytest.fixture(autouse=True)
def _no_worker_outlives_the_test():
    """Autouse fixtures are set up first, so this teardown runs after
    proxy_factory's (which stops each supervisor and waits for it): a
    worker still running then outlived its supervisor. It is killed (by
    PID, after checking that it is still a proxy process) and the test
    errors."""
    _found_workers.clear()
    yield
    left = [pid for pid, binary in _found_workers if is_running(pid, binary)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived the test (killed)"


def proc_state(pid):
    """The state letter of /proc/PID/stat (R, S, T, Z...), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def is_running(pid, binary):
    """pid is a live (not zombie) process of binary (directly or under the
    suite's tool wrapper, whose argv names the binary)."""
    if proc_state(pid) in (None, "Z", "X"):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return os.fsencode(str(binary)) in argv


def uid_of(pid):
    try:
        return int(proc_status(pid)["Uid"].split()[0])
    except (OSError, KeyError):
        return None


def children(pid):
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return sorted(int(p) for p in text.split())


def worker_pids(proxy, n):
    """The supervisor's n children, once there are n (the workers)."""
    def all_there():
        kids = children(proxy.pid)
        return kids if len(kids) >= n else None
    kids = wait_for(all_there, timeout=SLOW, what=f"{n} workers")
    _found_workers.extend((pid, proxy.binary) for pid in kids)
    return kids


def listening_sockets(port=PROXY_PORT):
    """{"socket:[INODE]"} of the TCP sockets listening on port here."""
    return {f"socket:[{cols[9]}]" for state, lport, _, cols in tcp_sockets()
            if state == TCP_LISTEN and lport == port}


def all_gone(pids):
    return all(proc_state(pid) in (None, "Z", "X") for pid in pids)


@contextlib.contextmanager
def stopped(pid):
    """SIGSTOP pid for the block (it is stopped on entry); SIGCONT after."""
    os.kill(pid, signal.SIGSTOP)
    try:
        # "T" stopped, or "t" when the suite runs under strace (drift)
        wait_for(lambda: proc_state(pid) in ("T", "t"), timeout=10,
                 what=f"worker {pid} to stop")
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def start_workers(proxy_factory, n, *args, **kw):
    """A proxy with --workers n whose n workers have each resolved SES (each
    resolves on its own), and the workers' PIDs."""
    proxy = proxy_factory("--workers", str(n), *args, **kw)
    proxy.wait_count("upstream_resolved", n, timeout=SLOW)
    return proxy, worker_pids(proxy, n)


def pid_to_worker(proxy):
    """{pid: worker index} from the supervisor's worker_exited lines."""
    return {int(e["pid"]): int(e["worker"]) for e in proxy.named("worker_exited")}


# --------------------------------------------------------------------------
# Sessions and log lines
# --------------------------------------------------------------------------

def open_session():
    """A client that has read SES's greeting through the proxy."""
    c = connect()
    assert read_line(c) == SES_GREETING
    return c


def echoes(c, text):
    """c still relays (the upstream is greet_echo): a line comes back."""
    line = text.encode() + b"\r\n"
    c.sendall(line)
    return read_line(c) == line


def conn_open_of(proxy, sock, timeout=10):
    """The conn_open line of the session of client socket sock."""
    client = f"{PROXY_HOST}:{sock.getsockname()[1]}"
    return proxy.wait_event("conn_open", timeout=timeout,
                            pred=lambda e: str(e.get("client")) == client)


def served_by(proxy, sock):
    return int(conn_open_of(proxy, sock)["worker"])


def of_worker(proxy, name, worker, **match):
    return [e for e in proxy.named(name, **match) if e.get("worker") == worker]


def supervisor_lines(proxy, name, **match):
    """name lines without a worker field: the supervisor's own (worker_exited
    is the supervisor's too, but its worker field names the worker)."""
    return [e for e in proxy.named(name, **match) if "worker" not in e]


def assert_clean_stop(proxy, n, signame):
    """After a stop that every worker honoured: one stop_forwarded per
    signal, every worker exited 0 as expected, the supervisor exit 0."""
    exited = proxy.named("worker_exited")
    assert sorted(int(e["worker"]) for e in exited) == list(range(n)), exited
    for e in exited:
        assert (e["expected"], e.get("code"), e["level"]) == ("yes", 0, "info"), e
        assert "signal" not in e, e
    first = proxy.named("stop_forwarded")[0]
    assert (first["signal"], first["why"], first["level"]) == \
        (signame, "signal", "info"), first
    end = supervisor_lines(proxy, "supervisor_exit")
    assert [(e["code"], e["level"]) for e in end] == [(0, "info")], end


# --------------------------------------------------------------------------
# 1. Both workers serve
# --------------------------------------------------------------------------

def test_workers_both_serve(dns, ses, proxy_factory):
    """With worker A stopped, a client is served (SES's 220 through the
    proxy) by worker B, and the other way round: both processes accept
    from the shared listener, and a stopped worker is not taken for an
    ended one (its SIGCHLD is no exit). The PID-to-index map comes from the
    supervisor's worker_exited lines at the end."""
    proxy, (pid_a, pid_b) = start_workers(proxy_factory, 2)
    served = {}
    for held, other in ((pid_a, pid_b), (pid_b, pid_a)):
        with stopped(held):
            with open_session() as c:
                served[other] = served_by(proxy, c)
        assert proxy.named("worker_exited") == [], proxy.log_text()
    assert sorted(served.values()) == [0, 1], served
    assert ses.connections == 2
    assert proxy.stop() == 0
    assert pid_to_worker(proxy) == served


# --------------------------------------------------------------------------
# 2. Process tree and sandbox
# --------------------------------------------------------------------------

def test_workers_process_tree_and_sandbox(dns, ses, proxy_factory):
    """--workers 3: exactly 3 children; all 4 processes have NO_NEW_PRIVS,
    the seccomp filter (Seccomp 2), one thread and RLIMIT_NPROC 0; each
    worker leads a process group of its own; the supervisor holds no
    socket (only 0-2 without valgrind) while each worker holds the
    listener; sandbox_ready says role supervisor once and relay per worker."""
    n = 3
    proxy, kids = start_workers(proxy_factory, n)
    sup = proxy.pid
    assert int(proxy.named("startup")[0]["workers"]) == n
    if not SANITIZER:
        ready = proxy.wait_count("sandbox_ready", n + 1, timeout=SLOW)
        assert len(ready) == n + 1, ready
        assert [e["role"] for e in ready if "worker" not in e] == ["supervisor"]
        assert sorted(e["worker"] for e in ready if e["role"] == "relay") == \
            list(range(n)), ready
    assert len(children(sup)) == n
    for pid in [sup, *kids]:
        assert tasks(pid) == [pid], f"{pid}: threads {tasks(pid)}"
        # Under the sanitizers nothing is logged once the supervisor is
        # boxed: its last steps are waited for.
        wait_for(lambda: proc_limits(pid)["Max processes"] == (0, 0),
                 timeout=SLOW, what=f"RLIMIT_NPROC 0 in {pid}")
        st = proc_status(pid)
        assert st["NoNewPrivs"] == "1", f"{pid}: {st['NoNewPrivs']}"
        if not SANITIZER:
            assert st["Seccomp"] == "2", f"{pid}: Seccomp {st['Seccomp']}"
    sup_group = os.getpgid(sup)
    for pid in kids:
        assert os.getpgid(pid) == pid != sup_group
    wait_for(lambda: not any(t.startswith("socket:")
                             for t in open_files(sup).values()),
             timeout=SLOW, what="the supervisor to close its sockets")
    if not UNDER_VALGRIND:  # valgrind keeps descriptors of its own
        assert sorted(open_files(sup)) == [0, 1, 2], open_files(sup)
    listener = listening_sockets()
    assert len(listener) == 1, listener
    for pid in kids:
        assert listener <= set(open_files(pid).values()), \
            f"worker {pid}: {open_files(pid)}"
    with open_session():
        pass


@pytest.mark.skipif(SANITIZER, reason=NO_SANDBOX)
def test_workers_sandbox_ready_roles_and_no_worker_field_on_supervisor(
        dns, ses, proxy_factory):
    """Every line a worker writes carries its index; the supervisor's lines
    (startup up to the fork, then its sandbox_ready, stop_forwarded and
    supervisor_exit) carry none."""
    proxy, _ = start_workers(proxy_factory, 2)
    proxy.wait_count("sandbox_ready", 3, timeout=SLOW)
    with open_session():
        pass
    assert proxy.stop() == 0
    for name in ("startup", "allowlist_loaded", "listening", "landlock",
                 "stop_forwarded", "supervisor_exit"):
        lines = proxy.named(name)
        assert lines and all("worker" not in e for e in lines), (name, lines)
    for name in ("upstream_resolved", "conn_open", "conn_close",
                 "shutdown_begin", "shutdown"):
        lines = proxy.named(name)
        assert lines and all(e.get("worker") in (0, 1) for e in lines), \
            (name, lines)
    assert {e["worker"] for e in proxy.named("shutdown")} == {0, 1}


# --------------------------------------------------------------------------
# 3. SIGTERM: every worker drains
# --------------------------------------------------------------------------

@pytest.mark.parametrize("pid1", [False, True], ids=["child", "pid1"])
def test_workers_sigterm_drains_every_worker(dns, ses, proxy_factory, certs,
                                             pid1):
    """SIGTERM to the supervisor (also as PID 1 of a PID namespace) reaches
    both workers: both log shutdown_begin and close the listener (new
    clients are refused), the idle one exits at once, and a session opened
    before the stop still delivers a message (STARTTLS, AUTH, DATA, QUIT);
    then every worker exits 0 and so does the supervisor."""
    proxy, _ = start_workers(proxy_factory, 2, "--drain-timeout", "60",
                             "--idle-timeout", "120", pid1=pid1)
    smtp = smtplib.SMTP(timeout=15)
    code, banner = smtp.connect(PROXY_HOST, PROXY_PORT)
    assert code == 220 and SES_IDENT.encode() in banner
    busy = served_by(proxy, smtp.sock)
    idle = 1 - busy

    proxy.terminate(signal.SIGTERM)
    fwd = proxy.wait_event("stop_forwarded", timeout=SLOW)
    assert (fwd["signal"], fwd["why"], fwd["workers"]) == ("SIGTERM", "signal", 2)
    proxy.wait_count("shutdown_begin", 2, timeout=SLOW)
    assert [int(e["conns"]) for e in of_worker(proxy, "shutdown_begin", busy)] == [1]
    assert [int(e["conns"]) for e in of_worker(proxy, "shutdown_begin", idle)] == [0]
    proxy.wait_event("worker_exited", timeout=SLOW,
                     pred=lambda e: e["worker"] == idle)
    wait_for(connection_refused, timeout=SLOW, what="new clients refused")
    assert proxy.alive()

    # The session opened before the stop runs to its end. smtplib names
    # the host it connected to in STARTTLS: verify the SES name instead.
    smtp._host = ses_name()
    smtp.ehlo("client.example.com")
    smtp.starttls(context=ssl.create_default_context(cafile=str(certs.ca)))
    smtp.ehlo("client.example.com")
    smtp.login(TEST_USER, TEST_PASSWORD)
    assert smtp.sendmail("a@example.com", ["b@example.com"], MESSAGE) == {}
    smtp.quit()

    assert proxy.wait(timeout=SLOW) == 0
    assert [(m.user, m.rcpt_tos) for m in ses.messages] == \
        [(TEST_USER, ["b@example.com"])]
    assert [e["reason"] for e in proxy.named("conn_close")] == ["closed"]
    assert sorted(e["worker"] for e in proxy.named("shutdown")) == [0, 1]
    assert all(int(e["conns_cut"]) == 0 for e in proxy.named("shutdown"))
    assert len(proxy.named("stop_forwarded")) == 1
    assert_clean_stop(proxy, 2, "SIGTERM")


# --------------------------------------------------------------------------
# 4. An end before any stop: a worker's, the supervisor's box, a fork
# --------------------------------------------------------------------------

def test_workers_killed_worker_stops_the_rest_exit_1(dns, ses, proxy_factory):
    """SIGKILL to one idle worker: the supervisor logs it as an unexpected
    end (error), stops the other with SIGTERM (why worker_exited), waits
    for it to drain and exit 0, then exits 1 itself: the relay as a whole
    fails, for its orchestrator to restart it."""
    proxy, (victim, survivor) = start_workers(proxy_factory, 2)
    proxy.stopped_on_purpose = True
    os.kill(victim, signal.SIGKILL)
    assert proxy.wait(timeout=SLOW) == 1
    by_pid = {int(e["pid"]): e for e in proxy.named("worker_exited")}
    assert sorted(by_pid) == sorted([victim, survivor]), by_pid
    dead = by_pid[victim]
    assert (dead["signal"], dead["expected"], dead["level"]) == \
        ("SIGKILL", "no", "error"), dead
    assert "code" not in dead
    other = by_pid[survivor]
    assert (other.get("code"), other["expected"], other["level"]) == \
        (0, "yes", "info"), other
    assert other["worker"] == 1 - dead["worker"]
    fwd = proxy.named("stop_forwarded")
    assert [(e["signal"], e["why"], e["workers"], e["level"]) for e in fwd] == \
        [("SIGTERM", "worker_exited", 1, "error")], fwd
    assert [e["signal"] for e in of_worker(proxy, "shutdown_begin",
                                           other["worker"])] == ["SIGTERM"]
    assert len(of_worker(proxy, "shutdown", other["worker"])) == 1
    assert of_worker(proxy, "shutdown_begin", dead["worker"]) == []
    end = supervisor_lines(proxy, "supervisor_exit")
    assert [(e["code"], e["level"]) for e in end] == [(1, "error")], end
    assert connection_refused()


def test_workers_worker_stopped_alone_is_a_failure(dns, ses, proxy_factory):
    """SIGTERM to one worker, not to the supervisor: that worker drains and
    exits 0, but no stop came first, so its end is still unexpected
    (error, expected=no); the other worker is stopped and the supervisor
    exits 1."""
    proxy, (victim, survivor) = start_workers(proxy_factory, 2)
    proxy.stopped_on_purpose = True
    os.kill(victim, signal.SIGTERM)
    assert proxy.wait(timeout=SLOW) == 1
    by_pid = {int(e["pid"]): e for e in proxy.named("worker_exited")}
    dead, other = by_pid[victim], by_pid[survivor]
    assert (dead.get("code"), dead["expected"], dead["level"]) == \
        (0, "no", "error"), dead
    assert (other.get("code"), other["expected"]) == (0, "yes"), other
    fwd = proxy.named("stop_forwarded")
    assert [(e["signal"], e["why"]) for e in fwd] == \
        [("SIGTERM", "worker_exited")], fwd
    end = supervisor_lines(proxy, "supervisor_exit")
    assert [(e["code"], e["level"]) for e in end] == [(1, "error")], end


def test_workers_without_close_range_still_close_every_descriptor(
        dns, ses, proxy_factory):
    """close_range fails in every process (a seccomp exec-wrapper makes it
    return EPERM, as a runtime's seccomp profile may; a kernel before 5.9
    gives ENOSYS): the supervisor still ends up holding only 0-2 (its
    close falls back to /proc/self/fd, or, where Landlock denies /proc,
    to every number up to RLIMIT_NOFILE), boxes itself, and the workers
    serve."""
    # env: the wrapper execs without a PATH search, and make valgrind puts
    # a bare "valgrind" first.
    prefix = [*seccomp_errno_prefix(errno.EPERM, NR_CLOSE_RANGE), "/usr/bin/env"]
    with exec_prefix(prefix):
        proxy, _ = start_workers(proxy_factory, 2)
    sup = proxy.pid
    wait_for(lambda: not any(t.startswith("socket:")
                             for t in open_files(sup).values()),
             timeout=SLOW, what="the supervisor to close its sockets")
    if not UNDER_VALGRIND:  # valgrind keeps descriptors of its own
        assert sorted(open_files(sup)) == [0, 1, 2], open_files(sup)
    if not SANITIZER:
        ready = proxy.wait_count("sandbox_ready", 3, timeout=SLOW)
        assert [e["role"] for e in ready if "worker" not in e] == \
            ["supervisor"], ready
    assert proxy.named("startup_failed") == [], proxy.log_text()
    with open_session():
        pass


def test_workers_sigchld_ignored_by_the_launcher_is_undone(
        dns, ses, proxy_factory):
    """A launcher that ignores SIGCHLD passes that on through execve; left
    so, the kernel would reap the workers itself and the supervisor would
    never see one end. It sets SIGCHLD back to its default before the fork:
    SIGKILL to a worker still ends the relay with exit 1."""
    prefix = ["/bin/sh", "-c", 'trap "" CHLD; exec "$0" "$@"']
    with exec_prefix(prefix):
        proxy, (victim, _) = start_workers(proxy_factory, 2)
    sigcgt = int(proc_status(proxy.pid)["SigIgn"], 16)
    assert not sigcgt & (1 << (signal.SIGCHLD - 1)), "SIGCHLD still ignored"
    proxy.stopped_on_purpose = True
    os.kill(victim, signal.SIGKILL)
    assert proxy.wait(timeout=SLOW) == 1
    dead = [e for e in proxy.named("worker_exited") if int(e["pid"]) == victim]
    assert [(e["signal"], e["expected"]) for e in dead] == [("SIGKILL", "no")]


@pytest.mark.skipif(UNDER_VALGRIND, reason=(
    "valgrind 3.19 leaves every signal blocked after a fork that fails, so "
    "the supervisor's next stack growth (a SIGSEGV valgrind must handle) "
    "kills it with SIGSEGV"))
def test_workers_failed_fork_stops_the_started_ones(dns, ses, proxy_factory):
    """Dropped to a uid of its own (no other process has it), under
    RLIMIT_NPROC 2: the supervisor and one worker, the second fork fails.
    The supervisor logs it, stops the worker it did start, and exits 1
    once that one has ended."""
    uid = 4271
    assert [p for p in os.listdir("/proc") if p.isdigit()
            and uid_of(int(p)) == uid] == []
    proxy, rc = run_until_exit(proxy_factory, ["prlimit", "--nproc=2"],
                               "--workers", "3", "--user", f"{uid}:{uid}",
                               timeout=SLOW)
    assert rc == 1, f"exit {rc}:\n{proxy.log_text()}"
    failed = supervisor_lines(proxy, "startup_failed")
    assert len(failed) == 1 and "fork" in str(failed[0]), failed
    exited = proxy.named("worker_exited")
    assert [(e["worker"], e.get("code"), e["expected"]) for e in exited] == \
        [(0, 0, "yes")], exited
    assert [e["code"] for e in supervisor_lines(proxy, "supervisor_exit")] == [1]


# --------------------------------------------------------------------------
# 5. The supervisor killed
# --------------------------------------------------------------------------

def test_workers_supervisor_killed_workers_drain_and_exit(
        dns, upstream_factory, proxy_factory):
    """SIGKILL to the supervisor: each worker gets SIGTERM from the kernel
    (PR_SET_PDEATHSIG) and drains as on a stop: the listener closes (new
    clients refused), the open session keeps relaying until the client
    closes it, then every worker is gone."""
    upstream_factory("greet_echo", "127.0.0.2")
    proxy, kids = start_workers(proxy_factory, 2, "--drain-timeout", "60",
                                "--idle-timeout", "120")
    client = open_session()
    busy = served_by(proxy, client)
    proxy.stopped_on_purpose = True
    os.kill(proxy.pid, signal.SIGKILL)
    # Not proxy.wait(): the workers still hold the log pipe open.
    assert proxy.popen.wait(timeout=10) == -signal.SIGKILL
    begins = proxy.wait_count("shutdown_begin", 2, timeout=SLOW)
    assert sorted((e["worker"], e["signal"]) for e in begins) == \
        [(0, "SIGTERM"), (1, "SIGTERM")]
    wait_for(connection_refused, timeout=SLOW, what="new clients refused")
    assert echoes(client, "after the supervisor's end")
    assert not all_gone(kids)  # the busy one waits for its session
    client.close()
    wait_for(lambda: all_gone(kids), timeout=SLOW, what="the workers to exit")
    assert [(e["worker"], e["reason"]) for e in proxy.named("conn_close")] == \
        [(busy, "closed")]
    assert sorted(e["worker"] for e in proxy.named("shutdown")) == [0, 1]
    assert connection_refused()


# --------------------------------------------------------------------------
# 6. --max-conns is the relay's total
# --------------------------------------------------------------------------

def test_workers_max_conns_is_shared(dns, ses, proxy_factory):
    """--workers 2 --max-conns 2: two sessions held on worker B, then a
    third client accepted by worker A (B stopped), which has no session of
    its own, gets 421 4.3.2: the cap counts both workers' sessions. Once
    one of B's sessions ends, A admits a client again."""
    proxy, (pid_a, pid_b) = start_workers(proxy_factory, 2, "--max-conns", "2")
    with stopped(pid_a):
        held = [open_session(), open_session()]
    w_b = {served_by(proxy, c) for c in held}
    assert len(w_b) == 1
    w_b = w_b.pop()
    w_a = 1 - w_b
    with stopped(pid_b):
        with connect() as c:
            assert read_line(c).startswith(b"421 4.3.2 Too many connections")
            assert recv_until_closed(c, timeout=5)[1] in ("eof", "reset")
        rejected = proxy.wait_event("conn_rejected", timeout=SLOW)
    assert (rejected["worker"], rejected["reason"]) == (w_a, "max_conns")
    assert of_worker(proxy, "conn_open", w_a) == []
    assert ses.connections == 2

    held.pop().close()
    proxy.wait_event("conn_close", timeout=SLOW)
    with stopped(pid_b):
        with open_session() as c:
            assert served_by(proxy, c) == w_a
    assert ses.connections == 3
    for c in held:
        c.close()


# --------------------------------------------------------------------------
# 7. Connection ids
# --------------------------------------------------------------------------

def test_workers_conn_ids_unique_and_striped(dns, upstream_factory,
                                             proxy_factory):
    """40 sessions: 20 steered to each worker in turn (the other one
    stopped), then 20 at once. Every conn id is unique, worker w numbers
    its sessions w+1, w+3, w+5... with no gap, and each conn_close names
    the worker of its conn_open."""
    upstream_factory("greet_echo", "127.0.0.2")
    proxy, pids = start_workers(proxy_factory, 2)
    for i in range(20):
        with stopped(pids[i % 2]):
            with open_session():
                pass
    burst = [connect() for _ in range(20)]
    for c in burst:
        assert read_line(c) == SES_GREETING
    for c in burst:
        c.close()
    opened = proxy.wait_count("conn_open", 40, timeout=SLOW)
    closed = proxy.wait_count("conn_close", 40, timeout=SLOW)
    ids = [int(e["conn"]) for e in opened]
    assert len(set(ids)) == 40, sorted(ids)
    for w in (0, 1):
        mine = sorted(int(e["conn"]) for e in opened if e["worker"] == w)
        assert len(mine) >= 10, f"worker {w} served {len(mine)}"
        assert mine == [w + 1 + 2 * k for k in range(len(mine))], (w, mine)
    worker_of = {int(e["conn"]): e["worker"] for e in opened}
    assert sorted(worker_of) == sorted(int(e["conn"]) for e in closed)
    for e in closed:
        assert e["worker"] == worker_of[int(e["conn"])], e
    for e in opened:
        assert (int(e["conn"]) - 1) % 2 == e["worker"], e


# --------------------------------------------------------------------------
# 8. A second SIGTERM cuts the sessions
# --------------------------------------------------------------------------

def test_workers_second_sigterm_cuts_sessions(dns, upstream_factory,
                                              proxy_factory):
    """With --drain-timeout 60: the first SIGTERM starts the drain (the
    session still relays); a second one is passed on again (why
    second_signal) and the worker cuts the session at once (conn_close
    reason drain_timeout, the client sees its connection end); exit 0."""
    upstream_factory("greet_echo", "127.0.0.2")
    proxy, _ = start_workers(proxy_factory, 2, "--drain-timeout", "60",
                             "--idle-timeout", "120")
    client = open_session()
    busy = served_by(proxy, client)
    proxy.terminate(signal.SIGTERM)
    proxy.wait_count("shutdown_begin", 2, timeout=SLOW)
    proxy.wait_event("worker_exited", timeout=SLOW,
                     pred=lambda e: e["worker"] == 1 - busy)
    assert echoes(client, "draining")
    assert proxy.named("conn_close") == []

    proxy.send_signal(signal.SIGTERM)
    second = proxy.wait_event("stop_forwarded", timeout=SLOW,
                              pred=lambda e: e["why"] == "second_signal")
    assert (second["signal"], second["workers"], second["level"]) == \
        ("SIGTERM", 1, "info")
    assert recv_until_closed(client, timeout=SLOW)[1] in ("eof", "reset")
    client.close()
    assert proxy.wait(timeout=SLOW) == 0
    assert [(e["worker"], e["reason"]) for e in proxy.named("conn_close")] == \
        [(busy, "drain_timeout")]
    cut = of_worker(proxy, "shutdown", busy)
    assert [int(e["conns_cut"]) for e in cut] == [1], cut
    assert [e["why"] for e in proxy.named("stop_forwarded")] == \
        ["signal", "second_signal"]
    assert_clean_stop(proxy, 2, "SIGTERM")


# --------------------------------------------------------------------------
# 9. ^C on a terminal: SIGINT to the supervisor's process group
# --------------------------------------------------------------------------

def test_workers_sigint_to_process_group_drains_once(dns, upstream_factory,
                                                     proxy_factory):
    """The proxy started by setsid (a process group of its own, as a shell
    gives a job); SIGINT to that whole group, as a terminal's ^C sends it,
    reaches the supervisor only (each worker is in its own group) and is
    passed on once: the open session drains rather than being cut (a
    worker that got it twice would cut it), one stop_forwarded line."""
    upstream_factory("greet_echo", "127.0.0.2")
    proxy = start_under(proxy_factory, ["setsid"], "--workers", "2",
                        "--drain-timeout", "60", "--idle-timeout", "120")
    proxy.wait_count("upstream_resolved", 2, timeout=SLOW)
    kids = worker_pids(proxy, 2)
    group = os.getpgid(proxy.pid)
    assert group == proxy.pid and group != os.getpgrp()
    assert all(os.getpgid(pid) != group for pid in kids)
    client = open_session()
    busy = served_by(proxy, client)

    proxy.stopped_on_purpose = True
    os.killpg(group, signal.SIGINT)
    begins = proxy.wait_count("shutdown_begin", 2, timeout=SLOW)
    assert [e["signal"] for e in begins] == ["SIGINT", "SIGINT"]
    proxy.wait_event("worker_exited", timeout=SLOW,
                     pred=lambda e: e["worker"] == 1 - busy)
    assert echoes(client, "not cut")
    assert proxy.named("conn_close") == []
    client.close()
    assert proxy.wait(timeout=SLOW) == 0
    assert [(e["worker"], e["reason"]) for e in proxy.named("conn_close")] == \
        [(busy, "closed")]
    fwd = proxy.named("stop_forwarded")
    assert [(e["signal"], e["why"]) for e in fwd] == [("SIGINT", "signal")], fwd
    assert all(int(e["conns_cut"]) == 0 for e in proxy.named("shutdown"))
    assert_clean_stop(proxy, 2, "SIGINT")


# --------------------------------------------------------------------------
# 10. Configuration
# --------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "17", "x", "-1", "", "2x", "1.5",
                                   "99999999999999999999"])
def test_workers_bad_flag_refused(dns, run_proxy, value):
    assert_refused(run_proxy("--workers", value), "--workers")


@pytest.mark.parametrize("value", ["0", "17", "x"])
def test_workers_bad_env_refused(dns, run_proxy, value):
    assert_refused(run_proxy(env={"WORKERS": value}), "WORKERS")


@pytest.mark.parametrize("value", ["1", "16"])
def test_workers_bounds_accepted(dns, run_proxy, value):
    """1 and 16 are in range (--check does not fork)."""
    rc, out, err = run_proxy("--check", "--workers", value)
    assert rc == 0, out + err


def test_workers_from_env_and_flag_wins(dns, ses, proxy_factory):
    """WORKERS=3 starts 3 workers; --workers 2 beside WORKERS=3 starts 2."""
    from_env = proxy_factory(env={"WORKERS": "3"})
    assert int(from_env.named("startup")[0]["workers"]) == 3
    worker_pids(from_env, 3)
    assert from_env.stop() == 0
    flag = proxy_factory("--workers", "2", env={"WORKERS": "3"})
    assert int(flag.named("startup")[0]["workers"]) == 2
    worker_pids(flag, 2)
    assert len(children(flag.pid)) == 2


@pytest.mark.parametrize("args", [["--workers", "1"], []],
                         ids=["workers_1", "default"])
def test_workers_1_is_a_single_process_as_before(dns, ses, proxy_factory,
                                                 args):
    """--workers 1, and no --workers at all: one process, no child, no
    worker field anywhere, conn ids 1, 2, 3, a relay sandbox_ready, no
    supervisor lines; SIGTERM ends it with the single-process shutdown."""
    proxy = proxy_factory(*args)
    assert int(proxy.named("startup")[0]["workers"]) == 1
    for _ in range(3):
        with open_session():
            pass
    proxy.wait_count("conn_close", 3)
    assert children(proxy.pid) == []
    if not SANITIZER:
        assert [e["role"] for e in proxy.named("sandbox_ready")] == ["relay"]
    assert [int(e["conn"]) for e in proxy.named("conn_open")] == [1, 2, 3]
    assert proxy.stop() == 0
    assert all("worker" not in e for e in proxy.events), \
        [e for e in proxy.events if "worker" in e]
    for name in ("stop_forwarded", "worker_exited", "supervisor_exit"):
        assert proxy.named(name) == []
    assert len(proxy.named("shutdown")) == 1
