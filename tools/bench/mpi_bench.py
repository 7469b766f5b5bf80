#!/usr/bin/python3
"""mpi_bench.py — labflow-mpi on this machine: 1 rank against 2 ranks, one
thread each (docs/mpi.md, README "Scaling out").

- each: 8 MLP pipelines (Fashion-MNIST MLP, a subset), pipelines per hour;
- train (data-parallel): the Fashion-MNIST CNN, training samples per second,
  the communication time per step and the bytes per step per rank.

The runs alternate 1 rank, 2 ranks, 1 rank, 2 ranks, ... (ROUNDS rounds)
and the ratio of each round is reported, so that a machine shared with
other work changes both sides alike. Usage:
  mpi_bench.py [TRAIN_SAMPLES=12000] [ROUNDS=2]
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
import test_mpi as t  # noqa: E402  (project, data and mpirun helpers)

MLP = [{"loc": "Flatten"}, {"loc": "Linear", "args": {"out": 256}}, {"loc": "ReLU"},
       {"loc": "Linear", "args": {"out": 128}}, {"loc": "ReLU"}, {"loc": "Linear", "args": {"out": 10}}]
CNN = [{"loc": "Conv2d", "args": {"out": 16, "kernel": 5, "padding": 2}}, {"loc": "ReLU"},
       {"loc": "MaxPool2d", "args": {"kernel": 2}},
       {"loc": "Conv2d", "args": {"out": 32, "kernel": 5, "padding": 2}}, {"loc": "ReLU"},
       {"loc": "MaxPool2d", "args": {"kernel": 2}}, {"loc": "Flatten"},
       {"loc": "Linear", "args": {"out": 128}}, {"loc": "ReLU"}, {"loc": "Linear", "args": {"out": 10}}]


def project(folder, ntrain, nval, pipes):
    os.makedirs(folder, exist_ok=True)
    t.idx_subset(t.FASHION + "/train", os.path.join(folder, "train"), ntrain)
    t.idx_subset(t.FASHION + "/t10k", os.path.join(folder, "val"), nval)
    db = os.path.join(folder, "b.db")
    sql = "SELECT lab_init('%s');\n" % json.dumps({"metrics": ["accuracy"], "threads": 1, "progress": False})
    for name, layers, seed in pipes:
        cfg = {"model": {"loc": "Sequential", "args": {"layers": layers}}, "dataset": {"loc": "idx", "args": {}},
               "train_data_src": "train", "val_data_src": "val", "loss": {"loc": "CrossEntropyLoss"},
               "optimizer": {"loc": "Adam", "args": {"lr": 0.001}}, "metrics": {"accuracy": {"loc": "Accuracy"}},
               "train_batch_size": 128, "val_batch_size": 500, "seed": seed}
        sql += "SELECT ppl_new('%s', '%s');\n" % (name, json.dumps(cfg))
    out, err = t.shell(db, sql)
    assert not err, err
    return db


def main():
    ntrain = int(sys.argv[1]) if len(sys.argv) > 1 else 12000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    tmp = tempfile.mkdtemp(prefix="lfmpib-")
    print("# labflow-mpi, 1 rank vs 2 ranks, OMP_NUM_THREADS=1 per rank, %d CPUs, load average at start %s"
          % (os.cpu_count(), open("/proc/loadavg").read().split()[0]))
    each_ratio, dp_ratio = [], []
    for r in range(rounds):
        got = {}
        for np_ in (1, 2):
            db = project(os.path.join(tmp, "e%d_%d" % (r, np_)), ntrain, 2000,
                         [("m%d" % i, MLP, i + 1) for i in range(8)])
            t0 = time.time()
            rc, out, err = t.mpirun(np_, [db, "each", "SELECT pplid FROM ppls", "--epochs", "1", "--quiet"])
            wall = time.time() - t0
            assert rc == 0, err
            got[np_] = 8 * 3600.0 / wall
            print("each  round %d: %d rank%s: 8 MLP pipelines x 1 epoch (%d samples) in %.1f s = %.0f pipelines/hour"
                  % (r + 1, np_, "s" if np_ > 1 else "", ntrain, wall, got[np_]))
        each_ratio.append(got[2] / got[1])
        got = {}
        for np_ in (1, 2):
            db = project(os.path.join(tmp, "d%d_%d" % (r, np_)), ntrain, 2000, [("cnn", CNN, 1)])
            rc, out, err = t.mpirun(np_, [db, "train", "cnn", "--epochs", "1", "--quiet"])
            assert rc == 0, err
            s = t.rows_of(out)[0]
            dur = t.query(db, "SELECT value FROM history WHERE pplid='cnn' AND name='train_duration'")[0][0]
            got[np_] = ntrain / dur
            m = s["mpi"]
            print("train round %d: %d rank%s: CNN %.0f samples/s, communication %.2f ms/step (%d steps), "
                  "%d bytes sent + %d received per step per rank"
                  % (r + 1, np_, "s" if np_ > 1 else "", got[np_], m["comm_ms_per_step"], m["steps"],
                     m["bytes_sent_per_step_per_rank"], m["bytes_received_per_step_per_rank"]))
        dp_ratio.append(got[2] / got[1])
    print("each  (8 MLP pipelines): 2 ranks / 1 rank = %s pipelines per hour" % ", ".join("%.2fx" % x for x in each_ratio))
    print("train (CNN, data-parallel): 2 ranks / 1 rank = %s samples per second" % ", ".join("%.2fx" % x for x in dp_ratio))
    print("# load average at end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
