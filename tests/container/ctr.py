"""Docker helpers of the container tests: run the image with the hardened
flags on the host network, read its state and its log events, stop it.

Every container joins the host network (--network host) or none, resolves
the SES name only through --add-host (loopback addresses), and reads a
fixture allowlist mounted over the image's ranges file. Each carries the
label LABEL=<run id>, so teardown removes exactly the containers this run
started.
"""

import io
import json
import shutil
import socket
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

from helpers import wait_for

REPO = Path(__file__).resolve().parents[2]
RUN_ID = uuid.uuid4().hex  # labels every container of this test run
SES = "email-smtp.us-east-1.amazonaws.com"
RANGES_IN_IMAGE = "/etc/ses-smtp-proxy/ip-ranges.json"
LISTEN_HOST, LISTEN_PORT = "127.0.0.1", 11587
LISTEN = f"{LISTEN_HOST}:{LISTEN_PORT}"
PROXY_ADDR = (LISTEN_HOST, LISTEN_PORT)
LABEL = "ses-smtp-proxy.test-run"
HARDENED = ["--read-only", "--cap-drop=ALL",
            "--security-opt", "no-new-privileges"]
# Health probes every second, one failure is enough: status within seconds.
FAST_HEALTH = ["--health-interval", "1s", "--health-retries", "1",
               "--health-start-period", "0s", "--health-timeout", "8s"]


def docker(*args, check=True, timeout=60, **kw):
    return subprocess.run(["docker", *map(str, args)], check=check,
                          capture_output=True, text=True, timeout=timeout,
                          **kw)


class Registry:
    """Debian's docker-registry serving on 127.0.0.1:PORT from workdir
    (Docker and skopeo talk plain HTTP to a registry on loopback): addr is
    "127.0.0.1:PORT"; stop() ends it; requests() counts the HTTP requests
    it logged."""

    def __init__(self, workdir):
        exe = shutil.which("docker-registry")
        if exe is None:
            raise AssertionError("docker-registry is missing "
                                 "(tests/packages/container-packages.txt)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.addr = f"127.0.0.1:{port}"
        self.log_path = Path(workdir) / "registry.log"
        cfg = Path(workdir) / "registry.yml"
        cfg.write_text(
            "version: 0.1\n"
            "log: {level: info}\n"
            f"storage: {{filesystem: {{rootdirectory: {Path(workdir) / 'data'}}}}}\n"
            f"http: {{addr: {self.addr}}}\n")
        self._log = open(self.log_path, "w")
        self._proc = subprocess.Popen([exe, "serve", str(cfg)],
                                      stdout=self._log,
                                      stderr=subprocess.STDOUT)

        def up():
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return True
            except OSError:
                return False
        wait_for(up, timeout=20, what="docker-registry listening")

    def stop(self):
        if self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=20)
        self._log.close()

    def requests(self):
        return self.log_path.read_text().count("/v2/")


def saved_layers(image):
    """[(TarInfo, bytes or None)] of every layer of `docker save image`.
    A name without a tag means :latest (docker save of a bare name would
    save every tag of the repository)."""
    if ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
        image += ":latest"
    saved = subprocess.run(["docker", "save", image], check=True,
                           capture_output=True, timeout=120).stdout
    outer = tarfile.open(fileobj=io.BytesIO(saved))
    manifest = json.load(outer.extractfile("manifest.json"))
    assert len(manifest) == 1
    members = []
    for layer in manifest[0]["Layers"]:
        inner = tarfile.open(fileobj=outer.extractfile(layer))
        for m in inner.getmembers():
            data = inner.extractfile(m).read() if m.isfile() else None
            members.append((m, data))
    return members


def inspect(ref, kind="container"):
    out = docker(kind, "inspect", ref).stdout
    return json.loads(out)[0]


class Container:
    """One container of the image, started by ContainerFactory.run."""

    def __init__(self, name, cmd):
        self.name = name
        self.cmd = cmd

    # ---- state ----
    def inspect(self):
        return inspect(self.name)

    def state(self):
        return self.inspect()["State"]

    def pid(self):
        """The host PID of the container's first process (the proxy when
        bare, docker-init with --init); 0 while it is not running."""
        return self.state()["Pid"]

    def health(self):
        return (self.state().get("Health") or {}).get("Status")

    # ---- logs ----
    def logs(self):
        out = docker("logs", self.name, check=False)
        return out.stdout, out.stderr

    def events(self, name=None):
        """The JSON log events on the container's stderr, in order, across
        restarts (Docker keeps one log per container)."""
        events = []
        for line in self.logs()[1].splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and (name is None or ev.get("event") == name):
                events.append(ev)
        return events

    def wait_event(self, name, count=1, timeout=15.0, **match):
        """Wait until at least count events name (with the fields of match)
        were logged; return the last one."""
        def found():
            evs = [e for e in self.events(name)
                   if all(e.get(k) == v for k, v in match.items())]
            return evs[-1] if len(evs) >= count else None
        return wait_for(found, timeout=timeout, interval=0.1,
                        what=f"{count} {name} {match or ''} event(s) "
                             f"from {self.name}")

    def wait_ready(self, timeout=15.0, count=1):
        """Listening and with a validated upstream set (the count-th start)."""
        self.wait_event("listening", count=count, timeout=timeout)
        return self.wait_event("upstream_resolved", count=count,
                               timeout=timeout)

    def wait_health(self, status, timeout=20.0):
        return wait_for(lambda: self.health() == status, timeout=timeout,
                        interval=0.2,
                        what=f"health status {status} of {self.name}")

    # ---- stopping ----
    def stop(self, t=10, timeout=30):
        """docker stop -t t; returns the seconds it took."""
        t0 = time.monotonic()
        docker("stop", "-t", t, self.name, timeout=timeout)
        return time.monotonic() - t0

    def remove(self):
        docker("rm", "-f", "-v", self.name, check=False)


class ContainerFactory:
    """run(...) -> a started Container; remove_all() at teardown."""

    def __init__(self, image, run_id, allowlist, test_name="t"):
        self.image = image
        self.run_id = run_id
        self.allowlist = allowlist
        self.test_name = "".join(c if c.isalnum() else "-"
                                 for c in test_name)[:40].strip("-")
        self.started = []

    def run(self, *args, env=None, hosts=("127.0.0.2",), hardened=True,
            init=False, restart=None, health=None, network="host",
            ranges=True, extra=(), wait=True):
        """docker run -d the image. args go to the proxy; env adds to
        LISTEN=127.0.0.1:11587 and STATS_INTERVAL=0; hosts are the
        addresses --add-host gives the SES name; health is None (the
        image's HEALTHCHECK), "fast" (probes every second) or "none"."""
        assert network in ("host", "none")
        name = f"sesctr-{self.run_id[:8]}-{len(self.started)}-{self.test_name}"
        cmd = ["docker", "run", "-d", "--name", name, "--label",
               f"{LABEL}={self.run_id}", "--network", network]
        if hardened:
            cmd += HARDENED
        if init:
            cmd += ["--init"]
        if restart:
            cmd += ["--restart", restart]
        if health == "fast":
            cmd += FAST_HEALTH
        elif health == "none":
            cmd += ["--no-healthcheck"]
        for addr in hosts:
            assert addr.startswith("127."), addr
            cmd += ["--add-host", f"{SES}:{addr}"]
        if ranges:
            cmd += ["-v", f"{self.allowlist}:{RANGES_IN_IMAGE}:ro"]
        full_env = {"LISTEN": LISTEN, "STATS_INTERVAL": "0"}
        full_env.update(env or {})
        for k, v in full_env.items():
            cmd += ["-e", f"{k}={v}"]
        cmd += [*extra, self.image, *map(str, args)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        c = Container(name, cmd)
        self.started.append(c)
        assert out.returncode == 0, f"{' '.join(cmd)}: {out.stderr}"
        if wait:
            c.wait_ready()
        return c

    def dump(self):
        text = []
        for c in self.started:
            _, err = c.logs()
            text.append(f"--- {c.name}: {' '.join(c.cmd)}\n{err[-6000:]}")
        return "\n".join(text)

    def remove_all(self):
        for c in self.started:
            c.remove()


def remove_labelled(run_id):
    """Remove every container of this test run (a safety net)."""
    out = docker("ps", "-aq", "--filter", f"label={LABEL}={run_id}",
                 check=False).stdout.split()
    if out:
        docker("rm", "-f", "-v", *out, check=False)


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def main_pid(c, init):
    """Host PID of the program the image runs: the container's first
    process when bare, docker-init's only child with --init."""
    first = c.pid()
    if not init:
        return first
    kids = wait_for(lambda: children(first), timeout=5, what="init's child")
    assert len(kids) == 1
    return kids[0]


def children(pid):
    """Host PIDs of the children of pid."""
    out = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            out = [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out
