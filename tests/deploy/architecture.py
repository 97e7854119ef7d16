"""docs/ARCHITECTURE.md against the source: its module table names every
module and no other, and the layers it gives them agree with the
#include graph, which has no cycle.

A module is a top-level `X.c` with its `X.h` (proxy.c has no header), or
a build tool `tools/X.c`. It depends on every project header its `.c` or
`.h` includes, other than its own. The table's rows are
`| layer | \\`X.c\\` | what it owns |`; a module may include headers of
its own layer or of lower ones only. Every function the document cites
as `name()` must be defined in a `.c` file, and every path it names in
backquotes (a path with a slash, or a .c or .h file) and every
relative link must exist.

    /usr/bin/python3 tests/deploy/architecture.py

prints each module with its layer and what it includes.

Pure functions of text: tests/deploy/test_architecture.py feeds them
broken copies."""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "ARCHITECTURE.md"
ROW = re.compile(r"^\| *([0-9]+) *\| *`([\w./-]+)\.c` *\|", re.M)
INCLUDE = re.compile(r'^\s*#\s*include\s+"([\w./-]+)\.h"', re.M)
CITED_FN = re.compile(r"`([a-z_][a-z0-9_]*)\(\)`")
CITED_PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]+|[\w.-]+\.[ch])`")
LINK = re.compile(r"\]\(([^)#:]+)(?:#[^)]*)?\)")
FN_DEF = re.compile(r"^([a-z_][a-z0-9_]*)\(", re.M)


def source_files(root=REPO):
    """{path: text} of every top-level .c/.h and tools/*.c."""
    paths = sorted(root.glob("*.[ch]")) + sorted(root.glob("tools/*.c"))
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for p in paths}


def module_of(path):
    """"relay.c" and "relay.h" -> "relay"; "tools/x.c" -> "tools/x"."""
    return path.rsplit(".", 1)[0]


def include_graph(files):
    """{module: set of modules whose headers it includes}."""
    graph = {}
    for path, text in files.items():
        m = module_of(path)
        deps = graph.setdefault(m, set())
        for h in INCLUDE.findall(text):
            if h != m:
                deps.add(h)
    return graph


def cycle(graph):
    """One include cycle as a list [a, b, ..., a], or None."""
    state = {}

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return path[path.index(d):] + [d]
            if d not in state:
                found = visit(d, path + [d])
                if found:
                    return found
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m, [m])
            if found:
                return found
    return None


def layers(doc):
    """{module: layer} from the document's module table."""
    out = {}
    for layer, m in ROW.findall(doc):
        out.setdefault(m, []).append(int(layer))
    return out


def defined_functions(files):
    return {name for path, text in files.items() if path.endswith(".c")
            for name in FN_DEF.findall(text)}


def check(doc, files, exists=lambda p: (REPO / p).exists()):
    """Every disagreement between ${doc} and ${files}, one line each."""
    problems = []
    graph = include_graph(files)
    table = layers(doc)
    for m in sorted(set(graph) - set(table)):
        problems.append(f"{m}.c is a module but not in the table")
    for m, ls in sorted(table.items()):
        if m not in graph:
            problems.append(f"{m}.c is in the table but does not exist")
        if len(ls) > 1:
            problems.append(f"{m}.c is in the table {len(ls)} times")
    for m, deps in sorted(graph.items()):
        for d in sorted(deps):
            if d not in graph:
                problems.append(f"{m} includes {d}.h, which is no module")
            elif m in table and d in table and table[d][0] > table[m][0]:
                problems.append(f"{m} (layer {table[m][0]}) includes "
                                f"{d}.h (layer {table[d][0]})")
    found = cycle(graph)
    if found:
        problems.append("include cycle: " + " -> ".join(found))
    fns = defined_functions(files)
    for fn in sorted(set(CITED_FN.findall(doc)) - fns):
        problems.append(f"{fn}() is cited but defined in no .c file")
    for p in sorted(set(CITED_PATH.findall(doc))):
        if not exists(p):
            problems.append(f"{p} is named but does not exist")
    for p in sorted(set(LINK.findall(doc))):
        if not exists("docs/" + p):
            problems.append(f"the link to {p} leads nowhere")
    return problems


def main():
    graph = include_graph(source_files())
    table = {m: ls[0] for m, ls in
             layers(DOC.read_text(encoding="utf-8")).items()}
    for m in sorted(graph, key=lambda m: (table.get(m, -1), m)):
        print(f"{table.get(m, '?')}  {m}: {' '.join(sorted(graph[m]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
