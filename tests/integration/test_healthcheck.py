"""--healthcheck: the image's HEALTHCHECK, a separate, sandboxed process that
expects the relay to pass SES's 220 greeting on within 5 s."""
import json
import os

from fakes import SES_GREETING
from helpers import connect, read_line


def events(err):
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_healthy_when_the_relay_passes_the_greeting(dns, ses, proxy_factory,
                                                    run_proxy):
    proxy_factory()
    with connect() as c:
        assert read_line(c) == SES_GREETING
    rc, _, err = run_proxy("--healthcheck", "127.0.0.1:1587", defaults=False)
    assert rc == 0, err
    ev = events(err)
    assert not [e for e in ev if e["event"] == "healthcheck_failed"]
    if os.environ.get("SES_IT_SANITIZER") == "1":
        return  # the sanitizer build has no Landlock or seccomp
    # Boxed like the relay, with Landlock on the checked port only.
    ll = [e for e in ev if e["event"] == "landlock"]
    assert ll and ll[0]["net"] == "connect_tcp_healthcheck_port_only", err
    ready = [e for e in ev if e["event"] == "sandbox_ready"]
    assert ready and ready[0]["seccomp"] == "filter", err


def test_default_target_follows_listen(dns, ses, proxy_factory, run_proxy):
    proxy_factory("--listen", "127.0.0.1:2525")
    rc, _, err = run_proxy("--healthcheck", defaults=False,
                           env={"LISTEN": "0.0.0.0:2525"})
    assert rc == 0, err


def test_unhealthy_without_a_listener(run_proxy):
    rc, _, err = run_proxy("--healthcheck", "127.0.0.1:1599", defaults=False)
    assert rc == 1
    failed = [e for e in events(err) if e["event"] == "healthcheck_failed"]
    assert failed and failed[0]["addr"] == "127.0.0.1:1599", err


def test_unhealthy_when_ses_is_unreachable(dns, proxy_factory, run_proxy):
    # The SES name resolves to an allowed address where nothing listens:
    # the relay answers 421 4.4.0, which is not a 220.
    dns.set_ses(v4=["127.0.0.4"])
    proxy_factory()
    rc, _, err = run_proxy("--healthcheck", "127.0.0.1:1587", defaults=False)
    assert rc == 1
    failed = [e for e in events(err) if e["event"] == "healthcheck_failed"]
    assert failed and "220" in failed[0]["error"], err


def test_proxy_protocol_healthcheck_sends_a_header(dns, ses, proxy_factory,
                                                   run_proxy):
    """With --proxy-protocol the relay drops header-less connections, so
    the check (an ECS task's own health check) opens with a PROXY UNKNOWN
    header and is judged by its own address, 127.0.0.1."""
    proxy = proxy_factory("--proxy-protocol", "--allow-client",
                          "127.0.0.1/32")
    rc, _, err = run_proxy("--healthcheck", "127.0.0.1:1587",
                           defaults=False, env={"PROXY_PROTOCOL": "1"})
    assert rc == 0, err
    opened = proxy.wait_event("conn_open")
    assert opened["client"].startswith("127.0.0.1:")
    assert opened["via"] == opened["client"]
    # Without the flag the same check is refused: no header, no session.
    rc, _, err = run_proxy("--healthcheck", "127.0.0.1:1587",
                           defaults=False)
    assert rc == 1
    failed = [e for e in events(err) if e["event"] == "healthcheck_failed"]
    assert failed, err
