"""Verdict on one valgrind (memcheck) text log of one proxy process, for
make valgrind (tests/valgrind/run.sh sets the wrapper; see proxyproc.py).

    problems(path, returncode=None) -> [str]    empty when the log is clean

A memory error (invalid read or write, use of uninitialised memory, bad
free, overlap, anything else memcheck reports with a stack) is always a
problem, whatever way the process ended. Leaks (definite and indirect) and
descriptors left open are looked at only when the process ended by itself
(returned from main or called exit): after a fatal signal, SIGKILL above
all (its log simply stops), what was still allocated or open means
nothing.

Descriptors are judged only after an exit with status 0 (or valgrind's
99, which a reported error gives: the proxy never exits 99): a startup
that fails returns from main at once and leaves its listening sockets to
the kernel, by design. Open then, these are expected: the ones the
process inherited or that a library's constructor opened before main
(_dl_init: libfaketime in FLT-16), and the ones made once to live as long
as the process: the event loop's epoll descriptor (loop_init),
and --healthcheck's epoll descriptor and socket (health_prepare). The
--health-listen socket and the pump's pooled pipes are closed at exit
(healthport_stop, pump_cleanup). Any other one (a client, upstream, SMTP
listening, health, probe, pipe or DNS descriptor) is a descriptor leak.

One log may hold several processes: with --workers the proxy forks
without exec, and valgrind follows the fork into the parent's log file
(one line at a time, each with its ==PID== prefix, interleaved). The
lines are taken apart by PID and each process is judged on its own; the
exit status given is the supervisor's, which is 0 only if every worker
exited 0, so it stands for theirs too.

Run as a script: vglog.py LOG... prints the memory errors and leaks of
every log (not descriptors: the exit status is not in the log) and exits 1
if there is one (the end-of-run sweep of tests/valgrind/run.sh).
"""

import re
import sys
from pathlib import Path

VALGRIND_ERROR_EXIT = 99    # --error-exitcode in tests/valgrind/run.sh
# Functions whose descriptors may legitimately be open at exit.
FD_KEPT_BY = ("loop_init", "health_prepare")

_PREFIX = re.compile(r"^==(\d+)== ?(.*)$")
_LEAK = re.compile(r"bytes in [\d,]+ blocks are (definitely|indirectly|possibly) "
                   r"lost in loss record")
_FD = re.compile(r"^Open (?:file descriptor|\S+ socket) (\d+)")
_SIGNAL = re.compile(r"^Process terminating with default action of signal "
                     r"(\d+)")
_SUMMARY = re.compile(r"^ERROR SUMMARY: (\d+) errors")
# Lines that open commentary blocks, never errors.
_COMMENTARY = ("Memcheck,", "Copyright", "Using Valgrind", "Command:",
               "Parent PID:", "HEAP SUMMARY", "LEAK SUMMARY", "in use at exit",
               "total heap usage", "All heap blocks were freed",
               "definitely lost:", "indirectly lost:", "possibly lost:",
               "still reachable:", "suppressed:", "of which reachable",
               "Reachable blocks", "To see them", "For lists of detected",
               "For counts of detected", "Rerun with", "ERROR SUMMARY",
               "FILE DESCRIPTORS:", "Warning:", "More than", "will still be",
               "Final error counts", "Use --track-origins", "Searching for",
               "Checked ", "<inherited")


def processes(text):
    """{pid: [line, ...]}: the log's lines (prefix removed) per process, in
    the order of each process's first line."""
    out = {}
    for raw in text.splitlines():
        m = _PREFIX.match(raw)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def blocks(lines):
    """One process's lines as blocks: (head line, [all lines]) where the
    head is a line at column 0 and the block runs to the next blank or
    column-0 line."""
    out, cur = [], None
    for line in lines:
        if not line.strip():
            cur = None
            continue
        if line.startswith(" ") and cur is not None:
            cur[1].append(line)
            continue
        cur = (line, [line])
        out.append(cur)
    return out


def _has_stack(lines):
    return any(l.lstrip().startswith(("at 0x", "by 0x")) for l in lines[1:])


def problems(path, returncode=None, fds=True):
    """The problems in the log at path; returncode is the process's exit
    status if known (descriptors are not judged after another status)."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return [f"{path}: no valgrind log ({e.strerror}): the proxy did not "
                "run under valgrind"]
    found = []
    for pid, lines in processes(text).items():
        found += [f"process {pid}: {p}" for p in
                  _process_problems(blocks(lines), returncode, fds)]
    return [f"valgrind: {path.name}: {p}" for p in found]


def _process_problems(bl, returncode, fds):
    ended = any(_SUMMARY.match(h) for h, _ in bl)
    signal = next((int(m.group(1)) for h, _ in bl
                   for m in [_SIGNAL.match(h)] if m), None)
    normal_exit = ended and signal is None
    fds = fds and normal_exit and returncode in (None, 0, VALGRIND_ERROR_EXIT)
    found = []
    for head, lines in bl:
        body = "\n".join(lines)
        if _LEAK.search(head):
            if normal_exit and not head.split("are ")[1].startswith("possibly"):
                found.append(f"leak at exit:\n{body}")
            continue
        m = _FD.match(head)
        if m:
            inherited = any("<inherited from parent>" in l for l in lines)
            kept = any(f": {fn} (" in l for l in lines for fn in FD_KEPT_BY)
            before_main = any(": _dl_init (" in l for l in lines)
            if fds and not inherited and not kept and not before_main:
                found.append(f"descriptor {m.group(1)} open at exit:\n{body}")
            continue
        if _SIGNAL.match(head) or head.startswith(_COMMENTARY):
            continue
        if _has_stack(lines):
            found.append(f"memory error:\n{body}")
    if normal_exit and not found:
        # Belt and braces: valgrind's own count (leak kinds included).
        n = next(int(m.group(1)) for h, _ in bl for m in [_SUMMARY.match(h)] if m)
        if n:
            found.append(f"ERROR SUMMARY counts {n} errors that this parser "
                         "did not recognise")
    return found


def main(argv):
    bad = 0
    for name in argv:
        for p in problems(name, fds=False):
            print(p, end="\n\n")
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
