"""Real SMTP clients (swaks, curl, openssl s_client) as the end-to-end
tests run them, against the proxy binary (tests/integration) or the
container (tests/container). Each returns the CompletedProcess; the
assertions stay in the tests."""
import base64
import subprocess

from fakes import TEST_PASSWORD, TEST_USER, ses_name

SES = ses_name()

# A message with CRLF line ends, dot-stuffing work, 8-bit bytes and a long
# line: what SES stores must equal it exactly.
MESSAGE = (b"From: Sender <a@example.com>\r\n"
           b"To: Rcpt <b@example.com>\r\n"
           b"Subject: end to end through the proxy\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"\r\n"
           b"first line\r\n"
           b".a line that starts with a dot\r\n"
           b"..two dots\r\n"
           b"caf\xc3\xa9 8-bit\r\n"
           + b"x" * 900 + b"\r\n"
           b"last line\r\n")


def dot_stuff(data):
    return b"\r\n".join(b"." + line if line.startswith(b".") else line
                        for line in data.split(b"\r\n"))


def swaks(server, ca, tmp_path=None, mech=None):
    """swaks with STARTTLS, chain verification against ${ca}, SNI = SES;
    with ${mech}, AUTH and MESSAGE as the data."""
    cmd = ["swaks", "--server", server, "--tls", "--tls-verify",
           "--tls-ca-path", str(ca), "--tls-sni", SES]
    if mech is not None:
        msg = tmp_path / "msg.eml"
        msg.write_bytes(MESSAGE[:-2])  # swaks terminates the last line
        cmd += ["--auth", mech, "--auth-user", TEST_USER,
                "--auth-password", TEST_PASSWORD]
    cmd += ["--from", "a@example.com", "--to", "b@example.com"]
    if mech is not None:
        cmd += ["--data", f"@{msg}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def other_ca(tmp_path):
    """A self-signed certificate that did not sign the fake SES's."""
    path = tmp_path / "other-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                    "-subj", "/CN=other", "-keyout", str(tmp_path / "k"),
                    "-out", str(path)], check=True, capture_output=True,
                   timeout=60)
    return path


def curl(port, ca, tmp_path):
    """curl smtp:// naming SES (so it verifies the SES name), pointed at
    127.0.0.1:${port} with --resolve, TLS required, AUTH, MESSAGE."""
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MESSAGE)
    return subprocess.run(
        ["curl", "-sS", "--max-time", "30", "--ssl-reqd",
         "--cacert", str(ca), "--resolve", f"{SES}:{port}:127.0.0.1",
         f"smtp://{SES}:{port}", "--mail-from", "a@example.com",
         "--mail-rcpt", "b@example.com", "--user",
         f"{TEST_USER}:{TEST_PASSWORD}", "--upload-file", str(msg)],
        capture_output=True, text=True, timeout=60)


def s_client(server, ca, name=SES, deliver=True):
    """openssl s_client -starttls smtp verifying ${name}; with ${deliver},
    AUTH PLAIN and MESSAGE, else just QUIT."""
    script = b"QUIT\r\n"
    if deliver:
        plain = base64.b64encode(f"\0{TEST_USER}\0{TEST_PASSWORD}".encode())
        script = (b"EHLO client.example.com\r\n"
                  b"AUTH PLAIN " + plain + b"\r\n"
                  b"MAIL FROM:<a@example.com>\r\n"
                  b"RCPT TO:<b@example.com>\r\n"
                  b"DATA\r\n" + dot_stuff(MESSAGE) + b".\r\n"
                  b"QUIT\r\n")
    return subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect", server,
         "-servername", name, "-verify_hostname", name,
         "-verify_return_error", "-CAfile", str(ca), "-ign_eof",
         "-nocommands"],
        input=script, capture_output=True, timeout=60)
