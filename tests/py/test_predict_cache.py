#!/usr/bin/python3
"""test_predict_cache.py — ppl_predict's per-connection model cache is never
stale and stays within its memory bound; inputs as the data had them.

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
    tmp = tempfile.mkdtemp(prefix="lf-cache-")
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
    one(A, "SELECT lab_init(?)", '{"metrics":["accuracy"],"progress":false,"keep":"all","threads":1}')
    one(A, "SELECT ppl_new('p', ?)", config(1))
    one(A, "SELECT ppl_new('q', ?)", config(2))
    one(A, "SELECT ppl_train('p', 1)")
    one(A, "SELECT ppl_train('q', 3)")
    art = path + ".labflow"

    def repeated_calls_reuse():
        before = stats(A)
        first = one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
        for _ in range(20):
            assert one(A, "SELECT ppl_predict('p', ?)", SAMPLE) == first
        after = stats(A)
        assert after["loads"] - before["loads"] == 1, (before, after)
        assert after["hits"] - before["hits"] >= 20, (before, after)
        assert first == fresh(path, "p")
    check("cache: 21 ppl_predict calls load the weight file once", repeated_calls_reuse)

    def threads_setting_and_restore():
        gomp = ctypes.CDLL("libgomp.so.1")
        gomp.omp_set_num_threads(3)
        one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
        assert stats(A)["threads"] == 1, stats(A)
        assert gomp.omp_get_max_threads() == 3, gomp.omp_get_max_threads()
    check("cache: the project's threads setting is used, the caller's thread count restored",
          threads_setting_and_restore)

    def new_best_epoch():
        old = one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
        best0 = one(A, "SELECT best_epoch FROM ppl_state WHERE pplid='p'")
        one(A, "SELECT ppl_train('p', 4)")
        best1 = one(A, "SELECT best_epoch FROM ppl_state WHERE pplid='p'")
        assert best1 != best0, "training did not move the best epoch (%s)" % best1
        new = one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
        assert new == fresh(path, "p") and new != old, (old, new)
    check("cache: retraining to a new best epoch reloads", new_best_epoch)

    def other_connection_trains():
        B = connect(path)
        try:
            old = one(A, "SELECT ppl_predict('q', ?)", SAMPLE)
            one(B, "SELECT ppl_train('q', 3)")
            new = one(A, "SELECT ppl_predict('q', ?)", SAMPLE)
            assert new == one(B, "SELECT ppl_predict('q', ?)", SAMPLE) == fresh(path, "q"), (old, new)
            assert new != old
        finally:
            B.close()
    check("cache: two connections in one process agree after one retrains", other_connection_trains)

    def other_process_trains():
        old = one(A, "SELECT ppl_predict('p', ?, 'last')", SAMPLE)
        shell(path, "SELECT ppl_train('p', 2);")
        new = one(A, "SELECT ppl_predict('p', ?, 'last')", SAMPLE)
        other = shell(path, "SELECT ppl_predict('p', '%s', 'last');" % SAMPLE)
        assert new == other and new != old, (old, new, other)
    check("cache: two processes agree after the other one retrains", other_process_trains)

    def clean_drops_epoch():
        one(A, "SELECT ppl_predict('p', ?, 2)", SAMPLE)
        one(A, "SELECT ppl_clean('p', 'best,last')")
        expect_error(A, "SELECT ppl_predict('p', ?, 2)", SAMPLE, contains="were not kept")
    check("cache: ppl_clean removes an epoch: predicting it is refused", clean_drops_epoch)

    def archive_unarchive():
        before = one(A, "SELECT ppl_predict('q', ?)", SAMPLE)
        one(A, "SELECT ppl_archive('q')")
        expect_error(A, "SELECT ppl_predict('q', ?)", SAMPLE, contains="no pipeline 'q'")
        one(A, "SELECT ppl_unarchive('q')")
        assert one(A, "SELECT ppl_predict('q', ?)", SAMPLE) == before
    check("cache: archive refuses, unarchive answers again", archive_unarchive)

    def reimport():
        other = os.path.join(tmp, "other")
        os.makedirs(other)
        shutil.copy(os.path.join(tmp, "d.csv"), other)
        opath = os.path.join(other, "o.db")
        O = connect(opath)
        one(O, "SELECT lab_init(?)", '{"metrics":["accuracy"],"progress":false,"keep":"all","threads":1}')
        one(O, "SELECT ppl_new('r', ?)", config(7, out=5))
        one(O, "SELECT ppl_train('r', 2)")
        bundle = os.path.join(tmp, "r.lfbundle")
        one(O, "SELECT ppl_transfer('r', 'export', 'copy', ?)", bundle)
        theirs = one(O, "SELECT ppl_predict('r', ?)", SAMPLE)
        O.close()
        one(A, "SELECT ppl_new('r', ?)", config(9, out=6))
        one(A, "SELECT ppl_train('r', 1)")
        ours = one(A, "SELECT ppl_predict('r', ?)", SAMPLE)
        one(A, "SELECT ppl_archive('r')")
        one(A, "SELECT ppl_delete('r')")
        one(A, "SELECT ppl_transfer('r', 'import', 'copy', ?)", bundle)
        now = one(A, "SELECT ppl_predict('r', ?)", SAMPLE)
        assert now == theirs and now != ours, (ours, theirs, now)
    check("cache: a deleted and re-imported pipeline gives the imported model's answers", reimport)

    def file_replaced():
        p_best = one(A, "SELECT ppl_path('weight', 'p', 'best')")
        q_best = one(A, "SELECT ppl_path('weight', 'q', 'best')")
        mine = one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
        q_pred = one(A, "SELECT ppl_predict('q', ?)", SAMPLE)
        saved = open(p_best, "rb").read()
        # Atomic replacement (a new inode), as a copy tool that renames would do.
        shutil.copy(q_best, p_best + ".new")
        os.replace(p_best + ".new", p_best)
        assert one(A, "SELECT ppl_predict('p', ?)", SAMPLE) == q_pred
        # In-place rewrite (the same inode) back to the original bytes.
        with open(p_best, "r+b") as f:
            f.write(saved)
            f.truncate()
        assert one(A, "SELECT ppl_predict('p', ?)", SAMPLE) == mine
    check("cache: a weight file replaced on disk by another valid file is reloaded", file_replaced)

    def one_file_check_per_statement():
        many = ("SELECT count(ppl_predict('p', ?)) FROM (WITH RECURSIVE r(i) AS "
                "(SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 50) SELECT i FROM r)")
        one(A, many, SAMPLE)
        before = stats(A)
        assert one(A, many, SAMPLE) == 50
        after = stats(A)
        assert after["file_checks"] - before["file_checks"] == 1, (before, after)
        assert after["hits"] - before["hits"] == 50, (before, after)
        assert after["loads"] == before["loads"], (before, after)
    check("cache: a statement scoring 50 rows stat()s the weight file once, not per row",
          one_file_check_per_statement)

    def eviction():
        one(A, "SELECT ppl_predict_cache(0)")     # empties the cache
        one(A, "SELECT ppl_predict_cache(256)")
        one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
        one(A, "SELECT ppl_predict('q', ?)", SAMPLE)
        both = stats(A)
        assert both["models"] == 2 and both["bytes"] > 0, both
        # A bound that fits one model: each call evicts the other one.
        one(A, "SELECT ppl_predict_cache(?)", (both["bytes"] * 0.75) / 1048576.0)
        s0 = stats(A)
        assert s0["models"] == 1, s0
        for _ in range(3):
            assert one(A, "SELECT ppl_predict('p', ?)", SAMPLE) == fresh(path, "p")
            assert stats(A)["models"] == 1
            assert one(A, "SELECT ppl_predict('q', ?)", SAMPLE) == fresh(path, "q")
        s1 = stats(A)
        assert s1["models"] == 1 and s1["bytes"] <= both["bytes"] * 0.75, s1
        assert s1["evictions"] - s0["evictions"] >= 5 and s1["loads"] - s0["loads"] >= 5, (s0, s1)
        # The most recently used model stays.
        h = s1["hits"]
        one(A, "SELECT ppl_predict('q', ?)", SAMPLE)
        assert stats(A)["hits"] == h + 1, stats(A)
        one(A, "SELECT ppl_predict_cache(0)")
        one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
        s2 = stats(A)
        assert s2["models"] == 0 and s2["bytes"] == 0, s2
        one(A, "SELECT ppl_predict_cache(256)")
        expect_error(A, "SELECT ppl_predict_cache(-1)", contains="max_mb must be")
    check("cache: a small memory bound evicts the least recently used models", eviction)

    def inputs_as_data():
        obj = one(A, "SELECT ppl_predict('p', '{\"x2\": 0.5, \"x1\": 0.5, \"x3\": -1, \"id\": 4}')")
        arr = one(A, "SELECT ppl_predict('p', '[0.5, 0.5, -1]')")
        f32 = one(A, "SELECT ppl_predict('p', ?)", struct.pack("<3f", 0.5, 0.5, -1))
        assert obj == arr == f32, (obj, arr, f32)
        u8 = one(A, "SELECT ppl_predict('p', ?)", bytes([1, 0, 2]))
        assert u8 == one(A, "SELECT ppl_predict('p', '[1, 0, 2]')"), u8
        objs = json.loads(one(A, "SELECT ppl_predict('p', '[{\"x1\":1,\"x2\":0,\"x3\":2},{\"x1\":0.5,\"x2\":0.5,\"x3\":-1}]')"))
        # A list runs through oneDNN, one sample through the plain-C path
        # (kernels/lf_net_single.h): the same up to float rounding.
        singles = [json.loads(u8), json.loads(arr)]
        assert len(objs) == 2 and all(abs(u - v) <= 1e-5 * max(1, abs(v))
                                      for a, b in zip(objs, singles) for u, v in zip(a, b)), (objs, singles)
        expect_error(A, "SELECT ppl_predict('p', '{\"x1\": 1, \"x2\": 2}')", contains='no key "x3"')
        expect_error(A, "SELECT ppl_predict('p', ?)", bytes(5), contains="one sample of 3 uint8 values")
    check("inputs: JSON object by column, float32 and uint8 BLOBs as the data had them", inputs_as_data)

    def guard_sees_schema_changes():
        # The guard remembers a clean schema check between calls; a schema
        # change (this connection's, in or out of a transaction, or
        # another's) must still be seen.
        one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
        A.execute("CREATE TABLE sneaky(a CHECK (ppl_predict('p', '[1,2,3]') IS NOT NULL))")
        expect_error(A, "SELECT ppl_predict('p', ?)", SAMPLE, contains="sneaky")
        A.execute("DROP TABLE sneaky")
        one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
        A.execute("BEGIN")
        try:
            A.execute("CREATE TABLE sneaky2(a CHECK (ppl_predict('p', '[1,2,3]') IS NOT NULL))")
            expect_error(A, "INSERT INTO sneaky2 VALUES (1)", contains="sneaky2")
        finally:
            A.execute("ROLLBACK")
        one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
        B = connect(path)
        B.execute("CREATE TABLE sneaky3(a CHECK (ppl_stop('p')))")
        B.close()
        expect_error(A, "SELECT ppl_predict('p', ?)", SAMPLE, contains="sneaky3")
        A.execute("DROP TABLE sneaky3")
        one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
    check("guard: a remembered clean schema check still sees new schema objects", guard_sees_schema_changes)

    def close_frees():
        C = connect(path)
        one(C, "SELECT ppl_predict('p', ?)", SAMPLE)
        one(C, "SELECT ppl_predict('q', ?)", SAMPLE)
        C.close()
        assert fresh(path, "p") == one(A, "SELECT ppl_predict('p', ?)", SAMPLE)
    check("cache: a connection with cached models closes cleanly", close_frees)
    A.close()


main()
