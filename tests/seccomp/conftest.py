"""Fixtures of the sandbox tests: the probe (probe.c), what it reports, and
the rule table it reads from the real seccomp.o. Run through run.sh: the
Landlock tests assume a private network namespace with only lo."""

import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROBE = Path(os.environ.get("SECCOMP_PROBE", REPO / "build" / "seccomp" / "probe"))
PROXY = Path(os.environ.get("SES_SMTP_PROXY_BIN", REPO / "ses-smtp-proxy"))

EXIT_USAGE = 64     # probe.c: bad command line
EXIT_SETUP = 71     # probe.c: the sandbox or a case's setup failed
SIGSYS = signal.SIGSYS.value

_RESULT = re.compile(r"^probe: ret=(-?\d+) errno=(\d+) ")


@dataclass
class Outcome:
    """One probe run: how it ended, and the call's result if it printed one."""
    args: list
    returncode: int
    stderr: str
    ret: int = None
    errno: int = None

    @property
    def killed(self):
        return self.returncode == -SIGSYS

    def describe(self):
        if self.killed:
            how = "killed by SIGSYS"
        elif self.returncode < 0:
            how = f"killed by signal {-self.returncode}"
        else:
            how = f"exit {self.returncode}"
        got = (f", ret={self.ret} errno={self.errno}"
               f" ({os.strerror(self.errno) if self.errno else 'ok'})"
               if self.ret is not None else "")
        return f"probe {' '.join(self.args)}: {how}{got}"


def run_probe(*args, timeout=10):
    """Run the probe once; a usage or setup failure is an error of the
    test itself, never a verdict on the sandbox."""
    args = [str(a) for a in args]
    proc = subprocess.run([str(PROBE), *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    out = Outcome(args, proc.returncode, proc.stderr)
    for line in proc.stderr.splitlines():
        m = _RESULT.match(line)
        if m:
            out.ret, out.errno = int(m.group(1)), int(m.group(2))
    if proc.returncode in (EXIT_USAGE, EXIT_SETUP):
        pytest.fail(f"the probe could not run the case: {out.describe()}\n"
                    f"{proc.stderr}")
    return out


def assert_killed(out):
    assert out.killed, f"expected death by SIGSYS; {out.describe()}"


def assert_survived(out):
    """Exit 0 after the call: either its reported result, or exit_group
    itself."""
    assert out.returncode == 0, f"expected the call to be allowed; {out.describe()}"


def assert_not_killed(out):
    """Control run without the filter: the case reaches the kernel, so the
    matching 'must die' test can fail."""
    assert not out.killed, f"the case dies even without the filter; {out.describe()}"


@dataclass(frozen=True)
class Row:
    index: int
    name: str
    nr: int
    conds: tuple        # ((idx, mask, val), ...): (arg & mask) == val

    def matches(self, args):
        return all((args[i] & m) == v for i, m, v in self.conds)


def _parse_list(text):
    rows, defs = [], {}
    for line in text.splitlines():
        f = line.split()
        if f[0] == "row":
            conds = tuple(tuple(int(x, 0) for x in c.split(":")) for c in f[5:])
            assert len(conds) == int(f[4]), line
            rows.append(Row(int(f[1]), f[2], int(f[3]), conds))
        elif f[0] == "def":
            defs[f[1]] = (int(f[2]), [int(x, 0) for x in f[3:]])
    return rows, defs


_LIST = None


def probe_list():
    """(rows, defs) from `probe --list`: the table seccomp_rules() returns,
    and {name: (nr, default args)} for every syscall the probe knows. Used
    at collection time, so a missing probe is reported there."""
    global _LIST
    if _LIST is None:
        if not os.access(PROBE, os.X_OK):
            raise pytest.UsageError(f"{PROBE} is missing: run make seccomp-test")
        text = subprocess.run([str(PROBE), "--list"], check=True,
                              capture_output=True, text=True).stdout
        _LIST = _parse_list(text)
        if not _LIST[0]:
            raise pytest.UsageError("probe --list printed no table rows")
    return _LIST
