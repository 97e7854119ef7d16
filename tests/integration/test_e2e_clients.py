"""EGR-01: real SMTP clients deliver through the proxy to the fake SES, with
TLS verified against the SES name end to end; the relayed message is byte
for byte what the client sent."""

import ipaddress

import pytest

from clients import MESSAGE, curl, other_ca, s_client, swaks
from fakes import SES_GREETING, TEST_USER
from helpers import connect, host_of, port_of, read_line


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
    out = swaks("127.0.0.1:1587", certs.ca, tmp_path, mech)
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
    out = swaks("127.0.0.1:1587", other_ca(tmp_path))
    assert out.returncode != 0
    assert ses.messages == []


def test_egr01_curl_smtp_ssl_reqd_delivers(dns, ses, proxy_factory, certs,
                                          tmp_path):
    """curl verifies the SES name: the URL names SES and --resolve points
    that name at the proxy."""
    proxy = proxy_factory()
    out = curl(1587, certs.ca, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [(m.data, m.user) for m in ses.messages] == [(MESSAGE, TEST_USER)]
    # curl closes without reading the server's last TLS record, so its
    # kernel may answer that with a reset.
    assert_relayed_once(proxy, ses, reasons=("closed", "client_reset"))


def test_egr01_openssl_s_client_starttls_verifies_ses_name(dns, ses,
                                                           proxy_factory, certs):
    proxy = proxy_factory()
    out = s_client("127.0.0.1:1587", certs.ca)
    text = out.stdout.decode(errors="replace")
    assert out.returncode == 0, text + out.stderr.decode(errors="replace")
    assert "Verification: OK" in text or "Verify return code: 0 (ok)" in text
    assert "235 " in text and "221 " in text
    assert [(m.data, m.user) for m in ses.messages] == [(MESSAGE, TEST_USER)]
    assert_relayed_once(proxy, ses)


def test_egr01_s_client_refuses_wrong_hostname(dns, ses, proxy_factory, certs):
    """Hostname verification is the client's: naming anything but SES fails."""
    proxy_factory()
    out = s_client("127.0.0.1:1587", certs.ca, name="proxy.example.com",
                   deliver=False)
    assert out.returncode != 0
    assert b"hostname mismatch" in out.stdout + out.stderr
