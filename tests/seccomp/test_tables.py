"""The filter as reviewed text: libseccomp's PFC export must equal the
reviewed golden copy (SBX-07), and SECURITY.md's syscall table must be the
output of --print-seccomp."""

import difflib
import subprocess

import pytest

from conftest import HERE, PROXY, REPO

PFC = REPO / "build" / "seccomp.pfc"
GOLDEN = HERE / "filter.pfc.golden"
SECURITY_MD = REPO / "SECURITY.md"
BEGIN = "<!-- seccomp-table:begin -->\n"
END = "<!-- seccomp-table:end -->\n"


def unified(a, b, a_name, b_name):
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                        a_name, b_name))


def test_pfc_matches_golden():
    """SBX-07: the generator writes build/seccomp.pfc with the BPF it
    embeds. Any change in it, from seccomp.c or from a new libseccomp,
    needs review."""
    built, golden = PFC.read_text(), GOLDEN.read_text()
    assert built == golden, (
        "the compiled filter changed; review the diff, then accept it with "
        "`make seccomp-golden` and commit tests/seccomp/filter.pfc.golden:\n"
        + unified(golden, built, str(GOLDEN), str(PFC)))


def test_security_md_table_is_generated():
    """The lines between the markers are byte for byte --print-seccomp."""
    text = SECURITY_MD.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, \
        f"SECURITY.md must hold each marker once: {BEGIN!r}, {END!r}"
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0]
    printed = subprocess.run([str(PROXY), "--print-seccomp"], check=True,
                             capture_output=True, text=True).stdout
    assert documented == printed, (
        "SECURITY.md's table differs from ./ses-smtp-proxy --print-seccomp; "
        "paste the output between the markers:\n"
        + unified(documented, printed, "SECURITY.md", "--print-seccomp"))


# The sanitizer build's switch that compiles Landlock and seccomp out
# (proxy.c, SANDBOX_OFF) leaves this message in the binary; the release
# binary must not contain it (there is no runtime switch at all).
SANDBOX_OFF_MARK = b"Landlock and seccomp compiled out"


def test_release_binary_has_no_sandbox_off_code():
    assert SANDBOX_OFF_MARK not in PROXY.read_bytes()


def test_sandbox_off_mark_is_detectable():
    """The check above can fail: the sanitizer build does contain it."""
    asan = REPO / "build" / "asan" / "ses-smtp-proxy"
    if not asan.exists():
        pytest.skip("no sanitizer build (make asan builds it)")
    assert SANDBOX_OFF_MARK in asan.read_bytes()
