"""drift.py itself, on small synthetic strace -ff trace directories, with
the real tables and filter lengths of `probe --list`: it follows forks
(a forked proxy process has no execve line), tells the relay's filter from
the supervisor's by the program length in seccomp(), and checks each call
after a filter against that filter's table. The integration suite under
strace (drift.sh) is the real run; these show that its verdicts can fail."""

import subprocess
import sys

import pytest

from conftest import HERE, PROBE, PROXY, probe_listing

DRIFT = HERE / "drift.py"
LEN = probe_listing().filters       # {"relay": N, "supervisor": M}


def line(call, ret):
    """One strace line: short calls are padded to column 40."""
    return f"{call:<39} = {ret}"


EXEC_PROXY = line(f'execve("{PROXY}", ["ses-smtp-proxy", "--workers", "2"], '
                  "0x7ffc00000000 /* 3 vars */)", 0)
EXEC_OTHER = line('execve("/usr/bin/python3", ["python3"], '
                  "0x7ffc00000000 /* 3 vars */)", 0)


def seccomp(table=None, n=None):
    n = LEN[table] if n is None else n
    return line(f"seccomp(0x1, 0, {{len={n}, filter=0x7f0000001000}})", 0)


FORK = line("fork()", 101)
# Calls the supervisor (workers.c) makes under its filter.
SUPERVISOR_OK = [
    line("rt_sigtimedwait([2 15 17], {si_signo=15, si_code=0, si_pid=1, "
         "si_uid=0}, NULL, 8)", "15 (SIGTERM)"),
    line("kill(102, 15)", 0),
    line("kill(103, 2)", 0),
    line("wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0x1, NULL)", 102),
    line('write(2, "ts=2026-11-29T20:04:34.427Z lev"..., 75)', 75),
    line("exit_group(0)", "?"),
]
# Calls a relay worker makes under its filter.
RELAY_OK = [
    line("epoll_pwait(4, [{events=0x1, data={u32=3, u64=3}}], 64, 1000, "
         "[], 8)", 1),
    line("accept4(3, {sa_family=0x2, sin_port=htons(34888), "
         'sin_addr=inet_addr("127.0.0.1")}, [16], 0x80800)', 5),
    line("socket(0x2, 0x80801, 0x6)", 6),
    line("close(5)", 0),
    line("exit_group(0)", "?"),
]
# The child's start in musl's fork, before its own filter: not checked.
CHILD_START = [line("gettid()", 101),
               line("rt_sigprocmask(0x2, [2 15 17], NULL, 8)", 0),
               line("setpgid(0, 0)", 0)]


def run_drift(tmp_path, traces):
    """drift.py on a directory with one file t.PID per {PID: [lines]}."""
    table = tmp_path / "table"
    table.write_text(subprocess.run([str(PROBE), "--list"], check=True,
                                    capture_output=True, text=True).stdout)
    trace = tmp_path / "trace"
    trace.mkdir()
    for pid, lines in traces.items():
        (trace / f"t.{pid}").write_text("".join(x + "\n" for x in lines))
    proc = subprocess.run([sys.executable, str(DRIFT), "--binary", str(PROXY),
                           "--table", str(table), str(trace)],
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def fails(out):
    return [x for x in out.splitlines() if x.startswith("drift: FAIL")]


def workers(supervisor_calls=SUPERVISOR_OK, child_calls=RELAY_OK,
            fork=FORK):
    """A --workers run: the supervisor (t.100) execs the proxy, forks a
    worker (t.101), loads its own filter; the worker loads the relay's."""
    return {
        100: [EXEC_PROXY, line("mmap(NULL, 4, 0x3, 0x21, -1, 0)",
                               "0x7f0000000000"), fork,
              seccomp("supervisor"), *supervisor_calls],
        101: [*CHILD_START, seccomp("relay"), *child_calls],
    }


def test_workers_pass(tmp_path):
    rc, out = run_drift(tmp_path, workers())
    assert rc == 0, out
    assert "2 proxy processes traced (1 of them forked by the proxy)" in out
    assert "table relay" in out and "loaded by 1 processes, 5 calls" in out
    assert (f"table supervisor (filter of {LEN['supervisor']} instructions): "
            "loaded by 1 processes, 6 calls after it") in out


@pytest.mark.parametrize("fork", [
    line("fork()", 101),
    line("vfork()", 101),
    line("clone(child_stack=NULL, flags=0x1200000|17, "
         "child_tidptr=0x7f0000000a10)", 101),
    line("clone3({flags=0x200000, exit_signal=17, stack=NULL, "
         "stack_size=0}, 88)", 101),
    # --pidns-translation: the proxy is PID 1 in its own namespace.
    line("fork()", "2 /* 101 in strace's PID NS */"),
], ids=["fork", "vfork", "clone", "clone3", "pidns"])
def test_forked_supervisor_child_calling_socket_fails(tmp_path, fork):
    """A forked child under the supervisor's filter calls socket with the
    arguments the relay's table allows: not in the supervisor's table."""
    traces = {
        100: [EXEC_PROXY, fork, seccomp("relay"), *RELAY_OK],
        101: [*CHILD_START, seccomp("supervisor"),
              line("socket(0x2, 0x80801, 0x6)", 3), line("exit_group(0)", "?")],
    }
    rc, out = run_drift(tmp_path, traces)
    assert rc == 1, out
    assert fails(out) == [f"drift: FAIL: t.101:5: socket is not in the supervisor "
                          f"table: {traces[101][4]}"], out


def test_forked_supervisor_child_with_allowed_calls_passes(tmp_path):
    traces = {
        100: [EXEC_PROXY, FORK, seccomp("relay"), *RELAY_OK],
        101: [*CHILD_START, seccomp("supervisor"), *SUPERVISOR_OK],
    }
    rc, out = run_drift(tmp_path, traces)
    assert rc == 0, out
    assert "loaded by 1 processes, 6 calls after it" in out


def test_relay_call_under_supervisor_filter_fails(tmp_path):
    """The table is the one of the filter this process loaded: accept4 is
    the relay's, the supervisor may not."""
    rc, out = run_drift(tmp_path, workers(
        supervisor_calls=[line("accept4(3, NULL, NULL, 0x80800)", 5)]))
    assert rc == 1, out
    assert "t.100:5: accept4 is not in the supervisor table" in out, out


def test_supervisor_call_under_relay_filter_fails(tmp_path):
    rc, out = run_drift(tmp_path, workers(child_calls=[line("kill(100, 15)", 0)]))
    assert rc == 1, out
    assert "t.101:5: kill is not in the relay table" in out, out


@pytest.mark.parametrize("call", [
    pytest.param(line("kill(102, 9)", 0), id="kill-sigkill"),
    pytest.param(line("kill(-1, 15)", 0), id="kill-minus-1"),
    pytest.param(line("kill(-102, 2)", 0), id="kill-pgid"),
    pytest.param(line("wait4(-1, 0x7ffd2581b20c, 0, NULL)", 102),
                 id="wait4-blocking"),
    pytest.param(line('write(1, "x", 1)', 1), id="write-stdout"),
])
def test_supervisor_arguments_no_row_allows_fail(tmp_path, call):
    rc, out = run_drift(tmp_path, workers(supervisor_calls=[call]))
    assert rc == 1, out
    name = call.split("(")[0]
    assert fails(out) == [f"drift: FAIL: t.100:5: no {name} row of the "
                          f"supervisor table allows these arguments: {call}"], out


def test_child_inherits_the_loaded_filter(tmp_path):
    """A process forked after its parent loaded a filter is under it from
    its first call: the relay's rows apply in the child without a seccomp
    line of its own (the fork itself is not in the table either)."""
    traces = {
        100: [EXEC_PROXY, seccomp("relay"), *RELAY_OK[:2], FORK],
        101: [line("socket(0x2, 0x80801, 0x6)", 3),
              line("kill(100, 15)", 0)],
    }
    rc, out = run_drift(tmp_path, traces)
    assert rc == 1, out
    assert fails(out) == [
        f"drift: FAIL: t.100:5: fork is not in the relay table: {FORK}",
        f"drift: FAIL: t.101:2: kill is not in the relay table: {traces[101][1]}",
    ], out
    assert "2 proxy processes traced (1 of them forked by the proxy)" in out


def test_child_calls_before_its_filter_are_not_checked(tmp_path):
    """Forked before any filter: what the child does before its own
    seccomp() (musl's fork, setpgid, prctl) is startup, not checked."""
    traces = workers()
    traces[101][1:1] = [line("prctl(0x1, 0xf, 0, 0, 0)", 0),
                        line("getppid()", 100)]
    rc, out = run_drift(tmp_path, traces)
    assert rc == 0, out


def test_children_of_other_programs_are_not_checked(tmp_path):
    """A fork of a process that is not the proxy (the test harness) is
    not the proxy, whatever it calls."""
    traces = workers()
    traces[50] = [EXEC_OTHER, line("fork()", 51)]
    traces[51] = [seccomp("supervisor"), line("socket(0x1, 0x1, 0)", 3)]
    rc, out = run_drift(tmp_path, traces)
    assert rc == 0, out


def test_sigsys_death_of_a_forked_worker_fails(tmp_path):
    traces = workers()
    traces[101].append("+++ killed by SIGSYS +++")
    rc, out = run_drift(tmp_path, traces)
    assert rc == 1, out
    assert "t.101:10: +++ killed by SIGSYS +++" in out, out


def test_filter_of_unknown_length_fails(tmp_path):
    traces = workers()
    traces[101][3] = seccomp(n=7)
    rc, out = run_drift(tmp_path, traces)
    assert rc == 1, out
    assert "t.101:4: the filter loaded here matches no table" in out, out


def test_untranslated_pid_of_a_proxy_fork_is_a_warning(tmp_path):
    """Without --pidns-translation the fork returns a PID of the proxy's
    namespace that names no trace file: said, not guessed."""
    rc, out = run_drift(tmp_path, workers(fork=line("fork()", 2)))
    assert "forked PID 2, which has no trace file" in out, out
    # t.101 is then an orphan, not known as the proxy: nothing of it checked.
    assert "1 proxy processes traced (0 of them forked" in out, out
    assert rc == 0, out


def test_nothing_loaded_fails(tmp_path):
    rc, out = run_drift(tmp_path, {100: [EXEC_PROXY, line("getpid()", 100)]})
    assert rc == 1, out
    assert "no traced proxy loaded a filter" in out, out
