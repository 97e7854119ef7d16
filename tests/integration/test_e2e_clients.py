"""EGR-01: real SMTP clients deliver through the proxy to the fake SES, with
TLS verified against the SES name end to end; the relayed message is byte
for byte what the client sent."""

import base64
import ipaddress
import subprocess

import pytest

from fakes import SES_GREETING, TEST_PASSWORD, TEST_USER, ses_name
from helpers import connect, host_of, port_of, read_line

# A message with CRLF line ends, dot-stuffing work, 8-bit bytes and a long
# line: what SES stores must equal it exactly.
MESSAGE = (b"From: Sender <a@example.com>\r\n"
           b"To: Rcpt <b@example.com>\r\n"
           b"Subject: EGR-01 through the proxy\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"\r\n"
           b"first line\r\n"
           b".a line that starts with a dot\r\n"
           b"..two dots\r\n"
           b"caf\xc3\xa9 8-bit\r\n"
           + b"x" * 900 + b"\r\n"
           b"last line\r\n")
SES = ses_name()


def dot_stuff(data):
    return b"\r\n".join(b"." + line if line.startswith(b".") else line
                        for line in data.split(b"\r\n"))


def assert_relayed_once(proxy, ses, reasons=("closed",)):
    assert ses.connections == 1
    close = proxy.wait_event("conn_close")
    assert close["reason"] in reasons
    assert host_of(close["upstream"]) == ipaddress.ip_address("127.0.0.2")
    assert port_of(close["upstream"]) in (None, 587)


def test_egr01_greeting_through_proxy_is_the_ses_greeting(dns, ses, proxy_factory):
    """telnet-style: the first line a client sees is SES's own greeting."""
    proxy_factory()
    with connect() as s:
        assert read_line(s) == SES_GREETING
    assert ses.connections == 1


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_egr01_swaks_tls_verify_auth_delivers(dns, ses, proxy_factory, certs,
                                              tmp_path, mech):
    proxy = proxy_factory()
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MESSAGE[:-2])  # swaks terminates the last line itself
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.1:1587", "--tls", "--tls-verify",
         "--tls-ca-path", str(certs.ca), "--tls-sni", SES,
         "--auth", mech, "--auth-user", TEST_USER,
         "--auth-password", TEST_PASSWORD,
         "--from", "a@example.com", "--to", "b@example.com",
         "--data", f"@{msg}"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "TLS started" in out.stdout
    assert [(m.data, m.user, m.rcpt_tos) for m in ses.messages] == [
        (MESSAGE, TEST_USER, ["b@example.com"])]
    assert_relayed_once(proxy, ses)


def test_egr01_swaks_with_another_ca_fails_verification(dns, ses, proxy_factory,
                                                        tmp_path):
    """The TLS session is SES's: a client trusting another CA refuses it,
    so the client's verification really takes place through the proxy."""
    proxy_factory()
    other_ca = tmp_path / "other-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                    "-subj", "/CN=other", "-keyout", str(tmp_path / "k"),
                    "-out", str(other_ca)], check=True, capture_output=True,
                   timeout=60)
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.1:1587", "--tls", "--tls-verify",
         "--tls-ca-path", str(other_ca), "--tls-sni", SES,
         "--from", "a@example.com", "--to", "b@example.com"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert ses.messages == []


def test_egr01_curl_smtp_ssl_reqd_delivers(dns, ses, proxy_factory, certs,
                                          tmp_path):
    """curl verifies the SES name: the URL names SES and --resolve points
    that name at the proxy."""
    proxy = proxy_factory()
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MESSAGE)
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "--ssl-reqd",
         "--cacert", str(certs.ca), "--resolve", f"{SES}:1587:127.0.0.1",
         f"smtp://{SES}:1587", "--mail-from", "a@example.com",
         "--mail-rcpt", "b@example.com", "--user",
         f"{TEST_USER}:{TEST_PASSWORD}", "--upload-file", str(msg)],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [(m.data, m.user) for m in ses.messages] == [(MESSAGE, TEST_USER)]
    # curl closes without reading the server's last TLS record, so its
    # kernel may answer that with a reset.
    assert_relayed_once(proxy, ses, reasons=("closed", "client_reset"))


def test_egr01_openssl_s_client_starttls_verifies_ses_name(dns, ses,
                                                           proxy_factory, certs):
    proxy = proxy_factory()
    plain = base64.b64encode(f"\0{TEST_USER}\0{TEST_PASSWORD}".encode())
    script = (b"EHLO client.example.com\r\n"
              b"AUTH PLAIN " + plain + b"\r\n"
              b"MAIL FROM:<a@example.com>\r\n"
              b"RCPT TO:<b@example.com>\r\n"
              b"DATA\r\n" + dot_stuff(MESSAGE) + b".\r\n"
              b"QUIT\r\n")
    out = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         "127.0.0.1:1587", "-servername", SES, "-verify_hostname", SES,
         "-verify_return_error", "-CAfile", str(certs.ca), "-ign_eof",
         "-nocommands"],
        input=script, capture_output=True, timeout=60)
    text = out.stdout.decode(errors="replace")
    assert out.returncode == 0, text + out.stderr.decode(errors="replace")
    assert "Verification: OK" in text or "Verify return code: 0 (ok)" in text
    assert "235 " in text and "221 " in text
    assert [(m.data, m.user) for m in ses.messages] == [(MESSAGE, TEST_USER)]
    assert_relayed_once(proxy, ses)


def test_egr01_s_client_refuses_wrong_hostname(dns, ses, proxy_factory, certs):
    """Hostname verification is the client's: naming anything but SES fails."""
    proxy_factory()
    out = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         "127.0.0.1:1587", "-servername", "proxy.example.com",
         "-verify_hostname", "proxy.example.com", "-verify_return_error",
         "-CAfile", str(certs.ca), "-ign_eof", "-nocommands"],
        input=b"QUIT\r\n", capture_output=True, timeout=60)
    assert out.returncode != 0
    assert b"hostname mismatch" in out.stdout + out.stderr
