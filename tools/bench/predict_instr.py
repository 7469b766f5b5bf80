#!/usr/bin/python3
"""predict_instr.py — the workloads tools/bench/predict_instr.sh counts
instructions of, for the bench's MLP (20-64-3, float32 BLOB features, the
config of predict_bench.py):

    predict_instr.py LIB DIR setup        a project in DIR/bench.db: the MLP
                                          trained one epoch, 20,000 rows,
                                          one 10,000-sample float32 BLOB
    predict_instr.py LIB DIR rows N       SELECT count(ppl_predict('mlp', feats))
                                          over the first N rows
    predict_instr.py LIB DIR batch K      K batched calls of 10,000 samples
                                          (SELECT length(ppl_predict('mlp', blob)))

Only SQL runs in the measured modes (no Python-side JSON parsing), so the
difference between two sizes is LabFlow's and SQLite's cost per row or per
sample.
"""
import array
import json
import os
import random
import sqlite3
import sys

LIB, DIR, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
N = int(sys.argv[4]) if len(sys.argv) > 4 else 1
con = sqlite3.connect(os.path.join(DIR, "bench.db"), isolation_level=None)
con.enable_load_extension(True)
con.load_extension(LIB)
if MODE == "setup":
    src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "predict_bench.py")).read()
    ns = {}
    sys.argv = ["predict_bench.py", LIB]
    exec(src.split("def best_of")[0], ns)   # the configs, without running the bench
    con.execute("SELECT lab_init(?)", (json.dumps({"metrics": ["accuracy"], "progress": False, "threads": 2}),)).fetchall()
    rng = random.Random(1)
    con.execute("CREATE TABLE mlp_rows(id INTEGER PRIMARY KEY, feats BLOB, label INTEGER)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO mlp_rows VALUES (?, ?, ?)",
                    ((i + 1, array.array("f", [rng.uniform(-2, 2) for _ in range(20)]).tobytes(), rng.randrange(3))
                     for i in range(20000)))
    con.execute("COMMIT")
    con.execute("SELECT ppl_new(?, ?)", ("mlp", json.dumps(ns["MLP"]))).fetchall()
    con.execute("SELECT ppl_train(?, 1)", ("mlp",)).fetchall()
    blob = b"".join(r[0] for r in con.execute("SELECT feats FROM mlp_rows WHERE id <= 10000 ORDER BY id"))
    con.execute("CREATE TABLE chunk(b)")
    con.execute("INSERT INTO chunk VALUES (?)", (blob,))
elif MODE == "rows":
    n = con.execute("SELECT count(ppl_predict('mlp', feats)) FROM mlp_rows WHERE id <= ?", (N,)).fetchone()[0]
    assert n == N, n
elif MODE == "batch":
    for _ in range(N):
        assert con.execute("SELECT length(ppl_predict('mlp', b)) FROM chunk").fetchone()[0] > 0
else:
    sys.exit("unknown mode " + MODE)
