"""WORKERS=2 in the hardened container: the supervisor is PID 1 (bare) or
docker-init's child (--init); `docker stop` reaches the workers through it
and the container exits 0; a worker killed from outside takes the whole
container down with exit 1, and the restart policy brings it back
(crash-only, as with one process)."""

import os
import signal

import pytest

import ctr
from fakes import SES_GREETING
from helpers import connect, read_line, wait_for

MODES = [pytest.param(False, id="pid1"), pytest.param(True, id="init")]
WORKERS = {"WORKERS": "2"}


def greet():
    with connect(ctr.PROXY_ADDR) as s:
        return read_line(s)


def worker_pids(supervisor):
    return wait_for(lambda: (lambda k: k if len(k) == 2 else None)(
        ctr.children(supervisor)), timeout=10, what="two workers")


@pytest.mark.parametrize("init", MODES)
def test_workers_docker_stop_reaches_every_worker(ses, containers, init):
    c = containers.run(init=init, health="none", env=WORKERS)
    c.wait_event("upstream_resolved", count=2)
    sup = ctr.main_pid(c, init)
    workers = worker_pids(sup)
    for pid in [sup, *workers]:
        status = ctr.proc_status(pid)
        assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2", pid
    roles = sorted(e["role"] for e in c.events("sandbox_ready"))
    assert roles == ["relay", "relay", "supervisor"]
    assert greet() == SES_GREETING
    c.wait_event("conn_close")
    c.stop(t=10)
    assert c.state()["ExitCode"] == 0
    assert c.wait_event("supervisor_exit")["code"] == 0
    forwarded = c.events("stop_forwarded")
    assert [(e["signal"], e["why"]) for e in forwarded] == [("SIGTERM", "signal")]
    exited = c.events("worker_exited")
    assert sorted(e["worker"] for e in exited) == [0, 1]
    assert all(e["expected"] == "yes" and e["code"] == 0 for e in exited)
    assert sorted(e["worker"] for e in c.events("shutdown")) == [0, 1]


def test_workers_a_killed_worker_restarts_the_container(ses, containers):
    c = containers.run(restart="on-failure", health="none", env=WORKERS)
    c.wait_event("upstream_resolved", count=2)
    sup = c.pid()
    victim = worker_pids(sup)[0]
    os.kill(victim, signal.SIGKILL)
    ev = c.wait_event("worker_exited", expected="no", timeout=15)
    assert ev["signal"] == "SIGKILL" and ev["pid"] > 0
    assert c.wait_event("supervisor_exit", code=1, timeout=15)
    wait_for(lambda: c.inspect()["RestartCount"] == 1, timeout=20,
             what="the restart")
    c.wait_event("upstream_resolved", count=4, timeout=20)
    assert c.pid() not in (0, sup)
    assert greet() == SES_GREETING
