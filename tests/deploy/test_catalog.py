"""docs/TESTING.md lists every requirement ID the repository cites, each
with the tests that cover it, and no other. The checks run on the real
files, then on broken copies so that each can be seen to fail. (No ID is
written literally here: this file would cite it.)"""

import pytest

import catalog as c


@pytest.fixture(scope="module")
def real():
    return c.CATALOG.read_text(encoding="utf-8"), c.source_files()


def an_id(n):
    """An ID of the first family, built so that this file cites none."""
    return f"{c.FAMILIES[0]}-{n:02d}"


def test_catalog_matches_the_tests(real):
    assert c.check(*real) == []


def test_scan_reads_tests_sources_and_docs_not_data(real):
    _, files = real
    assert {"Makefile", "SECURITY.md", "tests/deploy/catalog.py",
            "tests/integration/test_faults.py",
            "tests/seccomp/probe.c"} <= set(files)
    assert not [f for f in files if f.startswith(("tests/data/", "build/"))
                or "/corpus/" in f]
    assert "docs/TESTING.md" not in files


def test_every_spelling_is_found():
    """Hyphen, underscore or nothing; any case; in a name, a decorator, a
    docstring, a comment; in a class; at module level only cited."""
    fam = c.FAMILIES[0].lower()
    text = (f'"""Module ({an_id(1)})."""\n'
            f"def test_{fam}02_name():\n    pass\n\n"
            f"@mark('{fam.upper()}_03')\ndef test_b():\n    pass\n\n"
            "class TestC:\n"
            f"    def test_c(self):\n        # {fam}-04\n        pass\n")
    files = {"tests/x/test_x.py": text, "tests/x/helper.py": an_id(5)}
    assert c.citations(files) == {an_id(n): [p] for n, p in
                                  [(1, "tests/x/test_x.py"),
                                   (2, "tests/x/test_x.py"),
                                   (3, "tests/x/test_x.py"),
                                   (4, "tests/x/test_x.py"),
                                   (5, "tests/x/helper.py")]}
    assert c.coverage(files) == {
        an_id(2): ["tests/x/test_x.py::test_" + fam + "02_name"],
        an_id(3): ["tests/x/test_x.py::test_b"],
        an_id(4): ["tests/x/test_x.py::test_c"]}
    assert c.ids_in(f"{fam}123 x{fam}-01 {fam}-1") == set()


def test_fails_on_a_cited_id_the_catalog_lacks(real):
    text, files = real
    victim = next(iter(c.parse_catalog(text)))
    broken = "\n".join(line for line in text.splitlines()
                       if not line.startswith(f"| {victim} |"))
    problems = c.check(broken, files)
    assert len(problems) == 1
    assert problems[0].startswith(f"{victim} is cited (")
    assert problems[0].endswith("but not in the catalog")


def test_fails_on_a_catalogued_id_no_test_covers(real):
    text, files = real
    unused = next(an_id(n) for n in range(1, 100)
                  if an_id(n) not in c.parse_catalog(text))
    broken = text + f"\n| {unused} | something | `tests/x.py::test_x` |\n"
    assert c.check(broken, files) == [
        f"{unused} is in the catalog but no test covers it"]


def test_fails_when_the_only_test_of_an_id_goes(real):
    """The ID still cited outside a test (a module docstring) is not
    covered by that."""
    text, files = real
    covered = c.coverage(files)
    victim, test = next((i, t[0]) for i, t in covered.items() if len(t) == 1)
    path, name = test.split("::")
    broken = dict(files)
    broken[path] = files[path].replace(f"def {name}(", "def helper_gone(")
    broken[path] += f"\n# {victim}\n"
    assert f"{victim} is in the catalog but no test covers it" in \
        c.check(text, broken)


def test_fails_when_a_row_lists_other_tests(real):
    text, files = real
    victim, tests = next(iter(c.coverage(files).items()))
    path, name = tests[0].split("::")
    broken = dict(files)
    broken[path] = files[path].replace(f"def {name}(",
                                       f"def {name}_renamed(")
    problems = c.check(text, broken)
    assert len(problems) == 1 and problems[0].startswith(f"{victim} lists ")


def test_fails_on_a_row_without_meaning_or_repeated(real):
    text, files = real
    victim = next(iter(c.parse_catalog(text)))
    row = next(line for line in text.splitlines()
               if line.startswith(f"| {victim} |"))
    tests = row.split("|")[3]
    assert c.check(text.replace(row, f"| {victim} | |{tests}|"), files) == \
        [f"{victim} has no meaning in the catalog"]
    assert c.check(text + "\n" + row + "\n", files) == \
        [f"{victim} has 2 rows in the catalog"]


@pytest.mark.parametrize("tail", ["..07", "/06", ", -03"])
def test_fails_on_shorthand(real, tail):
    text, files = real
    broken = dict(files)
    broken["tests/x.py"] = f"covers {an_id(1)}{tail}\n"
    problems = c.check(text, broken)
    assert any(p.startswith("tests/x.py: write each ID in full")
               for p in problems), problems


def test_printed_rows_are_the_catalog_rows(real):
    """What `catalog.py` prints is what the catalog holds."""
    text, files = real
    assert c.rows(text, files) == [line for line in text.splitlines()
                                   if c.ROW.match(line)]
