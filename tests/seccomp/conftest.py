"""Fixtures of the sandbox tests: the probe (probe.c), what it reports, and
the rule tables it reads from the real seccomp.o (the relay's and the
--workers supervisor's), with the case generators test_filter.py and
test_supervisor_filter.py share. Run through run.sh: the Landlock tests
assume a private network namespace with only lo."""

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


def run_probe(*args, timeout=10, new_session=False):
    """Run the probe once; a usage or setup failure is an error of the
    test itself, never a verdict on the sandbox. new_session: the probe is
    alone in its process group (for kill(0, ...))."""
    args = [str(a) for a in args]
    proc = subprocess.run([str(PROBE), *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout,
                          start_new_session=new_session)
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


# The tables of seccomp.c as `probe --list` names them, and the probe flag
# that loads each one's filter.
TABLES = ("relay", "supervisor")
TABLE_FLAGS = {"relay": [], "supervisor": ["--supervisor"]}


@dataclass(frozen=True)
class Row:
    table: str
    index: int
    name: str
    arches: tuple       # the architectures the row is on: ("x86_64", ...)
    conds: tuple        # ((idx, mask, val), ...): (arg & mask) == val

    def matches(self, args):
        return all((args[i] & m) == v for i, m, v in self.conds)


@dataclass
class Listing:
    rows: dict          # table -> [Row, ...]
    filters: dict       # table -> length of its embedded BPF
    defs: dict          # name -> (nr, default args)


def _parse_list(text):
    out = Listing({}, {}, {})
    for line in text.splitlines():
        f = line.split()
        if f[0] == "filter":
            out.filters[f[1]] = int(f[2])
        elif f[0] == "row":
            conds = tuple(tuple(int(x, 0) for x in c.split(":")) for c in f[6:])
            assert len(conds) == int(f[5]), line
            out.rows.setdefault(f[1], []).append(
                Row(f[1], int(f[2]), f[3], tuple(f[4].split(",")), conds))
        elif f[0] == "def":
            out.defs[f[1]] = (int(f[2]), [int(x, 0) for x in f[3:]])
    return out


_LIST = None


def probe_listing():
    """Everything `probe --list` prints, parsed. Used at collection time,
    so a missing probe is reported there."""
    global _LIST
    if _LIST is None:
        if not os.access(PROBE, os.X_OK):
            raise pytest.UsageError(f"{PROBE} is missing: run make seccomp-test")
        text = subprocess.run([str(PROBE), "--list"], check=True,
                              capture_output=True, text=True).stdout
        _LIST = _parse_list(text)
        for table in TABLES:
            if not _LIST.rows.get(table) or not _LIST.filters.get(table):
                raise pytest.UsageError(f"probe --list printed no {table} "
                                        "table or filter length")
    return _LIST


def probe_list(table="relay", arch="x86_64"):
    """(rows, defs) from `probe --list`: the rows seccomp_rules() returns
    for `table` that are on `arch` (the probe runs the x86_64 filters), and
    {name: (nr, default args)} for every syscall the probe knows (x86_64
    numbers)."""
    listing = probe_listing()
    return ([r for r in listing.rows[table] if arch in r.arches],
            listing.defs)


# ---- Cases generated from a table (test_filter.py,
# test_supervisor_filter.py) ----

MASK64 = (1 << 64) - 1
X32_BIT = 0x40000000

# Rows whose syscall cannot be made raw: the probe case that makes it.
SPECIAL_CASES = {"rt_sigreturn": ["sigreturn"]}


def row_args(row, defs):
    """The probe's harmless defaults with the row's allowed values put in."""
    args = list(defs[row.name][1])
    for i, m, v in row.conds:
        args[i] = (args[i] & ~m & MASK64) | v
    return args


def allowed(rows, name, args):
    """Would the filter let name(args) through? Rows of a syscall are ORed;
    each compares (arg & mask) == val on all 64 bits."""
    return any(r.matches(args) for r in rows if r.name == name)


def altered_values(rows, row, idx, mask, val):
    """Other values for one constrained argument: the lowest and the
    highest bit of the mask flipped; the allowed value with bit 32 set
    (SBX-06: a filter that compared only the low 32 bits would allow it);
    and the values other rows of the syscall allow for this argument, so
    that socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP) is tried: a row must
    match as a whole."""
    low = mask & -mask
    high = 1 << (mask.bit_length() - 1)
    alts = {val ^ low, val ^ high, val | (1 << 32)}
    alts |= {v for r in rows if r.name == row.name
             for i, m, v in r.conds if i == idx and m == mask}
    return sorted(alts - {val})


def call_args(name, args):
    return ["call", name] + [f"a{i}={a:#x}" for i, a in enumerate(args)]


def call(name, **args):
    return ["call", name] + [f"{k}={v:#x}" for k, v in args.items()]


def row_call(row, defs):
    """The probe arguments that make the row's call with its allowed
    values, or None when the probe has no DEF line for it."""
    if row.name in SPECIAL_CASES:
        return SPECIAL_CASES[row.name]
    if row.name not in defs:
        return None
    return call_args(row.name, row_args(row, defs))


def row_cases(table, arch="x86_64"):
    """pytest params for the rows of `table`, each argv starting with the
    probe flag that loads its filter, ids prefixed with the table's name
    but for the relay's: (allowed, altered, x32). allowed:
    each row with its allowed values; altered: (argv, dies), one
    constrained argument changed; x32: the allowed call under its x32
    number. arch: the rows on that architecture (the kernel runs the
    x86_64 filter; test_filter_aarch64.py evaluates the aarch64 one)."""
    rows, defs = probe_list(table, arch)
    flags = TABLE_FLAGS[table]
    prefix = "" if table == "relay" else f"{table}-"
    allowed_cases, altered_cases, x32_cases = [], [], []
    for row in rows:
        rid = f"{prefix}{row.index}-{row.name}"
        if row.name in SPECIAL_CASES:
            allowed_cases.append(pytest.param(flags + SPECIAL_CASES[row.name],
                                              id=rid))
            continue
        if row.name not in defs:
            allowed_cases.append(pytest.param(None, id=rid, marks=pytest.mark.xfail(
                strict=True, reason=f"{row.name}: add a DEF line with harmless "
                "arguments to tests/seccomp/probe.c")))
            continue
        base = row_args(row, defs)
        allowed_cases.append(pytest.param(flags + call_args(row.name, base), id=rid))
        x32 = f"{defs[row.name][0] | X32_BIT:#x}"
        x32_cases.append(pytest.param(
            flags + ["call", x32] + call_args(row.name, base)[2:], id=rid))
        for i, m, v in row.conds:
            for alt in altered_values(rows, row, i, m, v):
                args = list(base)
                args[i] ^= v ^ alt
                dies = not allowed(rows, row.name, args)
                altered_cases.append(pytest.param(
                    flags + call_args(row.name, args), dies,
                    id=f"{rid}-a{i}={args[i]:#x}-{'dies' if dies else 'allowed'}"))
    return allowed_cases, altered_cases, x32_cases


# ---- Probe argv as the filter's input (bpf.py, test_bpf_eval.py,
# test_filter_aarch64.py) ----

MSG_FASTOPEN_NOSIGNAL = 0x20000000 | 0x4000
SOME_POINTER = 0x10000


def probe_input(argv):
    """(table, name or number, args, i386) of the one call a probe run
    makes, from its argv: "call NAME|NUMBER [aI=V ...]" with the probe's
    defaults, "sigreturn", "i386 NR [EBX]", "open PATH FLAGS" and "tfo
    PORT" (pointers as some non-NULL address); None for the Landlock
    cases, which need a real socket."""
    argv = list(argv)
    table = "relay"
    while argv and argv[0].startswith("--"):
        if argv.pop(0) == "--supervisor":
            table = "supervisor"
    _, defs = probe_list()
    kind, rest = argv[0], argv[1:]
    if kind == "call":
        if rest[0] in defs:
            call_nr, args = rest[0], list(defs[rest[0]][1])
        else:
            call_nr, args = int(rest[0], 0), [0] * 6
        for a in rest[1:]:
            args[int(a[1])] = int(a[3:], 0)
        return table, call_nr, args, False
    if kind == "sigreturn":
        return table, "rt_sigreturn", [0] * 6, False
    if kind == "i386":
        return table, int(rest[0], 0), [int(rest[1], 0) if len(rest) > 1
                                        else 0] + [0] * 5, True
    if kind == "open":
        return table, "open", [SOME_POINTER, int(rest[1], 0), 0o600, 0, 0, 0], False
    if kind == "tfo":
        return table, "sendto", [3, SOME_POINTER, 1, MSG_FASTOPEN_NOSIGNAL,
                                 SOME_POINTER, 16], False
    return None
