"""A fake SES for the demo: tests/integration/fakes.py's FakeSES (a real
SMTP server with STARTTLS and AUTH, greeting like SES) on port 587 of each
loopback address given, with a fresh CA and certificate for the SES name.

    /usr/bin/python3 fake_ses.py DIR 127.0.0.2 [127.0.0.3 ...]

Writes DIR/ca.crt (the CA a client verifies SES with) and DIR/ip-ranges.json
(an allowlist fixture in AWS's format whose AMAZON/us-east-1 prefixes cover
127.0.0.0/28, world-readable for the container's user 65534), then DIR/ready
once every address listens, and serves until SIGTERM or SIGINT.
"""

import signal
import ssl
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from fakes import FakeSES, LoopThread, ses_name  # noqa: E402
from helpers import make_certs, write_allowlist  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    directory = Path(sys.argv[1])
    hosts = sys.argv[2:]
    for host in hosts:
        if not host.startswith("127."):
            sys.exit(f"fake_ses.py: {host} is not a loopback address")
    directory.mkdir(parents=True, exist_ok=True)
    write_allowlist(directory / "ip-ranges.json").chmod(0o444)
    _, cert, key = make_certs(directory, ses_name())
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    lt = LoopThread()
    servers = [FakeSES(lt, host, ctx, 587).start() for host in hosts]
    (directory / "ready").write_text("".join(f"{h}:587\n" for h in hosts))
    while not done.wait(0.5):
        pass
    for server in servers:
        server.stop()
    lt.close()


if __name__ == "__main__":
    main()
