"""A private Postfix instance for the container tests: a real MTA that
relays through the proxy and keeps its own queue.

Everything lives under one temp directory: config_directory (main.cf and
master.cf written here, not copied from /etc/postfix, so the system's
configuration cannot change the test), queue_directory, data_directory and
the log file (maillog_file, no syslog needed). It is started and stopped
with `postfix -c DIR`, listens on 127.0.0.1 only (a free port, never 25),
and never touches the system instance (/var/spool/postfix, /var/lib/postfix)
whether that one runs or not.

Outbound: relayhost = the proxy; TLS required and verified against the SES
name with the fake SES's CA (the proxy relays TLS end to end); SASL AUTH
with the fake SES's test user; short retry timers, so a message deferred
while the proxy is down is tried again within seconds.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from helpers import wait_for

POSTFIX = "/usr/sbin/postfix"
QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")

MAIN_CF = """\
# Private test instance (tests/container/postfix_instance.py).
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
myhostname = postfix-relay-test.example.com
mydomain = example.com
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
biff = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtp_host_lookup = native

relayhost = [{relay_host}]:{relay_port}
smtp_tls_security_level = verify
smtp_tls_CAfile = {d}/etc/ses-ca.crt
smtp_tls_verify_cert_match = {tls_name}
smtp_tls_servername = {tls_name}
smtp_tls_loglevel = 1
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:{d}/etc/sasl_passwd
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous

# Retry within seconds: a deferred message (or a destination marked dead)
# is tried again after 2-4 s; the deferred queue is scanned every 2 s.
minimal_backoff_time = 2s
maximal_backoff_time = 4s
queue_run_delay = 2s
smtp_connect_timeout = 5s
"""

# chroot off everywhere: no copies of /etc files into the queue directory.
MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class PostfixInstance:
    """start() / stop(); submit to (host, port); read queue() and log()."""

    def __init__(self, relay, ca_file, tls_name, user, password):
        self.relay_host, self.relay_port = relay
        self.ca_file = Path(ca_file)
        self.tls_name = tls_name
        self.user, self.password = user, password
        self.host, self.port = "127.0.0.1", free_port()
        self.dir = None
        self.master_pid = None

    @property
    def addr(self):
        return (self.host, self.port)

    def _postfix(self, *args, timeout=60):
        return subprocess.run([POSTFIX, "-c", str(self.dir / "etc"), *args],
                              capture_output=True, text=True, timeout=timeout)

    def write_config(self):
        # Under /tmp, not pytest's 0700 tmp tree: Postfix's daemons run as
        # the postfix user and must reach the queue and the CA file.
        # The queue and data directories are not under the configuration
        # directory: Postfix wants everything there owned by root.
        self.dir = Path(tempfile.mkdtemp(prefix="ses-postfix-"))
        self.dir.chmod(0o755)
        d = self.dir
        for sub in ("etc", "queue", "data"):
            (d / sub).mkdir()
            (d / sub).chmod(0o755)
        shutil.chown(d / "data", "postfix", "postfix")
        shutil.copyfile(self.ca_file, d / "etc" / "ses-ca.crt")
        (d / "etc" / "ses-ca.crt").chmod(0o644)
        pw = d / "etc" / "sasl_passwd"
        pw.write_text(f"[{self.relay_host}]:{self.relay_port} "
                      f"{self.user}:{self.password}\n")
        pw.chmod(0o600)
        (d / "etc" / "main.cf").write_text(MAIN_CF.format(
            d=d, relay_host=self.relay_host, relay_port=self.relay_port,
            tls_name=self.tls_name))
        (d / "etc" / "master.cf").write_text(MASTER_CF.format(
            listen=f"{self.host}:{self.port}"))

    def start(self, timeout=20.0):
        self.write_config()
        # Without a terminal, postfix(1) reports only to its log file.
        check = self._postfix("check")
        assert check.returncode == 0, f"postfix check failed:\n{self.log()}"
        out = self._postfix("start")
        assert out.returncode == 0, f"postfix start failed:\n{self.log()}"
        pid_file = self.dir / "queue" / "pid" / "master.pid"

        def master():
            try:
                return int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                return None
        self.master_pid = wait_for(master, timeout=timeout, interval=0.05,
                                   what="the private Postfix master")

        def listening():
            try:
                socket.create_connection(self.addr, timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(listening, timeout=timeout, interval=0.05,
                 what=f"Postfix smtpd on {self.host}:{self.port}")
        return self

    def stop(self, timeout=15.0):
        """postfix stop, then wait (bounded) for the master to exit; kill it
        (that PID only) if it does not; remove the directory."""
        if self.dir is None:
            return
        try:
            if self.master_pid and _alive(self.master_pid):
                self._postfix("stop", timeout=30)
                deadline = time.monotonic() + timeout
                while _alive(self.master_pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _alive(self.master_pid):
                    os.kill(self.master_pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # ---- observation ----
    def queue(self):
        """Number of queue files per queue (messages not delivered yet)."""
        out = {}
        for q in QUEUES:
            root = self.dir / "queue" / q
            out[q] = sum(len(files) for _, _, files in os.walk(root))
        return out

    def log(self):
        try:
            return (self.dir / "maillog").read_text(errors="replace")
        except OSError:
            return ""

    def deliveries(self):
        """Counts of the delivery results (status=sent, deferred, bounced...)
        in the log, whoever logged them (smtp, or qmgr for a destination
        it holds back while it is marked dead)."""
        counts = {}
        for m in re.finditer(r"postfix/\w+\[\d+\]: \w+: to=<.*status=(\w+)",
                             self.log()):
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
        return counts

    def deferrals(self):
        """Why deliveries were deferred: "cut" (lost connection in a
        session), "refused" (connect refused), "other"."""
        counts = {"cut": 0, "refused": 0, "other": 0}
        for m in re.finditer(r"status=deferred \((.*)\)$", self.log(), re.M):
            why = m.group(1)
            kind = ("cut" if "lost connection" in why else
                    "refused" if "Connection refused" in why else "other")
            counts[kind] += 1
        return counts


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not reaped by its parent yet) is gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
