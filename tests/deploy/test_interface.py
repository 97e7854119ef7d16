"""The docs match the program: --help is config.c's option table, the
README's configuration table is --help, and docs/logs.md lists every event
the C source logs with exactly the fields it logs.  Each check is also fed
a broken copy, so that it cannot pass by accident."""

import copy
import re

import pytest

import deploylib as d


@pytest.fixture(scope="module")
def help_rows(binary_help):
    return d.help_rows(binary_help)


@pytest.fixture(scope="module")
def readme_rows():
    return d.readme_options(d.README.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def events():
    return d.log_event_fields()


@pytest.fixture(scope="module")
def event_doc():
    return d.event_table(d.EVENTS_DOC.read_text(encoding="utf-8"))


# ---- options ---------------------------------------------------------------

def test_help_is_the_option_table(help_rows):
    """Every flag, value name, variable, text and default of --help comes
    from config.c's table, in its order (and the binary is not stale)."""
    assert help_rows == d.options_from_source()


def test_help_fits_80_columns(binary_help):
    for line in binary_help.splitlines():
        assert len(line) <= 79, line


def test_readme_table_is_help(readme_rows, help_rows):
    assert d.check_options(readme_rows, help_rows) == []


def test_every_option_has_text_and_every_setting_a_default(help_rows):
    for r in help_rows:
        assert r["help"], r["flag"]
        assert (r["env"] is None) == (r["default"] is None), r["flag"]


@pytest.mark.parametrize("mutate", [
    lambda rows: rows.pop(),                                   # a mode missing
    lambda rows: rows[0].update(default="eu-west-1"),          # a default
    lambda rows: rows[1].update(switch=False),                 # SES_FIPS=1
    lambda rows: rows[2].update(env="LISTEN_ADDR"),            # a variable
    lambda rows: rows.append(dict(rows[0], flag="--regoin")),  # not an option
    lambda rows: rows.insert(0, rows.pop(3)),                  # the order
], ids=["missing", "default", "switch", "env", "unknown", "order"])
def test_check_options_catches(readme_rows, help_rows, mutate):
    broken = copy.deepcopy(readme_rows)
    mutate(broken)
    assert d.check_options(broken, help_rows) != []


def test_readme_parser_reads_the_known_rows(readme_rows):
    rows = {r["flag"]: r for r in readme_rows}
    assert rows["--listen"]["default"] == "0.0.0.0:1587 and [::]:1587"
    assert rows["--fips"] == {"flag": "--fips", "env": "SES_FIPS",
                              "switch": True, "default": "off"}
    assert rows["--healthcheck"]["env"] is None


# ---- events ----------------------------------------------------------------

def test_every_event_and_field_is_documented(event_doc, events):
    assert d.check_event_table(event_doc, events) == []


def test_one_event_table():
    """docs/logs.md is the only place with an event table."""
    for path in sorted(d.REPO.glob("**/*.md")):
        if path == d.EVENTS_DOC or "build" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\| event \|", text, re.M), path


def test_event_extraction_reads_fields(events):
    assert events["upstream_resolve_failed"] == {"host", "error", "retry_s",
                                                 "kept"}
    assert events["worker_exited"] >= {"code", "signal"}  # via log_signal
    assert events["startup_failed"] == {"error", "msg"}    # errno and msg
    assert "stop_forwarded" in events                      # event not first


@pytest.mark.parametrize("mutate", [
    lambda t: t.pop("conn_error"),
    lambda t: t["upstream_resolve_failed"].discard("kept"),
    lambda t: t["stats"].add("uptime"),
    lambda t: t.update(conn_reset={"conn"}),
], ids=["event", "field", "extra-field", "extra-event"])
def test_check_event_table_catches(event_doc, events, mutate):
    broken = copy.deepcopy(event_doc)
    mutate(broken)
    assert d.check_event_table(broken, events) != []


def test_extraction_refuses_what_it_cannot_read(tmp_path):
    """A log call whose event is not a literal, or a field added outside a
    line, would escape the check: the reader refuses both."""
    (tmp_path / "a.c").write_text(
        'void\nf(const char *ev)\n{\n\tlog_msg(LOG_INFO, ev, "x");\n}\n')
    with pytest.raises(ValueError, match="not a string literal"):
        d.log_event_fields(tmp_path)
    (tmp_path / "a.c").write_text(
        'void\nf(void)\n{\n\tstruct log_line l;\n\tlog_begin(&l, LOG_INFO, '
        '"e");\n\tlog_end(&l);\n\tlog_str(&l, "late", "x");\n}\n')
    with pytest.raises(ValueError, match="late"):
        d.log_event_fields(tmp_path)


# ---- links -------------------------------------------------------------

def _anchor(heading):
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


DOCS = ["README.md", "SECURITY.md", "deploy/README.md", "bench/README.md",
        "docs/logs.md", "docs/internals.md", "docs/load-balancer.md",
        "docs/CHOICES.md"]


@pytest.mark.parametrize("doc", DOCS)
def test_links_resolve(doc):
    """Every relative link names a file that exists, and an anchor that
    is one of its headings (the docs link each fact's one home)."""
    path = d.REPO / doc
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text("utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        assert dest.exists(), f"{doc}: {target}"
        if anchor:
            heads = re.findall(r"^#+ (.*)$", dest.read_text("utf-8"), re.M)
            assert anchor in map(_anchor, heads), f"{doc}: {target}"
