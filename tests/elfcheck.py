"""The release binary's ELF hardening (CTR-02), for any architecture:
tests/container/test_ctr_image.py checks the binary in the image,
tests/arm64/test_arm64_binary.py the aarch64 build."""

import re
import subprocess


def _readelf(*args):
    return subprocess.run(["readelf", "-W", *args], check=True,
                          capture_output=True, text=True, timeout=60).stdout


def assert_hardened(path, machine):
    """A static PIE for `machine` (readelf's Machine field, "X86-64" or
    "AArch64"): no interpreter, no shared library, full RELRO, no
    executable stack, the stack protector linked in."""
    header = _readelf("-h", str(path))
    assert "DYN (" in header, "not a PIE"
    assert re.search(rf"Machine:.*\b{machine}$", header, re.M), header
    phdrs = _readelf("-l", str(path))
    assert "INTERP" not in phdrs, "has a program interpreter: not static"
    assert "GNU_RELRO" in phdrs
    stack = [ln for ln in phdrs.splitlines() if "GNU_STACK" in ln]
    assert stack and stack[0].split()[-2] == "RW", f"executable stack: {stack}"
    dyn = _readelf("-d", str(path))
    assert "(NEEDED)" not in dyn, "links a shared library"
    assert re.search(r"\(FLAGS\)\s+.*\bBIND_NOW\b", dyn) or \
        re.search(r"\(FLAGS_1\)\s+Flags:.*\bNOW\b", dyn), "no full RELRO"
    assert re.search(r"\(FLAGS_1\)\s+Flags:.*\bPIE\b", dyn), "not a PIE"
    syms = _readelf("-s", str(path))
    assert "__stack_chk_fail" in syms, "no stack protector"
