"""pytest fixtures of the fake SES shared by tests/integration and
tests/container: the TLS certificates for the SES name, the asyncio loop
the fakes run on, and the fake SES itself. Each suite's conftest provides
session_dir."""
import ssl
import types

import pytest

from fakes import FakeSES, LoopThread, ses_name
from helpers import make_certs


@pytest.fixture(scope="session")
def certs(session_dir):
    """A CA and a certificate for the SES name it signed; ctx is the fake
    SES's server-side TLS context."""
    d = session_dir / "certs"
    d.mkdir()
    ca, cert, key = make_certs(d, ses_name())
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return types.SimpleNamespace(ca=ca, cert=cert, key=key, ctx=ctx)


@pytest.fixture(scope="session")
def loop_thread():
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def ses_factory(loop_thread, certs):
    made = []

    def make(host="127.0.0.2", port=587):
        server = FakeSES(loop_thread, host, certs.ctx, port).start()
        made.append(server)
        return server
    yield make
    for server in made:
        server.stop()


@pytest.fixture
def ses(ses_factory):
    """The fake SES on 127.0.0.2:587."""
    return ses_factory("127.0.0.2")
