#!/usr/bin/python3
"""sqltest.py — runs SQL test scripts through the real sqlite3 shell.

A script (tests/sql/*.test) is a sequence of cases sharing one project
database, in a fresh temporary folder per script:

    -- setup:
    SQL run (silently) before every case of the file, e.g. ATTACH
    -- case: ppl_new refuses a bad pplid
    -- unchanged
    SELECT ppl_new('../x', '{}');
    -- error: ppl_new: invalid pplid '../x': character '/' not allowed ...
    -- case: lab_settings
    SELECT lab_settings();
    -- expect:
    {"keep":"best_last",...}

Each case runs in its own `sqlite3 -batch` process on the same database file:
`.load` of the extension, the setup, then the case's SQL. `-- expect:` lines
must equal the case's stdout exactly; `-- error:` text must equal the error
the shell printed (without its "Runtime error near line N:" prefix);
`-- unchanged` also asserts that the database's tables and the artifacts
folder are byte-for-byte the same before and after the case. In SQL,
@TMP@ is the script's temporary folder and @ROOT@ the repository root.

Prints "PASS <file>: <case>" / "FAIL <file>: <case>: <why>" lines.
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
SQLITE = os.environ.get("LF_SQLITE3", "sqlite3")
ERR_PREFIX = re.compile(r"^(Runtime error|Parse error|Error)( near line \d+)?: (stepping, )?")


def parse(path):
    setup, cases, cur, mode = [], [], None, None
    for line in open(path, encoding="utf-8").read().splitlines():
        m = re.match(r"^-- (case|setup|expect|error|unchanged)(:\s?(.*))?$", line)
        if m:
            kind, arg = m.group(1), m.group(3)
            if kind == "setup":
                mode = "setup"
            elif kind == "case":
                cur = {"name": arg, "sql": [], "expect": None, "error": None, "unchanged": False}
                cases.append(cur)
                mode = "sql"
            elif kind == "expect":
                cur["expect"] = []
                mode = "expect"
            elif kind == "error":
                cur["error"] = arg or ""
                mode = "error"
            elif kind == "unchanged":
                cur["unchanged"] = True
            continue
        if mode == "setup":
            setup.append(line)
        elif mode == "sql":
            cur["sql"].append(line)
        elif mode == "expect":
            cur["expect"].append(line)
        elif mode == "error" and line.strip():
            cur["error"] += "\n" + line
    return setup, cases


def snapshot(tmp):
    """Digest of every table's rows plus every file under tmp except the db."""
    h = hashlib.sha256()
    db = os.path.join(tmp, "project.db")
    if os.path.exists(db):
        out = subprocess.run([SQLITE, "-batch", db, ".dump"], capture_output=True, text=True).stdout
        h.update(out.encode())
    for dirpath, dirnames, filenames in os.walk(tmp):
        dirnames.sort()
        for d in dirnames:
            h.update(("D " + os.path.relpath(os.path.join(dirpath, d), tmp)).encode())
        for f in sorted(filenames):
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, tmp)
            if rel.startswith("project.db"):
                continue
            h.update(("F " + rel).encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def run_case(tmp, setup, case):
    sub = lambda s: s.replace("@TMP@", tmp).replace("@ROOT@", ROOT)
    script = ".load " + EXT + "\n" + sub("\n".join(setup)) + "\n" + sub("\n".join(case["sql"])) + "\n"
    p = subprocess.run([SQLITE, "-batch", os.path.join(tmp, "project.db")], input=script,
                       capture_output=True, text=True, cwd=tmp, timeout=600)
    return p


def main(files):
    passed = failed = 0
    for path in files:
        name = os.path.basename(path)
        setup, cases = parse(path)
        tmp = tempfile.mkdtemp(prefix="lftest-")
        try:
            for case in cases:
                before = snapshot(tmp) if case["unchanged"] else None
                try:
                    p = run_case(tmp, setup, case)
                except subprocess.TimeoutExpired:
                    print(f"FAIL {name}: {case['name']}: timed out")
                    failed += 1
                    continue
                why = []
                out = [l.rstrip() for l in p.stdout.splitlines()]
                errs = [ERR_PREFIX.sub("", l) for l in p.stderr.splitlines()
                        if l.strip() and not l[0].isspace()]  # skip the shell's SQL context lines
                if case["expect"] is not None:
                    want = [l.rstrip().replace("@TMP@", tmp) for l in case["expect"]]
                    while want and not want[-1]:
                        want.pop()
                    if out != want:
                        why.append("stdout %r, expected %r" % (out, want))
                elif out and case["error"] is None:
                    pass  # output not checked unless asked
                if case["error"] is not None:
                    want = case["error"].replace("@TMP@", tmp)
                    got = "\n".join(errs)
                    if got != want:
                        why.append("error %r, expected %r" % (got, want))
                elif errs:
                    why.append("unexpected error %r" % "\n".join(errs))
                if p.returncode < 0:
                    why.append("sqlite3 died with signal %d" % -p.returncode)
                if before is not None and snapshot(tmp) != before:
                    why.append("database or artifacts changed")
                if why:
                    print(f"FAIL {name}: {case['name']}: " + "; ".join(why))
                    failed += 1
                else:
                    print(f"PASS {name}: {case['name']}")
                    passed += 1
                sys.stdout.flush()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return failed


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:]) else 0)
