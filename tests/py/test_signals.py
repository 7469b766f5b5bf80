#!/usr/bin/python3
"""test_signals.py — signals arriving while LabFlow computes change nothing.

oneDNN 2.x's JIT GEMM kernels point the stack pointer into a heap buffer
while they run (oneDNN issue #4845); a signal handled on that thread then has
its frame written into the heap. In the sqlite3 shell that was Ctrl-C during
ppl_train aborting the shell ("corrupted size vs. prev_size") about one run
in eight. LabFlow now blocks asynchronous signals on the threads running
oneDNN kernels (kernels/lf_signals.h) and takes them between batches.

Each case runs in a child /usr/bin/python3 (a heap corruption shows as its
exit status) that loads LabFlow into Python's sqlite3 module, trains, and
evaluates. Under a storm of SIGALRM every 0.2 ms (thousands of signals per
epoch) the child must exit 0 and produce exactly the history and evaluation
of the same run without signals. Before the fix the storm aborted the child
within the first epoch, every time.

Prints "PASS name" / "FAIL name: why" lines.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
SQLITE = os.environ.get("LF_SQLITE3", "sqlite3")
FASHION = "/usr/share/datasets/fashion-mnist"
failed = 0

LAYERS = {
    "mlp": [{"loc": "Flatten"}, {"loc": "Linear", "args": {"out": 256}}, {"loc": "ReLU"},
            {"loc": "Linear", "args": {"out": 128}}, {"loc": "ReLU"}, {"loc": "Linear", "args": {"out": 10}}],
    "cnn": [{"loc": "Conv2d", "args": {"out": 16, "kernel": 5, "padding": 2}}, {"loc": "ReLU"},
            {"loc": "MaxPool2d", "args": {"kernel": 2}},
            {"loc": "Conv2d", "args": {"out": 32, "kernel": 5, "padding": 2}}, {"loc": "ReLU"},
            {"loc": "MaxPool2d", "args": {"kernel": 2}}, {"loc": "Flatten"},
            {"loc": "Linear", "args": {"out": 128}}, {"loc": "ReLU"}, {"loc": "Linear", "args": {"out": 10}}],
}

# The child: db path, model name, epochs, storm interval in seconds (0: none).
CHILD = r"""
import json, os, signal, sqlite3, sys
db, ext, epochs, every = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
# Python runs its handlers later and coalesced; its C-level handler writes a
# byte per delivered signal to the wakeup fd, which is what is counted.
r, w = os.pipe()
os.set_blocking(r, False)
os.set_blocking(w, False)
signal.set_wakeup_fd(w, warn_on_full_buffer=False)
signal.signal(signal.SIGALRM, lambda sig, frame: None)
c = sqlite3.connect(db, timeout=30)
c.enable_load_extension(True)
c.load_extension(ext)
if every > 0:
    signal.setitimer(signal.ITIMER_REAL, every, every)
summary = c.execute("SELECT ppl_train('m', ?)", (epochs,)).fetchone()[0]
ev = c.execute("SELECT ppl_evaluate('m', ?, 'last')", (sys.argv[5],)).fetchone()[0]
signal.setitimer(signal.ITIMER_REAL, 0, 0)
hist = c.execute("SELECT epoch, name, value FROM history WHERE pplid='m' AND name NOT LIKE '%duration' "
                 "ORDER BY epoch, name").fetchall()
ev = json.loads(ev)
ev.pop("duration", None)
print(json.dumps({"summary": json.loads(summary), "evaluate": ev, "history": hist}))
hits = 0
try:
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        hits += len(chunk)
except BlockingIOError:
    pass
print("signals", hits, file=sys.stderr)
c.close()
"""


def check(ok, name, why=""):
    global failed
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + why))
    sys.stdout.flush()
    if not ok:
        failed += 1


def project(tmp, name, model):
    db = os.path.join(tmp, name + ".db")
    cfg = {"model": {"loc": "Sequential", "args": {"layers": LAYERS[model]}},
           "dataset": {"loc": "idx", "args": {}},
           "train_data_src": FASHION + "/train", "val_data_src": FASHION + "/t10k",
           "loss": {"loc": "CrossEntropyLoss"}, "optimizer": {"loc": "Adam", "args": {"lr": 0.001}},
           "metrics": {"accuracy": {"loc": "Accuracy"}},
           "train_batch_size": 128, "val_batch_size": 512, "seed": 5}
    settings = {"metrics": ["accuracy"], "strategy": {"monitor": "val_accuracy", "mode": "max"},
                "threads": 2, "progress": False}
    sql = "SELECT lab_init('%s'); SELECT ppl_new('m', '%s');" % (json.dumps(settings), json.dumps(cfg))
    p = subprocess.run([SQLITE, "-batch", db], input=".load %s\n%s\n" % (EXT, sql),
                       capture_output=True, text=True, timeout=120)
    assert p.stdout.strip().endswith("m"), p.stdout + p.stderr
    return db


def run(db, epochs, every):
    p = subprocess.run(["/usr/bin/python3", "-c", CHILD, db, EXT, str(epochs), str(every), FASHION + "/t10k"],
                       capture_output=True, text=True, timeout=900)
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        out = None
    return p.returncode, out, p.stderr.strip()


def test_storm(tmp, model, epochs):
    quiet = project(tmp, model + "_quiet", model)
    storm = project(tmp, model + "_storm", model)
    rc_q, out_q, err_q = run(quiet, epochs, 0)
    rc_s, out_s, err_s = run(storm, epochs, 0.0002)
    nsig = int(err_s.split()[-1]) if err_s.split()[-1:] and err_s.split()[-1].isdigit() else 0
    check(rc_q == 0 and out_q is not None, "%s: trains and evaluates without signals" % model, err_q[-400:])
    check(rc_s == 0 and out_s is not None,
          "%s: a storm of signals during ppl_train and ppl_evaluate does not crash the host (exit %d)"
          % (model, rc_s), err_s[-400:])
    check(nsig >= 1000, "%s: the storm delivered thousands of signals (%d counted; the pipe holds at most 65536)"
          % (model, nsig), err_s[-200:])
    if out_q is None or out_s is None:
        return
    check(out_s["summary"].get("last_epoch") == epochs and out_s["summary"].get("ended") == "finished",
          "%s: under the storm training finishes all %d epochs" % (model, epochs), json.dumps(out_s["summary"]))
    check(out_s["history"] == out_q["history"] and len(out_q["history"]) >= 4 * epochs,
          "%s: history under the storm equals the quiet run's, value for value" % model,
          "%s vs %s" % (out_s["history"][:4], out_q["history"][:4]))
    check(out_s["evaluate"] == out_q["evaluate"],
          "%s: ppl_evaluate under the storm equals the quiet run's" % model,
          "%s vs %s" % (out_s["evaluate"], out_q["evaluate"]))


def main():
    tmp = tempfile.mkdtemp(prefix="lfsig-")
    try:
        test_storm(tmp, "mlp", 2)
        test_storm(tmp, "cnn", 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
