#!/usr/bin/python3
"""test_sigint.py — SIGINT stops ppl_train in Python, as Ctrl-C does in the shell.

A child /usr/bin/python3 loads LabFlow into Python's sqlite3 module and
trains for far more epochs than the test waits for; the parent sends it
SIGINT (what Ctrl-C in a terminal and a notebook's interrupt button do) once
its stderr shows that epoch 2 is finished. Before LabFlow had its own
SIGINT handler the signal only set Python's flag, and training went on to
the end (here: the test's timeout). Now:

  python  the default Python handler: training stops after the current
          batch, the call is followed by KeyboardInterrupt, the finished
          epochs are kept, the pipeline is not left 'running', training
          resumes exactly after them; the C-level SIGINT handler is Python's own again, and a
          SIGINT outside training raises KeyboardInterrupt at once.
  custom  a Python handler of the user's: it runs once, training stops.
  default SIG_DFL (a C host that never set a handler): training stops, the
          epochs are committed, then the process ends by SIGINT as it would
          have without LabFlow.
  ignored SIG_IGN: LabFlow leaves it alone and training runs to the end.

Prints "PASS name" / "FAIL name: why" lines.
"""
import json
import os
import random
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
PY = "/usr/bin/python3"
T = "sigint"
failed = passed = 0

CONFIG = {
    "model": {"loc": "Sequential", "args": {"layers": [
        {"loc": "Linear", "args": {"out": 16}}, {"loc": "ReLU"},
        {"loc": "Linear", "args": {"out": 2}}]}},
    "dataset": {"loc": "csv", "args": {"label": "y"}},
    "train_data_src": "d.csv", "val_data_src": "d.csv",
    "loss": {"loc": "CrossEntropyLoss"},
    "optimizer": {"loc": "SGD", "args": {"lr": 0.01}},
    "metrics": {"accuracy": {"loc": "Accuracy"}},
    "train_batch_size": 4,
}

CHILD = r'''
import ctypes, json, os, signal, sqlite3, sys, time
db, ext, mode, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def R(name, val):
    print("R", name, json.dumps(val), flush=True)

libc = ctypes.CDLL(None, use_errno=True)
def c_handler():
    """The C-level SIGINT handler address (first field of struct sigaction)."""
    buf = ctypes.create_string_buffer(512)
    assert libc.sigaction(signal.SIGINT, None, buf) == 0
    return ctypes.c_void_p.from_buffer(buf).value

R("startup_handler", repr(signal.getsignal(signal.SIGINT)))
calls = []
if mode == "custom":
    signal.signal(signal.SIGINT, lambda s, f: calls.append(s))
elif mode == "default":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
elif mode == "ignored":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
con = sqlite3.connect(db, timeout=30)
con.enable_load_extension(True)
con.load_extension(ext)
before = c_handler()
summary, ki = None, False
try:
    summary = json.loads(con.execute("SELECT ppl_train('m', ?)", (epochs,)).fetchone()[0])
except KeyboardInterrupt:
    ki = True
R("train", {"summary": summary, "keyboard_interrupt": ki, "calls": len(calls)})
R("handler_restored", c_handler() == before)
R("state", con.execute("SELECT p.status, s.last_epoch, (SELECT count(DISTINCT epoch) FROM history h "
                       "WHERE h.pplid='m') FROM ppls p JOIN ppl_state s USING (pplid) WHERE pplid='m'").fetchone())
R("running", con.execute("SELECT count(*) FROM runnings").fetchone()[0])
if mode == "python":
    # Outside training a SIGINT is Python's again: KeyboardInterrupt at once.
    got = False
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    except KeyboardInterrupt:
        got = True
    R("ki_outside_training", got)
    R("resume", json.loads(con.execute("SELECT ppl_train('m', 1)").fetchone()[0]))
con.close()
'''


def report(name, ok, why=""):
    global failed, passed
    if ok:
        passed += 1
        print("PASS %s: %s" % (T, name), flush=True)
    else:
        failed += 1
        print("FAIL %s: %s: %s" % (T, name, " ".join(str(why).split())[:400]), flush=True)


def make_project(folder):
    os.makedirs(folder)
    r = random.Random(3)
    with open(os.path.join(folder, "d.csv"), "w") as f:
        f.write("a,b,c,d,y\n")
        for i in range(2000):
            y = i % 2
            f.write(",".join("%.3f" % r.gauss(y - 0.5, 1.0) for _ in range(4)) + ",%d\n" % y)
    db = os.path.join(folder, "p.db")
    c = sqlite3.connect(db)
    c.enable_load_extension(True)
    c.load_extension(EXT)
    c.execute("SELECT lab_init('{\"metrics\":[\"accuracy\"],\"progress\":true,\"threads\":1}')").fetchone()
    c.execute("SELECT ppl_new('m', ?)", (json.dumps(CONFIG),)).fetchone()
    c.close()
    return db


def run(db, mode, epochs, signal_after_epoch, timeout=180):
    """Runs the child; sends SIGINT once stderr shows epoch `signal_after_epoch`
    finished. Returns (returncode, steps, stderr)."""
    # The child starts with SIGINT at its default, as from a terminal, so
    # that Python installs its own handler. Without this it inherits the
    # test runner's disposition: under a non-interactive shell's `&` (a
    # suite run in the background) SIGINT is ignored, Python then leaves it
    # ignored, and so does LabFlow: training ran on (the "lost" SIGINT).
    p = subprocess.Popen([PY, "-c", CHILD, db, EXT, mode, str(epochs)], cwd=os.path.dirname(db),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    err, sent, deadline = b"", False, time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([p.stderr], [], [], 1.0)
        if r:
            chunk = os.read(p.stderr.fileno(), 65536)
            if not chunk:
                break
            err += chunk
            if not sent and (b"m epoch %d:" % signal_after_epoch) in err:
                p.send_signal(signal.SIGINT)
                sent = True
    if p.poll() is None and time.time() >= deadline:
        p.kill()
    out, rest = p.communicate()
    err += rest
    steps = {}
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("R "):
            _, name, val = line.split(" ", 2)
            steps[name] = json.loads(val)
    return p.returncode, steps, err.decode(errors="replace"), sent


def main():
    tmp = tempfile.mkdtemp(prefix="lfsigint-")
    try:
        # ---- Python's default handler
        db = make_project(os.path.join(tmp, "python"))
        rc, st, err, sent = run(db, "python", 100000, 2)
        tr = st.get("train", {})
        report("python: the child starts with Python's own SIGINT handler, whatever the test runner's",
               st.get("startup_handler") == repr(signal.default_int_handler), repr(st.get("startup_handler")))
        report("python: SIGINT during ppl_train stops it and the process carries on",
               sent and rc == 0 and "train" in st, "rc %s, steps %r, stderr %r" % (rc, st, err[-300:]))
        report("python: KeyboardInterrupt follows the call, as for any Ctrl-C in Python",
               tr.get("keyboard_interrupt") is True, repr(tr))
        state = st.get("state") or [None, 0, 0]
        report("python: status is 'stopped' after the interrupt", state[0] == "stopped", repr(state))
        report("python: the finished epochs are kept (at least 2, history for each)",
               state[1] >= 2 and state[2] == state[1], repr(state))
        report("python: the claim is released", st.get("running") == 0, repr(st.get("running")))
        report("python: the host's C-level SIGINT handler is restored after ppl_train",
               st.get("handler_restored") is True, repr(st.get("handler_restored")))
        report("python: a SIGINT outside training raises KeyboardInterrupt",
               st.get("ki_outside_training") is True, repr(st.get("ki_outside_training")))
        res = st.get("resume") or {}
        report("python: training resumes right after the kept epochs",
               res.get("first_epoch") == state[1] + 1 and res.get("ended") == "finished", repr(res))

        # ---- a handler of the user's
        db = make_project(os.path.join(tmp, "custom"))
        rc, st, err, sent = run(db, "custom", 100000, 1)
        tr = st.get("train", {})
        summ = tr.get("summary") or {}
        report("custom: training stops as 'interrupted', the summary is returned",
               sent and rc == 0 and summ.get("ended") == "interrupted", "rc %s, %r, stderr %r" % (rc, tr, err[-300:]))
        report("custom: the user's handler ran once", tr.get("calls") == 1, repr(tr))
        report("custom: the user's handler is in place again", st.get("handler_restored") is True, repr(st))

        # ---- SIG_DFL: stop cleanly, then terminate as the default would
        db = make_project(os.path.join(tmp, "default"))
        rc, st, err, sent = run(db, "default", 100000, 1)
        report("default: the process ends by SIGINT after training stopped",
               sent and rc == -signal.SIGINT and "train" not in st, "rc %s, steps %r" % (rc, st))
        c = sqlite3.connect(db)
        last, nhist, nrun = c.execute("SELECT last_epoch, (SELECT count(DISTINCT epoch) FROM history), "
                                      "(SELECT count(*) FROM runnings) FROM ppl_state").fetchone()
        c.close()
        report("default: the finished epochs are committed and the claim released",
               last >= 1 and nhist == last and nrun == 0, "last %s, history epochs %s, runnings %s" % (last, nhist, nrun))

        # ---- SIG_IGN: nothing changes
        db = make_project(os.path.join(tmp, "ignored"))
        rc, st, err, sent = run(db, "ignored", 3, 1)
        summ = (st.get("train") or {}).get("summary") or {}
        report("ignored: an ignored SIGINT does not stop training",
               sent and rc == 0 and summ.get("ended") == "finished" and summ.get("last_epoch") == 3,
               "rc %s, %r" % (rc, st))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
