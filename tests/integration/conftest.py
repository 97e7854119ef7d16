"""Fixtures of the integration suite. Run it through run.sh: every test
assumes a private network namespace whose only interface is loopback."""

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

pytest_plugins = ["testlimits", "sesworld"]

from fakes import FakeDNS, Listener, RawUpstream
from helpers import write_allowlist
from proxyproc import Proxy, run_once
from vglog import problems as tool_log_problems

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BINARY = Path(os.environ.get("SES_SMTP_PROXY_BIN", REPO / "ses-smtp-proxy"))
# The cut of AWS's ip-ranges.json kept in the repository (tests/data/README.md),
# and the folder that may hold the full file beside the repository.
RANGES_FIXTURE = REPO / "tests" / "data" / "aws-ip-ranges.json"
SHARED_DATA = Path(os.environ.get("SHARED_DATA", REPO.parent / "shared" / "data"))

RESOLV_CONF = "nameserver 127.0.0.53\noptions timeout:1 attempts:1\n"
BASE_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
# flag: (value, the environment variable that would set it instead)
DEFAULT_ARGS = {
    "--listen": ("127.0.0.1:1587", "LISTEN"),
    "--idle-timeout": ("10", "IDLE_TIMEOUT"),
    "--connect-timeout": ("1", "CONNECT_TIMEOUT"),
    "--drain-timeout": ("2", "DRAIN_TIMEOUT"),
    "--stats-interval": ("0", "STATS_INTERVAL"),
    "--ip-ranges": (None, "SES_IP_RANGES"),
}

# Non-loopback addresses put on lo (inside the test namespace only) so that
# a connection attempt to them would land on a counting listener.
# 10.0.0.1, .9 and .17 also stand for an SES VPC endpoint's subnet and its
# neighbours (--allow-cidr refuses loopback); the IPv6 addresses that carry
# 169.254.169.254 (NAT64, local-use NAT64, 6to4, Teredo, IPv4-compatible)
# and 127.0.0.2 (NAT64) test the judging of carried IPv4 addresses.
EXTRA_LO_ADDRS = ["10.0.0.1/32", "10.0.0.9/32", "10.0.0.17/32",
                  "172.16.0.1/32", "192.168.1.1/32",
                  "169.254.169.254/32", "100.64.0.1/32", "fc00::1/128",
                  "64:ff9b::a00:1/128", "fe80::1/128",
                  "64:ff9b::a9fe:a9fe/128", "64:ff9b:1::a9fe:a9fe/128",
                  "2002:a9fe:a9fe::1/128", "2001::5601:5601/128",
                  "::a9fe:a9fe/128", "64:ff9b::7f00:2/128"]


def only_loopback():
    """This network namespace has no interface but lo."""
    return socket.if_nameindex() == [(1, "lo")]


def pytest_sessionstart(session):
    if not only_loopback():
        pytest.exit("refusing to run: this network namespace has interfaces "
                    "other than lo; run tests/integration/run.sh", returncode=2)


# make valgrind (tests/valgrind/run.sh): the tests that cannot hold under
# valgrind, each skipped with its reason (pytest -ra prints them). The
# sandbox-off ones are already skipped through SES_IT_SANITIZER.
VALGRIND = os.environ.get("SES_IT_VALGRIND") == "1"
_VG_RLIMIT = ("valgrind virtualises RLIMIT_NOFILE: it keeps descriptors of "
              "its own at the top, so the limit the proxy sets is not the "
              "one in /proc/PID/limits and a low hard limit is lowered "
              "further")
_VG_FDS = ("valgrind keeps descriptors of its own in the process and is "
           "what the launcher starts, so the relay's own descriptors cannot "
           "be told apart from the tool's; the plain run tests them")
VALGRIND_SKIPS = {
    "test_privilege.py::test_prv06_rlimits": _VG_RLIMIT,
    "test_privilege.py::test_prv06_nofile_hard_limit_too_low_lowers_max_conns":
        _VG_RLIMIT,
    "test_privilege.py::test_inherited_descriptors_closed": _VG_FDS,
    "test_privilege.py::test_inherited_descriptors_closed_in_every_worker":
        _VG_FDS,
    "test_privilege.py::test_inherited_descriptors_closed_without_close_range":
        _VG_FDS,
    "test_privilege.py::test_file_on_stdin_is_replaced_by_dev_null": _VG_FDS,
}


def pytest_collection_modifyitems(config, items):
    if not VALGRIND:
        return
    for item in items:
        reason = VALGRIND_SKIPS.get(item.nodeid.split("[", 1)[0])
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"under valgrind: {reason}"))


# --------------------------------------------------------------------------
# Session-wide pieces of the fake world
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def binary():
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"{BINARY} is missing: build it with make first")
    return BINARY


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("world")


@pytest.fixture(scope="session")
def _dns_server():
    server = FakeDNS("127.0.0.53", 53)
    yield server
    server.close()


@pytest.fixture
def dns(_dns_server):
    """The fake DNS, reset: the SES name is a CNAME to 127.0.0.2, TTL 300."""
    _dns_server.reset()
    _dns_server.set_ses(v4=["127.0.0.2"], ttl=300)
    yield _dns_server
    errors = list(_dns_server.errors)
    _dns_server.reset()
    assert not errors, f"the fake DNS failed to answer: {errors}"


@pytest.fixture(scope="session")
def allowlist(session_dir):
    return write_allowlist(session_dir / "ip-ranges.json")


@pytest.fixture(scope="session")
def lo_aliases():
    """Put the non-loopback test addresses on lo (this namespace only)."""
    # Checked again where they are added: never on a host's lo.
    assert only_loopback(), "lo_aliases outside a loopback-only namespace"
    for addr in EXTRA_LO_ADDRS:
        subprocess.run(["ip", "addr", "add", addr, "dev", "lo"], check=True,
                       timeout=10)
    yield [a.split("/")[0] for a in EXTRA_LO_ADDRS]
    for addr in EXTRA_LO_ADDRS:
        subprocess.run(["ip", "addr", "del", addr, "dev", "lo"], timeout=10)


# --------------------------------------------------------------------------
# Per-test servers
# --------------------------------------------------------------------------

@pytest.fixture
def upstream_factory(loop_thread):
    made = []

    def make(kind, host="127.0.0.2", port=587):
        server = RawUpstream(loop_thread, kind, host, port).start()
        made.append(server)
        return server
    yield make
    for server in made:
        server.stop()


@pytest.fixture
def listener_factory():
    made = []

    def make(host="127.0.0.2", port=587, backlog=128):
        lst = Listener(host, port, backlog)
        made.append(lst)
        return lst
    yield make
    for lst in made:
        lst.close()


# --------------------------------------------------------------------------
# The proxy
# --------------------------------------------------------------------------

def _with_defaults(args, allowlist, env):
    """args plus the suite's defaults for every flag that neither args nor
    an environment variable of env sets."""
    given = {a.split("=", 1)[0] for a in args if a.startswith("--")}
    out = []
    for flag, (value, var) in DEFAULT_ARGS.items():
        if flag not in given and var not in (env or {}):
            out += [flag, value or str(allowlist)]
    return out + args


def _log_format(args, env):
    for i, a in enumerate(args):
        if a == "--log-format" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--log-format="):
            return a.split("=", 1)[1]
    return (env or {}).get("LOG_FORMAT", "json")


def _fixture_files(tmp_path, hosts, resolv):
    n = len(list(tmp_path.glob("hosts.*")))
    hosts_file = tmp_path / f"hosts.{n}"
    hosts_file.write_text(BASE_HOSTS + "".join(f"{a}\t{name}\n" for a, name in hosts))
    resolv_file = tmp_path / f"resolv.{n}"
    resolv_file.write_text(RESOLV_CONF if resolv is None else resolv)
    return hosts_file, resolv_file


@pytest.fixture
def proxy_factory(binary, tmp_path, allowlist, request):
    """start(*args, env=, hosts=[(addr, name)], defaults=True, pid1=False,
    wait_resolved=True) -> a running Proxy that has logged `listening`.

    Flags from DEFAULT_ARGS (and --ip-ranges) are added unless args name
    them. At teardown the proxy must still be alive (unless the test stopped
    it), must exit on SIGTERM, and every stderr line must have parsed."""
    started = []

    def start(*args, env=None, hosts=(), resolv=None, defaults=True,
              pid1=False, wait_listening=True, wait_resolved=True):
        args = [str(a) for a in args]
        full = _with_defaults(args, allowlist, env) if defaults else args
        hosts_file, resolv_file = _fixture_files(tmp_path, hosts, resolv)
        proxy = Proxy(binary, full, hosts_file, resolv_file, env=env, pid1=pid1,
                      log_format=_log_format(full, env))
        started.append(proxy)
        if wait_listening:
            proxy.wait_event("listening", timeout=15)
        if wait_resolved:
            proxy.wait_event("upstream_resolved", timeout=15)
        return proxy

    yield start

    failed = getattr(request.node, "rep_call", None)
    problems = []
    for proxy in started:
        if not proxy.stopped_on_purpose and not proxy.alive():
            problems.append(f"proxy exited unexpectedly with {proxy.popen.returncode}")
        rc = proxy.stop()
        if rc is None:
            problems.append("proxy did not exit on SIGTERM; killed")
        if proxy.bad_lines:
            problems.append(f"stderr lines that do not parse as {proxy.log_format} "
                            f"log events: {proxy.bad_lines[:5]}")
        if proxy.tool_log is not None:  # make valgrind: its verdict
            problems += tool_log_problems(proxy.tool_log, rc)
        if problems or (failed is not None and failed.failed):
            print(f"--- proxy {proxy.args} log ---\n{proxy.log_text()[-8000:]}")
            if proxy.stdout:
                print("--- stdout ---\n" + "\n".join(proxy.stdout[-50:]))
    assert not problems, "; ".join(problems)


@pytest.fixture
def run_proxy(binary, tmp_path, allowlist):
    """run(*args, env=, hosts=, defaults=True) -> (rc, stdout, stderr) of a
    proxy run to completion (--check, --version, configuration errors);
    rc is None if it was still running after timeout seconds."""
    def run(*args, env=None, hosts=(), resolv=None, defaults=True, timeout=20):
        args = [str(a) for a in args]
        full = _with_defaults(args, allowlist, env) if defaults else args
        hosts_file, resolv_file = _fixture_files(tmp_path, hosts, resolv)
        logs = []
        rc, out, err = run_once(binary, full, hosts_file, resolv_file, env=env,
                                timeout=timeout, tool_log=logs.append)
        found = [p for log in logs for p in tool_log_problems(log, rc)]
        assert not found, "\n\n".join(found)  # make valgrind: its verdict
        # Usage errors (exit 2) may come before logging is set up; every
        # run that got further logs JSON events only.
        if rc != 2 and _log_format(full, env) == "json" and "--help" not in full:
            for line in err.splitlines():
                assert _is_json_event(line), f"stderr line is not a JSON event: {line!r}"
        return rc, out, err
    return run


def _is_json_event(line):
    try:
        return "event" in json.loads(line)
    except (ValueError, TypeError):
        return False
