"""The requirement IDs the tests cite, and the catalog that defines them
(docs/TESTING.md).

An ID is a family and two digits: SBX-07, FLT-16, or in a test's name
test_egr05_...; any case, with a hyphen, an underscore or nothing between.
A file cites every ID written anywhere in it. A test covers an ID when the
ID is in its name, its decorators, its docstring or its body. The catalog
has one table row per ID: `| ID | what it requires | the tests |`, the
tests as `path::name` in backquotes.

    /usr/bin/python3 tests/deploy/catalog.py

prints the catalog's rows as the tests make them (the meanings kept), for
pasting after a test is added or renamed.

Pure functions of text: tests/deploy/test_catalog.py feeds them broken
copies."""

import ast
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "docs" / "TESTING.md"
FAMILIES = ("SBX", "PRV", "EGR", "INP", "LOAD", "FLT", "CTR")
ID = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(FAMILIES) +
                r")[-_]?([0-9]{2})(?![0-9])", re.I)
# An ID followed by "..07", "/06" or ", -03": IDs a reader cannot grep for.
SHORTHAND = re.compile(ID.pattern + r"(\s*(\.\.|/|,\s*-)\s*[0-9]{2})+",
                       re.I)
ROW = re.compile(r"^\| *([A-Z]+-[0-9]{2}) *\|(.*)\|(.*)\|$", re.M)
TEST_REF = re.compile(r"`([^`]+::[^`]+)`")
SUFFIXES = {".py", ".c", ".h", ".sh", ".md", ".txt", ".ini", ".yaml",
            ".yml"}
NAMES = {"Makefile", "Dockerfile"}
SKIP_DIRS = {".git", "build", "__pycache__", "corpus", "data"}


def ids_in(text):
    """The IDs text cites, spelled canonically (EGR-05)."""
    return {f"{m.group(1).upper()}-{m.group(2)}" for m in ID.finditer(text)}


def source_files(root=REPO):
    """path relative to root -> text, for every file that can cite an ID:
    sources, scripts, tests and documents, not data (tests/data, fuzz
    corpora), builds or the catalog itself."""
    out = {}
    catalog = root / CATALOG.relative_to(REPO)
    for top, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(names):
            path = Path(top) / name
            if path == catalog or (path.suffix not in SUFFIXES
                                   and name not in NAMES):
                continue
            out[str(path.relative_to(root))] = path.read_text(
                encoding="utf-8", errors="replace")
    return out


def test_functions(text):
    """(name, source) of every pytest test in a Python file's text: its
    module-level and class-level test_* functions, decorators included."""
    lines = text.splitlines()
    out = []
    for node in ast.walk(ast.parse(text)):
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and node.name.startswith("test")):
            first = min([node.lineno] +
                        [d.lineno for d in node.decorator_list])
            out.append((node.name,
                        "\n".join(lines[first - 1:node.end_lineno])))
    return out


def is_test_file(rel):
    name = Path(rel).name
    return (rel.startswith("tests/") and name.startswith("test_")
            and name.endswith(".py"))


def coverage(files):
    """ID -> sorted ["path::test", ...] over the test files of files."""
    out = {}
    for rel, text in files.items():
        if not is_test_file(rel):
            continue
        for name, source in test_functions(text):
            for i in ids_in(source):
                out.setdefault(i, set()).add(f"{rel}::{name}")
    return {i: sorted(tests) for i, tests in out.items()}


def citations(files):
    """ID -> sorted paths of the files that cite it."""
    out = {}
    for rel, text in files.items():
        for i in ids_in(text):
            out.setdefault(i, set()).add(rel)
    return {i: sorted(paths) for i, paths in out.items()}


def parse_catalog(text):
    """ID -> (meaning, [tests]) from the catalog's table rows."""
    rows = {}
    for m in ROW.finditer(text):
        rows.setdefault(m.group(1), []).append(
            (m.group(2).strip(), TEST_REF.findall(m.group(3))))
    return rows


def check(catalog_text, files):
    """Problems, one string each: IDs cited but not catalogued, catalogued
    but covered by no test, rows whose tests are not the ones that cite
    the ID, rows without a meaning, repeated rows, and shorthand that
    hides IDs from a search."""
    rows = parse_catalog(catalog_text)
    cited = citations(files)
    covered = coverage(files)
    problems = []
    for i in sorted(set(cited) - set(rows)):
        problems.append(f"{i} is cited ({', '.join(cited[i])}) but not in "
                        "the catalog")
    for i, entries in sorted(rows.items()):
        if len(entries) > 1:
            problems.append(f"{i} has {len(entries)} rows in the catalog")
        meaning, listed = entries[0]
        if not meaning:
            problems.append(f"{i} has no meaning in the catalog")
        if i not in covered:
            problems.append(f"{i} is in the catalog but no test covers it")
        elif sorted(listed) != covered[i]:
            problems.append(f"{i} lists {sorted(listed)}, but the tests "
                            f"that cite it are {covered[i]}")
    for rel, text in sorted(files.items()):
        for m in SHORTHAND.finditer(text):
            problems.append(f"{rel}: write each ID in full, not "
                            f"{m.group(0)!r}")
    return problems


def rows(catalog_text, files):
    """The catalog's table rows as the tests make them."""
    old = parse_catalog(catalog_text)
    covered = coverage(files)
    out = []
    for i in sorted(set(covered) | set(citations(files)),
                    key=lambda i: (FAMILIES.index(i.split("-")[0]), i)):
        meaning = old.get(i, [("", [])])[0][0]
        tests = "<br>".join(f"`{t}`" for t in covered.get(i, []))
        out.append(f"| {i} | {meaning} | {tests} |")
    return out


if __name__ == "__main__":
    sys.stdout.write("\n".join(rows(CATALOG.read_text(encoding="utf-8"),
                                    source_files())) + "\n")
