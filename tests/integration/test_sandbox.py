"""Sandbox status (SBX-01, SBX-10, SBX-12, SBX-13; SECURITY.md section 3,
steps 3, 4 and 6), seen from outside: /proc/<pid>/task/*/status and the `landlock` and
`sandbox_ready` events.

SBX-10 makes Landlock unavailable by starting the proxy under a seccomp
exec-wrapper (sandboxlib.py) that fails landlock_create_ruleset with
ENOSYS, EOPNOTSUPP or EPERM, or answers its version query with an older
ABI through a seccomp user-notification supervisor. SBX-12 stacks an
allow-all filter, as a container runtime's profile would be."""

import errno
import ipaddress

import pytest

from fakes import SES_GREETING, ses_name
from helpers import addr_list, connect, connection_refused, read_line
from sandboxlib import (SANITIZER, ProbeClients, kernel_landlock_abi,
                        landlock_abi_prefix, proc_status, run_until_exit,
                        seccomp_allow_prefix, seccomp_errno_prefix,
                        start_under, tasks)

pytestmark = pytest.mark.skipif(
    SANITIZER, reason="Landlock and seccomp are compiled out of this build")

MODES = pytest.mark.parametrize("pid1", [False, True], ids=["child", "pid1"])
KERNEL_ABI = kernel_landlock_abi()
RUNTIME = 1

# errno -> a word the `why` field must contain
UNAVAILABLE = {errno.ENOSYS: "without Landlock",
               errno.EOPNOTSUPP: "disabled",
               errno.EPERM: "seccomp"}
ERRNO_IDS = {errno.ENOSYS: "ENOSYS", errno.EOPNOTSUPP: "EOPNOTSUPP",
             errno.EPERM: "EPERM"}


def greeting():
    with connect() as s:
        return read_line(s)


def event_index(proxy, name):
    for i, e in enumerate(proxy.events):
        if e.get("event") == name:
            return i
    raise AssertionError(f"no {name} event:\n{proxy.log_text()}")


def assert_every_task_filtered(pid, min_filters=1):
    tids = tasks(pid)
    assert len(tids) == 1, f"threads: {tids}"
    for tid in tids:
        st = proc_status(pid, tid)
        assert st["NoNewPrivs"] == "1", f"task {tid}"
        assert st["Seccomp"] == "2", f"task {tid}: Seccomp {st['Seccomp']}"
        assert int(st["Seccomp_filters"]) >= min_filters, \
            f"task {tid}: Seccomp_filters {st['Seccomp_filters']}"


def the_landlock_event(proxy):
    ll = proxy.named("landlock")
    assert len(ll) == 1, f"landlock logged {len(ll)} times:\n{proxy.log_text()}"
    return ll[0]


def expected_full_landlock(abi):
    return {"abi": abi, "fs": "denied",
            "net": "connect_tcp_587_only" if abi >= 4 else "off",
            "scope": "on" if abi >= 6 else "off"}


# --------------------------------------------------------------------------
# SBX-01: every task is filtered; what the two events say
# --------------------------------------------------------------------------

@MODES
def test_sbx01_every_task_has_nnp_and_the_filter(dns, ses, proxy_factory, pid1):
    proxy = proxy_factory(pid1=pid1)
    assert_every_task_filtered(proxy.pid)
    assert greeting() == SES_GREETING
    assert_every_task_filtered(proxy.pid)   # still one task after serving


@MODES
def test_sbx01_landlock_and_sandbox_ready_events(dns, ses, proxy_factory, pid1):
    assert KERNEL_ABI >= 1, "this kernel has no Landlock: SBX-10 covers it"
    proxy = proxy_factory(pid1=pid1)
    ll = the_landlock_event(proxy)
    assert {k: ll[k] for k in ("abi", "fs", "net", "scope")} == \
        expected_full_landlock(KERNEL_ABI)
    if KERNEL_ABI >= 6:
        assert ll["level"] == "info" and ll.get("why") is None, ll
    ready = proxy.named("sandbox_ready")
    assert len(ready) == 1
    assert ready[0]["uid"] == 65534 and ready[0]["gid"] == 65534
    assert ready[0]["landlock_abi"] == KERNEL_ABI
    assert ready[0]["seccomp"] == "filter"
    # Order: listeners, then Landlock, then the filter, then the first
    # resolution (so every DNS answer is parsed inside the sandbox).
    assert (event_index(proxy, "listening") < event_index(proxy, "landlock")
            < event_index(proxy, "sandbox_ready")
            < event_index(proxy, "upstream_resolved"))


def test_sbx01_this_host_is_abi_7():
    """docs/TESTING.md's reference host: Linux 6.18, Landlock ABI 7. If this
    fails the other tests still run against what the kernel reports."""
    assert KERNEL_ABI == 7


# --------------------------------------------------------------------------
# SBX-10: Landlock unavailable (ENOSYS, EOPNOTSUPP, EPERM) or old (ABI < 4)
# --------------------------------------------------------------------------

@MODES
@pytest.mark.parametrize("err", list(UNAVAILABLE), ids=ERRNO_IDS.get)
def test_sbx10_unavailable_best_effort_keeps_serving(dns, ses, proxy_factory,
                                                     err, pid1):
    proxy = start_under(proxy_factory, seccomp_errno_prefix(err), pid1=pid1)
    ll = the_landlock_event(proxy)
    assert ll["level"] == "warn", ll
    assert (ll["abi"], ll["fs"], ll["net"], ll["scope"]) == (0, "off", "off", "off")
    assert UNAVAILABLE[err] in (ll.get("why") or ""), ll
    assert proxy.named("sandbox_failed") == []
    ready = proxy.named("sandbox_ready")
    assert len(ready) == 1 and ready[0]["landlock_abi"] == 0, proxy.log_text()
    # The wrapper's filter plus the proxy's own.
    assert_every_task_filtered(proxy.pid, min_filters=2)
    assert greeting() == SES_GREETING
    assert ses.connections == 1


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("err", list(UNAVAILABLE), ids=ERRNO_IDS.get)
def test_sbx10_unavailable_required_refuses_to_start(dns, ses, proxy_factory,
                                                     err, how):
    args = ["--landlock", "required"] if how == "flag" else []
    env = {"LANDLOCK": "required"} if how == "env" else None
    with ProbeClients() as probes:
        proxy, rc = run_until_exit(proxy_factory, seccomp_errno_prefix(err),
                                   *args, env=env)
    assert rc == RUNTIME, f"exit {rc}:\n{proxy.log_text()}"
    failed = proxy.named("sandbox_failed")
    assert len(failed) == 1, proxy.log_text()
    assert "required" in str(failed[0]), failed[0]
    assert the_landlock_event(proxy)["abi"] == 0
    for event in ("sandbox_ready", "upstream_resolved", "conn_open"):
        assert proxy.named(event) == [], proxy.log_text()
    assert dns.query_count(ses_name()) == 0
    assert ses.connections == 0
    assert probes.received == []
    assert connection_refused()


@pytest.mark.parametrize("abi", [1, 3, 5])
def test_sbx10_older_abi_best_effort(dns, ses, proxy_factory, abi):
    """The version query answers `abi` (a user-notification supervisor);
    the rest of the Landlock calls reach this kernel unchanged. The ruleset
    holds only that ABI's rights: files always, TCP ports from 4, scoping
    from 6."""
    proxy = start_under(proxy_factory, landlock_abi_prefix(abi))
    ll = the_landlock_event(proxy)
    assert {k: ll[k] for k in ("abi", "fs", "net", "scope")} == \
        expected_full_landlock(abi)
    assert ll["level"] == ("warn" if abi < 4 else "info"), ll
    assert ("ABI below 4" if abi < 4 else "ABI below 6") in (ll.get("why") or ""), ll
    assert proxy.named("sandbox_ready")[0]["landlock_abi"] == abi
    assert_every_task_filtered(proxy.pid, min_filters=2)
    assert greeting() == SES_GREETING


def test_sbx10_abi3_required_refuses_to_start(dns, ses, proxy_factory):
    with ProbeClients() as probes:
        proxy, rc = run_until_exit(proxy_factory, landlock_abi_prefix(3),
                                   "--landlock", "required")
    assert rc == RUNTIME, f"exit {rc}:\n{proxy.log_text()}"
    assert the_landlock_event(proxy)["abi"] == 3
    assert len(proxy.named("sandbox_failed")) == 1
    assert proxy.named("sandbox_ready") == []
    assert dns.query_count(ses_name()) == 0 and ses.connections == 0
    assert probes.received == []


def test_sbx10_abi5_required_starts(dns, ses, proxy_factory):
    """ABI 4+ has the TCP port rules that `required` asks for."""
    proxy = start_under(proxy_factory, landlock_abi_prefix(5),
                        "--landlock", "required")
    assert the_landlock_event(proxy)["net"] == "connect_tcp_587_only"
    assert greeting() == SES_GREETING


@MODES
def test_sbx10_required_on_this_kernel_starts(dns, ses, proxy_factory, pid1):
    proxy = proxy_factory("--landlock", "required", pid1=pid1)
    assert the_landlock_event(proxy)["abi"] == KERNEL_ABI
    assert proxy.named("sandbox_failed") == []
    assert greeting() == SES_GREETING


# --------------------------------------------------------------------------
# SBX-12: under a runtime's own (allow-all) filter
# --------------------------------------------------------------------------

@MODES
def test_sbx12_stacked_under_a_runtime_filter(dns, ses, proxy_factory, pid1):
    proxy = start_under(proxy_factory, seccomp_allow_prefix(), pid1=pid1)
    assert_every_task_filtered(proxy.pid, min_filters=2)
    ll = the_landlock_event(proxy)
    assert {k: ll[k] for k in ("abi", "fs", "net", "scope")} == \
        expected_full_landlock(KERNEL_ABI)
    assert len(proxy.named("sandbox_ready")) == 1
    for _ in range(2):
        assert greeting() == SES_GREETING
    assert ses.connections == 2


# --------------------------------------------------------------------------
# SBX-13: DNS after the sandbox (test_dns.py covers changing answers in
# depth; this asserts that those resolutions happen inside the sandbox)
# --------------------------------------------------------------------------

def test_sbx13_resolution_after_sandbox_follows_new_answer(dns, ses_factory,
                                                           proxy_factory):
    old, new = ses_factory("127.0.0.2"), ses_factory("127.0.0.3")
    dns.set_ses(v4=["127.0.0.2"], ttl=2)
    proxy = proxy_factory()
    assert event_index(proxy, "sandbox_ready") < event_index(proxy, "upstream_resolved")
    assert greeting() == SES_GREETING
    mark = proxy.mark()
    dns.set_ses(v4=["127.0.0.3"], ttl=2)
    proxy.wait_event("upstream_resolved", start=mark, timeout=10, pred=lambda e:
                     set(addr_list(e["addrs"])) == {ipaddress.ip_address("127.0.0.3")})
    assert greeting() == SES_GREETING
    assert (old.connections, new.connections) == (1, 1)
    assert proc_status(proxy.pid)["Seccomp"] == "2"
