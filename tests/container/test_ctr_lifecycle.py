"""The container's life: HEALTHCHECK (CTR-06), restart after SIGKILL
(FLT-13), and `docker stop` (FLT-10, FLT-11) both with the proxy as PID 1
(bare) and as a child of docker-init (--init): pitfall P1 in
docs/TESTING.md."""

import os
import signal
import threading
import time

import pytest

import ctr
from fakes import SES_GREETING
from helpers import connect, read_line, read_reply, recv_until_closed, wait_for

MODES = [pytest.param(False, id="pid1"), pytest.param(True, id="init")]


def greet():
    with connect(ctr.PROXY_ADDR) as s:
        return read_line(s)


# --------------------------------------------------------------------------
# CTR-06: HEALTHCHECK in scratch (exec form, deep check through SES)
# --------------------------------------------------------------------------

def test_ctr06_healthy_then_unhealthy_when_ses_is_unreachable(ses_factory,
                                                              containers):
    ses = ses_factory("127.0.0.2")
    c = containers.run(health="fast")
    c.wait_health("healthy", timeout=20)
    ses.stop()
    c.wait_health("unhealthy", timeout=20)
    log = c.state()["Health"]["Log"]
    assert log[-1]["ExitCode"] != 0
    assert "healthcheck_failed" in log[-1]["Output"]
    ses_factory("127.0.0.2")
    c.wait_health("healthy", timeout=20)
    assert c.state()["Running"]  # health does not stop the relay


def test_ctr06_image_healthcheck_follows_listen(ses, containers):
    """The probe (the image's exec-form HEALTHCHECK) reads LISTEN from the
    container's environment: on another port it is healthy there, and the
    same probe pointed at a port where nothing listens fails."""
    c = containers.run(health="fast", env={"LISTEN": "127.0.0.1:11588"})
    c.wait_health("healthy", timeout=20)
    with connect(("127.0.0.1", 11588)) as s:
        assert read_line(s) == SES_GREETING
    ok = ctr.docker("exec", c.name, "/ses-smtp-proxy", "--healthcheck",
                    check=False, timeout=30)
    assert ok.returncode == 0, ok.stderr
    bad = ctr.docker("exec", "-e", "LISTEN=127.0.0.1:11599", c.name,
                     "/ses-smtp-proxy", "--healthcheck", check=False,
                     timeout=30)
    assert bad.returncode == 1
    assert "healthcheck_failed" in bad.stderr + bad.stdout


# --------------------------------------------------------------------------
# FLT-13: SIGKILL, then Docker restarts the container
# --------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["unless-stopped", "on-failure:5"])
def test_flt13_sigkill_restarts_and_the_next_session_works(ses, containers,
                                                           policy):
    c = containers.run(restart=policy, health="none")
    # One finished session (TIME_WAIT on the listening port) and one still
    # open when the process dies: the restarted proxy must bind all the same.
    assert greet() == SES_GREETING
    held = connect(ctr.PROXY_ADDR)
    assert read_line(held) == SES_GREETING
    old = c.pid()
    assert old > 0
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()
    new = wait_for(lambda: (lambda p: p if p not in (0, old) else None)(c.pid()),
                   timeout=10, interval=0.05, what="the restarted proxy")
    restarted_in = time.monotonic() - t0
    _, how = recv_until_closed(held, timeout=5)
    held.close()
    assert how in ("eof", "reset")
    st = c.state()
    assert st["Running"] and st["Pid"] == new
    assert c.inspect()["RestartCount"] == 1
    c.wait_ready(count=2)
    assert greet() == SES_GREETING
    assert len(c.events("startup")) == 2
    print(f"{policy}: running again {restarted_in:.2f}s after SIGKILL")


# --------------------------------------------------------------------------
# FLT-10 / FLT-11: docker stop
# --------------------------------------------------------------------------

@pytest.mark.parametrize("init", MODES)
def test_flt11_idle_stop_is_fast_and_clean(ses, containers, init):
    c = containers.run(init=init, health="none")
    assert greet() == SES_GREETING
    c.wait_event("conn_close")
    took = c.stop(t=10)
    assert took < 2.0, f"docker stop took {took:.2f}s (SIGTERM ignored?)"
    st = c.state()
    assert st["ExitCode"] == 0 and not st["OOMKilled"]
    shutdown = c.wait_event("shutdown")
    assert shutdown["reason"] == "drained" and shutdown["conns_cut"] == 0


class StopInBackground:
    def __init__(self, c):
        self.c, self.took, self.error = c, None, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.took = self.c.stop(t=10)
        except Exception as e:  # noqa: BLE001
            self.error = e

    def join(self, timeout):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "docker stop did not return"
        assert self.error is None, self.error
        return self.took


@pytest.mark.parametrize("init", MODES)
def test_flt10_stop_drains_an_open_session_until_the_drain_timeout(
        ses, containers, init):
    """DRAIN_TIMEOUT=3 and one session open: the listener closes at once,
    the session keeps relaying, and the stop ends at the drain deadline with
    exit code 0, well before Docker's 10 s SIGKILL."""
    c = containers.run(init=init, health="none", env={"DRAIN_TIMEOUT": "3"})
    s = connect(ctr.PROXY_ADDR, timeout=10)
    try:
        assert read_line(s) == SES_GREETING
        stop = StopInBackground(c)
        c.wait_event("shutdown_begin", timeout=5)
        s.sendall(b"EHLO client.example.com\r\n")
        assert read_reply(s).startswith(b"250-email-smtp.amazonaws.com")
        with pytest.raises(ConnectionRefusedError):
            connect(ctr.PROXY_ADDR, timeout=2).close()
        took = stop.join(timeout=20)
        _, how = recv_until_closed(s, timeout=5)
        assert how in ("eof", "reset")
    finally:
        s.close()
    assert 2.5 <= took < 6.0, f"docker stop took {took:.2f}s, drain is 3 s"
    st = c.state()
    assert st["ExitCode"] == 0
    shutdown = c.wait_event("shutdown")
    assert shutdown["reason"] == "drain_timeout" and shutdown["conns_cut"] == 1


@pytest.mark.parametrize("init", MODES)
def test_flt10_session_finishing_during_the_drain_ends_the_stop(
        ses, containers, init):
    """A session that ends during the drain lets the stop return at once,
    before the drain deadline."""
    c = containers.run(init=init, health="none", env={"DRAIN_TIMEOUT": "5"})
    s = connect(ctr.PROXY_ADDR, timeout=10)
    try:
        assert read_line(s) == SES_GREETING
        stop = StopInBackground(c)
        begin = time.monotonic()
        c.wait_event("shutdown_begin", timeout=5)
        s.sendall(b"QUIT\r\n")
        assert read_line(s).startswith(b"221")
        _, how = recv_until_closed(s, timeout=5)
        assert how == "eof"
        s.close()  # our side done too: the session is over
        stop.join(timeout=20)
        after_quit = time.monotonic() - begin
    finally:
        s.close()
    assert after_quit < 4.5, f"stop returned {after_quit:.2f}s after it began"
    assert c.state()["ExitCode"] == 0
    shutdown = c.wait_event("shutdown")
    assert shutdown["reason"] == "drained" and shutdown["conns_cut"] == 0
    assert c.wait_event("conn_close")["reason"] == "closed"


@pytest.mark.parametrize("init", MODES)
def test_proxy_pid_matches_mode(ses, containers, init):
    """With --init the proxy really is a child of docker-init, bare it is
    the container's first process: the two modes above differ."""
    c = containers.run(init=init, health="none")
    pid = ctr.main_pid(c, init)
    exe = os.readlink(f"/proc/{pid}/exe")
    assert exe.endswith("/ses-smtp-proxy"), exe
    nspid = ctr.proc_status(pid)["NSpid"].split()
    if init:
        assert nspid[-1] != "1"
    else:
        assert nspid[-1] == "1"
    if init:
        assert "docker-init" in os.readlink(f"/proc/{c.pid()}/exe")
