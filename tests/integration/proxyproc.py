"""Starting, watching and stopping the proxy under test.

Each proxy runs in its own mount namespace where a per-test hosts file and
resolv.conf are bind-mounted over /etc/hosts and /etc/resolv.conf, so the
real SES name is never resolved through this machine's resolver:

    unshare --mount sh -c 'mount --bind ... && exec proxy ARGS'

`sh` execs the proxy, so the PID we get is the proxy's own (checked through
/proc/PID/exe). With pid1=True the wrapper also gets a new PID namespace
(unshare --pid --fork --mount-proc) so the proxy runs as PID 1 there; its
PID as seen from here is found through /proc.

An optional tool wrapper for every proxy process (make valgrind), from the
environment: SES_IT_WRAPPER, a shell-quoted command put right before the
binary (after any test's own exec-wrapper); "{id}" in it becomes an id
unique to each process, for one log file each. SES_IT_WRAPPER_EXE is what
/proc/PID/exe is under the wrapper (valgrind execs its tool binary), so the
proxy's PID is then the process with that exe and the binary in its
cmdline. SES_IT_WRAPPER_LOG ("{id}" again) names the tool's log of each
process; tests read it through Proxy.tool_log / run_once's tool_log.
Unset (the default), the command line is exactly the one above.
"""

import itertools
import json
import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

from helpers import parse_logfmt, wait_for

_WRAP = ('mount --bind "$1" /etc/hosts && '
         'mount --bind "$2" /etc/resolv.conf && '
         'bin="$0" && shift 2 && exec "$bin" "$@"')

# Variables the proxy reads: never inherited from the caller's environment.
PROXY_ENV_VARS = ("SES_REGION", "SES_FIPS", "LISTEN", "SES_IP_RANGES",
                  "SES_ALLOW_CIDRS", "ALLOW_CLIENTS", "MAX_CONNS",
                  "IDLE_TIMEOUT", "MAX_SESSION", "CONNECT_TIMEOUT",
                  "DRAIN_TIMEOUT", "LOG_FORMAT", "STATS_INTERVAL", "RUN_AS",
                  "LANDLOCK", "PROXY_PROTOCOL", "HEALTH_LISTEN",
                  "WORKERS")


WRAPPER = shlex.split(os.environ.get("SES_IT_WRAPPER", ""))
WRAPPER_EXE = os.environ.get("SES_IT_WRAPPER_EXE")
WRAPPER_LOG = os.environ.get("SES_IT_WRAPPER_LOG")
_run_ids = itertools.count(1)
# make valgrind: the tool's own memory is in the proxy's RSS, so a test's
# RSS limit applies to the growth from a baseline taken after startup.
UNDER_VALGRIND = os.environ.get("SES_IT_VALGRIND") == "1"


def tool_wrap(binary, args):
    """(program, args, log) with SES_IT_WRAPPER put before the binary, and
    the tool's log path for this process (None without a wrapper log)."""
    if not WRAPPER:
        return binary, list(args), None
    run_id = f"{os.getpid()}-{next(_run_ids)}"
    prefix = [w.replace("{id}", run_id) for w in WRAPPER]
    log = WRAPPER_LOG.replace("{id}", run_id) if WRAPPER_LOG else None
    return prefix[0], [*prefix[1:], str(binary), *args], log


def base_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in PROXY_ENV_VARS}
    env.update(extra or {})
    return env


def wrapped_command(binary, hosts, resolv, args, pid1=False):
    prefix = ["unshare"]
    if pid1:
        prefix += ["--pid", "--fork", "--kill-child", "--mount-proc"]
    prefix += ["--mount", "--propagation", "private"]
    return prefix + ["sh", "-c", _WRAP, str(binary), str(hosts), str(resolv),
                     *[str(a) for a in args]]


class Proxy:
    """A running proxy. Its stderr is parsed line by line into events (JSON,
    or logfmt with log_format="text"); lines that do not parse are kept in
    bad_lines. stdout is kept as raw lines."""

    def __init__(self, binary, args, hosts, resolv, env=None, pid1=False,
                 log_format="json"):
        self.binary = Path(binary).resolve()
        self.args = list(args)
        self.log_format = log_format
        self.pid1 = pid1
        self.events = []
        self.lines = []
        self.bad_lines = []
        self.stdout = []
        self.cond = threading.Condition()
        self.returncode = None
        self.stopped_on_purpose = False
        prog, prog_args, self.tool_log = tool_wrap(self.binary, args)
        self.popen = subprocess.Popen(
            wrapped_command(prog, hosts, resolv, prog_args, pid1),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=base_env(env))
        self._threads = [
            threading.Thread(target=self._read_stderr, daemon=True),
            threading.Thread(target=self._read_stdout, daemon=True)]
        for t in self._threads:
            t.start()
        self.pid = self._find_proxy_pid()

    # ---- process ----
    def _exe_is_proxy(self, pid):
        try:
            exe = Path(os.readlink(f"/proc/{pid}/exe"))
            if not WRAPPER:
                return exe == self.binary
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return (WRAPPER_EXE is not None and exe == Path(WRAPPER_EXE)
                and os.fsencode(self.binary) in argv)

    def _children(self, pid):
        kids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                kids.append(int(entry))
        return kids

    def _find_proxy_pid(self):
        def found():
            if self.popen.poll() is not None:
                return -1
            if not self.pid1:
                return self.popen.pid if self._exe_is_proxy(self.popen.pid) else None
            for kid in self._children(self.popen.pid):
                if self._exe_is_proxy(kid):
                    return kid
            return None
        pid = wait_for(found, timeout=10, interval=0.005,
                       what="the proxy to exec")
        if pid == -1:
            return None  # exited at once; the test looks at the returncode
        if self.pid1:
            nspid = self.status_field("NSpid", pid).split()
            assert nspid[-1] == "1", f"proxy is not PID 1 in its namespace: {nspid}"
        return pid

    def status_field(self, name, pid=None):
        for line in Path(f"/proc/{pid or self.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
        return None

    def alive(self):
        return self.popen.poll() is None

    def send_signal(self, sig):
        assert self.pid is not None
        os.kill(self.pid, sig)

    def terminate(self, sig=signal.SIGTERM):
        """Send a stopping signal as part of the test (teardown then does
        not count the exit as unexpected)."""
        self.stopped_on_purpose = True
        self.send_signal(sig)

    def wait(self, timeout):
        try:
            self.returncode = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._threads:
            t.join(5)
        return self.returncode

    def stop(self, timeout=15):
        """SIGTERM by PID, then wait for the exit; returns the exit code, or
        None if it had to be killed."""
        self.stopped_on_purpose = True
        if self.alive():
            self.send_signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.popen.kill()  # the unshare wrapper (or the proxy itself)
                if self.pid and self.pid != self.popen.pid:
                    try:
                        os.kill(self.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.popen.wait(10)
                return None
        return self.wait(10)

    # ---- output ----
    def _read_stderr(self):
        for raw in self.popen.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            event = self._parse(line)
            with self.cond:
                self.lines.append(line)
                if event is None:
                    self.bad_lines.append(line)
                else:
                    self.events.append(event)
                self.cond.notify_all()

    def _read_stdout(self):
        for raw in self.popen.stdout:
            with self.cond:
                self.stdout.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()

    def _parse(self, line):
        if self.log_format == "text":
            event = parse_logfmt(line)
        else:
            try:
                event = json.loads(line)
            except ValueError:
                return None
        if not isinstance(event, dict) or "event" not in event:
            return None
        return event

    def log_text(self):
        with self.cond:
            return "\n".join(self.lines)

    def named(self, name, **match):
        with self.cond:
            return [e for e in self.events if e.get("event") == name
                    and all(e.get(k) == v for k, v in match.items())]

    def wait_event(self, name, pred=None, timeout=10.0, start=0):
        """The first event called name (among events[start:]) for which
        pred(event) is true; fails after timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.events[start:]:
                    if e.get("event") == name and (pred is None or pred(e)):
                        return e
                left = deadline - time.monotonic()
                gone = self.popen.poll() is not None and not self._threads[0].is_alive()
                if left <= 0 or gone:
                    raise AssertionError(
                        f"no {name!r} event "
                        + (f"(proxy exited with {self.popen.returncode})" if gone
                           else f"within {timeout}s") + "; log:\n"
                        + "\n".join(self.lines[-40:]))
                self.cond.wait(min(left, 0.2))

    def wait_count(self, name, count, timeout=10.0, pred=None):
        def enough():
            return len([e for e in self.named(name)
                        if pred is None or pred(e)]) >= count
        wait_for(enough, timeout, what=f"{count} {name!r} events")
        return self.named(name)

    def mark(self):
        """Index to pass as start= to wait_event for events after now."""
        with self.cond:
            return len(self.events)


def run_once(binary, args, hosts, resolv, env=None, timeout=20,
             tool_log=None):
    """Run the binary to completion (--check, --version, bad configs).
    Returns (returncode, stdout, stderr) as text; returncode is None if it
    was still running after timeout seconds (it is killed then). With a
    wrapper log, tool_log(path) is called with its path once the process
    is gone."""
    prog, prog_args, log = tool_wrap(binary, args)
    try:
        proc = subprocess.run(wrapped_command(prog, hosts, resolv, prog_args),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              env=base_env(env), timeout=timeout)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = None, e.stdout or b"", e.stderr or b""
    if log is not None and tool_log is not None:
        tool_log(log)
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
