"""The image itself: its files (CTR-01), the binary's hardening (CTR-02),
its configuration in `docker inspect` (user, healthcheck, entrypoint), and
the binary running inside it."""

import io
import json
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import ctr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import elfcheck  # noqa: E402  (tests/elfcheck.py)

BINARY = "ses-smtp-proxy"
RANGES = "etc/ses-smtp-proxy/ip-ranges.json"
IMAGE_FILES = {"etc/", "etc/ses-smtp-proxy/", RANGES, BINARY}
# What `docker export` adds to any container: runtime mount points and
# Docker's own marker, all empty.
DOCKER_RUNTIME = {".dockerenv", "dev/", "dev/console", "dev/pts/", "dev/shm/",
                  "etc/hostname", "etc/hosts", "etc/mtab", "etc/resolv.conf",
                  "proc/", "sys/"}


def _norm(name):
    name = name[2:] if name.startswith("./") else name
    return name


@pytest.fixture(scope="module")
def layers(image):
    """[(TarInfo, bytes or None)] of every layer of the saved image."""
    return ctr.saved_layers(image)


def test_ctr01_layers_hold_only_the_binary_and_the_ranges_file(layers):
    names = {_norm(m.name) + ("/" if m.isdir() else "") for m, _ in layers}
    assert names == IMAGE_FILES
    for m, _ in layers:
        assert m.uid == 0 and m.gid == 0, m.name
        assert not m.mode & (stat.S_ISUID | stat.S_ISGID), m.name
        assert not m.mode & 0o022, f"{m.name} is group/world writable"
        assert not m.issym() and not m.islnk(), m.name
    modes = {_norm(m.name): m.mode & 0o7777 for m, _ in layers}
    assert modes[BINARY] == 0o555
    assert modes[RANGES] == 0o444


def test_ctr01_export_has_no_shell_no_passwd(image):
    """docker export of a container: the image files plus Docker's own
    runtime entries, and nothing else (no /bin/sh, no /etc/passwd)."""
    cid = ctr.docker("create", "--network", "none", image).stdout.strip()
    try:
        exported = subprocess.run(["docker", "export", cid], check=True,
                                  capture_output=True, timeout=60).stdout
    finally:
        ctr.docker("rm", "-f", cid, check=False)
    tar = tarfile.open(fileobj=io.BytesIO(exported))
    names = {_norm(m.name) + ("/" if m.isdir() else "") for m in tar}
    assert names - DOCKER_RUNTIME == IMAGE_FILES
    for bad in ("bin/sh", "bin/", "usr/", "etc/passwd", "etc/group", "tmp/"):
        assert bad not in names
    for m in tar:
        assert not m.mode & (stat.S_ISUID | stat.S_ISGID), m.name


def test_ctr01_ranges_file_is_a_valid_aws_file(layers):
    data = dict((_norm(m.name), d) for m, d in layers)[RANGES]
    doc = json.loads(data)
    assert set(doc) >= {"syncToken", "createDate", "prefixes", "ipv6_prefixes"}
    assert any(p["region"] == "us-east-1" and p["service"] == "AMAZON"
               for p in doc["prefixes"])


@pytest.fixture(scope="module")
def binary_file(layers, tmp_path_factory):
    data = dict((_norm(m.name), d) for m, d in layers)[BINARY]
    path = tmp_path_factory.mktemp("bin") / BINARY
    path.write_bytes(data)
    return path


def test_ctr02_binary_is_static_pie_with_relro_nx_and_ssp(binary_file):
    elfcheck.assert_hardened(binary_file, "X86-64")


def test_inspect_user_entrypoint_and_healthcheck(image):
    cfg = ctr.inspect(image, kind="image")["Config"]
    assert cfg["User"] == "65534:65534"  # numeric: scratch has no passwd
    assert cfg["Entrypoint"] == [f"/{BINARY}"]
    assert not cfg.get("Cmd")
    assert not cfg.get("Volumes")
    assert list(cfg.get("ExposedPorts") or {}) == ["1587/tcp"]
    hc = cfg["Healthcheck"]
    # Exec form: CMD-SHELL cannot work in scratch, which has no /bin/sh.
    assert hc["Test"] == ["CMD", f"/{BINARY}", "--healthcheck"]
    assert hc["Interval"] > 0 and hc["Timeout"] > 0 and hc["Retries"] >= 1
    assert cfg["Labels"]["org.opencontainers.image.title"] == BINARY


def test_version_runs_in_the_hardened_container(image):
    cfg = ctr.inspect(image, kind="image")["Config"]
    out = ctr.docker("run", "--rm", "--network", "none", *ctr.HARDENED,
                     image, "--version")
    assert cfg["Labels"]["org.opencontainers.image.version"] in out.stdout


def test_check_mode_in_the_container(image, allowlist):
    """--check inside the container: the SES name comes from --add-host
    (source=hosts, not DNS) and the fixture allowlist allows it."""
    out = ctr.docker("run", "--rm", "--network", "none", *ctr.HARDENED,
                     "--add-host", f"{ctr.SES}:127.0.0.2",
                     "-v", f"{allowlist}:{ctr.RANGES_IN_IMAGE}:ro",
                     image, "--check", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"upstream host={ctr.SES} port=587 source=hosts" in out.stdout
    assert "address addr=127.0.0.2 verdict=allowed" in out.stdout
    assert "result usable=1" in out.stdout


def test_check_with_the_baked_ranges_denies_loopback(image):
    """The ranges file in the image never allows a loopback upstream."""
    out = ctr.docker("run", "--rm", "--network", "none", *ctr.HARDENED,
                     "--add-host", f"{ctr.SES}:127.0.0.2", image, "--check",
                     check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "address addr=127.0.0.2 verdict=denied reason=outside_allowlist" \
        in out.stdout
    assert "result usable=0" in out.stdout


def test_image_size_is_reported(image, layers, record_property):
    size = int(ctr.docker("image", "inspect", "-f", "{{.Size}}", image).stdout)
    files = sum(m.size for m, _ in layers if m.isfile())
    record_property("image_size_bytes", size)
    print(f"image {image}: {size} bytes; files {files} bytes")
    assert size >= files
