#!/usr/bin/python3
"""mpi_bench.py — labflow-mpi on this machine: 1 rank against 2 ranks, one
thread each (docs/mpi.md, README "Scaling out with MPI").

- each: 8 MLP pipelines (784-256-128-10, Adam, batch 128) on the whole of
  Fashion-MNIST, EACH_EPOCHS epochs each: pipelines per hour, from the
  wall time of the whole mpirun (start-up included);
- train (data-parallel): the CNN (conv16-pool-conv32-pool-fc128-fc10) on
  the whole of Fashion-MNIST, DP_EPOCHS epochs: training samples per second
  (sum of the epochs' train_duration), the communication time per step and
  the bytes per step per rank.

Every run is long enough (20 s or more on the idle machine) that starting
the ranks weighs little. Runs alternate 1 rank and 2 ranks, the order
swapped every round, and the ratio of each round is reported, so that a
machine shared with other work changes both sides alike. With --timing,
each rank says where its time went (data, training, checkpoint bytes,
sending, committing on rank 0's commit thread, idle); those lines are
printed too. Usage:
  mpi_bench.py [--rounds 2] [--each-epochs 5] [--dp-epochs 2] [--train 60000]
Idle 2-core machine: about 4 minutes with the defaults.
"""
import argparse
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


def data(tmp, ntrain):
    """Prefixes of the training and validation idx files (every run reads the same)."""
    if ntrain >= 60000:
        return t.FASHION + "/train", t.FASHION + "/t10k"
    d = os.path.join(tmp, "data")
    os.makedirs(d, exist_ok=True)
    t.idx_subset(t.FASHION + "/train", os.path.join(d, "train"), ntrain)
    return os.path.join(d, "train"), t.FASHION + "/t10k"


def project(folder, train, val, pipes):
    os.makedirs(folder, exist_ok=True)
    db = os.path.join(folder, "b.db")
    sql = "SELECT lab_init('%s');\n" % json.dumps({"metrics": ["accuracy"], "threads": 1, "progress": False})
    for name, layers, seed in pipes:
        cfg = {"model": {"loc": "Sequential", "args": {"layers": layers}}, "dataset": {"loc": "idx", "args": {}},
               "train_data_src": train, "val_data_src": val, "loss": {"loc": "CrossEntropyLoss"},
               "optimizer": {"loc": "Adam", "args": {"lr": 0.001}}, "metrics": {"accuracy": {"loc": "Accuracy"}},
               "train_batch_size": 128, "val_batch_size": 500, "seed": seed}
        sql += "SELECT ppl_new('%s', '%s');\n" % (name, json.dumps(cfg))
    out, err = t.shell(db, sql)
    assert not err, err
    return db


def timing(err):
    return [l.split("timing: ", 1)[1] for l in err.splitlines() if "labflow-mpi timing:" in l]


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--each-epochs", type=int, default=5)
    ap.add_argument("--dp-epochs", type=int, default=2)
    ap.add_argument("--train", type=int, default=60000)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="lfmpib-")
    train, val = data(tmp, a.train)
    print("# labflow-mpi, 1 rank vs 2 ranks, OMP_NUM_THREADS=1 per rank, %d CPUs, %d training samples, "
          "10000 validation samples, load average at start %s" % (os.cpu_count(), a.train, loadavg()))
    print("# git %s" % subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                      text=True).stdout.strip())
    each_ratio, dp_ratio = [], []
    for r in range(a.rounds):
        order = (1, 2) if r % 2 == 0 else (2, 1)
        got = {}
        for np_ in order:
            db = project(os.path.join(tmp, "e%d_%d" % (r, np_)), train, val,
                         [("m%d" % i, MLP, i + 1) for i in range(8)])
            t0 = time.time()
            rc, out, err = t.mpirun(np_, [db, "each", "SELECT pplid FROM ppls", "--epochs", str(a.each_epochs),
                                          "--quiet", "--timing"], timeout=3600)
            wall = time.time() - t0
            assert rc == 0, err
            got[np_] = 8 * 3600.0 / wall
            wb = t.query(db, "SELECT max(bytes) FROM ppl_weight_files")[0][0]
            sb = max(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(db + ".labflow")
                     for f in fs if f.endswith(".state"))
            print("each  round %d: %d rank%s: 8 MLP pipelines x %d epochs in %.1f s = %.0f pipelines/hour "
                  "(load %s; a worker sends %d bytes of weights + %d of state per epoch)"
                  % (r + 1, np_, "s" if np_ > 1 else "", a.each_epochs, wall, got[np_], loadavg(), wb, sb))
            for l in timing(err):
                print("      " + l)
        each_ratio.append(got[2] / got[1])
        got = {}
        for np_ in order:
            db = project(os.path.join(tmp, "d%d_%d" % (r, np_)), train, val, [("cnn", CNN, 1)])
            rc, out, err = t.mpirun(np_, [db, "train", "cnn", "--epochs", str(a.dp_epochs), "--quiet"], timeout=3600)
            assert rc == 0, err
            s = t.rows_of(out)[0]
            dur = t.query(db, "SELECT sum(value) FROM history WHERE pplid='cnn' AND name='train_duration'")[0][0]
            got[np_] = a.train * a.dp_epochs / dur
            m = s["mpi"]
            print("train round %d: %d rank%s: CNN %.0f samples/s over %d epochs, communication %.2f ms/step "
                  "(%d steps), %d bytes sent + %d received per step per rank (load %s)"
                  % (r + 1, np_, "s" if np_ > 1 else "", got[np_], a.dp_epochs, m["comm_ms_per_step"], m["steps"],
                     m["bytes_sent_per_step_per_rank"], m["bytes_received_per_step_per_rank"], loadavg()))
        dp_ratio.append(got[2] / got[1])
    print("each  (8 MLP pipelines): 2 ranks / 1 rank = %s pipelines per hour" % ", ".join("%.2fx" % x for x in each_ratio))
    print("train (CNN, data-parallel): 2 ranks / 1 rank = %s samples per second" % ", ".join("%.2fx" % x for x in dp_ratio))
    print("# load average at end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
