"""Limits that take hours or days in the release binary, exercised with the
short-clock test build (make shortclock: the same sources with two
constants shortened, never shipped):

- the last validated SES address set is kept for UPSTREAM_STALE_MAX (24 h;
  6 s here) after the last good answer, whether DNS then fails or answers
  only denied addresses, and then it is dropped: clients get 421 4.4.0 and
  /readyz 503 (issue 15, item 1);
- the ip-ranges.json file's age is judged again while the relay runs
  (hourly; every second here), so a relay started on a 29-day-old file says
  allowlist_stale once the file turns 30 days old (issue 14, item 6).
"""

import datetime
import os
import time
from pathlib import Path

import pytest

from fakes import SES_GREETING
from helpers import write_allowlist
from test_egress import first_line as greeting
from test_health_listen import HEALTH_ARG, status_code

REPO = Path(__file__).resolve().parents[2]
SHORTCLOCK = Path(os.environ.get("SES_SMTP_PROXY_SHORTCLOCK_BIN",
                                 REPO / "build/shortclock/ses-smtp-proxy"))
STALE_MAX_S = 6             # -DUPSTREAM_STALE_MAX in the Makefile

pytestmark = pytest.mark.skipif(
    os.environ.get("SES_IT_SANITIZER") == "1",
    reason="the short-clock build is a musl release build; the ASan and "
           "valgrind runs have no short-clock variant")


@pytest.fixture
def binary():
    """Every proxy of this module is the short-clock build."""
    if not os.access(SHORTCLOCK, os.X_OK):
        pytest.fail(f"{SHORTCLOCK} is missing: build it with make shortclock")
    return SHORTCLOCK


def served_until_expiry(proxy, ses, break_dns):
    """One good answer, then break_dns(): the kept set serves clients and
    /readyz says 200, until it expires; then 421 and 503, and SES is never
    dialled again."""
    assert greeting() == SES_GREETING
    good_at = time.monotonic()
    break_dns()
    # Kept: still served, still ready, before the limit.
    assert greeting() == SES_GREETING
    assert status_code("/readyz") == b"HTTP/1.1 200 OK"
    served = ses.connections
    assert time.monotonic() - good_at < STALE_MAX_S, "too slow to observe"
    expired = proxy.wait_event("upstream_expired", timeout=30)
    assert int(expired["dropped"]) == 1
    # Never before the limit (whole seconds of the kept set's age).
    assert int(expired["age_s"]) >= STALE_MAX_S
    assert greeting().startswith(b"421 4.4.0")
    assert status_code("/readyz") == b"HTTP/1.1 503 Service Unavailable"
    assert ses.connections == served
    return expired


def test_kept_set_expires_when_answers_are_all_denied(dns, ses,
                                                      proxy_factory):
    """The review's reproduction: an answer of only 10.9.9.9-like denied
    addresses used to keep the old set alive for ever."""
    dns.set_ses(v4=["127.0.0.2"], ttl=2)
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    served_until_expiry(proxy, ses,
                        lambda: dns.set_ses(v4=["127.0.1.7"], ttl=2))
    kept = proxy.named("upstream_all_denied")
    assert kept and int(kept[0]["kept"]) == 1 and kept[0]["level"] == "warn"
    # Answers after the expiry still hold only denied addresses: the same
    # alarm, now with nothing kept, at error level.
    mark = proxy.mark()
    after = proxy.wait_event("upstream_all_denied", start=mark, timeout=15)
    assert int(after["kept"]) == 0 and after["level"] == "error"


def test_kept_set_expires_when_dns_fails(dns, ses, proxy_factory):
    dns.set_ses(v4=["127.0.0.2"], ttl=2)
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    served_until_expiry(proxy, ses, lambda: dns.set_mode("drop"))
    mark = proxy.mark()
    failed = proxy.wait_event("upstream_resolve_failed", start=mark,
                              timeout=60)
    assert int(failed["kept"]) == 0


def test_expiry_is_judged_at_use_not_only_at_resolution(dns, ses,
                                                        proxy_factory):
    """With no resolution due (a TTL far beyond the short-clock limit) and
    no query sent, the set still expires on time: the age is judged when
    the set is used (a probe, a client), not only when an answer comes."""
    dns.set_ses(v4=["127.0.0.2"], ttl=120)
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    assert greeting() == SES_GREETING
    queries = dns.query_count()
    time.sleep(STALE_MAX_S + 1)
    assert status_code("/readyz") == b"HTTP/1.1 503 Service Unavailable"
    expired = proxy.named("upstream_expired")
    assert len(expired) == 1 and int(expired[0]["age_s"]) >= STALE_MAX_S
    assert dns.query_count() == queries, "a resolution came in between"
    # A client then finds no address: the name is resolved again at once
    # (DNS still answers well here), and the fresh answer serves it.
    assert greeting() == SES_GREETING
    assert dns.query_count() > queries
    assert ses.connections == 2


def test_good_answer_after_expiry_serves_again(dns, ses, proxy_factory):
    dns.set_ses(v4=["127.0.0.2"], ttl=2)
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    dns.set_ses(v4=["127.0.1.7"], ttl=2)
    proxy.wait_event("upstream_expired", timeout=30)
    mark = proxy.mark()
    dns.set_ses(v4=["127.0.0.2"], ttl=2)
    proxy.wait_event("upstream_resolved", start=mark, timeout=15)
    assert greeting() == SES_GREETING
    assert status_code("/readyz") == b"HTTP/1.1 200 OK"


def test_hosts_set_never_expires(dns, ses, proxy_factory):
    """/etc/hosts (docker --add-host) is the operator's static answer: it
    is not a DNS answer that ages."""
    from fakes import ses_name
    proxy = proxy_factory(hosts=[("127.0.0.2", ses_name())])
    time.sleep(STALE_MAX_S + 2)
    assert greeting() == SES_GREETING
    assert proxy.named("upstream_expired") == []


def test_allowlist_turning_stale_while_running_is_reported(dns, ses,
                                                          proxy_factory,
                                                          tmp_path):
    """Started on a file a few seconds short of 30 days old: no warning at
    startup, then allowlist_stale once the running relay judges it again."""
    margin = 8
    created = (datetime.datetime.now(datetime.timezone.utc)
               - datetime.timedelta(days=30) + datetime.timedelta(seconds=margin))
    path = write_allowlist(tmp_path / "ip-ranges.json", create_date=created)
    t0 = time.monotonic()
    proxy = proxy_factory("--ip-ranges", path)
    started = time.monotonic() - t0
    assert started < margin, "startup too slow to observe the transition"
    assert proxy.named("allowlist_stale") == []
    stale = proxy.wait_event("allowlist_stale", timeout=margin + 20)
    assert int(stale["age_days"]) == 30
    assert stale["file"] == str(path)
    # Judged every second, warned once (then daily).
    time.sleep(3)
    assert len(proxy.named("allowlist_stale")) == 1
    assert greeting() == SES_GREETING
