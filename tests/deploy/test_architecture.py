"""docs/ARCHITECTURE.md names every module with its layer, the layers
agree with the #include graph, and that graph has no cycle. The checks run
on the real files, then on broken copies so that each can be seen to
fail."""

import pytest

import architecture as a


@pytest.fixture(scope="module")
def real():
    return a.DOC.read_text(encoding="utf-8"), a.source_files()


def test_architecture_matches_the_source(real):
    assert a.check(*real) == []


def test_every_module_is_found(real):
    doc, files = real
    graph = a.include_graph(files)
    assert {"proxy", "relay", "pump", "cidr", "tools/seccomp-gen"} <= \
        set(graph)
    assert "relay" in graph["proxy"] and "proxy" not in graph["relay"]
    assert set(a.layers(doc)) == set(graph)


def test_fails_on_a_module_missing_from_the_table(real):
    doc, files = real
    broken = "\n".join(line for line in doc.splitlines()
                       if not line.startswith("| 3 | `pump.c` |"))
    assert a.check(broken, files) == ["pump.c is a module but not in the "
                                      "table"]


def test_fails_on_a_new_c_file_not_in_the_table(real):
    doc, files = real
    files = dict(files, **{"newmod.c": '#include "log.h"\n'})
    assert a.check(doc, files) == ["newmod.c is a module but not in the "
                                   "table"]


def test_fails_on_a_module_that_does_not_exist(real):
    doc, files = real
    files = {p: t for p, t in files.items()
             if a.module_of(p) != "staleness"}
    problems = a.check(doc, files)
    assert "staleness.c is in the table but does not exist" in problems
    # relay.c still includes staleness.h
    assert "relay includes staleness.h, which is no module" in problems


def test_fails_on_a_module_listed_twice(real):
    doc, files = real
    broken = doc.replace("| 2 | `loop.c` |", "| 2 | `loop.c` | x |\n"
                         "| 2 | `loop.c` |")
    assert a.check(broken, files) == ["loop.c is in the table 2 times"]


def test_fails_when_a_layer_is_too_low(real):
    """pump.c put below loop.c, which it includes."""
    doc, files = real
    broken = doc.replace("| 3 | `pump.c` |", "| 1 | `pump.c` |")
    assert a.check(broken, files) == ["pump (layer 1) includes loop.h "
                                      "(layer 2)"]


def test_fails_when_a_module_includes_upwards(real):
    """A parser reaching up into the event loop (no cycle)."""
    doc, files = real
    files = dict(files)
    files["json.c"] = '#include "loop.h"\n' + files["json.c"]
    assert a.check(doc, files) == ["json (layer 0) includes loop.h "
                                   "(layer 2)"]


def test_fails_on_an_include_cycle(real):
    """Same layer, so only the cycle check sees it."""
    doc, files = real
    files = dict(files)
    files["cidr.h"] = '#include "json.h"\n' + files["cidr.h"]
    files["json.c"] = '#include "log.h"\n' + files["json.c"]
    files["log.c"] = '#include "cidr.h"\n' + files["log.c"]
    assert a.check(doc, files) == [
        "include cycle: cidr -> json -> log -> cidr"]


def test_cycle_finder():
    assert a.cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert a.cycle({"a": {"a"}}) == ["a", "a"]
    assert a.cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]


def test_fails_on_a_cited_function_that_is_gone(real):
    doc, files = real
    files = dict(files)
    files["relay.c"] = files["relay.c"].replace("\nadmit(", "\nadmit2(")
    assert a.check(doc, files) == ["admit() is cited but defined in no .c "
                                   "file"]


def test_fails_on_a_named_file_or_link_that_is_gone(real):
    doc, files = real
    assert a.check(doc, files, exists=lambda p: p not in {
        "tests/fuzz/fuzz_dns.c", "docs/internals.md"}) == [
        "tests/fuzz/fuzz_dns.c is named but does not exist",
        "the link to internals.md leads nowhere"]
