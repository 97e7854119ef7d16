"""CTR-05: the documented run line (the Makefile's `make run`, which the
README also gives) really applies its hardening: run with exactly its
flags, `docker inspect` shows ReadonlyRootfs, CapDrop ALL, no CapAdd,
no-new-privileges and the restart policy, and the process has no
capability left.

For the test, `-p 1587:1587` is replaced by --network host (test traffic
stays on loopback), and the test adds --add-host, the fixture allowlist and
LISTEN=127.0.0.1:11587."""

import errno
import os
import re
import shlex
import subprocess

import pytest

import ctr
from ctr import REPO, RUN_ID
from fakes import SES_GREETING
from helpers import connect, read_line

def makefile_run_line(image, region="us-east-1"):
    text = (REPO / "Makefile").read_text()
    m = re.search(r"^run:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.M)
    assert m, "no run target in the Makefile"
    recipe = m.group(1).replace("\\\n", " ")
    for line in recipe.splitlines():
        line = line.strip().lstrip("-@")
        if line.startswith("docker run"):
            line = line.replace("$(IMAGE)", image).replace("$(REGION)", region)
            return shlex.split(line)
    raise AssertionError("the run target has no docker run line")


WITH_VALUE = {"--name", "--security-opt", "-p", "--publish", "--restart",
              "-e", "--env", "--cap-drop", "--cap-add", "--user", "-u",
              "--memory", "-m", "--memory-swap", "--pids-limit",
              "--cpu-shares", "-c", "--cpus",
              "--ulimit", "--network", "--net", "-v", "--volume", "--pid",
              "--userns", "--device", "--health-cmd", "--init-path"}


def split_line(argv):
    """docker run argv -> ([(flag, value or True)], image, args)."""
    assert argv[:2] == ["docker", "run"]
    pairs, i = [], 2
    while i < len(argv) and argv[i].startswith("-"):
        a = argv[i]
        if a.startswith("--") and "=" in a:
            pairs.append(tuple(a.split("=", 1)))
        elif a in WITH_VALUE:
            pairs.append((a, argv[i + 1]))
            i += 1
        else:
            pairs.append((a, True))
        i += 1
    return pairs, argv[i], argv[i + 1:]


def readme_run_line():
    """The run line of README.md's container section (an indented block
    with backslash continuations)."""
    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("docker run ") and "--name" in line:
            return shlex.split(line)
    return None


def parse(argv):
    """docker run argv -> ({flag: [values]}, image)."""
    pairs, image, _ = split_line(argv)
    flags = {}
    for k, v in pairs:
        flags.setdefault(k, []).append(v)
    return flags, image


def test_ctr05_documented_line_has_the_hardening_flags(image):
    flags, named = parse(makefile_run_line(image))
    assert named == image
    assert flags.get("--read-only") == [True]
    assert flags.get("--cap-drop") == ["ALL"]
    assert "no-new-privileges" in flags.get("--security-opt", [])
    assert flags.get("--restart") == ["unless-stopped"]
    for bad in ("--cap-add", "--privileged", "--user", "-u", "--pid",
                "--network", "--userns", "--device", "-v", "--volume"):
        assert bad not in flags, bad


def test_ctr05_documented_lines_agree_with_make_run(image):
    """make run and the README give the same run line (the region and the
    image name aside)."""
    other = readme_run_line()
    if other is None:
        pytest.fail("README.md has no docker run line")
    ours, _ = parse(makefile_run_line(image))
    theirs, _ = parse(other)
    assert set(ours) == set(theirs)
    for flag in ("--read-only", "--cap-drop", "--security-opt", "-p",
                 "--restart"):
        assert ours[flag] == theirs[flag], flag
    assert [e.split("=")[0] for e in ours["-e"]] == \
        [e.split("=")[0] for e in theirs["-e"]]


def run_documented(argv, tag, image, allowlist, containers):
    """Run a documented `docker run` line as written, except: -p and --name
    are replaced (--network host keeps traffic on loopback), the region is
    us-east-1, and the test adds the SES name, the fixture allowlist and
    LISTEN. Returns the ready Container."""
    pairs, _, args = split_line(argv)
    name = f"sesctr-{RUN_ID[:8]}-{tag}"
    run = ["docker", "run"]
    for flag, value in pairs:
        if flag in ("-p", "--publish", "--name"):
            continue
        if flag in ("-e", "--env") and str(value).startswith("SES_REGION="):
            value = "SES_REGION=us-east-1"
        run += [flag] if value is True else [flag, value]
    run += ["--name", name, "--label", f"{ctr.LABEL}={RUN_ID}",
            "--network", "host", "--add-host", f"{ctr.SES}:127.0.0.2",
            "-v", f"{allowlist}:{ctr.RANGES_IN_IMAGE}:ro",
            "-e", f"LISTEN={ctr.LISTEN}", image, *args]
    c = ctr.Container(name, run)
    containers.started.append(c)
    out = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    c.wait_ready()
    return c


def test_ctr05_inspect_shows_the_run_line_applied(image, allowlist, ses,
                                                  containers):
    argv = makefile_run_line(image)
    assert split_line(argv)[1] == image
    c = run_documented(argv, "runline", image, allowlist, containers)
    info = c.inspect()
    host = info["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert not host["CapAdd"]
    assert "no-new-privileges" in (host["SecurityOpt"] or [])
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["Privileged"] is False
    assert info["Config"]["User"] == "65534:65534"
    assert info["Config"]["Healthcheck"]["Test"][0] == "CMD"
    assert "SES_REGION=us-east-1" in info["Config"]["Env"]
    st = ctr.proc_status(c.pid())
    assert int(st["CapEff"], 16) == 0 and int(st["CapBnd"], 16) == 0
    assert st["NoNewPrivs"] == "1" and st["Uid"].split()[0] == "65534"
    with connect(ctr.PROXY_ADDR) as s:
        assert read_line(s) == SES_GREETING
    # The root file system is mounted read-only (seen through the
    # process's root, in its mount namespace).
    with pytest.raises(OSError) as err:
        open(os.path.join(f"/proc/{c.pid()}", "root", "probe"), "w").close()
    assert err.value.errno == errno.EROFS


def readme_strict_line():
    """README's stricter run line (the one with --pids-limit)."""
    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("docker run ") and "--pids-limit" in line:
            return shlex.split(line)
    return None


def test_ctr05_strict_line_limits_applied(image, allowlist, ses, containers):
    """CTR-05's resource items: the README's stricter line runs, serves,
    and docker inspect shows its memory, CPU, pids, nofile and restart
    settings (-p is swapped for --network host: traffic stays on
    loopback)."""
    argv = readme_strict_line()
    assert argv, "README.md has no stricter run line"
    c = run_documented(argv, "strict", image, allowlist, containers)
    host = c.inspect()["HostConfig"]
    assert host["Memory"] == 64 << 20
    assert host["MemorySwap"] == 64 << 20
    assert host["CpuShares"] == 512
    assert host["PidsLimit"] == 32
    assert {"Name": "nofile", "Soft": 4096, "Hard": 4096} in host["Ulimits"]
    assert host["RestartPolicy"] == {"Name": "on-failure",
                                     "MaximumRetryCount": 5}
    assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]
    assert not c.events("max_conns_lowered")
    with connect(ctr.PROXY_ADDR) as s:
        assert read_line(s) == SES_GREETING
