#!/usr/bin/python3
"""test_reprepare.py — a statement prepared on ppl_history / ppl_status /
ppl_details before lab_settings added a metric just works afterwards.

Python's sqlite3 module keeps prepared statements in a cache, so running
the same SELECT again reuses the statement prepared before the change.
LabFlow then declares the table afresh and answers SQLITE_SCHEMA, which
makes sqlite3_step prepare the statement again and run it: the caller gets
the new columns and no error (before: "the project's metrics changed ...;
run it again", and in Python running it again failed the same way).

Prints "PASS name" / "FAIL name: why" lines and "N passed, N failed".
"""
import json
import os
import shutil
import sqlite3
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
T = "reprepare"
passed = failed = 0

CONFIG = {
    "model": {"loc": "Sequential", "args": {"layers": [{"loc": "Linear", "args": {"out": 2}}]}},
    "dataset": {"loc": "csv", "args": {"label": "y"}},
    "train_data_src": "d.csv", "val_data_src": "d.csv",
    "loss": {"loc": "CrossEntropyLoss"},
    "optimizer": {"loc": "SGD", "args": {"lr": 0.1}},
    "metrics": {"accuracy": {"loc": "Accuracy"}},
    "train_batch_size": 2,
}


def report(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS %s: %s" % (T, name), flush=True)
    else:
        failed += 1
        print("FAIL %s: %s: %s" % (T, name, " ".join(str(why).split())[:400]), flush=True)


def connect(db):
    c = sqlite3.connect(db)
    c.enable_load_extension(True)
    c.load_extension(EXT)
    return c


def main():
    tmp = tempfile.mkdtemp(prefix="lfreprep-")
    try:
        with open(os.path.join(tmp, "d.csv"), "w") as f:
            f.write("x1,x2,y\n1,2,0\n2,3,1\n0,1,0\n3,1,1\n")
        db = os.path.join(tmp, "p.db")
        con = connect(db)
        con.execute("SELECT lab_init('{\"metrics\":[\"accuracy\"],\"progress\":false}')").fetchone()
        con.execute("SELECT ppl_new('a', ?)", (json.dumps(CONFIG),)).fetchone()
        con.execute("SELECT ppl_train('a', 1)").fetchone()
        queries = {
            "ppl_history": "SELECT * FROM ppl_history('a')",
            "ppl_status": "SELECT * FROM ppl_status WHERE pplid = 'a'",
            "ppl_details": "SELECT * FROM ppl_details('a')",
        }
        before = {}
        for name, q in queries.items():
            cur = con.execute(q)
            cur.fetchall()
            before[name] = [d[0] for d in cur.description]
        # Another connection (another process, in real use) adds a metric.
        other = connect(db)
        other.execute("SELECT lab_settings('{\"metrics\":[\"accuracy\",\"f1\"]}')").fetchone()
        other.close()
        for name, q in queries.items():
            try:
                cur = con.execute(q)   # the cached statement, prepared before
                rows = cur.fetchall()
                cols = [d[0] for d in cur.description]
                new = [c for c in cols if c not in before[name]]
                ok = len(rows) == 1 and new and all("f1" in c for c in new)
                nulls = all(rows[0][cols.index(c)] is None for c in new) if ok else False
                report("%s: the statement prepared before the change runs and shows the new columns" % name,
                       ok, "columns %r -> %r, rows %r" % (before[name], cols, rows))
                report("%s: the new columns are NULL for the epoch trained before" % name, nulls, repr(rows))
            except sqlite3.Error as e:
                report("%s: the statement prepared before the change runs and shows the new columns" % name, False, e)
        con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
