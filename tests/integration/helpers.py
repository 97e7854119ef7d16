"""Shared helpers: client sockets, bounded waits, allowlist files,
certificates, log parsing and /proc readings."""

import datetime
import ipaddress
import json
import os
import re
import select
import socket
import struct
import subprocess
import time
from pathlib import Path

PROXY_HOST, PROXY_PORT = "127.0.0.1", 1587
PROXY_ADDR = (PROXY_HOST, PROXY_PORT)


# --------------------------------------------------------------------------
# Waiting
# --------------------------------------------------------------------------

def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a true value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# Client sockets
# --------------------------------------------------------------------------

def connect(addr=PROXY_ADDR, timeout=5.0, source=None):
    """A TCP client socket connected to addr (the proxy by default)."""
    host = addr[0]
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                         socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if source is not None:
        sock.bind((source, 0))
    sock.connect(addr)
    return sock


def set_rst_on_close(sock):
    """Make close() send a RST instead of a FIN (SO_LINGER {1, 0})."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def read_line(sock, timeout=5.0):
    """One CRLF-terminated line, read a byte at a time so nothing after it is
    consumed. Returns what was read if EOF comes first."""
    sock.settimeout(timeout)
    buf = bytearray()
    while not buf.endswith(b"\r\n") and len(buf) < 65536:
        b = sock.recv(1)
        if not b:
            break
        buf += b
    return bytes(buf)


def read_reply(sock, timeout=5.0):
    """A whole SMTP reply (all its lines), as bytes."""
    out = bytearray()
    for _ in range(1000):
        line = read_line(sock, timeout)
        out += line
        if len(line) < 4 or line[3:4] != b"-":
            break
    return bytes(out)


def recv_exact(sock, n, timeout=10.0):
    sock.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(65536, n - len(buf)))
        if not chunk:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_until_closed(sock, timeout=10.0, limit=1 << 30):
    """Read until the peer ends the stream. Returns (data, how) where how is
    "eof" (FIN), "reset" (RST) or "timeout"."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(buf), "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return bytes(buf), "timeout"
        except ConnectionResetError:
            return bytes(buf), "reset"
        if not chunk:
            return bytes(buf), "eof"
        buf += chunk
    return bytes(buf), "limit"


def is_closed_by_peer(sock, timeout=10.0):
    _, how = recv_until_closed(sock, timeout)
    return how in ("eof", "reset")


def first_line():
    """The relay's first line to a new client; a line other than a 220
    must be followed by the close."""
    with connect() as s:
        line = read_line(s)
        if not line.startswith(b"220"):
            assert recv_until_closed(s)[1] in ("eof", "reset")
        return line


def connection_refused(addr=PROXY_ADDR, timeout=1.0):
    try:
        connect(addr, timeout=timeout).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


def send_all_nonblocking(sock, data, duration):
    """Write as much of data as the socket takes within duration seconds.
    Returns the number of bytes written."""
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + duration
    view = memoryview(data)
    while sent < len(data):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _, w, _ = select.select([], [sock], [], min(left, 0.1))
        if not w:
            continue
        try:
            sent += sock.send(view[sent:sent + 262144])
        except BlockingIOError:
            continue
    sock.setblocking(True)
    return sent


# --------------------------------------------------------------------------
# Allowlist fixture files (AWS ip-ranges.json format)
# --------------------------------------------------------------------------

# (prefix, region, service): 127.0.0.0/28 is AMAZON (and EC2, as in the real
# file) in us-east-1; 127.0.1.0/24 is in no prefix at all ("bad" loopback).
DEFAULT_V4 = [
    ("127.0.0.0/28", "us-east-1", "AMAZON"),
    ("127.0.0.0/28", "us-east-1", "EC2"),
    ("127.0.2.0/24", "eu-west-1", "AMAZON"),
    ("127.0.3.0/24", "us-east-1", "S3"),
    ("127.0.4.0/24", "us-gov-west-1", "AMAZON"),
    ("127.0.5.0/24", "GLOBAL", "AMAZON"),
]
DEFAULT_V6 = [
    ("::1/128", "us-east-1", "AMAZON"),
    ("2001:db8:2::/48", "eu-west-1", "AMAZON"),
    ("2001:db8:3::/48", "us-east-1", "S3"),
]


def allowlist_doc(v4=DEFAULT_V4, v6=DEFAULT_V6, sync_token="1787411825",
                  create_date=None):
    if create_date is None:
        create_date = datetime.datetime.now(datetime.timezone.utc)
    if isinstance(create_date, datetime.datetime):
        create_date = create_date.strftime("%Y-%m-%d-%H-%M-%S")
    return {
        "syncToken": sync_token,
        "createDate": create_date,
        "prefixes": [{"ip_prefix": p, "region": r, "service": s,
                      "network_border_group": r} for p, r, s in v4],
        "ipv6_prefixes": [{"ipv6_prefix": p, "region": r, "service": s,
                           "network_border_group": r} for p, r, s in v6],
    }


def write_allowlist(path, **kw):
    path = Path(path)
    path.write_text(json.dumps(allowlist_doc(**kw), indent=2))
    return path


# --------------------------------------------------------------------------
# Certificates (openssl CLI): a CA and a server certificate for the SES name
# --------------------------------------------------------------------------

def make_certs(directory, name):
    d = Path(directory)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True,
                       timeout=60)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "2", "-subj", "/CN=SES integration test CA",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", f"/CN={name}", "-keyout", str(d / "server.key"),
        "-out", str(d / "server.csr"))
    (d / "server.ext").write_text(
        f"subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"),
        "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", str(d / "server.ext"), "-out", str(d / "server.crt"))
    return d / "ca.crt", d / "server.crt", d / "server.key"


# --------------------------------------------------------------------------
# Log parsing
# --------------------------------------------------------------------------

_LOGFMT_PAIR = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?=\s|$)')


def parse_logfmt(line):
    """Parse one logfmt line strictly: key=value pairs separated by single
    spaces, values bare (no space, quote or '=') or double-quoted with
    backslash escapes. Returns a dict, or None if the line does not parse."""
    out, pos = {}, 0
    line = line.rstrip("\n")
    while pos < len(line):
        m = _LOGFMT_PAIR.match(line, pos)
        if not m:
            return None
        key, value = m.group(1), m.group(2)
        if value.startswith('"'):
            value = json.loads(value) if _json_string_ok(value) else \
                value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        elif "=" in value:
            return None
        out[key] = value
        pos = m.end()
        if pos < len(line):
            if line[pos] != " ":
                return None
            pos += 1
    return out


def _json_string_ok(s):
    try:
        json.loads(s)
        return True
    except ValueError:
        return False


def addr_list(value):
    """An address list field (JSON array, or a comma/space separated string)
    as a list of ipaddress objects (ports, brackets and scopes stripped)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else re.split(r"[,\s]+", str(value))
    return [host_of(v) for v in items if str(v).strip()]


def host_of(endpoint):
    """'127.0.0.2:587', '[::1]:587', '::1' or '127.0.0.2' -> ip_address."""
    s = str(endpoint).strip()
    m = re.fullmatch(r"\[([^\]]+)\](?::\d+)?", s)
    if m:
        s = m.group(1)
    elif s.count(":") == 1:
        s = s.rsplit(":", 1)[0]
    return ipaddress.ip_address(s.split("%")[0])


def port_of(endpoint):
    m = re.search(r":(\d+)$", str(endpoint))
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------
# /proc readings
# --------------------------------------------------------------------------

def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


# /proc/net/tcp{,6} columns: sl local rem st tx:rx tr:when retrnsmt uid
# timeout inode refcnt sk rto ato quick|pingpong cwnd ssthresh
TCP_LISTEN, TCP_ESTABLISHED = "0A", "01"


def tcp_sockets(tables=("/proc/net/tcp", "/proc/net/tcp6")):
    """Every TCP socket in this namespace: (state, local port, remote port,
    all columns) per row of the tables."""
    for table in tables:
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            yield (cols[3], int(cols[1].rsplit(":", 1)[1], 16),
                   int(cols[2].rsplit(":", 1)[1], 16), cols)


def close_wait_count(ports=(1587, 587)):
    """CLOSE_WAIT TCP sockets in this namespace on any of the ports."""
    out = subprocess.run(["ss", "-Htan", "state", "close-wait"], check=True,
                         capture_output=True, text=True, timeout=10).stdout
    n = 0
    for line in out.splitlines():
        cols = line.split()
        if any(port_of(c) in ports for c in cols[-2:]):
            n += 1
    return n
