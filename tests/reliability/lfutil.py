"""lfutil.py — helpers shared by the reliability tests (tests/py/test_crash.py,
test_concurrency.py, test_hostile.py).

Environment (the same as tests/sqltest.py and the other process tests):
  LF_EXT      path of the extension without ".so" (default: <repo>/labflow)
  LF_SQLITE3  the sqlite3 shell to run (default: sqlite3); tests/asan.sh
              points it at a wrapper that preloads libasan
  LF_LONG=1   the long variants (make check-all)
"""
import hashlib
import json
import os
import random
import signal
import stat
import sqlite3
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
SQLITE = os.environ.get("LF_SQLITE3", "sqlite3")
LONG = os.environ.get("LF_LONG", "") not in ("", "0")

failed = 0


def check(ok, name, why=""):
    global failed
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + str(why)[:1500]))
    sys.stdout.flush()
    if not ok:
        failed += 1
    return ok


def shell(db, sql, timeout=600, cwd=None):
    """Runs SQL in a fresh sqlite3 shell with LabFlow loaded: (stdout, stderr, returncode)."""
    p = subprocess.run([SQLITE, "-batch", db], input=".load " + EXT + "\n" + sql + "\n",
                       capture_output=True, text=True, timeout=timeout, cwd=cwd)
    return p.stdout.strip(), p.stderr.strip(), p.returncode


def start_shell(db, sql, cwd=None):
    """A sqlite3 shell running SQL in the background (stdin closed)."""
    p = subprocess.Popen([SQLITE, "-batch", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=cwd)
    p.stdin.write(".load " + EXT + "\n" + sql + "\n")
    p.stdin.close()
    p.stdin = None
    return p


def query(db, sql, args=()):
    """A plain connection without the extension: what any other reader sees."""
    c = sqlite3.connect(db, timeout=60)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def write_csv(path, n=64, features=4, seed=1):
    """A small, learnable two-class CSV: epochs take milliseconds."""
    r = random.Random(seed)
    names = ["f%d" % i for i in range(features)]
    with open(path, "w") as f:
        f.write(",".join(names) + ",label\n")
        for _ in range(n):
            x = [r.uniform(-1, 1) for _ in range(features)]
            f.write(",".join("%.4f" % v for v in x) + ",%d\n" % (1 if sum(x) > 0 else 0))


def tiny_config(seed=3, src="d.csv", lr=0.01, hidden=8, batch=16, dropout=True):
    layers = [{"loc": "Linear", "args": {"out": hidden}}, {"loc": "ReLU"}]
    if dropout:
        layers.append({"loc": "Dropout", "args": {"p": 0.1}})
    layers.append({"loc": "Linear", "args": {"out": 2}})
    return {"model": {"loc": "Sequential", "args": {"layers": layers}},
            "dataset": {"loc": "csv", "args": {"label": "label"}},
            "train_data_src": src, "val_data_src": src,
            "loss": {"loc": "CrossEntropyLoss"}, "optimizer": {"loc": "Adam", "args": {"lr": lr}},
            "metrics": {"accuracy": {"loc": "Accuracy"}},
            "train_batch_size": batch, "seed": seed}


SETTINGS = {"metrics": ["accuracy"], "threads": 1, "progress": False}


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def new_project(folder, name="p.db", settings=None, csv=True):
    os.makedirs(folder, exist_ok=True)
    db = os.path.join(folder, name)
    if csv and not os.path.exists(os.path.join(folder, "d.csv")):
        write_csv(os.path.join(folder, "d.csv"))
    out, err, rc = shell(db, "SELECT lab_init(%s);" % sql_str(json.dumps(settings or SETTINGS)))
    if err:
        raise RuntimeError("lab_init: " + err)
    return db


def add_ppl(db, pplid, cfg):
    out, err, rc = shell(db, "SELECT ppl_new(%s, %s);" % (sql_str(pplid), sql_str(json.dumps(cfg))))
    if out != pplid:
        raise RuntimeError("ppl_new %s: %s" % (pplid, err))


def history_values(db, pplid):
    """History without the wall-clock durations, for bitwise comparisons."""
    return query(db, "SELECT epoch, name, value FROM history WHERE pplid=? AND name NOT LIKE '%duration' "
                     "ORDER BY epoch, name", (pplid,))


def integrity(db):
    return query(db, "PRAGMA integrity_check")


def tree_digest(folder, skip_db=None):
    """Digest of every file (name and bytes) and folder under folder; skip_db
    (a database path) is compared by its logical content instead, because
    opening a WAL database may checkpoint or recreate -wal/-shm files."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for d in dirnames:
            h.update(("D " + os.path.relpath(os.path.join(dirpath, d), folder) + "\n").encode())
        for f in sorted(filenames):
            p = os.path.join(dirpath, f)
            if skip_db and (p == skip_db or p in (skip_db + "-wal", skip_db + "-shm")):
                continue
            h.update(("F " + os.path.relpath(p, folder) + "\n").encode())
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    h.update(fh.read())
            elif stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(p).encode())
            else:
                h.update(("mode %o" % st.st_mode).encode())
    if skip_db and os.path.exists(skip_db):
        c = sqlite3.connect(skip_db, timeout=60)
        try:
            for line in c.iterdump():
                h.update(line.encode())
        finally:
            c.close()
    return h.hexdigest()


def kill_process(p):
    try:
        p.send_signal(signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        return p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        return "", ""


def wait_until(fn, limit=60, step=0.02):
    t0 = time.time()
    while time.time() - t0 < limit:
        if fn():
            return True
        time.sleep(step)
    return False
