"""A real MTA through a crashing container (README, "What happens if the
container crashes?"): a private Postfix instance (relayhost = the proxy,
TLS verified against the SES name, SASL AUTH) relays N messages through the
container to the fake SES while the proxy is killed with SIGKILL once about
a third of them have arrived. Docker restarts the container
(--restart unless-stopped) and Postfix's queue and retry do the rest: every
message arrives. Duplicates (a message SES accepted whose 250 the crash cut
off, so Postfix sent it again) are allowed: they are counted and reported,
missing messages are not."""

import collections
import email.utils
import os
import re
import signal
import smtplib
import threading
import time
import uuid

import pytest

import ctr
from fakes import TEST_PASSWORD, TEST_USER
from postfix_instance import PostfixInstance

N = 40                    # messages submitted to Postfix
KILL_AT = N // 3          # kill the proxy once this many reached the fake SES
SUBMIT_INTERVAL = 0.02    # s between submissions: dense traffic (several
                          # sessions at once) that spans the crash
DELIVERY_TIMEOUT = 40.0   # s, bounded wait for every message to arrive
DRAIN_TIMEOUT = 15.0      # s, then for Postfix's queue to be empty
SENDER, RCPT = "a@example.com", "b@example.com"
MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.M | re.I)


@pytest.fixture
def postfix(certs):
    pf = PostfixInstance(ctr.PROXY_ADDR, certs.ca, ctr.SES, TEST_USER,
                         TEST_PASSWORD)
    try:
        pf.start()
        yield pf
    finally:
        pf.stop()


def message(run, i):
    mid = f"{run}.{i}@client.example.com"
    text = (f"From: Sender <{SENDER}>\r\n"
            f"To: Rcpt <{RCPT}>\r\n"
            f"Subject: through a crash {i}/{N}\r\n"
            f"Date: {email.utils.formatdate()}\r\n"
            f"Message-ID: <{mid}>\r\n"
            f"\r\n"
            f"message {i} of run {run}\r\n")
    return mid, text.encode()


def received_ids(ses):
    """Message-IDs of what the fake SES stored, in order (with repeats)."""
    out = []
    for m in list(ses.messages):
        found = MESSAGE_ID.search(m.data.split(b"\r\n\r\n", 1)[0])
        out.append(found.group(1).decode() if found else None)
    return out


class Killer(threading.Thread):
    """SIGKILL the proxy (its host PID) once `at` messages reached the
    fake SES; gives up when told to stop or after `timeout`."""

    def __init__(self, ses, pid, at, timeout=30.0):
        super().__init__(name="proxy-killer", daemon=True)
        self.ses, self.pid, self.at, self.timeout = ses, pid, at, timeout
        self.cancel = threading.Event()
        self.arrived_at_kill = None
        self.error = None

    def run(self):
        try:
            deadline = time.monotonic() + self.timeout
            while len(self.ses.messages) < self.at:
                if self.cancel.is_set() or time.monotonic() > deadline:
                    return
                time.sleep(0.01)
            # Still our proxy (not a reused PID)? Then kill it.
            exe = os.readlink(f"/proc/{self.pid}/exe")
            assert exe.endswith("/ses-smtp-proxy"), exe
            os.kill(self.pid, signal.SIGKILL)
            self.arrived_at_kill = len(self.ses.messages)
        except Exception as e:  # noqa: BLE001
            self.error = e


def submit(addr, messages, interval):
    with smtplib.SMTP(*addr, timeout=30) as s:
        s.ehlo("client.example.com")
        for _, data in messages:
            refused = s.sendmail(SENDER, [RCPT], data)
            assert not refused, refused
            time.sleep(interval)


def relay_through_a_crash(ses, containers, postfix, restart="unless-stopped"):
    """Returns the report dict; asserts every message arrived."""
    t0 = time.monotonic()
    c = containers.run(restart=restart, health="none")
    old_pid = c.pid()
    assert old_pid > 0
    run = uuid.uuid4().hex[:12]
    messages = [message(run, i) for i in range(N)]
    expected = {mid for mid, _ in messages}

    killer = Killer(ses, old_pid, KILL_AT)
    killer.start()
    try:
        submit(postfix.addr, messages, SUBMIT_INTERVAL)
        killer.join(30)
    finally:
        killer.cancel.set()
        killer.join(5)
    assert killer.error is None, killer.error
    assert killer.arrived_at_kill is not None, "the proxy was never killed"
    assert killer.arrived_at_kill < N, "killed after everything arrived"

    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while not expected <= set(received_ids(ses)):
        if time.monotonic() > deadline:
            missing = sorted(expected - set(received_ids(ses)),
                             key=lambda m: int(m.split(".")[1].split("@")[0]))
            raise AssertionError(
                f"{len(missing)} of {N} messages never reached the fake SES "
                f"within {DELIVERY_TIMEOUT:.0f}s: {missing[:10]}...\n"
                f"Postfix queue: {postfix.queue()}\n"
                f"container state: {c.state()}\n"
                f"Postfix log (tail):\n{postfix.log()[-4000:]}")
        time.sleep(0.2)
    all_in = time.monotonic() - t0

    # Every message is in: let Postfix finish what it still holds (a retry
    # of a message SES already has), so the duplicate count is final.
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while sum(postfix.queue().values()):
        assert time.monotonic() < deadline, \
            f"Postfix's queue never drained: {postfix.queue()}"
        time.sleep(0.2)

    ids = received_ids(ses)
    counts = collections.Counter(ids)
    duplicates = {mid: n - 1 for mid, n in counts.items()
                  if mid in expected and n > 1}
    strangers = [mid for mid in ids if mid not in expected]
    results = postfix.deliveries()
    st = c.state()
    restarts = c.inspect()["RestartCount"]
    report = {
        "n": N, "received": len(ids), "unique": len(expected & set(ids)),
        "missing": 0, "duplicates": sum(duplicates.values()),
        "duplicate_ids": sorted(duplicates), "strangers": len(strangers),
        "arrived_at_kill": killer.arrived_at_kill,
        "old_pid": old_pid, "new_pid": st["Pid"], "restart_count": restarts,
        "postfix_results": results, "deferral_reasons": postfix.deferrals(),
        "all_in_s": round(all_in, 1),
    }
    assert not strangers, f"messages SES got that were not ours: {strangers}"
    assert results.get("bounced", 0) == 0, results
    # smtp_tls_security_level = verify: each session checked SES's
    # certificate (through the proxy) against the SES name.
    assert "Verified TLS connection established" in postfix.log()
    # The crash did reach Postfix (sessions cut, connections refused), so
    # its queue and retry did the work; else this test proved nothing.
    assert results.get("deferred", 0) >= 1, results
    assert st["Running"] and st["Pid"] not in (0, old_pid), st
    assert restarts >= 1
    return report


def test_postfix_relays_every_message_through_a_proxy_crash(
        ses, containers, postfix, record_property, capsys):
    report = relay_through_a_crash(ses, containers, postfix)
    line = (f"postfix through a crash: {report['unique']}/{report['n']} "
            f"delivered, {report['received']} received, "
            f"{report['duplicates']} duplicate(s) "
            f"{report['duplicate_ids']}; SIGKILL after "
            f"{report['arrived_at_kill']} arrived, pid {report['old_pid']} -> "
            f"{report['new_pid']}, RestartCount {report['restart_count']}; "
            f"Postfix results {report['postfix_results']} "
            f"{report['deferral_reasons']}; all in after "
            f"{report['all_in_s']}s")
    print(line)
    with capsys.disabled():
        print(f"\n{line}")
    for key in ("n", "duplicates", "arrived_at_kill", "restart_count"):
        record_property(f"postfix_{key}", report[key])
