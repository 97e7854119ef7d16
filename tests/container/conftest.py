"""Fixtures of the container tests. Run them through run.sh, which builds
the image first and runs pytest in dockerd's (the root) network namespace:
containers use --network host, and every test byte stays on 127.0.0.0/8
(fake SES on 127.0.0.2:587 and 127.0.0.3:587, the proxy on 127.0.0.1:11587,
the SES name given to the container with --add-host only)."""

import os
import sys
from pathlib import Path

import pytest

pytest_plugins = ["testlimits", "sesworld"]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from helpers import write_allowlist  # noqa: E402

import ctr  # noqa: E402

IMAGE = os.environ.get("SES_CTR_IMAGE", "ses-smtp-proxy")
RUN_ID = ctr.RUN_ID


def _dockerd_pid():
    try:
        return int(Path("/var/run/docker.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def pytest_sessionstart(session):
    if ctr.docker("info", check=False, timeout=30).returncode != 0:
        pytest.exit("the Docker engine does not answer; run "
                    "tests/container/run.sh", returncode=2)
    pid = _dockerd_pid()
    if pid is None or os.readlink("/proc/self/ns/net") != \
            os.readlink(f"/proc/{pid}/ns/net"):
        pytest.exit("refusing to run: not in dockerd's network namespace, "
                    "so --network host would not be this loopback; run "
                    "tests/container/run.sh", returncode=2)
    if ctr.docker("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.exit(f"image {IMAGE} is missing; run tests/container/run.sh",
                    returncode=2)


def pytest_sessionfinish(session, exitstatus):
    ctr.remove_labelled(RUN_ID)


def pytest_terminal_summary(terminalreporter):
    """Report the image size (no threshold: it is reported, not judged)."""
    out = ctr.docker("image", "inspect", "-f", "{{.Id}} {{.Size}}", IMAGE,
                     check=False)
    if out.returncode == 0:
        image_id, size = out.stdout.split()
        terminalreporter.write_line(
            f"image {IMAGE} {image_id[7:19]}: {int(size)} bytes "
            f"({int(size) / 1048576:.2f} MiB)")


@pytest.fixture(scope="session")
def image():
    return IMAGE


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ctr")
    d.chmod(0o755)
    return d


@pytest.fixture(scope="session")
def allowlist(session_dir):
    """AWS-format fixture: AMAZON/us-east-1 covers 127.0.0.0/28 (so
    127.0.0.2 and 127.0.0.3); 127.0.1.0/24 is in no prefix. World-readable:
    the container runs as 65534."""
    path = write_allowlist(session_dir / "ip-ranges.json")
    path.chmod(0o444)
    return path


@pytest.fixture
def containers(image, allowlist, request):
    """A ContainerFactory; its containers are removed at teardown, and
    their logs printed when the test failed."""
    factory = ctr.ContainerFactory(image, RUN_ID, allowlist, request.node.name)
    yield factory
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(factory.dump())
    factory.remove_all()
