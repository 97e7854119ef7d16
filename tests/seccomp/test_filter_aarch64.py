"""The aarch64 filter (make ARCH=arm64), row by row, through the BPF
evaluator (bpf.py; test_bpf_eval.py proves it against the kernel on the
x86_64 filter): this x86_64 machine cannot load it, and qemu-user cannot
install seccomp filters. The cases are test_filter.py's and
test_supervisor_filter.py's, with the aarch64 numbers of musl's
bits/syscall.h (what the binary calls), the verdicts the tables give for
the rows on aarch64, and the filter the generator embeds
(build/arm64/seccomp_bpf.c), whose PFC must equal the reviewed golden
copy. `make arm64-test` builds it; the tests skip without it."""

import pytest

import bpf
import test_filter
import test_supervisor_filter as test_sup
from conftest import (HERE, REPO, allowed, probe_input, probe_list,
                      row_cases)
from test_tables import unified

BUILT = REPO / "build" / "arm64"
if not (BUILT / "seccomp_bpf.c").exists():
    pytest.skip("no aarch64 filter: make ARCH=arm64 (make arm64-test)",
                allow_module_level=True)

FILTERS = bpf.load_filters(BUILT / "seccomp_bpf.c")
PROG = {"relay": FILTERS["seccomp_bpf"],
        "supervisor": FILTERS["seccomp_supervisor_bpf"]}
AARCH64 = bpf.musl_syscalls("aarch64-linux-musl")
GOLDEN = HERE / "filter-aarch64.pfc.golden"
TABLES = ("relay", "supervisor")


def aarch64(argv, arch=bpf.AUDIT_ARCH_AARCH64):
    """The evaluator's verdict on the aarch64 filter for a probe argv,
    or None when aarch64 has no such call."""
    table, call, args, i386 = probe_input(argv)
    assert isinstance(call, str) and not i386, argv
    if call not in AARCH64:
        return None
    return bpf.verdict(PROG[table], AARCH64[call], arch, args)


def _params(cases, with_dies):
    return [pytest.param(*(p.values if with_dies else p.values[:1]), id=p.id)
            for p in cases if p.values[0] is not None]


ALLOWED, ALTERED = [], []
for _t in TABLES:
    _a, _b, _ = row_cases(_t, "aarch64")
    ALLOWED += _params(_a, False)
    ALTERED += _params(_b, True)


@pytest.mark.parametrize("argv", ALLOWED)
def test_row_allowed(argv):
    """Each row on aarch64, with its allowed arguments, passes."""
    assert aarch64(argv) == "allow"


@pytest.mark.parametrize("argv,dies", ALTERED)
def test_row_altered(argv, dies):
    """One constrained argument altered (bit 32 too) kills, unless another
    row of the syscall allows it."""
    assert aarch64(argv) == ("kill" if dies else "allow")


# The x86-only cases (x32 numbers, int $0x80) become the arch tests below.
MUST_DIE = [pytest.param(v, id=k) for k, v in test_filter.MUST_DIE.items()
            if v[0] not in ("i386",) and not v[1].startswith("0x")]
MUST_DIE += [pytest.param(["--supervisor"] + v, id=f"supervisor-{k}")
             for k, v in test_sup.MUST_DIE.items()
             if v[0] not in ("i386",) and not v[1].startswith("0x")]
# Each table's rows under the other's filter (their argv has no flag).
for _rows, _flags in (("relay", ["--supervisor"]), ("supervisor", [])):
    MUST_DIE += [pytest.param(_flags + p.values[0], id=p.id) for p in
                 test_sup._cross_cases(_rows, "relay" if _flags else
                                       "supervisor")
                 if p.values[1] and probe_input(p.values[0])[1] in AARCH64]


@pytest.mark.parametrize("argv", MUST_DIE)
def test_must_die(argv):
    """Every must-die call of the x86_64 tests that aarch64 has is killed;
    the ones it lacks (open, fork, vfork, poll) have no number to call."""
    got = aarch64(argv)
    if got is None:
        name = probe_input(argv)[1]
        assert name in ("open", "fork", "vfork", "poll"), \
            f"{name}: not in musl's aarch64 bits/syscall.h"
        return
    assert got == "kill"


@pytest.mark.parametrize("arch", [bpf.AUDIT_ARCH_X86_64, bpf.AUDIT_ARCH_ARM,
                                  bpf.AUDIT_ARCH_I386, 0],
                         ids=["x86_64", "arm", "i386", "none"])
@pytest.mark.parametrize("table", TABLES)
def test_other_arch_dies(table, arch):
    """A wrong architecture is killed, as on x86_64: every allowed row's
    call, with an arch other than aarch64 (aarch32 compat calls and all)."""
    cases = [p for p in ALLOWED if probe_input(p.values[0])[0] == table]
    assert cases
    for p in cases:
        assert aarch64(p.values[0], arch) == "kill", p.id


@pytest.mark.parametrize("table", TABLES)
def test_numbers_are_aarch64s(table):
    """The filter allows each row's aarch64 number, never its x86_64 one
    (unless that is another allowed call's aarch64 number): the generator
    resolved the names for aarch64."""
    x86 = bpf.musl_syscalls("x86_64-linux-musl")
    rows, _ = probe_list(table, "aarch64")
    ours = {AARCH64[r.name] for r in rows}
    for r in rows:
        if not r.conds:
            assert bpf.verdict(PROG[table], AARCH64[r.name],
                               bpf.AUDIT_ARCH_AARCH64, [0] * 6) == "allow"
        if x86[r.name] not in ours:
            assert bpf.verdict(PROG[table], x86[r.name],
                               bpf.AUDIT_ARCH_AARCH64, [0] * 6) == "kill", r.name


def test_tables_agree_with_verdicts():
    """allowed() (the table) and the filter agree on every allowed case."""
    for p in ALLOWED:
        table, name, args, _ = probe_input(p.values[0])
        assert allowed(probe_list(table, "aarch64")[0], name, args), p.id


def test_pfc_matches_golden():
    """SBX-07 for aarch64: the reviewed PFC text of the aarch64 filter."""
    built, golden = (BUILT / "seccomp.pfc").read_text(), GOLDEN.read_text()
    assert built == golden, (
        "the aarch64 filter changed; review the diff, then accept it with "
        "`make seccomp-golden` and commit " + str(GOLDEN.name) + ":\n"
        + unified(golden, built, str(GOLDEN), str(BUILT / "seccomp.pfc")))
