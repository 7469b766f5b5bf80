#!/usr/bin/python3
"""test_readme.py — the README's first example runs exactly as printed.

The first ``` block of README.md is a sqlite3 shell session started from
the repository root: "$ sqlite3 <db>" then "sqlite> <statement>" lines
(other lines are output shown for illustration). The test takes the
statements from README.md itself, so it follows the README as it changes,
and types them into a real sqlite3 shell in a folder laid out like the
repository root (labflow.so and examples/ linked from it, so no database is
left in the checkout). Every statement must run without an error, training
must print its progress, and the last query must list the epochs trained.

Prints "PASS name" / "FAIL name: why" lines.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SQLITE = os.environ.get("LF_SQLITE3", "sqlite3")
failed = 0


def check(ok, name, why=""):
    global failed
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + why))
    sys.stdout.flush()
    if not ok:
        failed += 1


def first_block():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    m = re.search(r"^```[^\n]*\n(.*?)^```$", text, re.M | re.S)
    return m.group(1).splitlines() if m else []


def main():
    lines = first_block()
    shell = [l[2:].split() for l in lines if l.startswith("$ ")]
    stmts = [l[len("sqlite> "):] for l in lines if l.startswith("sqlite> ")]
    check(len(shell) == 1 and shell[0][:1] == ["sqlite3"] and len(shell[0]) == 2 and len(stmts) >= 4,
          "readme: the first block is one sqlite3 session", repr(lines[:3]))
    if failed:
        return
    db = shell[0][1]
    tmp = tempfile.mkdtemp(prefix="lfreadme-")
    try:
        ext = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow")) + ".so"
        os.symlink(ext, os.path.join(tmp, "labflow.so"))
        os.symlink(os.path.join(ROOT, "examples"), os.path.join(tmp, "examples"))
        # Each statement is followed by a marker, so the output of each can
        # be told apart; the shell must not stop at an error (no -bail).
        script = "".join(s + "\n" + ".print @@%d\n" % i for i, s in enumerate(stmts))
        p = subprocess.run([SQLITE, db], input=script, capture_output=True, text=True,
                           cwd=tmp, timeout=1800)
        errors = [l for l in p.stderr.splitlines() if "error" in l.lower()]
        check(p.returncode == 0 and not errors, "readme: every statement of the first block runs",
              "rc %d, %s" % (p.returncode, (errors or [p.stderr[-500:]])[:3]))
        reads = [s for s in stmts if "readfile(" in s]
        check(reads and all(os.path.exists(os.path.join(ROOT, f))
                            for s in reads for f in re.findall(r"readfile\('([^']+)'\)", s)),
              "readme: the files it reads ship with the repository", repr(reads))
        trains = [s for s in stmts if "ppl_train(" in s]
        m = re.search(r"ppl_train\('([^']+)', (\d+)\)", trains[0]) if trains else None
        check(m is not None and re.search(r"%s epoch %s:" % (re.escape(m.group(1)), m.group(2)), p.stderr),
              "readme: training shows its progress for every epoch", p.stderr[-300:])
        last = p.stdout.split("@@%d\n" % (len(stmts) - 2))[-1].split("@@")[0].strip().splitlines()
        epochs = [l.split("|")[0] for l in last]
        check(m is not None and epochs == [str(e) for e in range(1, int(m.group(2)) + 1)]
              and all(0.5 < float(l.split("|")[1]) <= 1 for l in last),
              "readme: the history lists each epoch trained with its accuracy", repr(last))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
print("%d failed" % failed)
sys.exit(1 if failed else 0)
