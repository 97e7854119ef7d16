"""Compare what the proxy really calls under its filter with the table.

    drift.py --binary PATH --table FILE TRACEDIR

TRACEDIR holds `strace -ff -X raw` output (one file per process, see
drift.sh); FILE is `probe --list` output (the table from seccomp.o). In each
trace whose process executed BINARY and then loaded a filter, every call
after the filter must match a row: its name, and for rows with argument
rules, its arguments as strace printed them. Fails on a call no row allows
and on any process killed by SIGSYS; warns on rows never seen, and on
calls whose arguments strace did not print as numbers.
"""

import argparse
import os
import re
import sys
from collections import Counter
from functools import reduce
from operator import or_
from pathlib import Path

MASK64 = (1 << 64) - 1
EXECVE = re.compile(r'^execve\("((?:[^"\\]|\\.)*)".*\) = 0$')
FILTER_ON = re.compile(r"^seccomp\((?:SECCOMP_SET_MODE_FILTER|0x1|1), .*\) = 0$")
CALL = re.compile(r"^(?:<\.\.\. (\w+) resumed>|(\w+)\()")
COMMENT = re.compile(r"/\*.*?\*/")


def load_rows(path):
    """{name: [(row index, ((idx, mask, val), ...)), ...]} from --list."""
    rows = {}
    for line in Path(path).read_text().splitlines():
        f = line.split()
        if f and f[0] == "row":
            conds = tuple(tuple(int(x, 0) for x in c.split(":")) for c in f[5:])
            rows.setdefault(f[2], []).append((int(f[1]), conds))
    return rows


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


class Drift:
    def __init__(self, rows, binary):
        self.rows, self.binary = rows, os.path.realpath(binary)
        self.seen = Counter()           # row index -> calls
        self.failures, self.unchecked = [], Counter()
        self.procs = self.sandboxed = self.calls = 0

    def check_call(self, where, line):
        m = CALL.match(line)
        if not m:
            return
        name = m.group(1) or m.group(2)
        self.calls += 1
        if name not in self.rows:
            self.failures.append(f"{where}: {name} is not in the table: {line}")
            return
        args = split_args(line[m.end():]) if m.group(2) else []
        verdicts = [(idx, row_verdict(conds, args)) for idx, conds in self.rows[name]]
        hit = [idx for idx, v in verdicts if v]
        if hit:
            self.seen[hit[0]] += 1
        elif any(v is None for _, v in verdicts) or not m.group(2):
            self.unchecked[name] += 1
        else:
            self.failures.append(f"{where}: no {name} row allows these "
                                 f"arguments: {line}")

    def check_trace(self, path):
        proxy = filtered = False
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            where = f"{path.name}:{n}"
            if "killed by SIGSYS" in line:
                self.failures.append(f"{where}: {line}")
            m = EXECVE.match(line)
            if m:
                proxy = os.path.realpath(m.group(1)) == self.binary
                self.procs += proxy
                filtered = False
                continue
            if not proxy:
                continue
            if not filtered:
                if FILTER_ON.match(line):
                    filtered = True
                    self.sandboxed += 1
                continue
            if not line.startswith(("---", "+++")):
                self.check_call(where, line)

    def report(self):
        print(f"drift: {self.procs} proxy processes traced, {self.sandboxed} "
              f"loaded the filter, {self.calls} calls after it")
        for name, rows in self.rows.items():
            for idx, _ in rows:
                n = self.seen.get(idx, 0)
                print(f"  row {idx:2} {name:14} {n:8} calls")
                if n == 0:
                    print(f"drift: WARNING: row {idx} ({name}) was never used "
                          "by the integration suite")
        for name, n in self.unchecked.items():
            print(f"drift: WARNING: {n} {name} calls with arguments strace "
                  "did not print as numbers (not checked)")
        for f in self.failures[:50]:
            print(f"drift: FAIL: {f}")
        if self.sandboxed == 0:
            print("drift: FAIL: no traced proxy loaded the filter: nothing "
                  "was checked")
            return 1
        return 1 if self.failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("tracedir", type=Path)
    opt = ap.parse_args()
    d = Drift(load_rows(opt.table), opt.binary)
    for path in sorted(opt.tracedir.iterdir()):
        d.check_trace(path)
    return d.report()


if __name__ == "__main__":
    sys.exit(main())
