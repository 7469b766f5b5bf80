#!/usr/bin/python3
"""test_threads.py — the project's `threads` setting holds inside every
call that runs kernels from SQL, and the caller's OpenMP thread count comes
back afterwards (issue 12 item 6; kernels/lf_tensor.h lf_threads_apply).

What the kernels run with is seen from inside them: a plugin layer "Probe"
(tests/plugins/variant.c built with -DTHREAD_PROBE) records
omp_get_max_threads() on every pass, read here through ctypes. The caller's
count is set and read through the same libgomp the extension uses
(omp_set_num_threads is per thread: Python's sqlite3 module runs the SQL
on this thread).

Prints "PASS name" / "FAIL name: why" lines and "N passed, N failed".
"""
import ctypes
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reliability"))
import lfutil as U  # noqa: E402

T = "threads"
passed = failed = 0


def report(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS %s: %s" % (T, name), flush=True)
    else:
        failed += 1
        print("FAIL %s: %s: %s" % (T, name, " ".join(str(why).split())[:400]), flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix="lfthreads-")
    try:
        so = os.path.join(tmp, "probe.so")
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)   # the ASan run preloads libasan into python, not into cc
        r = subprocess.run(["cc", "-O1", "-fPIC", "-shared", "-fopenmp", "-Wall", "-Wextra",
                            "-I" + os.path.join(U.ROOT, "include"), "-DNAME=\"probe\"", "-DTHREAD_PROBE",
                            "-o", so, os.path.join(U.ROOT, "tests", "plugins", "variant.c")],
                           capture_output=True, text=True, env=env)
        report("the probe plugin builds", r.returncode == 0 and os.path.exists(so), r.stderr)
        if r.returncode != 0:
            return
        U.write_csv(os.path.join(tmp, "d.csv"))
        db = os.path.join(tmp, "p.db")
        con = sqlite3.connect(db, isolation_level=None)
        con.enable_load_extension(True)
        con.load_extension(U.EXT)
        gomp = ctypes.CDLL("libgomp.so.1")   # the instance the extension already loaded
        q = lambda sql, *a: con.execute(sql, a).fetchone()
        q("SELECT lab_load_plugin(?)", so)
        probe = ctypes.c_int.in_dll(ctypes.CDLL(so), "probe_threads")   # the same loaded library
        q("SELECT lab_init(?)", json.dumps({"metrics": ["accuracy"], "threads": 2, "progress": False}))
        cfg = U.tiny_config(dropout=False)
        cfg["model"]["args"]["layers"].insert(1, {"loc": "probe.Probe"})
        q("SELECT ppl_new('p', ?)", json.dumps(cfg))

        def call(what, sql, want_inside, caller, *args):
            gomp.omp_set_num_threads(caller)
            probe.value = -1
            err = None
            try:
                q(sql, *args)
            except sqlite3.Error as e:
                err = str(e)
            inside, after = probe.value, gomp.omp_get_max_threads()
            if want_inside is not None:
                report("%s runs its kernels with %d threads (caller has %d)" % (what, want_inside, caller),
                       inside == want_inside and (err is None), "inside %d, error %s" % (inside, err))
            report("%s gives the caller back its %d threads" % (what, caller), after == caller,
                   "after the call: %d" % after)
            return err

        call("ppl_train, threads 2", "SELECT ppl_train('p', 1, NULL, 0)", 2, 1)
        call("ppl_evaluate, threads 2", "SELECT ppl_evaluate('p', 'd.csv')", 2, 1)
        call("ppl_predict (2 samples), threads 2",
             "SELECT ppl_predict('p', '[[0.1,0.2,0.3,0.4],[0.5,-0.1,0.2,0.0]]')", 2, 1)
        con.execute("CREATE TABLE rows(f0 REAL, f1 REAL, f2 REAL, f3 REAL)")
        con.execute("INSERT INTO rows VALUES (0.1,0.2,0.3,0.4), (0.5,-0.1,0.2,0.0), (1,1,1,1)")
        call("ppl_predict_rows, threads 2", "SELECT count(*) FROM ppl_predict_rows('p', 'SELECT rowid, json_array(f0, f1, f2, f3) FROM rows')", 2, 1)
        err = call("ppl_evaluate on a missing file, threads 2", "SELECT ppl_evaluate('p', 'missing.csv')", None, 1)
        report("ppl_evaluate on a missing file fails", err is not None and "missing.csv" in err, err)
        call("ppl_export, threads 2", "SELECT ppl_export('p', 'm.onnx')", None, 1)
        q("SELECT lab_settings('{\"threads\": 0}')")
        call("ppl_evaluate, threads 0", "SELECT ppl_evaluate('p', 'd.csv')", 3, 3)
        call("ppl_train, threads 0", "SELECT ppl_train('p', 1, NULL, 0)", 3, 3)
        q("SELECT lab_settings('{\"threads\": 1}')")
        call("ppl_train, threads 1", "SELECT ppl_train('p', 1, NULL, 0)", 1, 3)
        call("ppl_predict (2 samples), threads 1",
             "SELECT ppl_predict('p', '[[0.1,0.2,0.3,0.4],[0.5,-0.1,0.2,0.0]]')", 1, 3)
        con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))


if __name__ == "__main__":
    main()
    sys.exit(1 if failed else 0)
