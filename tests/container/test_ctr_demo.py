"""make demo and its compose file: the demo runs offline to the end (220,
EHLO, SIGKILL, restart, next session) and cleans up after itself; the
compose file sets the same hardening. The compose file is run for real when
`docker compose` or docker-compose is installed, and otherwise only
validated as YAML with python3-yaml."""

import shutil
import socket
import subprocess

import pytest
import yaml

import ctr
from ctr import REPO, RUN_ID
from fakes import SES_GREETING
from helpers import connect, read_line

HERE = REPO / "tests" / "container"
COMPOSE_FILE = REPO / "deploy" / "compose.yaml"
SCRIPTS = ["run.sh", "demo.sh", "seed-base.sh", "build-image.sh"]


def compose_command():
    if subprocess.run(["docker", "compose", "version"], capture_output=True,
                      timeout=30).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def port_is_free(host, port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


@pytest.mark.parametrize("variant", ["run", "compose"])
def test_demo_runs_to_the_end_and_cleans_up(image, variant):
    args = []
    if variant == "compose":
        if compose_command() is None:
            pytest.skip("neither docker compose nor docker-compose is installed")
        args = ["--compose"]
    out = subprocess.run([str(HERE / "demo.sh"), *args], capture_output=True,
                         text=True, timeout=180,
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                              "IMAGE": image})
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    greetings = [ln for ln in text.splitlines() if ln.strip().startswith("S: 220 ")]
    ehlo = [ln for ln in text.splitlines()
            if ln.strip().startswith("S: 250-email-smtp.amazonaws.com")]
    assert len(greetings) == 2 and len(ehlo) == 2, text
    assert "kill -9" in text and "restart count 1" in text
    assert "DEMO FAILED" not in text
    # Cleaned up: its container is gone, the fake SES's port is free.
    if variant == "run":
        assert ctr.docker("inspect", "ses-smtp-proxy-demo",
                          check=False).returncode != 0
    else:
        left = ctr.docker("ps", "-aq", "--filter",
                          "label=com.docker.compose.project=sesproxydemo").stdout
        assert left.strip() == ""
    assert port_is_free("127.0.0.2", 587)
    assert port_is_free("127.0.0.1", ctr.LISTEN_PORT)


def test_compose_file_sets_the_demo_hardening():
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert list(doc["services"]) == ["proxy"]
    svc = doc["services"]["proxy"]
    assert svc["read_only"] is True
    assert svc["cap_drop"] == ["ALL"]
    assert "cap_add" not in svc and not svc.get("privileged")
    assert any(o.startswith("no-new-privileges") and not o.endswith(":false")
               for o in svc["security_opt"])
    assert svc["restart"] == "unless-stopped"
    assert svc["network_mode"] == "host"
    assert "ports" not in svc
    assert svc["extra_hosts"] == [f"{ctr.SES}:127.0.0.2"]
    (vol,) = svc["volumes"]
    assert vol.endswith(f":{ctr.RANGES_IN_IMAGE}:ro")
    assert svc["environment"]["LISTEN"] == ctr.LISTEN
    assert svc["environment"]["SES_REGION"] == "us-east-1"
    assert "test" not in svc.get("healthcheck", {}), \
        "the healthcheck must stay the image's exec-form command"


def test_compose_file_validates_with_compose(allowlist):
    cmd = compose_command()
    if cmd is None:
        pytest.skip("neither docker compose nor docker-compose is installed; "
                    "the YAML is checked by test_compose_file_sets_the_demo_hardening")
    out = subprocess.run([*cmd, "-f", str(COMPOSE_FILE), "config", "-q"],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                              "SES_DEMO_IP_RANGES": str(allowlist)})
    assert out.returncode == 0, out.stderr
    # Without the fixture it refuses, instead of mounting a new directory.
    out = subprocess.run([*cmd, "-f", str(COMPOSE_FILE), "config", "-q"],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert out.returncode != 0
    assert "SES_DEMO_IP_RANGES" in out.stdout + out.stderr


def test_compose_up_applies_the_flags_and_serves(image, allowlist, ses):
    cmd = compose_command()
    if cmd is None:
        pytest.skip("neither docker compose nor docker-compose is installed")
    project = f"sesctr{RUN_ID[:8]}"
    base = [*cmd, "-p", project, "-f", str(COMPOSE_FILE)]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "SES_DEMO_IP_RANGES": str(allowlist), "SES_SMTP_PROXY_IMAGE": image}
    try:
        up = subprocess.run([*base, "up", "-d"], capture_output=True,
                            text=True, timeout=120, env=env)
        assert up.returncode == 0, up.stderr
        cid = subprocess.run([*base, "ps", "-q", "proxy"], capture_output=True,
                             text=True, timeout=60, env=env).stdout.strip()
        c = ctr.Container(cid, base)
        c.wait_ready()
        info = c.inspect()
        host = info["HostConfig"]
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
        assert any(o.startswith("no-new-privileges") for o in host["SecurityOpt"])
        assert host["RestartPolicy"]["Name"] == "unless-stopped"
        assert host["NetworkMode"] == "host"
        assert host["ExtraHosts"] == [f"{ctr.SES}:127.0.0.2"]
        (mount,) = info["Mounts"]
        assert mount["Destination"] == ctr.RANGES_IN_IMAGE and not mount["RW"]
        hc = info["Config"]["Healthcheck"]
        assert hc["Test"] == ["CMD", "/ses-smtp-proxy", "--healthcheck"]
        assert hc["Interval"] == 2_000_000_000
        with connect(ctr.PROXY_ADDR) as s:
            assert read_line(s) == SES_GREETING
        c.wait_health("healthy", timeout=20)
    finally:
        subprocess.run([*base, "down"], capture_output=True, timeout=120,
                       env=env)
    left = ctr.docker("ps", "-aq", "--filter",
                      f"label=com.docker.compose.project={project}").stdout
    assert left.strip() == ""


def test_scripts_are_shellcheck_clean():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed")
    out = subprocess.run(["shellcheck", *SCRIPTS], cwd=HERE,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_build_context_ranges_file_is_never_committed():
    """The build context's ip-ranges.json (copied or written by
    build-image.sh) is ignored by git and not tracked."""
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q",
                              "ip-ranges.json"], timeout=30)
    assert ignored.returncode == 0
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files",
                              "ip-ranges.json"], capture_output=True,
                             text=True, timeout=30).stdout
    assert tracked == ""
