"""seed-base.sh, the builder base of `make image` and `make run`: a host
with registry access pulls it as Docker always does; debootstrap seeds it
only when the pull fails (or BUILDER_PULL=0), as root, from the mirror of
the host's own apt sources, and says why.

The registry is Debian's docker-registry on 127.0.0.1 (Docker talks plain
HTTP to a registry on loopback), serving a copy of the local builder base;
the failing mirror is a closed port on 127.0.0.1, so debootstrap fails at
once: no byte leaves loopback."""

import subprocess
import time

import pytest

import ctr
from ctr import REPO, RUN_ID

SEED = REPO / "tests" / "container" / "seed-base.sh"
LOCAL_BASE = "debian:bookworm-slim"
DEAD_MIRROR = "http://127.0.0.1:9/debian"


@pytest.fixture
def registry(tmp_path):
    """A registry on 127.0.0.1:PORT (ctr.Registry)."""
    reg = ctr.Registry(tmp_path)
    yield reg
    reg.stop()


@pytest.fixture
def remote_base(registry):
    """The local builder base pushed to the registry, with no local copy
    of that name left: what a fresh Docker host sees."""
    name = f"{registry.addr}/ses-seed-test-{RUN_ID}/base:1"
    ctr.docker("tag", LOCAL_BASE, name)
    ctr.docker("push", name, timeout=300)
    ctr.docker("rmi", name)
    yield name
    ctr.docker("rmi", "-f", name, check=False)


def seed(image, **env):
    full = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "BUILDER_IMAGE": image,
            "DEBIAN_MIRROR": DEAD_MIRROR, **env}
    return subprocess.run([str(SEED)], env=full, capture_output=True,
                          text=True, timeout=600)


def present(image):
    return ctr.docker("image", "inspect", image, check=False).returncode == 0


def test_pulls_when_the_registry_answers(registry, remote_base):
    r = seed(remote_base)
    assert r.returncode == 0, r.stderr
    assert f"docker pull {remote_base}" in r.stderr
    assert f"pulled {remote_base}" in r.stderr
    assert "debootstrap" not in r.stderr
    assert present(remote_base)


def test_seeds_only_when_the_pull_fails(registry, remote_base):
    """Registry gone: the pull fails, the script says so and why, then
    seeds from the mirror it was given (dead here, so debootstrap fails
    fast and the script exits 1 naming it)."""
    registry.stop()
    r = seed(remote_base)
    assert r.returncode == 1
    err = r.stderr
    assert f"docker pull {remote_base} failed (" in err
    assert "seeding it with debootstrap instead" in err
    assert f"debootstrap --variant=minbase bookworm from {DEAD_MIRROR}" in err
    assert "debootstrap failed" in err
    assert err.index("docker pull") < err.index("debootstrap --variant")
    assert not present(remote_base)


def test_never_pulls_with_builder_pull_0(registry, remote_base):
    before = registry.requests()
    r = seed(remote_base, BUILDER_PULL="0")
    assert r.returncode == 1
    assert "BUILDER_PULL=0: seeding it with debootstrap" in r.stderr
    assert "docker pull" not in r.stderr
    time.sleep(0.5)
    assert registry.requests() == before
    assert not present(remote_base)


def test_present_image_is_left_alone(registry):
    before = registry.requests()
    r = seed(LOCAL_BASE)
    assert r.returncode == 0 and r.stderr == ""
    assert registry.requests() == before


def test_mirror_comes_from_the_hosts_apt_sources():
    """Without DEBIAN_MIRROR the mirror is the one this host's apt uses,
    not a host written into the project."""
    out = subprocess.run([str(REPO / "tests" / "debian-mirror.sh")],
                         env={"PATH": "/usr/bin:/bin"}, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    mirror = out.stdout.strip()
    sources = subprocess.run(["apt-get", "indextargets", "--format",
                              "$(REPO_URI) $(RELEASE)"],
                             capture_output=True, text=True, timeout=60)
    repos = {line.split()[0].rstrip("/") for line in
             sources.stdout.splitlines() if line.endswith(" bookworm")}
    assert mirror.rstrip("/") in repos, (mirror, repos)
    text = SEED.read_text()
    assert "deb.debian.org" not in text
