#!/usr/bin/python3
"""test_docs.py — the documentation cannot drift from the code.

1. Every example of the pages in EXAMPLE_PAGES runs: each ```sql block in
   a fresh sqlite3 shell (LabFlow loaded) on one project database in an
   empty folder (one per page), in order; a ```text block right after it is
   its exact output (stdout then stderr), where "..." matches any text.
2. The SQL functions LabFlow registers (pragma_function_list with the
   extension loaded, minus without) are exactly the functions documented
   with a "### name(" heading in docs/*.md, and the table-valued functions
   (pragma_module_list) exactly those with a "### `name" heading.

Prints "PASS name" / "FAIL name: why" lines.
"""
import glob
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
SQLITE = os.environ.get("LF_SQLITE3", "sqlite3")
failed = 0
# Pages whose examples run here (docs/manage.md's run in test_transfer.py).
EXAMPLE_PAGES = ["functions.md", "sweeps.md", "models.md", "plugins.md", "sequences.md", "export.md"]


def check(ok, name, why=""):
    global failed
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + why))
    sys.stdout.flush()
    if not ok:
        failed += 1


def blocks(path):
    """(heading, sql, expected-or-None) for each sql block of a markdown file."""
    text = open(path, encoding="utf-8").read()
    out, heading = [], ""
    pattern = re.compile(r"^(#+ [^\n]*)$|^```(\w+)\n(.*?)^```$", re.M | re.S)
    items = []
    for m in pattern.finditer(text):
        if m.group(1):
            heading = m.group(1).lstrip("# ").strip()
        else:
            items.append((heading, m.group(2), m.group(3)))
    for i, (h, lang, body) in enumerate(items):
        if lang != "sql":
            continue
        expected = items[i + 1][2] if i + 1 < len(items) and items[i + 1][1] == "text" else None
        out.append((h, body, expected))
    return out


def matches(expected, got):
    pattern = "^" + ".*".join(re.escape(part) for part in expected.split("...")) + "$"
    return re.match(pattern, got, re.S) is not None


def run_examples(page):
    tmp = tempfile.mkdtemp(prefix="lfdocs-")
    try:
        db = os.path.join(tmp, "project.db")
        for n, (heading, sql, expected) in enumerate(blocks(os.path.join(ROOT, "docs", page))):
            p = subprocess.run([SQLITE, "-batch", db], input=".load " + EXT + "\n" + sql,
                               capture_output=True, text=True, cwd=tmp, timeout=600)
            got = (p.stdout + p.stderr).strip()
            name = "docs/%s example %d (%s)" % (page, n + 1, heading)
            if expected is None:
                check(p.returncode == 0 and not p.stderr.strip(), name, got)
            else:
                check(matches(expected.strip(), got), name, "got %r, documented %r" % (got, expected.strip()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def registered():
    plain = sqlite3.connect(":memory:")
    base_funcs = {r[0] for r in plain.execute("SELECT name FROM pragma_function_list")}
    base_mods = {r[0] for r in plain.execute("SELECT name FROM pragma_module_list")}
    c = sqlite3.connect(":memory:")
    c.enable_load_extension(True)
    c.load_extension(EXT)
    funcs = {r[0] for r in c.execute("SELECT name FROM pragma_function_list")} - base_funcs
    mods = {r[0] for r in c.execute("SELECT name FROM pragma_module_list")} - base_mods
    return funcs, mods


def documented():
    funcs, tables = set(), set()
    for path in glob.glob(os.path.join(ROOT, "docs", "*.md")):
        for line in open(path, encoding="utf-8"):
            m = re.match(r"^###\s+`?(\w+)\(", line)
            if m:
                funcs.add(m.group(1))
            m = re.match(r"^###\s+`(\w+)", line)
            if m:
                tables.add(m.group(1))
    return funcs, tables


def main():
    for page in EXAMPLE_PAGES:
        run_examples(page)
    funcs, mods = registered()
    dfuncs, dtables = documented()
    check(funcs == dfuncs - mods, "registered SQL functions equal the documented set",
          "undocumented %s, documented but not registered %s" % (sorted(funcs - dfuncs), sorted(dfuncs - mods - funcs)))
    check(mods <= dtables, "every table-valued function is documented", "undocumented %s" % sorted(mods - dtables))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
