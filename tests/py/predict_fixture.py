"""predict_fixture.py — what tests/py/test_predict_cache.py and
test_predict_rows.py share: a small csv pipeline config, the PASS/FAIL
reporting, connections that load LabFlow, and one-value/error helpers.
Not a test itself (run.sh runs test_*.py only).
"""
import json
import os
import sqlite3
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
SQLITE = os.environ.get("LF_SQLITE3", "sqlite3")

ROWS = [(i, (i % 7) / 3.0 - 1.0, (i % 5) / 2.0 - 1.0, (i % 3) - 1.0) for i in range(60)]
CSV = "x1,x2,x3,y\n" + "".join("%r,%r,%r,%d\n" % (a, b, c, int(a + b - c > 0)) for _, a, b, c in ROWS)


def config(seed, out=8):
    return json.dumps({
        "model": {"loc": "Sequential", "args": {"layers": [
            {"loc": "Linear", "args": {"out": out}}, {"loc": "ReLU"},
            {"loc": "Linear", "args": {"out": 2}}]}},
        "dataset": {"loc": "csv", "args": {"label": "y", "features": ["x1", "x2", "x3"], "standardize": True}},
        "train_data_src": "d.csv", "val_data_src": "d.csv",
        "loss": {"loc": "CrossEntropyLoss"},
        "optimizer": {"loc": "Adam", "args": {"lr": 0.05}},
        "metrics": {"accuracy": {"loc": "Accuracy"}},
        "train_batch_size": 8, "val_batch_size": 16, "seed": seed,
    })


SAMPLE = "[[0.5, 0.5, -1], [-1, -0.5, 1], [0.2, -0.3, 0]]"
failed = 0


def report(name, ok, why=""):
    global failed
    if ok:
        print("PASS " + name)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why))
    sys.stdout.flush()


def check(name, fn):
    try:
        fn()
        report(name, True)
    except Exception as e:  # one failed check must not hide the others
        report(name, False, "%s: %s" % (type(e).__name__, e))


def connect(path):
    con = sqlite3.connect(path, isolation_level=None)
    con.enable_load_extension(True)
    con.load_extension(EXT)
    con.enable_load_extension(False)
    return con


def one(con, sql, *args):
    return con.execute(sql, args).fetchone()[0]


def stats(con):
    return json.loads(one(con, "SELECT ppl_predict_cache()"))


def fresh(path, pplid, epoch="best", sample=SAMPLE):
    """The prediction of a new connection, which has nothing cached."""
    con = connect(path)
    try:
        return one(con, "SELECT ppl_predict(?, ?, ?)", pplid, sample, epoch)
    finally:
        con.close()


def shell(path, sql):
    r = subprocess.run([SQLITE, "-batch", path], input=".load %s\n%s\n" % (EXT, sql),
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0 or r.stderr.strip():
        raise AssertionError("sqlite3 shell: %s %s" % (r.returncode, r.stderr.strip()))
    return r.stdout.strip()


def expect_error(con, sql, *args, contains=""):
    try:
        con.execute(sql, args).fetchall()
    except sqlite3.Error as e:
        if contains not in str(e):
            raise AssertionError("error %r lacks %r" % (str(e), contains))
        return str(e)
    raise AssertionError("no error from %s" % sql)
