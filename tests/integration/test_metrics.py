"""GET /metrics on --health-listen (issue 17): the Prometheus text, made
from memory inside the sandbox. The tests make a known number of
sessions, refusals and bytes and read them back: from the text itself,
through `promtool check metrics`, and through a real Prometheus server
that scrapes the relay every second inside the loopback-only namespace."""

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from helpers import connect, read_line, recv_exact, recv_until_closed, wait_for
from proxyproc import UNDER_VALGRIND

HEALTH = ("127.0.0.1", 8080)
HEALTH_ARG = "127.0.0.1:8080"
P = "ses_smtp_proxy_"
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)"')


def http(method, path="/metrics"):
    """(head, body) of one request to the health port."""
    with connect(HEALTH, timeout=10) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data, how = recv_until_closed(s, timeout=10)
    assert how == "eof", how
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode(), body


def scrape_text():
    head, body = http("GET")
    assert head.startswith("HTTP/1.1 200 OK"), head
    assert "Content-Type: text/plain; version=0.0.4; charset=utf-8" in head
    assert f"Content-Length: {len(body)}" in head
    return body.decode()


def parse(text):
    """{(name, ((label, value), ...)): float} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = tuple(sorted(LABEL.findall(m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def scrape():
    return parse(scrape_text())


def value(samples, name, **labels):
    return samples[(P + name, tuple(sorted(labels.items())))]


def total(samples, name):
    """The sum over every label set of one family."""
    return sum(v for (n, _), v in samples.items() if n == P + name)


def by_label(samples, name, label):
    return {dict(k[1])[label]: v for k, v in samples.items()
            if k[0] == P + name}


def echo_session(payload):
    """One session through the echo upstream: send, read it back, FIN."""
    with connect(timeout=10) as s:
        s.sendall(payload)
        assert recv_exact(s, len(payload)) == payload
        s.shutdown(socket.SHUT_WR)
        assert recv_until_closed(s)[1] == "eof"


def settled(proxy, ended):
    """Wait until ${ended} sessions have closed and no session is open."""
    wait_for(lambda: len(proxy.named("conn_close")) >= ended and
             value(scrape(), "sessions_active") == 0, timeout=15,
             interval=0.1, what=f"{ended} sessions closed")


# --------------------------------------------------------------------------
# The text
# --------------------------------------------------------------------------

def test_promtool_lints_the_text(dns, upstream_factory, proxy_factory):
    upstream_factory("echo", "127.0.0.2")
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    echo_session(b"x" * 100)
    settled(proxy, 1)
    text = scrape_text()
    lint = subprocess.run(["promtool", "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=30)
    assert lint.returncode == 0 and lint.stdout + lint.stderr == "", \
        lint.stdout + lint.stderr
    # Every family has HELP and TYPE, every name the prefix.
    names = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    assert names == set(re.findall(r"^# HELP (\S+) ", text, re.M))
    assert all(n.startswith(P) for n in names)
    for (n, _), _v in parse(text).items():
        base = re.sub(r"_(bucket|sum|count)$", "", n)
        assert n in names or base in names, n


def test_documented_families_are_the_served_ones(dns, ses, proxy_factory):
    """docs/metrics.md's table lists exactly the families served, with the
    type that # TYPE gives."""
    proxy_factory("--health-listen", HEALTH_ARG)
    served = dict(re.findall(r"^# TYPE (\S+) (\S+)$", scrape_text(), re.M))
    doc = (ROOT / "docs/metrics.md").read_text()
    documented = dict(re.findall(r"^\| `(ses_smtp_proxy_\w+)` \| (\w+) \|",
                                 doc, re.M))
    assert documented == served


def test_head_answers_without_body_and_other_methods_keep_405(
        dns, ses, proxy_factory):
    proxy_factory("--health-listen", HEALTH_ARG)
    head, body = http("HEAD")
    assert head.startswith("HTTP/1.1 200 OK") and body == b"", head
    assert re.search(r"Content-Length: [1-9][0-9]{3,}", head), head
    head, _ = http("POST")
    assert head.startswith("HTTP/1.1 405"), head
    head, _ = http("GET", "/metrics/")
    assert head.startswith("HTTP/1.1 404"), head


def test_build_info_and_fixed_gauges(dns, ses, proxy_factory, allowlist):
    proxy_factory("--health-listen", HEALTH_ARG, "--max-conns", "7")
    s = scrape()
    version = (ROOT / "VERSION").read_text().strip()
    assert value(s, "build_info", version=version, region="us-east-1",
                 fips="false", mode="public") == 1
    assert value(s, "sessions_limit") == 7
    assert value(s, "workers") == 1
    assert value(s, "draining") == 0
    doc = json.loads(Path(allowlist).read_text())
    assert value(s, "allowlist_sync_token") == int(doc["syncToken"])
    created = time.strptime(doc["createDate"], "%Y-%m-%d-%H-%M-%S")
    assert value(s, "allowlist_create_time_seconds") == \
        time.mktime(created) - time.timezone
    fam = by_label(s, "allowlist_prefixes", "family")
    assert fam["ipv4"] >= 1 and set(fam) == {"ipv4", "ipv6"}
    assert value(s, "upstream_addresses", family="ipv4") == 1
    assert value(s, "upstream_addresses", family="ipv6") == 0
    assert 0 <= value(s, "upstream_resolution_age_seconds") < 60
    assert value(s, "max_fds") >= 7 * 2
    assert value(s, "open_fds") >= 5
    assert value(s, "process_max_resident_memory_bytes") > 0


# --------------------------------------------------------------------------
# Counts: what the test did is what the relay says
# --------------------------------------------------------------------------

def test_sessions_refusals_and_bytes_are_counted(dns, upstream_factory,
                                                 proxy_factory):
    upstream_factory("echo", "127.0.0.2")
    proxy = proxy_factory("--health-listen", HEALTH_ARG, "--max-conns", "2")
    sizes = [1, 1000, 65536, 5]
    for n in sizes:
        echo_session(b"m" * n)
    # Two held sessions fill --max-conns; three more are refused.
    held = [connect(timeout=10) for _ in range(2)]
    for s in held:
        s.sendall(b"hi")
        assert recv_exact(s, 2) == b"hi"
    for _ in range(3):
        with connect(timeout=10) as s:
            assert read_line(s).startswith(b"421 4.3.2")
    s = scrape()
    assert value(s, "sessions_active") == 2
    for h in held:
        h.close()
    settled(proxy, len(sizes) + 2)
    s = scrape()
    made = len(sizes) + 2
    assert value(s, "sessions_accepted_total") == made
    rejected = by_label(s, "sessions_rejected_total", "reason")
    assert rejected["max_conns"] == 3
    assert sum(rejected.values()) == 3
    ended = by_label(s, "sessions_ended_total", "cause")
    assert ended["client_close"] == made and sum(ended.values()) == made
    relayed = sum(sizes) + 2 * 2
    assert value(s, "relayed_bytes_total", direction="to_upstream") == relayed
    assert value(s, "relayed_bytes_total", direction="to_client") == relayed
    assert value(s, "upstream_connect_attempts_total") == made
    assert total(s, "upstream_connect_failures_total") == 0
    assert value(s, "upstream_connect_duration_seconds_count") == made
    assert value(s, "session_duration_seconds_count") == made
    assert value(s, "session_duration_seconds_bucket", le="+Inf") == made
    assert value(s, "sessions_active") == 0


def test_connect_failures_denials_and_resolver_failures(dns, proxy_factory):
    """Nothing listens on the SES address: each session's connect is
    refused; a denied address and a failed resolution are counted too."""
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    for _ in range(2):
        with connect(timeout=10) as s:
            assert read_line(s).startswith(b"421 4.4.0")
    settled(proxy, 2)
    s = scrape()
    assert value(s, "upstream_connect_failures_total", reason="refused") == 2
    assert value(s, "upstream_connect_attempts_total") == 2
    assert value(s, "sessions_ended_total", cause="no_upstream") == 2
    assert value(s, "upstream_denied_addresses_total") == 0
    queries = value(s, "resolver_queries_total")
    assert queries >= 2

    # An answer outside the allowlist, then NXDOMAIN: each reaches the
    # relay at its next resolution, which a failed connect brings forward
    # (at most every UPSTREAM_KICK_MIN s).
    def after_a_failed_session(name, **labels):
        def pred():
            with connect(timeout=10) as c:
                assert read_line(c).startswith(b"421 4.4.0")
            return value(scrape(), name, **labels) >= 1
        return pred
    dns.set_ses(v4=["127.0.1.5"], ttl=1)
    wait_for(after_a_failed_session("upstream_denied_addresses_total"),
             timeout=30, interval=0.5, what="a denied address counted")
    dns.set_mode("nxdomain")
    wait_for(after_a_failed_session("resolver_failures_total",
                                    reason="nxdomain"),
             timeout=30, interval=0.5, what="an NXDOMAIN resolution counted")
    assert value(scrape(), "resolver_queries_total") > queries


def test_counters_start_again_with_a_new_start_time(dns, upstream_factory,
                                                    proxy_factory):
    upstream_factory("echo", "127.0.0.2")
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    echo_session(b"abc")
    settled(proxy, 1)
    before = scrape()
    assert value(before, "sessions_accepted_total") == 1
    assert proxy.stop() == 0
    time.sleep(0.01)
    proxy_factory("--health-listen", HEALTH_ARG)
    after = scrape()
    assert value(after, "sessions_accepted_total") == 0
    assert value(after, "relayed_bytes_total", direction="to_upstream") == 0
    assert value(after, "start_time_seconds") > \
        value(before, "start_time_seconds")


def test_workers_share_totals_and_label_their_gauges(dns, upstream_factory,
                                                     proxy_factory):
    """With --workers 3 any worker may answer a scrape: the counters are
    the group's (monotonic from scrape to scrape, whoever answers), the
    per-process gauges carry a worker label."""
    upstream_factory("echo", "127.0.0.2")
    proxy = proxy_factory("--health-listen", HEALTH_ARG, "--workers", "3",
                          wait_resolved=False)
    wait_for(lambda: len(proxy.named("upstream_resolved")) >= 3, timeout=15,
             what="every worker resolved")
    last, made = 0, 0
    for _ in range(12):
        echo_session(b"w" * 10)
        made += 1
        got = value(scrape(), "sessions_accepted_total")
        assert last <= got <= made
        last = got
    settled(proxy, made)
    s = scrape()
    assert value(s, "sessions_accepted_total") == made
    assert value(s, "relayed_bytes_total", direction="to_client") == 10 * made
    assert value(s, "workers") == 3
    workers = by_label(s, "process_cpu_seconds_total", "worker")
    assert set(workers) == {"0", "1", "2"}
    assert set(by_label(s, "open_fds", "worker")) == {"0", "1", "2"}
    v4 = {dict(k)["worker"]: v for (n, k), v in s.items()
          if n == P + "upstream_addresses" and dict(k)["family"] == "ipv4"}
    assert v4 == {"0": 1, "1": 1, "2": 1}


# --------------------------------------------------------------------------
# A real Prometheus server
# --------------------------------------------------------------------------

PROM_PORT = 9090


def prom_query(q):
    url = (f"http://127.0.0.1:{PROM_PORT}/api/v1/query?" +
           urllib.parse.urlencode({"query": q}))
    with urllib.request.urlopen(url, timeout=5) as r:
        doc = json.load(r)
    assert doc["status"] == "success", doc
    return [(tuple(sorted(x["metric"].items())), float(x["value"][1]))
            for x in doc["data"]["result"]]


def prom_value(q):
    res = prom_query(q)
    return res[0][1] if len(res) == 1 else None


RULES = ROOT / "deploy/kubernetes/monitoring/prometheusrule.yaml"


@pytest.fixture
def prometheus(tmp_path):
    """A Prometheus server scraping the health port every second, with the
    alert rules that deploy/ ships (the PrometheusRule's spec), evaluated
    every second."""
    exe = shutil.which("prometheus")
    assert exe, "prometheus is not installed (tests/packages)"
    spec = yaml.safe_load(RULES.read_text())["spec"]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(spec))
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        f"rule_files: ['{tmp_path / 'rules.yml'}']\n"
        "scrape_configs:\n  - job_name: ses-smtp-proxy\n"
        f"    static_configs:\n      - targets: ['{HEALTH_ARG}']\n")
    log = open(tmp_path / "prometheus.log", "w")
    proc = subprocess.Popen(
        [exe, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{PROM_PORT}",
         "--web.enable-lifecycle"], stdout=log, stderr=log)

    def ready():
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{PROM_PORT}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False
    try:
        wait_for(ready, timeout=60, what="prometheus ready")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.mark.skipif(UNDER_VALGRIND, reason="a 1 s scrape interval against "
                    "a relay slowed 20-50x by valgrind measures valgrind")
def test_prometheus_scrapes_what_the_test_did(dns, upstream_factory,
                                              proxy_factory, prometheus):
    upstream_factory("echo", "127.0.0.2")
    proxy = proxy_factory("--health-listen", HEALTH_ARG, "--max-conns", "1")
    held = connect(timeout=10)
    held.sendall(b"hold")
    assert recv_exact(held, 4) == b"hold"
    for _ in range(2):   # --max-conns 1 is full
        with connect(timeout=10) as s:
            assert read_line(s).startswith(b"421 4.3.2")
    held.close()
    settled(proxy, 1)
    for n in (10, 20, 30):
        echo_session(b"p" * n)
    settled(proxy, 4)

    def seen():
        return prom_value(P + "sessions_accepted_total") == 4
    wait_for(seen, timeout=30, interval=0.5,
             what="prometheus scraped 4 sessions")
    # A later scrape holds all of it (nothing more happens from here).
    time.sleep(1.5)
    assert prom_value("up") == 1
    assert prom_value(P + "sessions_accepted_total") == 4
    assert prom_value(P + 'sessions_rejected_total{reason="max_conns"}') == 2
    assert prom_value(P + 'sessions_ended_total{cause="client_close"}') == 4
    assert prom_value(P + 'relayed_bytes_total{direction="to_upstream"}') \
        == 4 + 10 + 20 + 30
    assert prom_value(P + "session_duration_seconds_count") == 4
    assert prom_value(P + "upstream_connect_duration_seconds_count") == 4
    assert prom_value(P + "sessions_active") == 0
    assert prom_value(P + "sessions_limit") == 1
    assert prom_value(f"sum({P}upstream_addresses)") == 1
    assert prom_value(
        f"histogram_quantile(0.5, {P}session_duration_seconds_bucket)") > 0


def alerts():
    """{alertname: state} of the alerts Prometheus holds now."""
    return {dict(k)["alertname"]: dict(k)["alertstate"]
            for k, _ in prom_query("ALERTS")}


@pytest.mark.skipif(UNDER_VALGRIND, reason="a 1 s scrape interval against "
                    "a relay slowed 20-50x by valgrind measures valgrind")
def test_shipped_alerts_fire_on_the_relays_own_numbers(dns, proxy_factory,
                                                       prometheus):
    """The rules of deploy/kubernetes/monitoring, evaluated by Prometheus on
    what the relay serves: nothing listens on the SES address, so sessions
    end no_upstream (SES unreachable); one open session fills --max-conns 1
    (near the limit); an answer outside the allowlist (addresses denied).
    Each becomes pending (their `for:` keeps them from firing in a test);
    the allowlist fixture is fresh, so the staleness alert stays silent."""
    proxy_factory("--health-listen", HEALTH_ARG, "--max-conns", "1")
    wait_for(lambda: prom_value("up") == 1, timeout=30, interval=0.5,
             what="prometheus scraping the relay")
    assert alerts() == {}
    with connect(timeout=10) as s:
        assert read_line(s).startswith(b"421 4.4.0")
    held = connect(timeout=10)      # no SES: the 421 comes, then EOF
    dns.set_ses(v4=["127.0.1.5"], ttl=1)
    want = {"SesSmtpProxySesUnreachable", "SesSmtpProxyAddressesDenied"}

    def pending():
        # Each failed session may bring the next resolution forward.
        with connect(timeout=10) as c:
            read_line(c)
        return want <= set(alerts())
    wait_for(pending, timeout=60, interval=1, what=f"alerts {want}")
    held.close()
    assert "SesSmtpProxyAllowlistStale" not in alerts()


def test_endpoint_mode_says_so_and_has_no_file_date(dns, ses_factory,
                                                    lo_aliases, proxy_factory):
    """Endpoint-only mode (--vpc-endpoint-cidrs) reads no ip-ranges.json:
    build_info says the mode, the file's date and syncToken have no sample
    (so the shipped staleness alert cannot fire on a date of 0), and the
    allowlist is the endpoint's subnets."""
    ses_factory("10.0.0.1")
    dns.set_ses(v4=["10.0.0.1"])
    proxy_factory("--health-listen", HEALTH_ARG,
                  "--vpc-endpoint-cidrs", "10.0.0.0/29,10.0.0.16/30")
    s = scrape()
    version = (ROOT / "VERSION").read_text().strip()
    assert value(s, "build_info", version=version, region="us-east-1",
                 fips="false", mode="vpc-endpoint") == 1
    assert not [k for k in s if k[0] in (P + "allowlist_create_time_seconds",
                                         P + "allowlist_sync_token")]
    assert by_label(s, "allowlist_prefixes", "family") == \
        {"ipv4": 2, "ipv6": 0}
    assert value(s, "upstream_addresses", family="ipv4") == 1
