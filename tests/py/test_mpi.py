#!/usr/bin/python3
"""test_mpi.py — labflow-mpi (docs/mpi.md) under mpirun, 2 ranks with one
thread each, on small generated data:

- each: 4 pipelines over 2 ranks (resumed once over MPI, once with the TCP
  transport forced) have bitwise ppl_train_each's histories and weight files;
- each: ppl_stop from a sqlite3 shell stops a pipeline a worker rank trains
  and one rank 0 trains;
- each: SIGKILL of the worker rank, then the same command again, ends with
  the histories of an undisturbed run;
- train (data-parallel): two runs are bitwise equal, every rank holds the
  same weights, ppl_train resumes it and it resumes ppl_train, and it
  reaches the single-process accuracy within 0.5 points on a Fashion-MNIST
  subset with an MLP and a small CNN;
- LF_LONG=1 (make check-all only): the same accuracy check on the whole of
  Fashion-MNIST with the examples' MLP and CNN, 3 epochs each side
  (test_dp_full; LF_MPI_EPOCHS changes the epochs).

LF_MPI_TESTS="test_a test_b" (or comma-separated) runs only those.

Skipped with a NOTE (and no PASS) only when mpirun is not installed.
Prints "PASS name" / "FAIL name: why" lines.
"""
import gzip
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
SQLITE = os.environ.get("LF_SQLITE3", "sqlite3")
# LF_MPI_BIN: another build (tests/asan.sh: build/asan-mpi/labflow-mpi).
MPI_BIN = os.environ.get("LF_MPI_BIN", os.path.join(ROOT, "labflow-mpi"))
FASHION = "/usr/share/datasets/fashion-mnist"
failed = passed = 0


def check(ok, name, why=""):
    global failed, passed
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + str(why)[:2000]))
    sys.stdout.flush()
    if ok:
        passed += 1
    else:
        failed += 1


def shell(db, sql, timeout=600):
    p = subprocess.run([SQLITE, "-batch", db], input=".load " + EXT + "\n" + sql + "\n",
                       capture_output=True, text=True, timeout=timeout)
    return p.stdout.strip(), p.stderr.strip()


def query(db, sql, args=()):
    c = sqlite3.connect(db, timeout=30)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def mpi_env():
    env = dict(os.environ)
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMP_NUM_THREADS": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"})
    if os.environ.get("LF_MPI_ASAN_OPTIONS"):
        # A sanitized labflow-mpi (tests/asan.sh): mpirun is Open MPI's own
        # binary and runs without libasan; the ranks get these options.
        env.pop("LD_PRELOAD", None)
        env["ASAN_OPTIONS"] = os.environ["LF_MPI_ASAN_OPTIONS"]
    return env


def mpirun_args(np_, args, tcp=False):
    cmd = ["mpirun", "--oversubscribe", "-np", str(np_), "-x", "OMP_NUM_THREADS=1"]
    if os.environ.get("LF_MPI_ASAN_OPTIONS"):
        cmd += ["-x", "ASAN_OPTIONS", "-x", "LSAN_OPTIONS", "-x", "UBSAN_OPTIONS"]
    if tcp:
        cmd += ["--mca", "btl", "tcp,self"]
    return cmd + [MPI_BIN] + args


def mpirun(np_, args, tcp=False, timeout=600):
    p = subprocess.run(mpirun_args(np_, args, tcp), capture_output=True, text=True, timeout=timeout, env=mpi_env())
    return p.returncode, p.stdout, p.stderr


def rows_of(out):
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


# ---- data and projects -----------------------------------------------------

def write_csv(path, n=400, seed=1):
    rnd = random.Random(seed)
    lines = ["x1,x2,x3,x4,label"]
    for _ in range(n):
        v = [rnd.gauss(0, 1) for _ in range(4)]
        lines.append(",".join("%.4f" % x for x in v) + "," + ("a" if v[0] + 0.5 * v[1] - v[2] > 0 else "b"))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def csv_config(seed):
    # Dropout and BatchNorm: the random stream and the running statistics
    # must travel with the state for the histories to be bitwise equal.
    return {"model": {"loc": "Sequential", "args": {"layers": [
                {"loc": "Linear", "args": {"out": 16}}, {"loc": "BatchNorm1d"}, {"loc": "ReLU"},
                {"loc": "Dropout", "args": {"p": 0.2}}, {"loc": "Linear", "args": {"out": 2}}]}},
            "dataset": {"loc": "csv", "args": {"label": "label"}},
            "train_data_src": "d.csv", "val_data_src": "v.csv",
            "loss": {"loc": "CrossEntropyLoss"}, "optimizer": {"loc": "Adam", "args": {"lr": 0.01}},
            "metrics": {"accuracy": {"loc": "Accuracy"}}, "train_batch_size": 16, "seed": seed}


def csv_project(folder, npipes=4, rows=400):
    os.makedirs(folder, exist_ok=True)
    write_csv(os.path.join(folder, "d.csv"), rows, 1)
    write_csv(os.path.join(folder, "v.csv"), 200, 2)
    db = os.path.join(folder, "p.db")
    sql = "SELECT lab_init('%s');\n" % json.dumps({"metrics": ["accuracy"], "threads": 1, "progress": True,
                                                   "strategy": {"monitor": "val_accuracy", "mode": "max"}})
    for i in range(npipes):
        sql += "SELECT ppl_new('p%d', '%s');\n" % (i, json.dumps(csv_config(i + 1)))
    out, err = shell(db, sql)
    assert not err, err
    return db


def histories(db):
    return query(db, "SELECT pplid, epoch, name, value FROM history WHERE name NOT LIKE '%duration' "
                     "ORDER BY pplid, epoch, name")


def weight_digests(db):
    """sha256 of every kept weight file, by pplid and epoch."""
    out = {}
    art = db + ".labflow"
    for pplid, epoch in query(db, "SELECT pplid, epoch FROM ppl_weight_files ORDER BY 1, 2"):
        for root, _, files in os.walk(art):
            for f in files:
                if pplid in root.split(os.sep) and f.endswith(".lfw") and ("%d" % epoch) in f:
                    out.setdefault((pplid, epoch), hashlib.sha256(open(os.path.join(root, f), "rb").read()).hexdigest())
    return out


def first_diff(a, b):
    for x, y in zip(a, b):
        if x != y:
            return "%r != %r" % (x, y)
    return "lengths %d and %d" % (len(a), len(b))


# ---- many pipelines --------------------------------------------------------

def test_each_bitwise(tmp):
    ref = csv_project(os.path.join(tmp, "ref"))
    if "LF_EXT" in os.environ:
        # Another build of the extension (the ASan run, -O1): the reference
        # is ppl_train's code compiled into labflow-mpi, run by rank 0 alone.
        print("NOTE test_mpi.py: LF_EXT is set; the bitwise reference is labflow-mpi with 1 rank (ppl_train's code)")
        rc, out, err = mpirun(1, [ref, "each", "SELECT pplid FROM ppls ORDER BY pplid", "--epochs", "4"])
        check(rc == 0 and len(rows_of(out)) == 4, "1 rank trains the reference pipelines", out + err)
    else:
        out, err = shell(ref, "SELECT pplid, error FROM ppl_train_each('SELECT pplid FROM ppls ORDER BY pplid', 4);")
        check(out.split() == ["p0|", "p1|", "p2|", "p3|"], "ppl_train_each trains the reference pipelines", out + err)
    db = csv_project(os.path.join(tmp, "mpi"))
    rc, out, err = mpirun(2, [db, "each", "SELECT pplid FROM ppls ORDER BY pplid", "--epochs", "2"])
    rows = rows_of(out)
    check(rc == 0 and len(rows) == 4 and all(r.get("summary", {}).get("last_epoch") == 2 for r in rows),
          "each: 4 pipelines over 2 ranks train 2 epochs", out + err)
    ranks = set(l.split("[rank ")[1][0] for l in err.splitlines() if "[rank " in l)
    check(ranks == {"0", "1"}, "each: both ranks trained pipelines, one progress line per epoch with its rank", err)
    # The second half resumes from the state files, sent over TCP.
    rc, out, err = mpirun(2, [db, "each", '["p0","p1","p2","p3"]', "--epochs", "2"], tcp=True)
    rows = rows_of(out)
    check(rc == 0 and all(r.get("summary", {}).get("last_epoch") == 4 for r in rows),
          "each: resumed over MPI with --mca btl tcp,self", out + err)
    a, b = histories(ref), histories(db)
    check(len(a) == 4 * 4 * 5 and a == b, "each: histories bitwise equal to ppl_train_each's", first_diff(a, b))
    wa, wb = weight_digests(ref), weight_digests(db)
    check(len(wa) >= 4 and wa == wb, "each: kept weight files byte for byte equal to ppl_train's", (wa, wb))
    st = query(db, "SELECT group_concat(status) FROM ppls")[0][0]
    check(st == "trained,trained,trained,trained" and query(db, "SELECT count(*) FROM runnings")[0][0] == 0,
          "each: statuses trained and no claim left", st)
    out, err = shell(db, "SELECT ppl_train('p0', 1);")
    check(json.loads(out or "{}").get("last_epoch") == 5, "ppl_train resumes a pipeline labflow-mpi trained", out + err)


def test_each_unreadable(tmp):
    """A rank that cannot read the data says which rank, host and path."""
    db = csv_project(os.path.join(tmp, "unread"), npipes=1)
    os.rename(os.path.join(tmp, "unread", "d.csv"), os.path.join(tmp, "unread", "gone.csv"))
    rc, out, err = mpirun(2, [db, "each", '["p0"]', "--epochs", "1"])
    rows = rows_of(out)
    e = rows[0].get("error", "") if rows else ""
    check(rc != 0 and "rank 1 on host" in e and "d.csv" in e and "same path on every node" in e,
          "each: a rank that cannot read the data names itself, its host and the path", out + err)
    st = query(db, "SELECT status, (SELECT count(*) FROM runnings) FROM ppls")
    check(st == [("new", 0)], "each: the failed pipeline keeps its status and no claim", st)


def wait_epochs(db, pplid, epoch, proc, limit=180):
    t0 = time.time()
    while time.time() - t0 < limit:
        r = query(db, "SELECT coalesce(max(epoch), 0) FROM history WHERE pplid=?", (pplid,))[0][0]
        if r >= epoch:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def test_each_stop(tmp):
    db = csv_project(os.path.join(tmp, "stop"), npipes=2)
    proc = subprocess.Popen(mpirun_args(2, [db, "each", '["p0","p1"]', "--epochs", "100000"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=mpi_env())
    ok = wait_epochs(db, "p0", 1, proc) and wait_epochs(db, "p1", 1, proc)
    check(ok, "stop: both pipelines commit epochs while the run goes on")
    running = query(db, "SELECT count(*) FROM runnings")[0][0]
    st = query(db, "SELECT group_concat(status) FROM ppls")[0][0]
    check(running == 2 and st == "running,running", "stop: a sqlite3 shell sees both claims, status running", (running, st))
    o1, e1 = shell(db, "SELECT ppl_stop('p0');")   # trained by worker rank 1
    o2, e2 = shell(db, "SELECT ppl_stop('p1');")   # trained by rank 0
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    rows = {r["pplid"]: r for r in rows_of(out)}
    ended = [rows.get(p, {}).get("summary", {}).get("ended") for p in ("p0", "p1")]
    check(proc.returncode == 0 and ended == ["stop_requested", "stop_requested"],
          "stop: ppl_stop from a shell stops the pipeline of a worker rank and of rank 0", (ended, out, err[-2000:]))
    last = query(db, "SELECT pplid, last_epoch FROM ppl_state ORDER BY pplid")
    kept = all(query(db, "SELECT count(DISTINCT epoch) FROM history WHERE pplid=?", (p,))[0][0] == e and e >= 1
               for p, e in last)
    st = query(db, "SELECT group_concat(status) FROM ppls")[0][0]
    check(kept and st == "stopped,stopped" and query(db, "SELECT count(*) FROM runnings")[0][0] == 0,
          "stop: every finished epoch kept, status stopped, claims gone", (last, st))


def rank_pid(db, rank):
    """pid of the labflow-mpi process of `rank` working on db."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
            env = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"labflow-mpi") and db.encode() in cmd and \
                ("OMPI_COMM_WORLD_RANK=%d" % rank).encode() in env:
            return int(pid)
    return None


def test_each_kill(tmp):
    ref = csv_project(os.path.join(tmp, "kref"), rows=12000)
    shell(ref, "SELECT count(*) FROM ppl_train_each('SELECT pplid FROM ppls', 40);")
    db = csv_project(os.path.join(tmp, "kill"), rows=12000)
    args = [db, "each", "SELECT pplid FROM ppls ORDER BY pplid", "--until", "40"]
    proc = subprocess.Popen(mpirun_args(2, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=mpi_env())
    ok = wait_epochs(db, "p0", 2, proc)
    pid = rank_pid(db, 1)
    if ok and pid:
        os.kill(pid, signal.SIGKILL)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    done = query(db, "SELECT count(*) FROM ppl_state WHERE last_epoch=40")[0][0]
    check(ok and pid and proc.returncode != 0 and done < 4,
          "kill: SIGKILL of worker rank 1 mid-run makes mpirun end the job", (ok, pid, proc.returncode, done))
    # The claims are released (rank 0 caught the TERM) or recognised dead.
    out2, err2 = shell(db, "SELECT count(*) FROM ppls WHERE ppl_is_running(pplid);")
    check(out2 == "0", "kill: no pipeline counts as running after the job ended", out2 + err2)
    rc, out, err = mpirun(2, args)
    rows = rows_of(out)
    last = query(db, "SELECT group_concat(last_epoch) FROM ppl_state")[0][0]
    check(rc == 0 and len(rows) == 4 and all("summary" in r for r in rows) and last == "40,40,40,40",
          "kill: the same command again resumes to the end", (rc, last, out, err[-3000:]))
    a, b = histories(ref), histories(db)
    check(len(a) == 4 * 40 * 5 and a == b, "kill: histories equal to an undisturbed run", first_diff(a, b))


def test_each_sigint(tmp):
    """Ctrl-C on mpirun: the claims go, finished epochs stay, the same
    command resumes to the same histories."""
    # Enough epochs that an idle machine is still training when the signal
    # lands (an epoch here takes ~12 ms; 40 were over before mpirun passed
    # the signal on).
    until = 200
    ref = csv_project(os.path.join(tmp, "iref"), npipes=2, rows=12000)
    shell(ref, "SELECT count(*) FROM ppl_train_each('SELECT pplid FROM ppls', %d);" % until)
    db = csv_project(os.path.join(tmp, "int"), npipes=2, rows=12000)
    args = [db, "each", "SELECT pplid FROM ppls ORDER BY pplid", "--until", str(until)]
    proc = subprocess.Popen(mpirun_args(2, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=mpi_env())
    ok = wait_epochs(db, "p0", 2, proc)
    if ok:
        proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    done = query(db, "SELECT count(*) FROM ppl_state WHERE last_epoch=%d" % until)[0][0]
    out2, err2 = shell(db, "SELECT count(*) FROM ppls WHERE ppl_is_running(pplid);")
    check(ok and proc.returncode != 0 and done < 2 and out2 == "0",
          "Ctrl-C on mpirun ends the run and leaves no pipeline running", (ok, proc.returncode, done, out2, err[-1500:]))
    rc, out, err = mpirun(2, args)
    a, b = histories(ref), histories(db)
    check(rc == 0 and len(a) == 2 * until * 5 and a == b, "Ctrl-C: the same command again ends with the undisturbed histories",
          (rc, first_diff(a, b)))


def test_halving(tmp):
    """A sweep's halving rungs spread over the ranks, as ppl_halving."""
    res = []
    for name in ("hs", "hm"):
        db = csv_project(os.path.join(tmp, name), npipes=1)
        out, err = shell(db, "SELECT ppl_sweep('sw', 'p0', '{\"optimizer>args>lr\": [0.1, 0.03, 0.01, 0.003]}');")
        check(not err, "halving: the sweep is made (%s)" % name, err)
        if name == "hs":
            out, err = shell(db, "SELECT ppl_halving('sw', 1, 4, 2) ->> '$.winner';")
            res.append((out.strip(), err))
        else:
            rc, out, err = mpirun(2, [db, "halving", "sw", "--min-epochs", "1", "--max-epochs", "4", "--eta", "2"])
            last = [l for l in out.splitlines() if '"winner"' in l]
            res.append((json.loads(last[-1]).get("winner") if last else None, err if rc else ""))
        res[-1] = res[-1] + (query(db, "SELECT pplid, epoch, name, value FROM history WHERE pplid LIKE 'sw-%' AND "
                                      "name NOT LIKE '%duration' ORDER BY 1, 2, 3"),)
    check(res[0][0] and res[0][0] == res[1][0] and res[0][2] == res[1][2],
          "halving over 2 ranks names ppl_halving's winner with bitwise its histories", (res[0][:2], res[1][:2]))


# ---- data-parallel ---------------------------------------------------------

def idx_subset(src_prefix, dst_prefix, n):
    """The first n samples of a Fashion-MNIST split as idx files."""
    with gzip.open(src_prefix + "-images-idx3-ubyte.gz") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        images = f.read(n * rows * cols)
    with gzip.open(src_prefix + "-labels-idx1-ubyte.gz") as f:
        f.read(8)
        labels = f.read(n)
    with gzip.open(dst_prefix + "-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", magic, n, rows, cols) + images)
    with gzip.open(dst_prefix + "-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, n) + labels)


def fashion_project(folder, ntrain, nval):
    os.makedirs(folder, exist_ok=True)
    idx_subset(FASHION + "/train", os.path.join(folder, "train"), ntrain)
    idx_subset(FASHION + "/t10k", os.path.join(folder, "val"), nval)
    db = os.path.join(folder, "f.db")
    settings = {"metrics": ["accuracy"], "threads": 1, "progress": False,
                "strategy": {"monitor": "val_accuracy", "mode": "max"}}
    mlp = [{"loc": "Flatten"}, {"loc": "Linear", "args": {"out": 128}}, {"loc": "ReLU"},
           {"loc": "Linear", "args": {"out": 10}}]
    cnn = [{"loc": "Conv2d", "args": {"out": 8, "kernel": 3, "padding": 1}}, {"loc": "BatchNorm2d"}, {"loc": "ReLU"},
           {"loc": "MaxPool2d", "args": {"kernel": 2}}, {"loc": "Flatten"}, {"loc": "Linear", "args": {"out": 10}}]
    sql = "SELECT lab_init('%s');\n" % json.dumps(settings)
    for name, layers in (("mlp", mlp), ("cnn", cnn)):
        cfg = {"model": {"loc": "Sequential", "args": {"layers": layers}}, "dataset": {"loc": "idx", "args": {}},
               "train_data_src": "train", "val_data_src": "val", "loss": {"loc": "CrossEntropyLoss"},
               "optimizer": {"loc": "Adam", "args": {"lr": 0.001}}, "metrics": {"accuracy": {"loc": "Accuracy"}},
               "train_batch_size": 64, "val_batch_size": 500, "seed": 7}
        sql += "SELECT ppl_new('%s', '%s');\n" % (name, json.dumps(cfg))
    out, err = shell(db, sql)
    assert not err, err
    return db


def val_acc(db, pplid, epoch):
    r = query(db, "SELECT value FROM history WHERE pplid=? AND epoch=? AND name='val_accuracy'", (pplid, epoch))
    return r[0][0] if r else None


def test_dp(tmp):
    # LF_MPI_TRAIN/VAL/EPOCHS: tests/asan.sh runs it on less data
    # (make check-all's full-data check is test_dp_full).
    E = int(os.environ.get("LF_MPI_EPOCHS", "2"))
    NT, NV = int(os.environ.get("LF_MPI_TRAIN", "6000")), int(os.environ.get("LF_MPI_VAL", "4000"))
    # Larger sets take many minutes per run on a shared machine: the time
    # limits grow with the work.
    tmo = max(1800, 1800 * NT * E // (6000 * 2))
    single = fashion_project(os.path.join(tmp, "dp1"), NT, NV)
    out, err = shell(single, "SELECT ppl_train('mlp', %d); SELECT ppl_train('cnn', %d);" % (E, E), timeout=tmo)
    check(not err, "dp: single-process reference trains", err)
    runs = []
    for k in (1, 2):
        db = fashion_project(os.path.join(tmp, "dp2_%d" % k), NT, NV)
        for pplid in ("mlp", "cnn"):
            rc, out, err = mpirun(2, [db, "train", pplid, "--epochs", str(E), "--print-hashes"],
                                  tcp=(k == 2 and pplid == "mlp"), timeout=tmo)
            rows = rows_of(out)
            s = rows[0] if rows else {}
            check(rc == 0 and s.get("last_epoch") == E, "dp %s run %d: 2 ranks train %d epochs%s"
                  % (pplid, k, E, " over TCP (--mca btl tcp,self)" if k == 2 and pplid == "mlp" else ""), out + err)
            hl = [l for l in err.splitlines() if "weights sha256" in l]
            same = len(hl) == E and all(l.split("rank0=")[1].split()[0] == l.split("rank1=")[1].split()[0] for l in hl)
            check(same and s.get("mpi", {}).get("weights_equal_on_all_ranks") is True,
                  "dp %s run %d: every rank holds the same weights at each epoch end" % (pplid, k), hl)
        runs.append(db)
    a, b = histories(runs[0]), histories(runs[1])
    check(len(a) > 0 and a == b, "dp: two runs are bitwise equal (histories)", first_diff(a, b))
    wa, wb = weight_digests(runs[0]), weight_digests(runs[1])
    check(len(wa) >= 2 and wa == wb, "dp: two runs are bitwise equal (weight files)", (wa, wb))
    for pplid in ("mlp", "cnn"):
        s, d = val_acc(single, pplid, E), val_acc(runs[0], pplid, E)
        check(s is not None and d is not None and abs(s - d) * 100 <= 0.5,
              "dp %s: 2 ranks reach the single-process val_accuracy within 0.5 points (%s vs %s)" % (pplid, d, s))
    # The checkpoints are the ordinary format, both ways.
    out, err = shell(runs[0], "SELECT ppl_train('mlp', 1);", timeout=tmo)
    check(json.loads(out or "{}").get("last_epoch") == E + 1, "dp: ppl_train resumes a data-parallel pipeline", out + err)
    rc, out, err = mpirun(2, [runs[0], "train", "mlp", "--epochs", "1"], timeout=tmo)
    rows = rows_of(out)
    check(rc == 0 and rows and rows[0].get("last_epoch") == E + 2, "dp: data-parallel resumes ppl_train's epoch", out + err)


def example_config(name):
    """The pipeline config of examples/fashion_NAME.sql (its ppl_new call)."""
    sql = open(os.path.join(ROOT, "examples", "fashion_%s.sql" % name)).read()
    head = "SELECT ppl_new('%s', '" % name
    start = sql.index(head) + len(head)
    return json.loads(sql[start:sql.index("')", start)])


def test_dp_full(tmp):
    """LF_LONG=1 (make check-all): the examples' MLP and CNN on the whole of
    Fashion-MNIST (60,000 training, 10,000 test images, read by every rank
    from /usr/share/datasets/fashion-mnist), E epochs (the examples' 3) in
    one process and data-parallel over 2 ranks; the 2 ranks' val_accuracy
    is within 0.5 points of the single process's after the same epochs."""
    E = int(os.environ.get("LF_MPI_EPOCHS", "3"))
    settings = {"metrics": ["accuracy"], "threads": 1, "progress": False,
                "strategy": {"monitor": "val_accuracy", "mode": "max"}}
    dbs = {}
    for side in ("single", "ranks2"):
        os.makedirs(os.path.join(tmp, "full_" + side), exist_ok=True)
        dbs[side] = os.path.join(tmp, "full_" + side, "f.db")
        sql = "SELECT lab_init('%s');\n" % json.dumps(settings)
        for name in ("mlp", "cnn"):
            sql += "SELECT ppl_new('%s', '%s');\n" % (name, json.dumps(example_config(name)))
        out, err = shell(dbs[side], sql)
        check(not err, "full: %s project from examples/fashion_mlp.sql and fashion_cnn.sql" % side, err)
    for name in ("mlp", "cnn"):
        t0 = time.time()
        out, err = shell(dbs["single"], "SELECT ppl_train('%s', %d);" % (name, E), timeout=4 * 3600)
        t1 = time.time()
        check(not err and json.loads(out or "{}").get("last_epoch") == E,
              "full %s: one process trains %d epochs on 60,000 images (%.0f s)" % (name, E, t1 - t0), out + err)
        rc, out, err = mpirun(2, [dbs["ranks2"], "train", name, "--epochs", str(E), "--print-hashes"],
                              timeout=4 * 3600)
        t2 = time.time()
        rows = rows_of(out)
        s = rows[0] if rows else {}
        check(rc == 0 and s.get("last_epoch") == E and s.get("mpi", {}).get("weights_equal_on_all_ranks") is True,
              "full %s: 2 ranks train %d epochs data-parallel, the same weights on both (%.0f s)" % (name, E, t2 - t1),
              out + err[-3000:])
        a = [val_acc(dbs["single"], name, e) for e in range(1, E + 1)]
        b = [val_acc(dbs["ranks2"], name, e) for e in range(1, E + 1)]
        check(None not in a + b and abs(a[-1] - b[-1]) * 100 <= 0.5,
              "full %s: 2 ranks reach the single-process val_accuracy within 0.5 points after %d epochs "
              "(2 ranks %s vs 1 process %s by epoch)" % (name, E, b, a))


# The default list; LF_LONG=1 (make check-all, after the suite has run the
# rest) runs the full-data check only.
ALL_TESTS = ("test_dp_full" if os.environ.get("LF_LONG", "") not in ("", "0") else
             "test_each_bitwise test_each_unreadable test_each_stop test_each_kill test_each_sigint test_halving test_dp")


def main():
    if not shutil.which("mpirun"):
        print("NOTE test_mpi.py: mpirun is not installed (Debian: openmpi-bin libopenmpi-dev, "
              "which tools/deps.sh installs); the MPI tests did not run")
        print("0 passed, 0 failed")
        return 0
    if not os.path.exists(MPI_BIN):
        check(False, "labflow-mpi is built", "mpirun is here but %s is not: run make (needs libopenmpi-dev)" % MPI_BIN)
        print("%d passed, %d failed" % (passed, failed))
        return 1
    tmp = tempfile.mkdtemp(prefix="lfmpi-")
    try:
        for t in [globals()[n] for n in os.environ.get("LF_MPI_TESTS", ALL_TESTS).replace(",", " ").split()]:
            try:
                t(tmp)
            except Exception as e:  # a crashed test is a failure, not a stop
                check(False, t.__name__, repr(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
