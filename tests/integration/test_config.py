"""Configuration input (EGR-07, INP-08): what is accepted, what stops
startup with exit 2 and one message naming the flag, variable or file, and
that flags win over environment variables."""

import json

import pytest

from fakes import SES_GREETING
from helpers import (allowlist_doc, connect, parse_logfmt, read_line,
                     write_allowlist)

USAGE = 2


def short_id(value):
    text = str(value)
    return repr(text if len(text) <= 24 else f"{text[:12]}...({len(text)})")


def assert_refused(result, *names):
    rc, out, err = result
    assert rc is not None, f"not refused: still running\nstderr: {err[-2000:]}"
    assert rc == USAGE, f"exit {rc}\nstdout: {out}\nstderr: {err[-2000:]}"
    text = out + err
    assert any(n in text for n in names), f"no mention of {names}: {text!r}"
    assert '"listening"' not in err and "event=listening" not in err


# --------------------------------------------------------------------------
# Region (EGR-07)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("region,addr", [("us-east-1", "127.0.0.2"),
                                         ("us-gov-west-1", "127.0.4.1"),
                                         ("eu-west-1", "127.0.2.1")])
def test_egr07_region_accepted(dns, run_proxy, region, addr):
    dns.set_ses(v4=[addr], region=region)
    rc, out, err = run_proxy("--check", "--region", region)
    assert rc == 0, out + err


BAD_REGIONS = ["us-east-1.evil.com", "../", "", "US-EAST-1", "x" * 300,
               "us-east-1/../../x", "us_east_1", "us-east-1 ", " us-east-1",
               "us-east-1\n", "us-east", "1-east-us", "us-east-1-", "-us-east-1",
               "us-east-1;x", "us-east-1%00", "ü-east-1",
               "a" * 100000]


@pytest.mark.parametrize("region", BAD_REGIONS, ids=short_id)
def test_egr07_bad_region_flag_refused(dns, run_proxy, region):
    assert_refused(run_proxy("--region", region), "--region")


@pytest.mark.parametrize("region", ["us-east-1.evil.com", "../", "",
                                    "US-EAST-1", "x" * 300], ids=short_id)
def test_egr07_bad_region_env_refused(dns, run_proxy, region):
    assert_refused(run_proxy(env={"SES_REGION": region}), "SES_REGION")


@pytest.mark.parametrize("where", ["flag", "env"])
def test_inp08_control_bytes_in_a_value_cannot_forge_log_lines(dns, run_proxy,
                                                               where):
    """A newline in a refused value must not start a new stderr line that
    a log pipeline would take for an event of its own."""
    forged = '{"level":"info","event":"forged"}'  # short: values get cut
    value = "x\n" + forged + "\n"
    result = (run_proxy("--region", value) if where == "flag"
              else run_proxy(env={"SES_REGION": value}))
    assert_refused(result, "--region", "SES_REGION")
    assert forged not in result[2].splitlines()


def test_egr07_region_without_amazon_prefixes_refused(dns, run_proxy):
    """Well formed, but the allowlist has nothing for it."""
    assert_refused(run_proxy("--region", "eu-central-1"), "eu-central-1",
                   "--region")


# --------------------------------------------------------------------------
# Flags and variables (INP-08)
# --------------------------------------------------------------------------

def test_inp08_unknown_flag(dns, run_proxy):
    assert_refused(run_proxy("--upstream", "evil.example.com:25"), "--upstream")


def test_inp08_positional_argument_refused(dns, run_proxy):
    assert_refused(run_proxy("email-smtp.us-east-1.amazonaws.com"),
                   "email-smtp.us-east-1.amazonaws.com")


@pytest.mark.parametrize("flag,value", [("--region", "us-east-1"),
                                        ("--max-conns", "5"),
                                        ("--idle-timeout", "5"),
                                        ("--listen", "127.0.0.1:1587"),
                                        ("--ip-ranges", None)])
def test_inp08_repeated_flag_refused(dns, run_proxy, allowlist, flag, value):
    value = value or str(allowlist)
    assert_refused(run_proxy(flag, value, flag, value), flag)


def test_inp08_repeatable_flags_accepted(dns, run_proxy):
    rc, out, err = run_proxy("--check", "--allow-cidr", "10.0.1.0/29",
                             "--allow-cidr", "10.0.1.16/30",
                             "--allow-client", "127.0.0.0/8",
                             "--allow-client", "::1/128")
    assert rc == 0, out + err


@pytest.mark.parametrize("flag", ["--allow-cidr", "--allow-client"])
@pytest.mark.parametrize("cidr", ["192.0.2.0/33", "192.0.2.1/24", "foo",
                                  "192.0.2.0/", "300.0.0.0/8", "192.0.2/24",
                                  "fe80::1/64", "::/129", "192.0.2.0/-1",
                                  "192.0.2.0/24x", ""])
def test_inp08_bad_cidr_refused(dns, run_proxy, flag, cidr):
    assert_refused(run_proxy(flag, cidr), flag)


@pytest.mark.parametrize("var", ["SES_ALLOW_CIDRS", "ALLOW_CLIENTS"])
def test_inp08_bad_cidr_env_refused(dns, run_proxy, var):
    assert_refused(run_proxy(env={var: "10.0.1.0/29,192.0.2.1/24"}), var)


@pytest.mark.parametrize("listen", ["127.0.0.1:70000", "127.0.0.1:65536",
                                    "127.0.0.1:-1", "127.0.0.1", "127.0.0.1:",
                                    "127.0.0.1:abc",
                                    "::1:1587", "[::1:1587", "300.1.1.1:1587"])
def test_inp08_bad_listen_refused(dns, run_proxy, listen):
    assert_refused(run_proxy("--listen", listen), "--listen")


@pytest.mark.parametrize("flag,value", [
    ("--max-conns", "-1"), ("--max-conns", "abc"),
    ("--max-conns", "99999999999999999999999"), ("--max-conns", "5x"),
    ("--idle-timeout", "-1"), ("--idle-timeout", "1.5.2"), ("--idle-timeout", ""),
    ("--connect-timeout", "abc"), ("--drain-timeout", "-3"),
    ("--max-session", "x"), ("--stats-interval", "-1"),
    ("--log-format", "xml"), ("--log-format", "JSON")])
def test_inp08_bad_value_refused(dns, run_proxy, flag, value):
    assert_refused(run_proxy(flag, value), flag)


@pytest.mark.parametrize("var,value", [("MAX_CONNS", "abc"),
                                       ("IDLE_TIMEOUT", "-1"),
                                       ("LOG_FORMAT", "xml"),
                                       ("LISTEN", "127.0.0.1:99999"),
                                       ("CONNECT_TIMEOUT", "x" * 5000)],
                         ids=short_id)
def test_inp08_bad_env_refused(dns, run_proxy, var, value):
    assert_refused(run_proxy(env={var: value}), var)


def test_inp08_missing_flag_value(dns, run_proxy):
    assert_refused(run_proxy("--check", "--region"), "--region")


def test_version_and_help(dns, run_proxy):
    rc, out, err = run_proxy("--version", defaults=False)
    assert rc == 0 and (out + err).strip()
    rc, out, err = run_proxy("--help", defaults=False)
    assert rc == 0 and "--region" in out + err


# --------------------------------------------------------------------------
# The allowlist file
# --------------------------------------------------------------------------

def _doc():
    return allowlist_doc()


def _bad_files():
    doc = _doc()
    good = json.dumps(doc)
    host_bits = _doc()
    host_bits["prefixes"][0]["ip_prefix"] = "127.0.0.1/28"
    host_bits_v6 = _doc()
    host_bits_v6["ipv6_prefixes"][0]["ipv6_prefix"] = "::1/64"
    bad_len = _doc()
    bad_len["prefixes"][0]["ip_prefix"] = "127.0.0.0/33"
    garbage_prefix = _doc()
    garbage_prefix["prefixes"][0]["ip_prefix"] = "not-an-address"
    no_prefixes = _doc()
    del no_prefixes["prefixes"]
    no_region = _doc()
    del no_region["prefixes"][0]["region"]
    prefixes_string = _doc()
    prefixes_string["prefixes"] = "127.0.0.0/28"
    prefix_number = _doc()
    prefix_number["prefixes"][0]["ip_prefix"] = 2130706432
    region_number = _doc()
    region_number["prefixes"][0]["region"] = 1
    v6_in_v4_list = _doc()
    v6_in_v4_list["prefixes"][0]["ip_prefix"] = "::1/128"
    return {
        "truncated": good[: len(good) // 2],
        "not_json": "syncToken=1\nprefixes=127.0.0.0/28\n",
        "empty": "",
        "top_level_array": json.dumps([doc]),
        "host_bits_set": json.dumps(host_bits),
        "host_bits_set_v6": json.dumps(host_bits_v6),
        "prefix_len_33": json.dumps(bad_len),
        "garbage_prefix": json.dumps(garbage_prefix),
        "missing_prefixes": json.dumps(no_prefixes),
        "missing_region": json.dumps(no_region),
        "prefixes_not_a_list": json.dumps(prefixes_string),
        "prefix_is_a_number": json.dumps(prefix_number),
        "region_is_a_number": json.dumps(region_number),
        "v6_in_ip_prefix": json.dumps(v6_in_v4_list),
        "deep_nesting": '{"syncToken":"1","createDate":"2026-01-01-00-00-00",'
                        '"prefixes":' + "[" * 100000 + "]" * 100000
                        + ',"ipv6_prefixes":[]}',
        "trailing_garbage": good + "}",
        "nul_byte": good[:20] + "\0" + good[20:],
    }


def _bad_beside_unknown_keys():
    """name: (file, words of the message). Unknown keys (which alone are
    ignored) beside one error in a known key: they must not mask it."""
    region_number = _doc()
    region_number["prefixes"][0].update(region=5, scope="public")
    border_number = _doc()
    border_number["prefixes"][0].update(network_border_group=5, weight=3)
    prefixes_object = _doc()
    prefixes_object["prefixes"] = {}
    prefixes_object["ipv4_lists"] = []
    renamed = _doc()
    renamed["prefixes_v2"] = renamed.pop("prefixes")
    no_service = _doc()
    no_service["prefixes"][0]["services"] = [no_service["prefixes"][0].pop(
        "service")]
    too_deep = _doc()
    too_deep["prefixes"][0]["tags"] = {"a": [[[1]]]}
    good = json.dumps(_doc())
    entry = '"service": "AMAZON"'
    return {
        "region_number": (json.dumps(region_number),
                          "region is not a string"),
        "border_group_number": (json.dumps(border_number),
                                "network_border_group is not a string"),
        "prefixes_object": (json.dumps(prefixes_object),
                            "prefixes is not an array"),
        "prefixes_renamed": (json.dumps(renamed), "missing key prefixes"),
        "service_missing": (json.dumps(no_service), "lacks key service"),
        "unknown_key_nested_too_deep": (json.dumps(too_deep),
                                        "nested deeper than 6"),
        "repeated_service": (good.replace(entry, entry + ', "x": 1, ' + entry,
                                          1), "repeated key service"),
        "escaped_key_spelling_region": (good.replace(
            '"region":', '"regio\\u006e": "eu-west-1", "region":', 1),
            "has escapes"),
    }


BAD_FILES = _bad_files()


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_malformed_allowlist_refused(dns, run_proxy, tmp_path, name):
    path = tmp_path / f"ranges-{name}.json"
    path.write_text(BAD_FILES[name])
    assert_refused(run_proxy("--ip-ranges", path), str(path))


BESIDE_UNKNOWN = _bad_beside_unknown_keys()


@pytest.mark.parametrize("name", sorted(BESIDE_UNKNOWN))
def test_known_key_error_beside_unknown_keys_refused(dns, run_proxy, tmp_path,
                                                     name):
    text, why = BESIDE_UNKNOWN[name]
    path = tmp_path / f"ranges-{name}.json"
    path.write_text(text)
    result = run_proxy("--ip-ranges", path)
    assert_refused(result, str(path))
    assert why in result[2], result[2]


def _future_doc():
    """The fixture file as AWS might write it next: new keys of every JSON
    type at the top level and in entries, a new service and a new region."""
    doc = _doc()
    doc["schemaVersion"] = 2
    doc["ipv4_lists"] = [{"name": "ses", "prefixes": ["127.0.0.0/28"]}]
    doc["prefixes"][0].update(scope="public", weight=3, tags={"tier": "a"},
                              ports=[25, 587])
    doc["prefixes"] += [
        {"ip_prefix": "127.0.9.0/24", "region": "us-east-1",
         "service": "SES_SMTP", "network_border_group": "us-east-1",
         "active": True},
        {"ip_prefix": "127.0.10.0/24", "region": "us-north-7",
         "service": "AMAZON"}]
    doc["ipv6_prefixes"][0]["deprecated"] = None
    return doc


FUTURE_IGNORED = {"ignored_top_keys": 2, "ignored_entry_keys": 6}


def test_future_allowlist_checks(dns, run_proxy, tmp_path):
    """Unknown keys are skipped and counted; only AMAZON prefixes of the
    region are allowed, so the SES_SMTP range stays denied."""
    path = tmp_path / "future.json"
    path.write_text(json.dumps(_future_doc(), indent=1))
    dns.set_ses(v4=["127.0.0.2", "127.0.9.1"])
    rc, out, err = run_proxy("--check", "--ip-ranges", path)
    assert rc == 0, out + err
    loaded = [json.loads(l) for l in err.splitlines()
              if '"allowlist_loaded"' in l][0]
    assert {k: int(loaded[k]) for k in FUTURE_IGNORED} == FUTURE_IGNORED
    assert (int(loaded["v4"]), int(loaded["v6"])) == (1, 1)
    line = next(l for l in out.splitlines() if l.startswith("allowlist "))
    assert "ignored_top_keys=2 ignored_entry_keys=6" in line, line
    assert "addr=127.0.0.2 verdict=allowed" in out, out
    assert "addr=127.0.9.1 verdict=denied" in out, out


def test_future_allowlist_starts(dns, ses, proxy_factory, tmp_path):
    path = tmp_path / "future.json"
    path.write_text(json.dumps(_future_doc()))
    proxy = proxy_factory("--ip-ranges", path)
    loaded = proxy.named("allowlist_loaded")[0]
    assert {k: int(loaded[k]) for k in FUTURE_IGNORED} == FUTURE_IGNORED
    with connect() as s:
        assert read_line(s) == SES_GREETING


def test_oversized_allowlist_refused(dns, run_proxy, tmp_path):
    """Valid JSON, but 100 MiB (the real file is 2.6 MB)."""
    path = tmp_path / "huge.json"
    doc = json.dumps(_doc())
    with open(path, "w") as f:
        f.write(doc[:-1] + "," + '"pad":"' + "x" * (100 << 20) + '"}')
    assert_refused(run_proxy("--ip-ranges", path), str(path))


def test_missing_allowlist_refused(dns, run_proxy, tmp_path):
    path = tmp_path / "does-not-exist.json"
    assert_refused(run_proxy("--ip-ranges", path), str(path))


def test_allowlist_directory_refused(dns, run_proxy, tmp_path):
    assert_refused(run_proxy("--ip-ranges", tmp_path), str(tmp_path))


REPORT_KINDS = ("allowlist", "upstream", "address", "result")


def test_check_report_escapes_operator_text(dns, run_proxy, tmp_path):
    """--check prints the --ip-ranges path as the operator gave it: a
    newline in it must not start a report line of its own (here a forged
    `result usable=99`), and a `"` must not end its value; it is escaped as
    in a logfmt log line. (The file's syncToken and createDate are printed
    the same way; the allowlist parser already refuses escapes in them.)"""
    forged = "result usable=99"
    d = tmp_path / f'ranges\n{forged}\n"quoted" dir'
    d.mkdir()
    path = write_allowlist(d / "ip-ranges.json")
    rc, out, err = run_proxy("--check", "--ip-ranges", path)
    assert rc == 0, out + err
    lines = out.splitlines()
    assert forged not in lines, out
    kinds = [line.split(" ", 1)[0] for line in lines]
    assert set(kinds) <= set(REPORT_KINDS), out
    assert kinds.count("allowlist") == 1 and kinds[-1] == "result", out
    assert kinds.count("result") == 1, out
    fields = parse_logfmt(lines[kinds.index("allowlist")].split(" ", 1)[1])
    assert fields is not None, out
    assert fields["file"] == str(path), fields
    assert lines[-1] == "result usable=1", out


def test_allowlist_from_env(dns, ses, proxy_factory, allowlist):
    proxy = proxy_factory(env={"SES_IP_RANGES": str(allowlist)})
    assert proxy.named("allowlist_loaded")[0]["file"] == str(allowlist)


def test_allowlist_missing_env_refused(dns, run_proxy, tmp_path):
    path = str(tmp_path / "nope.json")
    assert_refused(run_proxy(env={"SES_IP_RANGES": path}), path)


# --------------------------------------------------------------------------
# Flags win over environment variables
# --------------------------------------------------------------------------

def test_flag_wins_over_env_region(dns, ses, proxy_factory):
    proxy = proxy_factory("--region", "us-east-1",
                          env={"SES_REGION": "eu-west-1"})
    assert proxy.named("startup")[0]["region"] == "us-east-1"


def test_env_region_used_without_flag(dns, ses_factory, proxy_factory):
    ses_factory("127.0.2.1")
    dns.set_ses(v4=["127.0.2.1"], region="eu-west-1")
    proxy = proxy_factory(env={"SES_REGION": "eu-west-1"})
    assert proxy.named("startup")[0]["region"] == "eu-west-1"


def test_flag_wins_over_env_listen_and_limits(dns, ses, proxy_factory):
    proxy = proxy_factory("--listen", "127.0.0.1:1587", "--max-conns", "9",
                          env={"LISTEN": "127.0.0.1:1599", "MAX_CONNS": "3"})
    assert proxy.named("listening")[0]["addr"] == "127.0.0.1:1587"
    assert int(proxy.named("startup")[0]["max_conns"]) == 9


def test_env_listen_used_without_flag(dns, ses, proxy_factory, allowlist):
    proxy = proxy_factory("--ip-ranges", allowlist, defaults=False,
                          env={"LISTEN": "127.0.0.1:1599"})
    assert proxy.named("listening")[0]["addr"] == "127.0.0.1:1599"


def test_ipv6_listen(dns, ses, proxy_factory):
    proxy = proxy_factory("--listen", "[::1]:1587")
    assert proxy.named("listening")[0]["addr"] == "[::1]:1587"
    with connect(("::1", 1587)) as s:
        assert read_line(s) == SES_GREETING
    assert ses.connections == 1


def test_default_listen_is_both_families(dns, ses, proxy_factory, allowlist):
    """Without --listen: 0.0.0.0:1587 and [::]:1587 (only lo exists here)."""
    proxy = proxy_factory("--ip-ranges", allowlist, defaults=False)
    addrs = {e["addr"] for e in proxy.wait_count("listening", 2)}
    assert addrs == {"0.0.0.0:1587", "[::]:1587"}


def test_write_allowlist_helper_roundtrip(tmp_path):
    """The fixture file is in AWS's format."""
    doc = json.loads(write_allowlist(tmp_path / "a.json").read_text())
    assert set(doc) == {"syncToken", "createDate", "prefixes", "ipv6_prefixes"}
    assert set(doc["prefixes"][0]) == {"ip_prefix", "region", "service",
                                       "network_border_group"}
