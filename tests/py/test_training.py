#!/usr/bin/python3
"""test_training.py — training through the real sqlite3 shell, across
processes: Fashion-MNIST accuracy, exact resume, ppl_stop from another
process, Ctrl-C, a killed trainer's recovery, live history from a second
connection, and two trainers racing for one pipeline.

Prints "PASS name" / "FAIL name: why" lines.
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
SQLITE = os.environ.get("LF_SQLITE3", "sqlite3")
FASHION = "/usr/share/datasets/fashion-mnist"
failed = 0


def check(ok, name, why=""):
    global failed
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + why))
    sys.stdout.flush()
    if not ok:
        failed += 1


def shell(db, sql, timeout=600):
    """Runs SQL in a fresh sqlite3 shell with LabFlow loaded."""
    p = subprocess.run([SQLITE, "-batch", db], input=".load " + EXT + "\n" + sql + "\n",
                       capture_output=True, text=True, timeout=timeout)
    return p.stdout.strip(), p.stderr.strip()


def start_shell(db, sql):
    return subprocess.Popen([SQLITE, "-batch", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def query(db, sql, args=()):
    """A plain connection (no extension): what any other reader sees."""
    c = sqlite3.connect(db, timeout=30)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def layers_mlp():
    return [{"loc": "Flatten"}, {"loc": "Linear", "args": {"out": 256}}, {"loc": "ReLU"},
            {"loc": "Linear", "args": {"out": 128}}, {"loc": "ReLU"}, {"loc": "Linear", "args": {"out": 10}}]


def layers_cnn():
    return [{"loc": "Conv2d", "args": {"out": 16, "kernel": 5, "padding": 2}}, {"loc": "ReLU"},
            {"loc": "MaxPool2d", "args": {"kernel": 2}},
            {"loc": "Conv2d", "args": {"out": 32, "kernel": 5, "padding": 2}}, {"loc": "ReLU"},
            {"loc": "MaxPool2d", "args": {"kernel": 2}}, {"loc": "Flatten"},
            {"loc": "Linear", "args": {"out": 128}}, {"loc": "ReLU"}, {"loc": "Linear", "args": {"out": 10}}]


def layers_small():
    """Dropout and BatchNorm make resume depend on rng and running stats."""
    return [{"loc": "Flatten"}, {"loc": "Linear", "args": {"out": 64}}, {"loc": "BatchNorm1d"},
            {"loc": "ReLU"}, {"loc": "Dropout", "args": {"p": 0.2}}, {"loc": "Linear", "args": {"out": 10}}]


def fashion_config(layers, seed=1, batch=128):
    return {"model": {"loc": "Sequential", "args": {"layers": layers}},
            "dataset": {"loc": "idx", "args": {}},
            "train_data_src": FASHION + "/train", "val_data_src": FASHION + "/t10k",
            "loss": {"loc": "CrossEntropyLoss"}, "optimizer": {"loc": "Adam", "args": {"lr": 0.001}},
            "metrics": {"accuracy": {"loc": "Accuracy"}},
            "train_batch_size": batch, "val_batch_size": 512, "seed": seed}


def new_project(tmp, name="p.db", extra=None):
    db = os.path.join(tmp, name)
    settings = {"metrics": ["accuracy"], "strategy": {"monitor": "val_accuracy", "mode": "max"},
                "threads": 2, "progress": False}
    settings.update(extra or {})
    out, err = shell(db, "SELECT lab_init('%s');" % json.dumps(settings))
    assert not err, err
    return db


def add_ppl(db, pplid, cfg):
    out, err = shell(db, "SELECT ppl_new('%s', '%s');" % (pplid, json.dumps(cfg)))
    assert out == pplid, err


def wait_for_epoch(db, pplid, epoch, proc, limit=120):
    t0 = time.time()
    while time.time() - t0 < limit:
        rows = query(db, "SELECT max(epoch) FROM history WHERE pplid=?", (pplid,))
        if rows[0][0] is not None and rows[0][0] >= epoch:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def test_fashion_accuracy(tmp):
    db = new_project(tmp, "fashion.db")
    add_ppl(db, "mlp", fashion_config(layers_mlp()))
    add_ppl(db, "cnn", fashion_config(layers_cnn()))
    for pplid, floor in (("mlp", 0.85), ("cnn", 0.87)):
        out, err = shell(db, "SELECT ppl_train('%s', 3);" % pplid)
        summary = json.loads(out) if out.startswith("{") else {}
        check(summary.get("last_epoch") == 3, "fashion %s trains 3 epochs" % pplid, out + err)
        acc = query(db, "SELECT value FROM history WHERE pplid=? AND epoch=3 AND name='val_accuracy'", (pplid,))
        acc = acc[0][0] if acc else 0
        check(acc >= floor, "fashion %s reaches val_accuracy >= %.2f in 3 epochs (got %.4f)" % (pplid, floor, acc),
              "accuracy %.4f" % acc)


def history_values(db, pplid):
    return query(db, "SELECT epoch, name, value FROM history WHERE pplid=? AND name NOT LIKE '%duration' "
                     "ORDER BY epoch, name", (pplid,))


def test_resume_exact(tmp):
    a = new_project(tmp, "resume_a.db")
    b = new_project(tmp, "resume_b.db")
    cfg = fashion_config(layers_small(), seed=5, batch=256)
    add_ppl(a, "r", cfg)
    add_ppl(b, "r", cfg)
    shell(a, "SELECT ppl_train('r', 3);")
    shell(a, "SELECT ppl_train('r', 2);")
    shell(b, "SELECT ppl_train('r', 5);")
    ha, hb = history_values(a, "r"), history_values(b, "r")
    # 5 epochs x (train/val accuracy, train/val loss, lr)
    check(len(ha) == 25 and ha == hb, "train 3 then 2 gives bitwise the same history as train 5",
          "differs:\n%s\n%s" % (ha[-3:], hb[-3:]))
    wa = open(os.path.join(a + ".labflow", "Weights", "r", "e5.lfw"), "rb").read()
    wb = open(os.path.join(b + ".labflow", "Weights", "r", "e5.lfw"), "rb").read()
    check(wa == wb, "train 3 then 2 gives byte-identical epoch-5 weights as train 5")


def test_stop_from_second_process(tmp):
    db = new_project(tmp, "stop.db")
    add_ppl(db, "s", fashion_config(layers_mlp(), seed=2))
    trainer = start_shell(db, "")
    trainer.stdin.write(".load %s\nSELECT ppl_train('s', 50);\n" % EXT)
    trainer.stdin.close()
    trainer.stdin = None
    visible = wait_for_epoch(db, "s", 1, trainer)
    check(visible, "a second connection sees history rows while training runs")
    running = query(db, "SELECT logid FROM runnings WHERE pplid='s'")
    check(len(running) == 1, "runnings shows the claim while training")
    out, err = shell(db, "SELECT ppl_is_running('s') IS NOT NULL;")
    check(out == "1", "ppl_is_running sees the live trainer", out + err)
    # A second trainer of the same pipeline is refused at once.
    t0 = time.time()
    out, err = shell(db, "SELECT ppl_train('s', 1);")
    check("already running in logid: %d" % running[0][0] in err and time.time() - t0 < 10,
          "a second trainer is refused with 'already running in logid'", err)
    out, err = shell(db, "SELECT ppl_stop('s');")
    check(out == "1", "ppl_stop from another process returns 1", out + err)
    try:
        tout, terr = trainer.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        trainer.kill()
        tout, terr = trainer.communicate()
    summary = json.loads(tout.strip()) if tout.strip().startswith("{") else {}
    check(summary.get("ended") == "stop_requested", "the trainer ends with stop_requested", tout + terr)
    last = query(db, "SELECT last_epoch FROM ppl_state WHERE pplid='s'")[0][0]
    check(last >= 1 and last < 50 and summary.get("last_epoch") == last,
          "every finished epoch is kept after a stop", "last=%s summary=%s" % (last, summary))
    check(query(db, "SELECT count(*) FROM runnings")[0][0] == 0, "the claim is released after a stop")


def test_ctrl_c(tmp):
    db = new_project(tmp, "intr.db")
    add_ppl(db, "c", fashion_config(layers_mlp(), seed=3))
    trainer = start_shell(db, "")
    trainer.stdin.write(".load %s\nSELECT ppl_train('c', 50);\n" % EXT)
    trainer.stdin.flush()
    ok = wait_for_epoch(db, "c", 1, trainer)
    trainer.send_signal(signal.SIGINT)
    try:
        trainer.stdin.close()
        trainer.stdin = None
        tout, terr = trainer.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        trainer.kill()
        tout, terr = trainer.communicate()
    last = query(db, "SELECT last_epoch FROM ppl_state WHERE pplid='c'")[0][0]
    check(ok and trainer.returncode is not None and trainer.returncode >= 0,
          "Ctrl-C (SIGINT) stops the shell's training without killing the shell", terr)
    check(1 <= last < 50, "Ctrl-C keeps every finished epoch", "last=%s" % last)
    check(query(db, "SELECT count(*) FROM runnings")[0][0] == 0, "Ctrl-C releases the claim")
    files = query(db, "SELECT epoch FROM ppl_weight_files WHERE pplid='c'")
    check(all(os.path.exists(os.path.join(db + ".labflow", "Weights", "c", "e%d.lfw" % e)) for (e,) in files),
          "every weight file listed after Ctrl-C exists")


def test_killed_trainer(tmp):
    db = new_project(tmp, "kill.db")
    add_ppl(db, "k", fashion_config(layers_mlp(), seed=4))
    trainer = start_shell(db, "")
    trainer.stdin.write(".load %s\nSELECT ppl_train('k', 50);\n" % EXT)
    trainer.stdin.flush()
    wait_for_epoch(db, "k", 1, trainer)
    trainer.kill()
    trainer.communicate()
    check(query(db, "SELECT count(*) FROM runnings")[0][0] == 1, "a killed trainer leaves its claim row")
    last = query(db, "SELECT last_epoch FROM ppl_state WHERE pplid='k'")[0][0]
    out, err = shell(db, "SELECT ppl_is_running('k') IS NULL;")
    check(out == "1", "ppl_is_running reports a killed trainer as not running", out + err)
    check(query(db, "SELECT count(*) FROM runnings")[0][0] == 0, "ppl_is_running clears the dead claim")
    # Kill again, then let the next ppl_train recover the claim itself.
    trainer = start_shell(db, "")
    trainer.stdin.write(".load %s\nSELECT ppl_train('k', 50);\n" % EXT)
    trainer.stdin.flush()
    wait_for_epoch(db, "k", last + 1, trainer)
    trainer.kill()
    trainer.communicate()
    last = query(db, "SELECT last_epoch FROM ppl_state WHERE pplid='k'")[0][0]
    out, err = shell(db, "SELECT ppl_train('k', 1);")
    summary = json.loads(out) if out.startswith("{") else {}
    check(summary.get("first_epoch") == last + 1 and summary.get("last_epoch") == last + 1,
          "the next ppl_train recovers a killed trainer's claim and resumes after the last finished epoch",
          out + err)


def main():
    tmp = tempfile.mkdtemp(prefix="lftrain-")
    try:
        for t in (test_fashion_accuracy, test_resume_exact, test_stop_from_second_process,
                  test_ctrl_c, test_killed_trainer):
            if sys.argv[1:] and t.__name__ not in sys.argv[1:]:
                continue
            try:
                t(tmp)
            except Exception as e:  # a crash of the test itself is a failure
                check(False, t.__name__, repr(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
