"""The fake world the proxy talks to: an SMTP server playing SES, raw TCP
upstreams for fault tests, a test-driven listener, and a DNS server.

Everything binds to loopback addresses only. The SMTP server and the raw
upstreams run as asyncio servers on one shared background loop; the DNS
server runs on its own thread; the Listener is a plain blocking socket that
the test itself drives.
"""

import asyncio
import ipaddress
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, A, DNSLabel, DNSRecord

SES_HOST = "email-smtp.amazonaws.com"
SES_IDENT = "ESMTP SimpleEmailService-d-TEST"
SES_GREETING = f"220 {SES_HOST} {SES_IDENT}\r\n".encode()
TEST_USER = "AKIATESTUSER7EXAMPLE"
TEST_PASSWORD = "BPxTestSecretPassw0rd/WithSlash+Plus"


def ses_name(region="us-east-1", fips=False):
    """The SES SMTP host name the proxy derives from a region."""
    return f"email-smtp{'-fips' if fips else ''}.{region}.amazonaws.com"


def _reuse(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _sockaddr(host, port):
    if "%" in host:  # link-local with a scope, e.g. fe80::1%lo
        addr, scope = host.split("%", 1)
        return (addr, port, 0, socket.if_nametoindex(scope))
    return (host, port)


class LoopThread:
    """One asyncio event loop on a daemon thread, shared by the fake servers."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever,
                                       name="fake-world", daemon=True)
        self.thread.start()

    def run(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _bound_socket(host, port):
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    _reuse(sock)
    if ":" in host:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind(_sockaddr(host, port))
    return sock


# --------------------------------------------------------------------------
# Fake SES: a real SMTP server (aiosmtpd) that behaves like SES on 587.
# --------------------------------------------------------------------------

@dataclass
class Message:
    mail_from: str
    rcpt_tos: list
    data: bytes
    user: str


@dataclass
class _Handler:
    messages: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        user = session.auth_data.login.decode() if session.auth_data else ""
        self.messages.append(Message(envelope.mail_from,
                                     list(envelope.rcpt_tos),
                                     bytes(envelope.original_content), user))
        return "250 Ok 0100018c-test-message-id"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login == TEST_USER.encode()
          and auth_data.password == TEST_PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class FakeSES:
    """SMTP server greeting like SES: STARTTLS required before MAIL, AUTH
    PLAIN/LOGIN only after TLS, one known user. Counts TCP connections and
    keeps every received message as raw bytes."""

    def __init__(self, loop_thread, host, tls_context, port=587):
        self.lt = loop_thread
        self.host, self.port = host, port
        self.tls_context = tls_context
        self.handler = _Handler()
        self.connections = 0
        self.server = None

    @property
    def messages(self):
        return self.handler.messages

    def _factory(self):
        self.connections += 1
        return SMTP(self.handler, hostname=SES_HOST, ident=SES_IDENT,
                    tls_context=self.tls_context, require_starttls=True,
                    auth_required=True, auth_require_tls=True,
                    authenticator=_authenticator, timeout=60,
                    loop=self.lt.loop)

    def start(self):
        async def start():
            sock = _bound_socket(self.host, self.port)
            return await self.lt.loop.create_server(self._factory, sock=sock)
        self.server = self.lt.run(start())
        return self

    def stop(self):
        if self.server is not None:
            async def stop():
                self.server.close()
                await self.server.wait_closed()
            self.lt.run(stop())
            self.server = None


# --------------------------------------------------------------------------
# Raw upstreams with one fixed behaviour each.
# --------------------------------------------------------------------------

class RawUpstream:
    """A TCP server on host:port whose every connection behaves as `kind`:

    silent      accept, read and discard, never send a byte
    close       accept and close at once (FIN)
    rst         accept and abort at once (RST)
    echo        send back everything received; pass EOF on
    greet_echo  send the SES greeting first, then echo
    """

    KINDS = ("silent", "close", "rst", "echo", "greet_echo")

    def __init__(self, loop_thread, kind, host, port=587):
        assert kind in self.KINDS, kind
        self.lt, self.kind, self.host, self.port = loop_thread, kind, host, port
        self.connections = 0
        self.open = 0
        self.server = None

    async def _serve(self, reader, writer):
        self.connections += 1
        self.open += 1
        try:
            if self.kind == "rst":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if self.kind == "close":
                writer.close()
                return
            if self.kind == "greet_echo":
                writer.write(SES_GREETING)
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.kind != "silent":
                    writer.write(data)
                    await writer.drain()
            if self.kind != "silent" and writer.can_write_eof():
                writer.write_eof()
            await asyncio.sleep(0.05)
            writer.close()
        except (ConnectionError, OSError):
            writer.transport.abort()
        finally:
            self.open -= 1

    def start(self):
        async def start():
            sock = _bound_socket(self.host, self.port)
            return await asyncio.start_server(self._serve, sock=sock)
        self.server = self.lt.run(start())
        return self

    def stop(self):
        if self.server is not None:
            async def stop():
                self.server.close()
                await asyncio.wait_for(self.server.wait_closed(), 5)
            try:
                self.lt.run(stop())
            except (asyncio.TimeoutError, TimeoutError):
                pass
            self.server = None


class Listener:
    """A listening socket the test drives by hand: accept() hands over the
    upstream side of a relayed connection. pending() counts connections the
    kernel completed that were not accepted yet (taking them off the queue).
    With backlog=0 and its queue filled by fill_queue(), further SYNs are
    dropped: a blackholed upstream that never completes a handshake."""

    def __init__(self, host, port=587, backlog=128):
        self.host, self.port = host, port
        self.sock = _bound_socket(host, port)
        self.sock.listen(backlog)
        self.accepted = []
        self._fillers = []

    def accept(self, timeout=5.0):
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        conn.settimeout(timeout)
        self.accepted.append(conn)
        return conn

    def pending(self):
        n = 0
        self.sock.setblocking(False)
        try:
            for _ in range(10000):
                conn, _ = self.sock.accept()
                self.accepted.append(conn)
                n += 1
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)
        return n

    def fill_queue(self, count=4):
        """Fill the accept queue so that the kernel drops further SYNs."""
        for _ in range(count):
            c = socket.socket(_family(self.host), socket.SOCK_STREAM)
            c.settimeout(0.3)
            try:
                c.connect(_sockaddr(self.host, self.port))
                self._fillers.append(c)
            except OSError:
                c.close()
                return
        raise AssertionError("accept queue never filled up")

    def close(self):
        for s in self.accepted + self._fillers + [self.sock]:
            try:
                s.close()
            except OSError:
                pass


# --------------------------------------------------------------------------
# Fake DNS: a UDP server answering from a mutable in-process zone.
# --------------------------------------------------------------------------

class FakeDNS:
    """UDP DNS server with answers that tests change while it runs.

    zone: name -> {"cname": target or None, "A": [...], "AAAA": [...],
                   "ttl": seconds}
    mode: "answer" (from the zone), "drop" (never reply), "nxdomain",
          "servfail", "empty" (NOERROR, no records).
    hook: optional callable(qname, qtype, n) -> (v4, v6) or None that
          overrides the final address records; n counts queries of that
          (qname, qtype) so far, starting at 0.
    spoil: a way to make every (otherwise correct) answer unacceptable:
          "wrong_id", "wrong_qname", "not_response", "unrelated_owner",
          "pointer_loop", or "other_port" (sent from another UDP port).
    """

    SPOILS = ("wrong_id", "wrong_qname", "not_response", "unrelated_owner",
              "pointer_loop", "other_port")

    def __init__(self, host="127.0.0.53", port=53):
        self.host, self.port = host, port
        self.lock = threading.Lock()
        self.zone = {}
        self.mode = "answer"
        self.hook = None
        self.spoil = None
        self.queries = []  # (monotonic time, qname, qtype)
        self.errors = []  # exceptions while answering (harness bugs)
        self._stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.1)
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other.bind((host, 0))
        self.thread = threading.Thread(target=self._run, name="fake-dns",
                                       daemon=True)
        self.thread.start()

    # ---- test-facing API ----
    def reset(self):
        with self.lock:
            self.zone.clear()
            self.mode = "answer"
            self.hook = None
            self.spoil = None
            self.queries.clear()
            self.errors.clear()

    def set_ses(self, v4=(), v6=(), ttl=300, region="us-east-1",
                fips=False, cname=True, name=None):
        """Answer the SES name (or name, such as a VPC endpoint's) like AWS
        does: a CNAME to an ELB name that holds the addresses (or the
        addresses directly with cname=False)."""
        name = name or ses_name(region, fips)
        with self.lock:
            if cname:
                target = f"ses-smtp-prod-335357831.{region}.elb.amazonaws.com"
                self.zone[name] = {"cname": target, "A": [], "AAAA": [],
                                   "ttl": ttl}
                self.zone[target] = {"cname": None, "A": list(v4),
                                     "AAAA": list(v6), "ttl": ttl}
            else:
                self.zone[name] = {"cname": None, "A": list(v4),
                                   "AAAA": list(v6), "ttl": ttl}

    def set_cname_only(self, region="us-east-1"):
        """The SES name is a CNAME whose target has no records at all."""
        name = ses_name(region)
        with self.lock:
            self.zone[name] = {"cname": f"gone.{region}.elb.amazonaws.com",
                               "A": [], "AAAA": [], "ttl": 60}

    def set_mode(self, mode):
        assert mode in ("answer", "drop", "nxdomain", "servfail", "empty")
        with self.lock:
            self.mode = mode

    def set_spoil(self, spoil):
        assert spoil is None or spoil in self.SPOILS
        with self.lock:
            self.spoil = spoil

    def set_hook(self, hook):
        with self.lock:
            self.hook = hook

    def query_count(self, qname=None):
        with self.lock:
            return sum(1 for _, n, _ in self.queries
                       if qname is None or n == qname)

    def close(self):
        self._stop.set()
        self.thread.join(5)
        self.sock.close()
        self.other.close()

    # ---- server ----
    def _run(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self._answer(data)
            except Exception as e:  # noqa: BLE001
                self.errors.append(repr(e))  # the harness's own bugs show
                reply = None
            if reply is not None:
                out = self.other if self.spoil == "other_port" else self.sock
                out.sendto(reply, peer)

    def _answer(self, data):
        request = DNSRecord.parse(data)
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            n = sum(1 for _, q, t in self.queries if q == qname and t == qtype)
            self.queries.append((time.monotonic(), qname, qtype))
            mode, hook, spoil = self.mode, self.hook, self.spoil
            zone = {k: dict(v) for k, v in self.zone.items()}
        if mode == "drop":
            return None
        reply = request.reply()
        reply.header.ra = 1
        if mode == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
            return reply.pack()
        if mode == "nxdomain" or qname not in zone:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply.pack()
        if mode == "empty":
            return reply.pack()
        name, seen = qname, set()
        while zone.get(name, {}).get("cname") and name not in seen:
            seen.add(name)
            entry = zone[name]
            reply.add_answer(RR(name + ".", QTYPE.CNAME,
                                rdata=CNAME(entry["cname"] + "."),
                                ttl=entry["ttl"]))
            name = entry["cname"]
        entry = zone.get(name)
        if entry is None:  # CNAME pointing nowhere: CNAME-only answer
            return reply.pack()
        v4, v6 = entry["A"], entry["AAAA"]
        if hook is not None:
            override = hook(qname, qtype, n)
            if override is not None:
                v4, v6 = override
        if qtype == "A":
            for addr in v4:
                reply.add_answer(RR(name + ".", QTYPE.A, rdata=A(addr),
                                    ttl=entry["ttl"]))
        elif qtype == "AAAA":
            for addr in v6:
                # exploded: dnslib cannot parse ::ffff:a.b.c.d itself
                reply.add_answer(RR(name + ".", QTYPE.AAAA,
                                    rdata=AAAA(ipaddress.IPv6Address(addr).exploded),
                                    ttl=entry["ttl"]))
        return self._spoil(spoil, request, self._fit(request, reply))

    @staticmethod
    def _spoil(spoil, request, packed):
        if spoil in (None, "other_port"):
            return packed
        reply = DNSRecord.parse(packed)
        if spoil == "wrong_id":
            reply.header.id = (reply.header.id + 1) & 0xFFFF
        elif spoil == "wrong_qname":
            reply.q.qname = DNSLabel("email-smtp.us-east-1.amazonaws.com.evil.example")
        elif spoil == "not_response":
            reply.header.qr = 0
        elif spoil == "unrelated_owner":
            for rr in reply.rr:
                rr.rname = DNSLabel("evil.example.com")
        elif spoil == "pointer_loop":
            # Header and question as asked, then one answer whose owner name
            # is a compression pointer to itself.
            head = struct.pack("!HHHHHH", request.header.id, 0x8180, 1, 1, 0, 0)
            body = head + _pack_question(request)
            loop = struct.pack("!H", 0xC000 | len(body))
            return body + loop + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([127, 0, 0, 2])
        return reply.pack()

    @staticmethod
    def _fit(request, reply):
        """Truncate to the client's UDP size (512, or its EDNS0 size) and set
        TC, as a real server does."""
        limit = 512
        for rr in request.ar:
            if rr.rtype == QTYPE.OPT:
                limit = max(512, rr.rclass)
        packed = reply.pack()
        if len(packed) <= limit:
            return packed
        reply.header.tc = 1
        while reply.rr and len(reply.pack()) > limit:
            reply.rr.pop()
        return reply.pack()


def _pack_question(request):
    """The question section of request, uncompressed."""
    out = b""
    for label in str(request.q.qname).rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0" + struct.pack("!HH", request.q.qtype, request.q.qclass)
