"""Signals, each as an ordinary process and as PID 1 of a PID namespace
(the kernel drops default-action signals sent to a namespace's init):
SIGTERM/SIGINT drain (FLT-10), SIGPIPE (FLT-12), restart after kill -9
(FLT-13)."""

import os
import signal
import time

import pytest

from fakes import SES_GREETING
from helpers import (connect, connection_refused, read_line, recv_until_closed,
                     wait_for)

def signal_name(value):
    """SIGTERM, TERM, term or 15 -> "SIGTERM"."""
    text = str(value).upper()
    if text.isdigit():
        return signal.Signals(int(text)).name
    return text if text.startswith("SIG") else "SIG" + text


MODES = pytest.mark.parametrize("pid1", [False, True], ids=["child", "pid1"])


@MODES
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_flt10_drain_lets_open_sessions_finish(dns, upstream_factory,
                                               proxy_factory, pid1, sig):
    upstream_factory("greet_echo", "127.0.0.2")
    proxy = proxy_factory("--drain-timeout", "8", pid1=pid1)
    clients = [connect() for _ in range(3)]
    for c in clients:
        assert read_line(c) == SES_GREETING
    proxy.terminate(sig)
    begin = proxy.wait_event("shutdown_begin", timeout=5)
    assert signal_name(begin["signal"]) == sig.name
    assert int(begin["conns"]) == 3 and int(begin["drain_timeout"]) == 8
    # The listener closes at once...
    wait_for(connection_refused, timeout=1.0, what="new connects refused")
    # ...while the open sessions keep relaying.
    for i, c in enumerate(clients):
        c.sendall(b"still here %d\r\n" % i)
        assert read_line(c) == b"still here %d\r\n" % i
    assert proxy.alive()
    t = time.monotonic()
    for c in clients:
        c.close()
    rc = proxy.wait(timeout=15)
    assert rc == 0
    assert time.monotonic() - t < 5, "did not exit once the sessions were done"
    assert [e["reason"] for e in proxy.named("conn_close")] == ["closed"] * 3
    assert int(proxy.wait_event("shutdown")["conns_cut"]) == 0


@MODES
def test_flt10_sessions_cut_at_drain_deadline(dns, upstream_factory,
                                              proxy_factory, pid1):
    upstream_factory("greet_echo", "127.0.0.2")
    proxy = proxy_factory("--drain-timeout", "2", "--idle-timeout", "30",
                          pid1=pid1)
    clients = [connect() for _ in range(2)]
    for c in clients:
        assert read_line(c) == SES_GREETING
    t = time.monotonic()
    proxy.terminate()
    rc = proxy.wait(timeout=15)
    elapsed = time.monotonic() - t
    assert rc == 0
    assert 1.5 <= elapsed < 6, elapsed
    for c in clients:
        assert recv_until_closed(c, timeout=5)[1] in ("eof", "reset")
        c.close()
    assert [e["reason"] for e in proxy.named("conn_close")] == \
        ["drain_timeout"] * 2
    assert int(proxy.wait_event("shutdown")["conns_cut"]) == 2


@MODES
def test_flt10_idle_proxy_exits_at_once(dns, ses, proxy_factory, pid1):
    proxy = proxy_factory("--drain-timeout", "8", pid1=pid1)
    t = time.monotonic()
    proxy.terminate()
    assert proxy.wait(timeout=15) == 0
    assert time.monotonic() - t < 3


@MODES
def test_flt12_peer_gone_then_relay_writes(dns, listener_factory, proxy_factory,
                                           pid1):
    """The client closes; the upstream keeps sending, so the proxy writes to
    a socket whose peer is gone (RST, then EPIPE). It must not die of
    SIGPIPE, as a child process or as PID 1."""
    upstream = listener_factory("127.0.0.2")
    proxy = proxy_factory(pid1=pid1)
    for n in range(1, 4):
        client = connect()
        up = upstream.accept()
        client.close()
        chunk = os.urandom(65536)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and len(proxy.named("conn_close")) < n:
            try:
                up.sendall(chunk)
            except OSError:  # the proxy passed the reset on
                break
            time.sleep(0.01)
        proxy.wait_count("conn_close", n, timeout=10)
        up.close()
        assert proxy.alive(), f"proxy died: {proxy.popen.returncode}"
    # Still serving.
    client = connect()
    up = upstream.accept()
    up.sendall(SES_GREETING)
    assert read_line(client) == SES_GREETING
    client.close()
    up.close()


def test_flt13_restart_after_kill9_binds_despite_time_wait(dns, ses,
                                                           proxy_factory):
    proxy = proxy_factory()
    clients = [connect() for _ in range(3)]
    for c in clients:
        assert read_line(c) == SES_GREETING
    proxy.stopped_on_purpose = True
    os.kill(proxy.pid, signal.SIGKILL)
    assert proxy.wait(timeout=10) == -signal.SIGKILL
    for c in clients:  # the proxy's side closed first: TIME_WAIT on :1587
        recv_until_closed(c, timeout=5)
        c.close()
    again = proxy_factory()
    with connect() as s:
        assert read_line(s) == SES_GREETING
    assert again.alive()
