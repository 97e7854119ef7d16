"""Compare what the proxy really calls under its filters with the tables.

    drift.py --binary PATH --table FILE TRACEDIR

TRACEDIR holds `strace -ff -X raw --pidns-translation` output (one file
per process, PREFIX.PID, see drift.sh); FILE is `probe --list` output: the
tables of seccomp.o ("row TABLE I NAME ARCHES NARGS IDX:MASK:VAL ...") and
the length of each embedded filter ("filter TABLE LEN"). The trace is of
the x86_64 binary: rows not on x86_64 are left out.

A process is the proxy if it executed BINARY, or if it was forked (fork,
vfork, clone, clone3) by a process that was the proxy at the time: with
--workers the relay forks its workers, and their traces have no execve.
A forked process also inherits the filters its parent had loaded at the
fork. Which table a seccomp(SECCOMP_SET_MODE_FILTER) call loaded is told
by the length of its program ({len=N}), compared with the length of each
embedded filter. In each proxy process, every call after a filter must
match a row of that filter's table (of every table, if filters were
stacked): its name, and for rows with argument rules, its arguments as
strace printed them. Fails on a call no row allows, on a filter whose
length matches no table, and on any process killed by SIGSYS; warns on rows
never seen, on a table no process loaded, and on calls whose arguments
strace did not print as numbers. The report is per table.
"""

import argparse
import os
import re
import sys
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from pathlib import Path

MASK64 = (1 << 64) - 1
EXECVE = re.compile(r'^execve\("((?:[^"\\]|\\.)*)".*\) += 0$')
FILTER_ON = re.compile(r"^seccomp\((?:SECCOMP_SET_MODE_FILTER|0x1|1), .*\) += 0$")
FILTER_LEN = re.compile(r"\{len=(\d+),")
CALL = re.compile(r"^(?:<\.\.\. (\w+) resumed>|(\w+)\()")
COMMENT = re.compile(r"/\*.*?\*/")
# strace pads short calls to column 40 before " = ".
# A new process or thread, as its parent's trace shows it: the return
# value is the child's PID; with --pidns-translation strace adds the PID in
# its own namespace (which names the child's trace file) when they differ.
FORK = re.compile(r"^(?:(?:fork|vfork|clone|clone3)\(|<\.\.\. (?:fork|vfork|"
                  r"clone|clone3) resumed>).*\) += (\d+)"
                  r"(?: /\* (\d+) in strace's PID NS \*/)?$")


@dataclass
class Table:
    name: str
    length: int = None          # of the embedded BPF program
    rows: dict = field(default_factory=dict)    # name -> [(idx, conds)]


def load_tables(path):
    """{table: Table} from `probe --list`."""
    tables = {}
    for line in Path(path).read_text().splitlines():
        f = line.split()
        if f and f[0] == "filter":
            tables.setdefault(f[1], Table(f[1])).length = int(f[2])
        elif f and f[0] == "row":
            if "x86_64" not in f[4].split(","):
                continue
            conds = tuple(tuple(int(x, 0) for x in c.split(":")) for c in f[6:])
            tables.setdefault(f[1], Table(f[1])).rows.setdefault(
                f[3], []).append((int(f[2]), conds))
    return tables


def split_args(s):
    """Top-level arguments of a call, from the text just after "name(".
    Strings, structs and arrays stay whole."""
    args, cur, depth, i = [], "", 0, 0
    while i < len(s):
        c = s[i]
        if c == '"':
            j = i + 1
            while j < len(s) and s[j] != '"':
                j += 2 if s[j] == "\\" else 1
            cur += s[i:j + 1]
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif c == "," and depth == 0:
            args.append(cur.strip())
            cur, i = "", i + 1
            continue
        cur += c
        i += 1
    args.append(cur.strip())
    return [] if args == [""] else args


def value(tok):
    """An argument as a 64-bit number ("0x1|0x80800", "-1", "NULL"), or
    None when strace printed it as a string, struct or array."""
    tok = COMMENT.sub("", tok).strip()
    if tok == "NULL":
        return 0
    try:
        return reduce(or_, (int(p, 0) & MASK64 for p in tok.split("|")))
    except ValueError:
        return None


def row_verdict(conds, args):
    """True if the call matches the row, False if not, None if unknown."""
    verdict = True
    for i, m, v in conds:
        tok = args[i] if i < len(args) else ""
        x = value(tok)
        if x is None:
            # A decoded struct or string is a non-NULL pointer.
            if v == 0 and m == MASK64 and tok[:1] in ('{', '"', '['):
                return False
            verdict = None
        elif (x & m) != v:
            return False
    return verdict


def trace_pid(path):
    """The PID strace -ff put in the file name (PREFIX.PID), or None."""
    suffix = path.name.rsplit(".", 1)[-1]
    return int(suffix) if suffix.isdigit() else None


@dataclass(frozen=True)
class State:
    """What a process is when its trace starts, or when it forks."""
    proxy: bool = False
    filters: tuple = ()         # names of the tables loaded, in order


class Drift:
    def __init__(self, tables, binary):
        self.tables, self.binary = tables, os.path.realpath(binary)
        self.by_len = defaultdict(list)
        for t in tables.values():
            self.by_len[t.length].append(t.name)
        self.seen = Counter()           # (table, row index) -> calls
        self.failures, self.warnings = [], []
        self.unchecked = Counter()      # (table, name) -> calls
        self.calls = Counter()          # table -> calls checked against it
        self.loaded = Counter()         # table -> filter loads
        self.procs = self.forked = 0

    # -- one call against one table --

    def check_call(self, where, line, table):
        m = CALL.match(line)
        if not m:
            return
        name = m.group(1) or m.group(2)
        rows = self.tables[table].rows
        self.calls[table] += 1
        if name not in rows:
            self.failures.append(f"{where}: {name} is not in the {table} "
                                 f"table: {line}")
            return
        args = split_args(line[m.end():]) if m.group(2) else []
        verdicts = [(idx, row_verdict(conds, args)) for idx, conds in rows[name]]
        hit = [idx for idx, v in verdicts if v]
        if hit:
            self.seen[(table, hit[0])] += 1
        elif any(v is None for _, v in verdicts) or not m.group(2):
            self.unchecked[(table, name)] += 1
        else:
            self.failures.append(f"{where}: no {name} row of the {table} "
                                 f"table allows these arguments: {line}")

    def filter_loaded(self, where, line):
        """The table a successful seccomp(SECCOMP_SET_MODE_FILTER) line
        loaded, or None (a failure is recorded)."""
        m = FILTER_LEN.search(line)
        names = self.by_len.get(int(m.group(1)), []) if m else []
        if len(names) == 1:
            return names[0]
        lens = ", ".join(f"{t.name} {t.length}" for t in self.tables.values())
        what = (f"matches no table ({lens})" if not names else
                f"matches several tables ({', '.join(names)}): drift.py "
                "cannot tell them apart")
        self.failures.append(f"{where}: the filter loaded here {what}: {line}")
        return None

    # -- one trace file --

    def children(self, path):
        """[(line number, child PID)] of the forks in one trace."""
        out = []
        with open(path, errors="replace") as f:
            for n, line in enumerate(f, 1):
                if "fork" in line or "clone" in line:
                    m = FORK.match(line.rstrip("\n"))
                    if m:
                        out.append((n, int(m.group(2) or m.group(1))))
        return out

    def check_trace(self, path, state, forks):
        """Check one trace that starts in ${state}; returns {child PID:
        State at its fork} for the forks at the line numbers in ${forks}."""
        proxy, filters = state.proxy, list(state.filters)
        fork_lines = dict(forks)
        inherited = {}
        if proxy:
            self.procs += 1
            self.forked += 1
        with open(path, errors="replace") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                where = f"{path.name}:{n}"
                if "killed by SIGSYS" in line:
                    self.failures.append(f"{where}: {line}")
                m = EXECVE.match(line)
                if m:
                    # A filter survives execve; it is the proxy from here
                    # on only if BINARY was executed.
                    was, proxy = proxy, os.path.realpath(m.group(1)) == self.binary
                    self.procs += proxy and not was
                    continue
                if proxy and filters and not line.startswith(("---", "+++")):
                    for table in filters:
                        self.check_call(where, line, table)
                if proxy and FILTER_ON.match(line):
                    table = self.filter_loaded(where, line)
                    if table is not None:
                        filters.append(table)
                        self.loaded[table] += 1
                if n in fork_lines:
                    inherited[fork_lines[n]] = State(proxy, tuple(filters))
        return inherited

    def check_dir(self, tracedir):
        """Every trace of ${tracedir}, parents before their children."""
        paths = {}
        for path in sorted(tracedir.iterdir()):
            paths[trace_pid(path) if trace_pid(path) is not None else path.name] = path
        forks, parent_of = {}, {}
        for pid, path in paths.items():
            forks[pid] = self.children(path)
            for _, child in forks[pid]:
                if child in paths and child != pid:
                    parent_of.setdefault(child, pid)
        states = {}
        done = set()
        queue = deque(pid for pid in paths if pid not in parent_of)
        # A fork cycle (a PID reused) leaves files unreached: start there.
        while queue or len(done) < len(paths):
            if not queue:
                queue.append(next(p for p in paths if p not in done))
            pid = queue.popleft()
            if pid in done:
                continue
            done.add(pid)
            state = states.get(pid, State())
            inherited = self.check_trace(paths[pid], state, forks[pid])
            for child, st in inherited.items():
                if child not in paths:
                    if st.proxy:
                        self.warnings.append(
                            f"{paths[pid].name}: a proxy process forked PID "
                            f"{child}, which has no trace file (a PID "
                            "namespace without --pidns-translation?)")
                    continue
                if parent_of.get(child) == pid and child not in done:
                    states[child] = st
                    queue.append(child)

    def report(self):
        loads = sum(self.loaded.values())
        print(f"drift: {self.procs} proxy processes traced ({self.forked} of "
              f"them forked by the proxy), {loads} filters loaded")
        for t in self.tables.values():
            print(f"drift: table {t.name} (filter of {t.length} instructions): "
                  f"loaded by {self.loaded[t.name]} processes, "
                  f"{self.calls[t.name]} calls after it")
            for name, rows in t.rows.items():
                for idx, _ in rows:
                    n = self.seen.get((t.name, idx), 0)
                    print(f"  {t.name:10} row {idx:2} {name:15} {n:8} calls")
                    if n == 0 and self.loaded[t.name]:
                        print(f"drift: WARNING: {t.name} row {idx} ({name}) "
                              "was never used by the integration suite")
            if self.loaded[t.name] == 0:
                print(f"drift: WARNING: no traced proxy loaded the {t.name} "
                      "filter: its table was not checked")
        for (table, name), n in self.unchecked.items():
            print(f"drift: WARNING: {n} {name} calls under the {table} filter "
                  "with arguments strace did not print as numbers (not "
                  "checked)")
        for w in self.warnings[:20]:
            print(f"drift: WARNING: {w}")
        for f in self.failures[:50]:
            print(f"drift: FAIL: {f}")
        if len(self.failures) > 50:
            print(f"drift: FAIL: ... and {len(self.failures) - 50} more")
        if loads == 0:
            print("drift: FAIL: no traced proxy loaded a filter: nothing "
                  "was checked")
            return 1
        return 1 if self.failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("tracedir", type=Path)
    opt = ap.parse_args()
    tables = load_tables(opt.table)
    if not tables or any(t.length is None or not t.rows for t in tables.values()):
        print(f"drift: FAIL: {opt.table} is not `probe --list` output with "
              "a filter length and rows for each table")
        return 2
    d = Drift(tables, opt.binary)
    d.check_dir(opt.tracedir)
    return d.report()


if __name__ == "__main__":
    sys.exit(main())
