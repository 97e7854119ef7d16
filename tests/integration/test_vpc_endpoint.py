"""Endpoint-only mode (EGR-11): with --vpc-endpoint-cidrs the SES VPC
interface endpoint's subnets are the only upstream networks, ip-ranges.json
is neither read nor needed, and --vpc-endpoint-dns makes the relay resolve
the endpoint's own regional name.

10.0.0.0/29 and 10.0.0.16/30 stand for the endpoint's subnets: 10.0.0.1 and
10.0.0.17 are put on lo (lo_aliases, in this namespace only), each with a
fake SES. 127.0.0.2 is the public AMAZON address of the test world: the
fixture's ip-ranges.json lists it for us-east-1, so without the mode it is
allowed (the control below)."""

import json

import pytest

from fakes import SES_GREETING, ses_name
from helpers import addr_list, connect, first_line, host_of, read_line

ENDPOINT = "10.0.0.1"
SUBNETS = "10.0.0.0/29,10.0.0.16/30"
PUBLIC = "127.0.0.2"
LABEL = "vpce-0123456789abcdef0-ab12cd34"
VPCE_NAME = f"{LABEL}.email-smtp.us-east-1.vpce.amazonaws.com"
USAGE = 2


def set_answer(dns, addrs, name=None):
    """The SES name as AWS answers it (a CNAME to an ELB name), or name,
    an endpoint's regional name, with its own A records."""
    dns.set_ses(v4=addrs, name=name, cname=name is None)


def json_events(err, name):
    return [e for e in map(json.loads, err.splitlines())
            if e.get("event") == name]


def test_egr11_endpoint_addresses_relayed(dns, ses_factory, lo_aliases,
                                          proxy_factory):
    """(a) The SES name resolves to the endpoint's private addresses; a real
    SMTP exchange reaches the fake SES behind each of them."""
    a, b = ses_factory(ENDPOINT), ses_factory("10.0.0.17")
    set_answer(dns, [ENDPOINT, "10.0.0.17"])
    proxy = proxy_factory("--vpc-endpoint-cidrs", SUBNETS)
    for _ in range(4):
        with connect() as s:
            assert read_line(s) == SES_GREETING
            s.sendall(b"EHLO client.example\r\n")
            assert read_line(s).startswith(b"250")
    assert (a.connections, b.connections) == (2, 2)
    start = proxy.named("startup")[0]
    assert start["mode"] == "vpc-endpoint"
    assert start["upstream"] == f"{ses_name()}:587"
    loaded = proxy.named("allowlist_vpc_endpoint")[0]
    assert loaded["cidrs"] == SUBNETS and loaded["ip_ranges"] == "not read"
    assert proxy.named("allowlist_loaded") == []
    resolved = proxy.named("upstream_resolved")[0]
    assert {str(x) for x in addr_list(resolved["addrs"])} == \
        {ENDPOINT, "10.0.0.17"}


@pytest.mark.parametrize("answer", [[PUBLIC, ENDPOINT], [ENDPOINT, PUBLIC]],
                         ids=["public-first", "public-last"])
def test_egr11_public_amazon_address_denied(dns, ses_factory, lo_aliases,
                                            listener_factory, proxy_factory,
                                            answer):
    """(b) A public AMAZON address in the same answer is denied and never
    dialled: its listener's accept queue stays empty."""
    trap = listener_factory(PUBLIC)
    endpoint = ses_factory(ENDPOINT)
    set_answer(dns, answer)
    proxy = proxy_factory("--vpc-endpoint-cidrs", SUBNETS)
    denied = proxy.wait_event("upstream_denied")
    assert str(host_of(denied["addr"])) == PUBLIC
    assert "--vpc-endpoint-cidrs" in denied["reason"]
    for _ in range(4):
        assert first_line() == SES_GREETING
    assert endpoint.connections == 4 and trap.pending() == 0
    assert proxy.named("upstream_connect_failed") == []
    for close in proxy.named("conn_close"):
        assert str(host_of(close["upstream"])) == ENDPOINT


def test_egr11_public_only_answer_never_dialled(dns, lo_aliases,
                                                listener_factory,
                                                proxy_factory):
    trap = listener_factory(PUBLIC)
    set_answer(dns, [PUBLIC])
    proxy = proxy_factory("--vpc-endpoint-cidrs", SUBNETS,
                          wait_resolved=False)
    proxy.wait_event("upstream_all_denied")
    assert first_line().startswith(b"421 4.4.0")
    assert proxy.wait_event("conn_close")["reason"] == "no_upstream"
    assert trap.pending() == 0


def test_egr11_check_verdicts(dns, lo_aliases, run_proxy, tmp_path):
    """--check names the mode and the name, and judges each address by the
    endpoint's subnets alone; the same answer in the public mode (the
    control) allows the AMAZON address and denies the private one."""
    set_answer(dns, [ENDPOINT, PUBLIC])
    rc, out, err = run_proxy("--check", "--vpc-endpoint-cidrs", SUBNETS,
                             "--ip-ranges", tmp_path / "absent.json")
    assert rc == 0, out + err
    lines = out.splitlines()
    assert lines[0] == (f"allowlist mode=vpc-endpoint region=us-east-1 "
                        f"vpc_endpoint_cidrs={SUBNETS} ip_ranges=not_read")
    assert lines[1] == f"upstream host={ses_name()} port=587 source=dns"
    assert (f'address addr={ENDPOINT} verdict=allowed '
            f'match="--vpc-endpoint-cidrs 10.0.0.0/29"') in lines
    assert (f"address addr={PUBLIC} verdict=denied "
            f"reason=outside_vpc_endpoint_cidrs") in lines
    assert lines[-1] == "result usable=1"

    rc, out, err = run_proxy("--check")
    assert rc == 0, out + err
    assert out.splitlines()[0].startswith("allowlist mode=public file=")
    assert f"address addr={PUBLIC} verdict=allowed" in out
    assert (f"address addr={ENDPOINT} verdict=denied "
            f"reason=outside_allowlist") in out


def test_egr11_starts_without_ip_ranges_file(dns, ses_factory, lo_aliases,
                                             proxy_factory, tmp_path):
    """(c) No ip-ranges file at all: the endpoint-only relay starts and
    relays; its age is not judged (no allowlist_stale, age 0)."""
    endpoint = ses_factory(ENDPOINT)
    set_answer(dns, [ENDPOINT])
    missing = tmp_path / "absent.json"
    proxy = proxy_factory("--vpc-endpoint-cidrs", "10.0.0.0/29",
                          "--ip-ranges", missing, "--stats-interval", "1")
    assert first_line() == SES_GREETING and endpoint.connections == 1
    assert proxy.wait_event("stats")["allowlist_age_days"] == 0
    assert proxy.named("config_error") == []
    assert proxy.named("allowlist_stale") == []
    assert not missing.exists()


def test_egr11_without_the_mode_a_missing_file_stops_startup(dns, run_proxy,
                                                            tmp_path):
    """(c) The control: outside the mode the same missing file is exit 2,
    with a message naming the flag and the file."""
    missing = tmp_path / "absent.json"
    rc, out, err = run_proxy("--ip-ranges", missing)
    assert rc == USAGE, out + err
    errors = json_events(err, "config_error")
    assert errors and f"--ip-ranges {missing}" in errors[0]["error"], err
    rc, out, err = run_proxy("--check", "--vpc-endpoint-cidrs", SUBNETS,
                             "--ip-ranges", missing)
    assert rc == 1 and json_events(err, "config_error") == [], out + err


def test_egr11_vpc_endpoint_dns_is_the_name_queried(dns, ses_factory,
                                                    lo_aliases, listener_factory,
                                                    proxy_factory):
    """(d) --vpc-endpoint-dns: the fake DNS is asked the endpoint's regional
    name, never the SES name (which here resolves to the public address)."""
    trap = listener_factory(PUBLIC)
    endpoint = ses_factory(ENDPOINT)
    set_answer(dns, [ENDPOINT], name=VPCE_NAME)
    set_answer(dns, [PUBLIC])
    proxy = proxy_factory("--vpc-endpoint-cidrs", SUBNETS,
                          "--vpc-endpoint-dns", LABEL)
    assert first_line() == SES_GREETING
    assert endpoint.connections == 1 and trap.pending() == 0
    assert dns.query_count(VPCE_NAME) >= 1
    assert dns.query_count(ses_name()) == 0
    assert proxy.named("upstream_resolved")[0]["host"] == VPCE_NAME
    assert proxy.named("startup")[0]["upstream"] == f"{VPCE_NAME}:587"


def test_egr11_vpc_endpoint_dns_from_env_in_check(dns, lo_aliases, run_proxy):
    set_answer(dns, [ENDPOINT], name=VPCE_NAME)
    rc, out, err = run_proxy("--check", env={
        "SES_VPC_ENDPOINT_CIDRS": SUBNETS, "SES_VPC_ENDPOINT_DNS": LABEL})
    assert rc == 0, out + err
    assert f"upstream host={VPCE_NAME} port=587 source=dns" in out
    assert dns.query_count(ses_name()) == 0


# (e) Refused with exit 2: (args, env, texts the message must hold). The
# texts go beyond the flag's name, which an "unknown option" would hold.
REFUSED = [
    (["--vpc-endpoint-cidrs", SUBNETS, "--vpc-endpoint-dns",
      "email-smtp.evil.example"], {},
     ["--vpc-endpoint-dns", '"email-smtp.evil.example"']),
    (["--vpc-endpoint-cidrs", SUBNETS, "--vpc-endpoint-dns",
      f"{LABEL}.evil.example"], {}, ["--vpc-endpoint-dns", "vpce-<id>"]),
    (["--vpc-endpoint-cidrs", SUBNETS, "--vpc-endpoint-dns",
      LABEL.upper()], {}, ["--vpc-endpoint-dns", f'"{LABEL.upper()}"']),
    (["--vpc-endpoint-cidrs", SUBNETS],
     {"SES_VPC_ENDPOINT_DNS": "vpce-0123-ab12cd34"},
     ["SES_VPC_ENDPOINT_DNS", '"vpce-0123-ab12cd34"']),
    (["--vpc-endpoint-dns", LABEL], {},
     ["--vpc-endpoint-dns needs --vpc-endpoint-cidrs"]),
    (["--vpc-endpoint-cidrs", SUBNETS, "--vpc-endpoint-dns", LABEL,
      "--fips"], {}, ["--vpc-endpoint-dns and --fips exclude each other"]),
    (["--vpc-endpoint-cidrs", SUBNETS, "--allow-cidr", "10.1.0.0/24"], {},
     ["--vpc-endpoint-cidrs and --allow-cidr exclude each other"]),
    ([], {"SES_VPC_ENDPOINT_CIDRS": SUBNETS, "SES_ALLOW_CIDRS": "10.1.0.0/24"},
     ["SES_VPC_ENDPOINT_CIDRS and SES_ALLOW_CIDRS exclude each other"]),
    (["--vpc-endpoint-cidrs", "127.0.0.0/8"], {},
     ["--vpc-endpoint-cidrs", '"127.0.0.0/8" contains loopback']),
    (["--vpc-endpoint-cidrs", "10.0.0.0/29,169.254.169.254/32"], {},
     ["--vpc-endpoint-cidrs", '"169.254.169.254/32"']),
    (["--vpc-endpoint-cidrs", "0.0.0.0/0"], {},
     ["--vpc-endpoint-cidrs", '"0.0.0.0/0"']),
    (["--vpc-endpoint-cidrs", "10.0.0.1/29"], {},
     ["--vpc-endpoint-cidrs", "bits set"]),
    ([], {"SES_VPC_ENDPOINT_CIDRS": "64:ff9b::/96"},
     ["SES_VPC_ENDPOINT_CIDRS", '"64:ff9b::/96"']),
    ([], {"SES_VPC_ENDPOINT_CIDRS": "banana"},
     ["SES_VPC_ENDPOINT_CIDRS", '"banana"']),
]


@pytest.mark.parametrize("args,env,texts", REFUSED,
                         ids=[str(i) for i in range(len(REFUSED))])
def test_egr11_invalid_values_refused(dns, run_proxy, args, env, texts):
    rc, out, err = run_proxy("--check", *args, env=env)
    assert rc == USAGE, (rc, out, err)
    for text in texts:
        assert text in err, (text, err)
    assert "unknown option" not in err
