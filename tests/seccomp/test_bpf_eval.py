"""The BPF evaluator (bpf.py) proved against the kernel: every case of
test_filter.py and test_supervisor_filter.py that bpf.py can express (rows
with their allowed and altered arguments, x32 twins, the must-die calls,
each table's rows under the other's filter) is run through the x86_64
filter both ways, by the probe in the kernel and by bpf.py on the same
program, and the two verdicts must agree. test_filter_aarch64.py then
trusts bpf.py with the aarch64 filter, which this machine cannot run."""

import pytest

import bpf
import test_filter
import test_supervisor_filter as test_sup
from conftest import REPO, probe_input, probe_list, run_probe

FILTERS = bpf.load_filters(REPO / "build" / "seccomp_bpf.c")
PROG = {"relay": FILTERS["seccomp_bpf"],
        "supervisor": FILTERS["seccomp_supervisor_bpf"]}
X86_64 = bpf.musl_syscalls("x86_64-linux-musl")


def _argv(param):
    return list(param.values[0]) if param.values[0] is not None else None


def _cases():
    """Every argv of the kernel tests that bpf.py can model, once."""
    seen, out = set(), []
    params = (test_filter.ALLOWED + test_filter.ALTERED + test_filter.X32 +
              test_sup._cross_cases("relay", "supervisor") +
              test_sup._cross_cases("supervisor", "relay"))
    argvs = [(p.id, _argv(p)) for p in params]
    argvs += [(k, v) for k, v in test_filter.MUST_DIE.items()]
    argvs += [(f"supervisor-{k}", ["--supervisor"] + v)
              for k, v in test_sup.MUST_DIE.items()]
    for cid, argv in argvs:
        if argv is None or probe_input(argv) is None or tuple(argv) in seen:
            continue
        seen.add(tuple(argv))
        out.append(pytest.param(argv, id=cid))
    return out


def evaluate(argv):
    table, call, args, i386 = probe_input(argv)
    nr = X86_64[call] if isinstance(call, str) else call
    arch = bpf.AUDIT_ARCH_I386 if i386 else bpf.AUDIT_ARCH_X86_64
    return bpf.verdict(PROG[table], nr, arch, args)


CASES = _cases()


@pytest.mark.parametrize("argv", CASES)
def test_evaluator_agrees_with_the_kernel(argv):
    out = run_probe(*argv)
    if argv[0] == "i386" or "i386" in argv[:2]:
        if out.returncode == -11:
            pytest.skip("no IA32 emulation on this kernel: int $0x80 faults")
    kernel = "kill" if out.killed else "allow"
    assert out.killed or out.returncode == 0, out.describe()
    assert evaluate(argv) == kernel, out.describe()


def test_cases_cover_both_verdicts_and_tables():
    """The comparison is only worth something if it saw both verdicts in
    both tables, and every row."""
    verdicts = {(probe_input(p.values[0])[0], evaluate(p.values[0]))
                for p in CASES}
    assert verdicts == {(t, v) for t in ("relay", "supervisor")
                        for v in ("allow", "kill")}
    rows = len(probe_list("relay")[0]) + len(probe_list("supervisor")[0])
    assert len(CASES) > rows


def test_evaluator_refuses_what_the_kernel_would():
    """A load outside seccomp_data, and a program without a return."""
    data = bpf.seccomp_data(0, bpf.AUDIT_ARCH_X86_64, [])
    with pytest.raises(bpf.BpfError):
        bpf.run([(0x20, 0, 0, 64), (0x06, 0, 0, 0)], data)
    with pytest.raises(bpf.BpfError):
        bpf.run([(0x20, 0, 0, 0)], data)
