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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import predict_fixture as F  # noqa: E402
from predict_fixture import (EXT, ROWS, CSV, SAMPLE, config, report, check, connect, one,  # noqa: E402,F401
                             stats, fresh, shell, expect_error)


def main():
    tmp = tempfile.mkdtemp(prefix="lf-rows-")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % F.failed)
    sys.exit(1 if F.failed else 0)


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
