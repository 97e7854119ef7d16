"""The aarch64 build (make ARCH=arm64) as a file and as a program under
qemu-aarch64-static: the ELF hardening the amd64 binary has (CTR-02, one
check for both: tests/elfcheck.py), pointer authentication from
-mbranch-protection, the same --print-seccomp as SECURITY.md, and the
sandbox-off test build that says so."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
import elfcheck  # noqa: E402

BIN = REPO / "build" / "arm64" / "ses-smtp-proxy"
NOSANDBOX = REPO / "build" / "arm64" / "nosandbox" / "ses-smtp-proxy"
QEMU = "qemu-aarch64-static"
SANDBOX_OFF_MARK = b"Landlock and seccomp compiled out"
BEGIN, END = "<!-- seccomp-table:begin -->\n", "<!-- seccomp-table:end -->\n"


def qemu(binary, *args):
    return subprocess.run([QEMU, str(binary), *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("binary", [BIN, NOSANDBOX], ids=["release", "nosandbox"])
def test_static_pie_with_relro_nx_and_ssp(binary):
    elfcheck.assert_hardened(binary, "AArch64")


def test_pointer_authentication():
    """-mbranch-protection=standard: functions sign their return address."""
    dis = subprocess.run(["aarch64-linux-gnu-objdump", "-d", str(BIN)],
                         capture_output=True, text=True, check=True).stdout
    assert "paciasp" in dis and "autiasp" in dis


def test_version_runs():
    out = qemu(BIN, "--version")
    assert out.returncode == 0 and out.stdout.startswith("ses-smtp-proxy "), out


def test_print_seccomp_is_security_md():
    """One table for both architectures: the aarch64 binary prints what
    SECURITY.md holds (test_tables.py checks the amd64 one)."""
    text = (REPO / "SECURITY.md").read_text()
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0]
    out = qemu(BIN, "--print-seccomp")
    assert out.returncode == 0, out
    assert out.stdout == documented


def test_only_the_test_build_has_the_sandbox_off():
    assert SANDBOX_OFF_MARK not in BIN.read_bytes()
    assert SANDBOX_OFF_MARK in NOSANDBOX.read_bytes()
