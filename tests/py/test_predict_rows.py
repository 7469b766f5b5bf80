#!/usr/bin/python3
"""test_predict_rows.py — ppl_predict_rows scores a query's rows exactly like
row-by-row ppl_predict, in batches, on the connection's cached model, with
the project's threads setting, and refuses a query that could write.

Every check compares a cached connection's answer with the answer of a
fresh connection (or another process), which loads the weight file anew.
Prints "PASS <name>" / "FAIL <name>: <why>" lines; exits 1 on a failure.
Run with /usr/bin/python3 (its sqlite3 module can load extensions).
"""
import ctypes
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile

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


def main():
    tmp = tempfile.mkdtemp(prefix="lf-rows-")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % failed)
    sys.exit(1 if failed else 0)


def run(tmp):
    path = os.path.join(tmp, "lab.db")
    with open(os.path.join(tmp, "d.csv"), "w") as f:
        f.write(CSV)
    A = connect(path)
    one(A, "SELECT lab_init(?)", '{"metrics":["accuracy"],"progress":false,"threads":1}')
    one(A, "SELECT ppl_new('p', ?)", config(1))
    one(A, "SELECT ppl_new('q', ?)", config(2))
    one(A, "SELECT ppl_train('p', 2)")
    one(A, "SELECT ppl_train('q', 1)")

    def rows_equal_row_by_row():
        A.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, tag TEXT, x1 REAL, x2 REAL, x3 REAL)")
        A.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [(i, "r%d" % i, a, b, c) for i, a, b, c in ROWS])
        for mode in ("raw", "proba", "class"):
            single = dict(A.execute("SELECT id, ppl_predict('p', json_array(x1, x2, x3), 'best', ?) FROM t",
                                    (mode,)).fetchall())
            rows = A.execute("SELECT key, keys, prediction FROM ppl_predict_rows('p', "
                             "'SELECT id, tag, x1, x2, x3 FROM t', 'best', ?)", (mode,)).fetchall()
            assert len(rows) == len(ROWS) == len(single), (len(rows), len(single))
            for key, keys, pred in rows:
                assert json.loads(keys) == {"id": key, "tag": "r%d" % key}, keys
                a, b = json.loads(pred), json.loads(single[key])
                if mode == "class":
                    assert a == b, (key, a, b)
                else:
                    assert all(abs(u - v) <= 1e-5 * max(1, abs(v)) for u, v in zip(a, b)), (key, a, b)
        # The sample as one column: a JSON array, a float32 BLOB.
        via_json = A.execute("SELECT key, prediction FROM ppl_predict_rows('p', "
                             "'SELECT id, json_array(x1, x2, x3) FROM t')").fetchall()
        A.create_function("f32", 3, lambda a, b, c: struct.pack("<3f", a, b, c))
        blobs = [(i, struct.pack("<3f", a, b, c)) for i, a, b, c in ROWS]
        A.execute("CREATE TABLE tb(id INTEGER, feats BLOB)")
        A.executemany("INSERT INTO tb VALUES (?, ?)", blobs)
        via_blob = A.execute("SELECT key, prediction FROM ppl_predict_rows('p', "
                             "'SELECT id, feats FROM tb ORDER BY id')").fetchall()
        assert [k for k, _ in via_json] == [k for k, _ in via_blob] == [r[0] for r in ROWS]
        for (_, a), (_, b) in zip(via_json, via_blob):
            assert all(abs(u - v) <= 1e-5 * max(1, abs(v)) for u, v in zip(json.loads(a), json.loads(b)))
    check("ppl_predict_rows equals row-by-row ppl_predict on every row (60 rows, batches of 16)",
          rows_equal_row_by_row)

    def rows_refuses_writes():
        for sql in ("DELETE FROM t", "INSERT INTO t(id) VALUES (1000)", "UPDATE t SET x1 = 0",
                    "CREATE TABLE z(a)", "DROP TABLE t", "PRAGMA user_version = 5"):
            expect_error(A, "SELECT * FROM ppl_predict_rows('p', ?)", sql, contains="ppl_predict_rows")
        assert one(A, "SELECT count(*) FROM t WHERE x1 IS NOT NULL") == len(ROWS)
        assert one(A, "SELECT count(*) FROM sqlite_schema WHERE name = 'z'") == 0
        expect_error(A, "SELECT * FROM ppl_predict_rows('p', 'SELECT id, tag FROM t')", contains="row 1 column 'tag'")
        expect_error(A, "SELECT * FROM ppl_predict_rows('nope', 'SELECT 1')", contains="no pipeline 'nope'")
        expect_error(A, "SELECT * FROM ppl_predict_rows('p', 'SELECT 1, ''[1,2,3]''', 'best', 'guess')",
                     contains="mode must be")
    check("ppl_predict_rows refuses a non-SELECT source and says what is wrong with a row",
          rows_refuses_writes)

    def rows_while_file_changes():
        # A cursor keeps its model while ppl_predict reloads another one.
        got = A.execute("SELECT count(*), count(DISTINCT ppl_predict('q', json_array(1, 2, 3))) "
                        "FROM ppl_predict_rows('p', 'SELECT id, x1, x2, x3 FROM t')").fetchone()
        assert got == (len(ROWS), 1), got
    check("ppl_predict_rows and ppl_predict share the cache in one statement", rows_while_file_changes)

    def threads_restored():
        gomp = ctypes.CDLL("libgomp.so.1")
        gomp.omp_set_num_threads(3)
        n = len(A.execute("SELECT * FROM ppl_predict_rows('p', 'SELECT id, x1, x2, x3 FROM t')").fetchall())
        assert n == len(ROWS)
        assert stats(A)["threads"] == 1, stats(A)
        assert gomp.omp_get_max_threads() == 3, gomp.omp_get_max_threads()
    check("ppl_predict_rows uses the threads setting and restores the caller's thread count", threads_restored)
    A.close()


main()
