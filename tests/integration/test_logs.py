"""Logs: no payload (PRV-08), exact byte counts, stats counters, and the
logfmt format."""

import base64
import ipaddress
import math
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from fakes import SES_GREETING, TEST_PASSWORD, TEST_USER, ses_name
from helpers import (PROXY_PORT, connect, host_of, read_line, read_reply,
                     recv_until_closed, wait_for, write_allowlist)
from proxyproc import UNDER_VALGRIND

REQUIRED_KEYS = {"ts", "level", "event"}


def b64(data):
    return base64.b64encode(data).decode()


def secrets():
    """Every form in which the test credentials cross the proxy."""
    u, p = TEST_USER.encode(), TEST_PASSWORD.encode()
    forms = {TEST_USER, TEST_PASSWORD, b64(u), b64(p), b64(b"\0" + u + b"\0" + p),
             b64(u + b"\0" + u + b"\0" + p)}
    # base64 of a string inside a longer blob: the middle of the encoding
    forms |= {f[4:-4] for f in list(forms) if len(f) > 16}
    return forms


def cleartext_auth_session():
    """AUTH sent before STARTTLS: SES refuses it, but the credential bytes
    do cross the proxy in the clear, so a payload logger would catch them."""
    u, p = TEST_USER.encode(), TEST_PASSWORD.encode()
    with connect() as s:
        assert read_line(s) == SES_GREETING
        for line in (b"EHLO client.example.com",
                     b"AUTH PLAIN " + base64.b64encode(b"\0" + u + b"\0" + p),
                     b"AUTH LOGIN", base64.b64encode(u), base64.b64encode(p),
                     b"AUTH LOGIN " + base64.b64encode(u),
                     u + b" " + p, b"QUIT"):
            s.sendall(line + b"\r\n")
            reply = read_reply(s)
            assert reply[:1] in (b"2", b"5"), reply
        assert recv_until_closed(s)[1] == "eof"


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_prv08_credentials_never_logged(dns, ses, proxy_factory, certs,
                                        log_format):
    proxy = proxy_factory("--log-format", log_format, "--stats-interval", "1")
    cleartext_auth_session()
    for mech in ("PLAIN", "LOGIN"):
        out = subprocess.run(
            ["swaks", "--server", "127.0.0.1:1587", "--tls", "--tls-verify",
             "--tls-ca-path", str(certs.ca), "--tls-sni", ses_name(),
             "--auth", mech, "--auth-user", TEST_USER,
             "--auth-password", TEST_PASSWORD, "--from", "a@example.com",
             "--to", "b@example.com"],
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout
    assert len(ses.messages) == 2 and ses.connections == 3
    proxy.wait_count("conn_close", 3)
    proxy.wait_event("stats", timeout=5, start=proxy.mark())
    assert proxy.stop() == 0
    text = proxy.log_text() + "\n".join(proxy.stdout)
    leaked = sorted(f for f in secrets() if f in text)
    assert leaked == [], f"credential material in the log: {leaked}"


def test_conn_open_close_carry_exact_byte_counts(dns, ses, proxy_factory):
    proxy = proxy_factory()
    sent = received = 0
    with connect() as s:
        port = s.getsockname()[1]
        greeting = read_line(s)
        received += len(greeting)
        for cmd in (b"EHLO client.example.com\r\n", b"NOOP\r\n",
                    b"HELP\r\n", b"QUIT\r\n"):
            s.sendall(cmd)
            sent += len(cmd)
            received += len(read_reply(s))
        rest, how = recv_until_closed(s)
        received += len(rest)
    assert how == "eof"
    opened = proxy.wait_event("conn_open")
    closed = proxy.wait_event("conn_close")
    assert opened["conn"] == closed["conn"]
    for event in (opened, closed):
        assert str(event["client"]) == f"127.0.0.1:{port}"
    assert (int(closed["bytes_in"]), int(closed["bytes_out"])) == (sent, received)
    assert closed["reason"] == "closed"
    assert host_of(closed["upstream"]) == ipaddress.ip_address("127.0.0.2")
    assert int(closed["ms"]) >= 0


def test_every_line_has_ts_level_event(dns, ses, proxy_factory):
    proxy = proxy_factory()
    with connect() as s:
        read_line(s)
    proxy.wait_event("conn_close")
    assert proxy.stop() == 0
    for e in proxy.events:
        assert REQUIRED_KEYS <= set(e), e
    names = [e["event"] for e in proxy.events]
    for expected in ("startup", "allowlist_loaded", "listening",
                     "upstream_resolved", "conn_open", "conn_close",
                     "shutdown_begin", "shutdown"):
        assert expected in names


def test_startup_event_fields(dns, ses, proxy_factory, allowlist):
    proxy = proxy_factory("--max-conns", "7")
    start = proxy.named("startup")[0]
    assert start["region"] == "us-east-1"
    assert start["upstream"] in (f"{ses_name()}:587", ses_name())
    assert int(start["max_conns"]) == 7
    assert int(start["pid"]) == proxy.pid
    assert "127.0.0.1:1587" in str(start["listen"])
    loaded = proxy.named("allowlist_loaded")[0]
    assert loaded["file"] == str(allowlist)
    assert str(loaded["sync_token"]) == "1787411825"
    assert loaded["region"] == "us-east-1"
    # 127.0.0.0/28 (AMAZON) for v4 and ::1/128 for v6 in us-east-1.
    assert (int(loaded["v4"]), int(loaded["v6"])) == (1, 1)
    assert int(loaded["ignored_top_keys"]) == 0
    assert int(loaded["ignored_entry_keys"]) == 0
    assert proxy.named("listening")[0]["addr"] == f"127.0.0.1:{PROXY_PORT}"


def test_stale_allowlist_warned(dns, ses, proxy_factory, tmp_path):
    old = write_allowlist(tmp_path / "old.json", create_date="2020-01-02-03-04-05")
    proxy = proxy_factory("--ip-ranges", old)
    stale = proxy.wait_event("allowlist_stale")
    assert stale["level"] in ("warn", "warning")
    assert stale["create_date"] == "2020-01-02-03-04-05"
    assert int(stale["age_days"]) > 30


def test_fresh_allowlist_not_warned(dns, ses, proxy_factory):
    proxy = proxy_factory()
    assert proxy.named("allowlist_stale") == []


def test_stats_counters_match_what_happened(dns, ses, proxy_factory):
    """--stats-interval 1: counters are cumulative since start (the README
    does not say; this is the reading tested here)."""
    proxy = proxy_factory("--stats-interval", "1",
                          "--allow-client", "127.0.0.0/30")
    sent = received = 0
    for _ in range(3):
        with connect() as s:
            received += len(read_line(s))
            s.sendall(b"QUIT\r\n")
            sent += 6
            data, how = recv_until_closed(s)
            received += len(data)
            assert how == "eof"
    with connect(source="127.0.0.9") as s:
        assert read_line(s).startswith(b"554 5.7.1")
    proxy.wait_count("conn_close", 3)
    proxy.wait_count("conn_rejected", 1)
    queries = dns.query_count()
    stats = proxy.wait_event("stats", start=proxy.mark(), timeout=5)
    assert int(stats["conns"]) == 0
    assert int(stats["closed"]) == 3
    assert int(stats["rejected"]) == 1
    assert int(stats["accepted"]) in (3, 4)  # does it count the rejected one?
    assert (int(stats["bytes_in"]), int(stats["bytes_out"])) == (sent, received)
    assert int(stats["upstream_failures"]) == 0
    assert int(stats["dns_queries"]) == queries
    assert ses.connections == 3


@pytest.mark.parametrize("days", [0, 3, 45])
def test_stats_carry_the_allowlist_age(dns, ses, proxy_factory, tmp_path,
                                       days):
    """The ip-ranges file's age in whole days is a stats field, so a
    dashboard can follow it while the relay runs for months."""
    import datetime
    created = (datetime.datetime.now(datetime.timezone.utc)
               - datetime.timedelta(days=days, hours=1))
    path = write_allowlist(tmp_path / "ip-ranges.json", create_date=created)
    proxy = proxy_factory("--ip-ranges", path, "--stats-interval", "1")
    stats = proxy.wait_event("stats", start=proxy.mark(), timeout=5)
    assert int(stats["allowlist_age_days"]) == days
    assert bool(proxy.named("allowlist_stale")) == (days >= 30)


def test_stats_disabled_with_zero(dns, ses, proxy_factory):
    proxy = proxy_factory("--stats-interval", "0")
    with connect() as s:
        read_line(s)
    proxy.wait_event("conn_close", timeout=5)
    assert proxy.stop() == 0
    assert proxy.named("stats") == []


def test_text_format_is_logfmt_with_quoted_values(dns, ses, proxy_factory,
                                                  allowlist, tmp_path):
    spaced = tmp_path / "ip ranges.json"
    shutil.copy(allowlist, spaced)
    proxy = proxy_factory("--log-format", "text", "--ip-ranges", spaced)
    with connect() as s:
        read_line(s)
    closed = proxy.wait_event("conn_close")
    assert proxy.stop() == 0
    # Every line parsed as logfmt (the fixture checks bad_lines) and has
    # the common keys; a value with a space is quoted.
    for e in proxy.events:
        assert REQUIRED_KEYS <= set(e), e
    loaded = proxy.named("allowlist_loaded")[0]
    assert loaded["file"] == str(spaced)
    assert f'file="{spaced}"' in proxy.log_text()
    assert closed["client"].startswith("127.0.0.1:")
    assert not any(line.lstrip().startswith("{") for line in proxy.lines)


def test_log_format_from_env(dns, ses, proxy_factory):
    proxy = proxy_factory(env={"LOG_FORMAT": "text"})
    assert proxy.log_format == "text" and proxy.named("listening")


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_odd_file_name_is_escaped(dns, ses, proxy_factory, tmp_path, log_format):
    """A file name with quotes, '=', spaces and a newline stays inside its
    field: every line still parses (the fixture checks that) and the value
    comes back unchanged."""
    odd_dir = tmp_path / 'odd "dir"\n{"event":"forged"}\nx=y'
    odd_dir.mkdir()
    path = write_allowlist(odd_dir / "ip-ranges.json")
    proxy = proxy_factory("--ip-ranges", path, "--log-format", log_format)
    assert proxy.named("allowlist_loaded")[0]["file"] == str(path)
    assert proxy.named("forged") == []


def test_strange_sync_token_refused(dns, run_proxy, tmp_path):
    path = write_allowlist(tmp_path / "r.json", sync_token='1"\n{"event":"x"}')
    rc, out, err = run_proxy("--ip-ranges", path)
    assert rc == 2 and str(path) in err


WRITE_RE = re.compile(r'^write\(2, "((?:\\x[0-9a-f]{2})*)", (\d+)\) = (\d+)$')


@pytest.mark.skipif(UNDER_VALGRIND or shutil.which("strace") is None,
                    reason="needs strace, and the relay's own syscalls")
def test_log_lines_gathered_into_whole_writes_under_load(dns, ses,
                                                         proxy_factory,
                                                         tmp_path):
    """A burst of sessions: the relay gathers its log lines while events
    keep coming and writes them together. Each write(2) to stderr, seen by
    strace, is whole lines of at most PIPE_BUF (4096) bytes, written in
    full; every session's lines are there; and the burst takes fewer
    writes than lines."""
    proxy = proxy_factory()
    trace = tmp_path / "writes"
    tracer = subprocess.Popen(
        ["strace", "-qq", "-e", "trace=write", "-e", "signal=none", "-xx",
         "-s", "8192", "-o", str(trace), "-p", str(proxy.pid)])
    try:
        try:
            wait_for(lambda: tracer.poll() is not None or
                     f"TracerPid:\t{tracer.pid}\n" in
                     Path(f"/proc/{proxy.pid}/status").read_text(), 10,
                     what="strace attached")
        except AssertionError:
            pass
        if tracer.poll() is not None:
            pytest.skip("strace could not attach (ptrace refused here)")
        sessions, threads = 160, 16

        def burst():
            for _ in range(sessions // threads):
                with connect() as c:
                    assert read_line(c) == SES_GREETING
        workers = [threading.Thread(target=burst) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(60)
        proxy.wait_count("conn_close", sessions, timeout=30)
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(10)
    writes = []
    for line in trace.read_text().splitlines():
        m = WRITE_RE.match(line)
        assert m, f"unexpected strace line: {line[:200]}"
        data = bytes.fromhex(m.group(1).replace("\\x", ""))
        assert int(m.group(2)) == len(data) == int(m.group(3)), line[:200]
        writes.append(data)
    assert writes
    assert all(len(w) <= 4096 and w.endswith(b"\n") for w in writes)
    lines = b"".join(writes).splitlines()
    closes = [ln for ln in lines if b'"event":"conn_close"' in ln]
    assert len(closes) == sessions
    assert len(writes) < len(lines), (len(writes), len(lines))


def _write_calls(pid):
    """write(2)-family calls the process has made (/proc/PID/io syscw):
    the relay's are its log writes (sockets use sendto, not counted)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/io has no syscw")


@pytest.mark.skipif(UNDER_VALGRIND,
                    reason="valgrind's own writes are counted in /proc/PID/io")
def test_log_lines_not_written_each_time_the_loop_sleeps(dns, ses,
                                                          proxy_factory):
    """One session after another, each a few loop turns, the relay asleep
    between most of them: the lines still leave 4 KiB at a time or when
    the oldest has waited 100 ms, not at every sleep (which cost a write
    and a log-reader wake-up per session: bench/README.md, "The apart
    topology, in short"). The bound is the contract: a write is at most
    4096 bytes and, since a line that does not fit goes to the next one,
    at least 4096 - 1024 (LOG_LINE_MAX) once the batch is full; plus one
    write per started 100 ms of the burst, plus 2."""
    proxy = proxy_factory()
    time.sleep(0.3)  # the startup lines are out (100 ms at most)
    with proxy.cond:
        first = len(proxy.lines)
    before = _write_calls(proxy.pid)
    t0 = time.monotonic()
    sessions = 150
    for _ in range(sessions):
        with connect() as c:
            assert read_line(c) == SES_GREETING
            c.sendall(b"QUIT\r\n")
            read_reply(c)
    proxy.wait_count("conn_close", sessions, timeout=30)
    elapsed = time.monotonic() - t0
    writes = _write_calls(proxy.pid) - before
    with proxy.cond:
        lines = proxy.lines[first:]
    nbytes = sum(len(ln) + 1 for ln in lines)
    bound = math.ceil(nbytes / (4096 - 1024)) + math.ceil(elapsed / 0.1) + 2
    print(f"{writes} writes for {len(lines)} lines ({nbytes} bytes) in "
          f"{elapsed:.2f} s; bound {bound}")
    assert writes <= bound, (
        f"{writes} writes for {len(lines)} lines ({nbytes} "
        f"bytes) in {elapsed:.2f} s; the contract allows {bound}")
