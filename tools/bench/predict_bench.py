#!/usr/bin/python3
"""predict_bench.py — scoring a table from SQL: rows per second of
row-by-row ppl_predict, of set-based ppl_predict_rows, and of batched
ppl_predict calls (10,000 samples a call), for a small MLP (20-64-3, the
issue's example) and the bench's CNN (conv16-pool-conv32-pool-fc128-fc10 on
1x28x28 uint8 images), each over ROWS rows of a table.

    /usr/bin/python3 tools/bench/predict_bench.py <labflow lib> [rows] [threads] [rounds]

Each model is trained one epoch on a slice of random data first (accuracy
does not matter here; the weights are real weight files). Every figure is
the best of `rounds` timed passes over the whole table in one connection
(the first pass also warms the model cache and the primitives; the best of
several rejects the other work on a shared machine). Prints one line per
measurement and the ratios against the batched cost per sample.
"""
import array
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time

LIB = sys.argv[1]
ROWS = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
THREADS = int(sys.argv[3]) if len(sys.argv) > 3 else 2
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 3
CHUNK = 10000

MLP = {"model": {"loc": "Sequential", "args": {"layers": [
    {"loc": "Linear", "args": {"out": 64}}, {"loc": "ReLU"}, {"loc": "Linear", "args": {"out": 3}}]}},
    "dataset": {"loc": "sql", "args": {"label": "label", "blob": "feats", "dtype": "float32", "shape": [20],
                                       "standardize": True}},
    "train_data_src": "SELECT feats, label FROM mlp_rows WHERE id <= 2000",
    "val_data_src": "SELECT feats, label FROM mlp_rows WHERE id <= 500",
    "loss": {"loc": "CrossEntropyLoss"}, "optimizer": {"loc": "Adam", "args": {"lr": 0.001}},
    "metrics": {"accuracy": {"loc": "Accuracy"}}, "train_batch_size": 128, "val_batch_size": 256}
CNN = {"model": {"loc": "Sequential", "args": {"layers": [
    {"loc": "Conv2d", "args": {"out": 16, "kernel": 5, "padding": 2}}, {"loc": "ReLU"},
    {"loc": "MaxPool2d", "args": {"kernel": 2}},
    {"loc": "Conv2d", "args": {"out": 32, "kernel": 5, "padding": 2}}, {"loc": "ReLU"},
    {"loc": "MaxPool2d", "args": {"kernel": 2}},
    {"loc": "Flatten"}, {"loc": "Linear", "args": {"out": 128}}, {"loc": "ReLU"},
    {"loc": "Linear", "args": {"out": 10}}]}},
    "dataset": {"loc": "sql", "args": {"label": "label", "blob": "img", "dtype": "uint8", "shape": [1, 28, 28],
                                       "scale": 255}},
    "train_data_src": "SELECT img, label FROM cnn_rows WHERE id <= 1000",
    "val_data_src": "SELECT img, label FROM cnn_rows WHERE id <= 200",
    "loss": {"loc": "CrossEntropyLoss"}, "optimizer": {"loc": "Adam", "args": {"lr": 0.001}},
    "metrics": {"accuracy": {"loc": "Accuracy"}}, "train_batch_size": 128, "val_batch_size": 256}


def best_of(fn):
    times = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    tmp = tempfile.mkdtemp(prefix="lf-predict-bench-")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp):
    con = sqlite3.connect(os.path.join(tmp, "bench.db"), isolation_level=None)
    con.enable_load_extension(True)
    con.load_extension(LIB)
    con.execute("SELECT lab_init(?)", (json.dumps({"metrics": ["accuracy"], "progress": False,
                                                    "threads": THREADS}),)).fetchall()
    rng = random.Random(1)
    con.execute("CREATE TABLE mlp_rows(id INTEGER PRIMARY KEY, feats BLOB, label INTEGER)")
    mlp_feats = []
    for i in range(ROWS):
        mlp_feats.append(array.array("f", [rng.uniform(-2, 2) for _ in range(20)]).tobytes())
    con.execute("BEGIN")
    con.executemany("INSERT INTO mlp_rows VALUES (?, ?, ?)",
                    ((i + 1, mlp_feats[i], rng.randrange(3)) for i in range(ROWS)))
    con.execute("CREATE TABLE cnn_rows(id INTEGER PRIMARY KEY, img BLOB, label INTEGER)")
    con.execute("WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?) "
                "INSERT INTO cnn_rows SELECT n, randomblob(784), abs(random()) % 10 FROM i", (ROWS,))
    con.execute("COMMIT")
    print("# %d rows per table, threads %d, best of %d passes, load average %s" %
          (ROWS, THREADS, ROUNDS, open("/proc/loadavg").read().split()[0]))
    models = os.environ.get("BENCH_PREDICT_MODELS", "mlp cnn").split()
    for name, cfg, table, col in (("mlp", MLP, "mlp_rows", "feats"), ("cnn", CNN, "cnn_rows", "img")):
        if name not in models:
            continue
        con.execute("SELECT ppl_new(?, ?)", (name, json.dumps(cfg))).fetchall()
        con.execute("SELECT ppl_train(?, 1)", (name,)).fetchall()
        one_model(con, name, table, col)


def one_model(con, name, table, col):
    # The batched calls get float32 BLOBs of CHUNK samples (uint8 BLOBs hold one sample).
    chunks = []
    for start in range(0, ROWS, CHUNK):
        blobs = [r[0] for r in con.execute("SELECT %s FROM %s WHERE id > ? AND id <= ? ORDER BY id" % (col, table),
                                           (start, start + CHUNK))]
        if col == "img":
            chunks.append(b"".join(array.array("f", list(b)).tobytes() for b in blobs))
        else:
            chunks.append(b"".join(blobs))

    def batched():
        n = 0
        for c in chunks:
            n += len(json.loads(con.execute("SELECT ppl_predict(?, ?)", (name, c)).fetchone()[0]))
        assert n == ROWS, n

    def row_by_row():
        n = con.execute("SELECT count(ppl_predict(?, %s)) FROM %s" % (col, table), (name,)).fetchone()[0]
        assert n == ROWS, n

    def set_based():
        n = con.execute("SELECT count(prediction) FROM ppl_predict_rows(?, ?)",
                        (name, "SELECT id, %s FROM %s" % (col, table))).fetchone()[0]
        assert n == ROWS, n

    t_batch = best_of(batched)
    t_rows = best_of(set_based)
    t_each = best_of(row_by_row)
    cache = json.loads(con.execute("SELECT ppl_predict_cache()").fetchone()[0])
    for label, t in (("batched ppl_predict (10,000 a call)", t_batch), ("ppl_predict_rows", t_rows),
                     ("row-by-row ppl_predict", t_each)):
        print("predict %s %-36s %9.0f rows/s  %7.2f us/row  %.2fx batched" %
              (name, label, ROWS / t, t / ROWS * 1e6, t / t_batch))
    print("predict %s cache: loads %d, hits %d" % (name, cache["loads"], cache["hits"]))
    sys.stdout.flush()


main()
