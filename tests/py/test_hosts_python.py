#!/usr/bin/python3
"""test_hosts_python.py — LabFlow inside Python's sqlite3 module.

Debian's /usr/bin/python3 is the host (its sqlite3 module can load
extensions; a pyenv/conda python3 first on PATH often cannot). Each scenario
runs in a child /usr/bin/python3 so that its exit status (a crash at
connection close or at exit shows there) and its stderr (the progress lines)
can be checked. The child prints one line per step, "R <step> <json>", and
the parent turns them into PASS/FAIL lines.

Scenarios:
  main   load, lab_init (2 threads), ppl_new, ppl_train, query, a failing
         call that must come back as an SQL error, close; then in the same
         process a second connection loads LabFlow again, resumes training,
         predicts; a third (:memory:) loads it once more; exit 0.
  stop   a timer thread calls Connection.interrupt() (what Ctrl-C does in the
         sqlite3 shell) during a long ppl_train: training ends early and
         keeps the finished epochs; the connection stays usable.
  close  close right after a 2-thread training with OMP_WAIT_POLICY=active
         (OpenMP workers spin in libgomp), then exit 0. SQLite dlclose()s
         the extension at close; labflow.so is NODELETE so nothing is
         unmapped. (In CPython libdnnl/libgomp happen to stay loaded even
         without it; tests/node/host_test.js is where a missing NODELETE
         shows as a crash.)
  shell_tty  the interactive sqlite3 shell under a pseudo-terminal (pty):
         the progress bar is redrawn with \r, Ctrl-C stops ppl_train after
         the current batch ("ended":"interrupted", finished epochs kept) and
         the prompt comes back and keeps working.
  example  examples/python_example.py runs as written.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow")) + ".so"
PY = "/usr/bin/python3"
T = "hosts_python"

CONFIG = {
    "model": {"loc": "Sequential", "args": {"layers": [
        {"loc": "Linear", "args": {"out": 8}}, {"loc": "ReLU"},
        {"loc": "Linear", "args": {"out": 2}}]}},
    "dataset": {"loc": "csv", "args": {"label": "y"}},
    "train_data_src": "d.csv", "val_data_src": "d.csv",
    "loss": {"loc": "CrossEntropyLoss"},
    "optimizer": {"loc": "Adam", "args": {"lr": 0.01}},
    "metrics": {"accuracy": {"loc": "Accuracy"}},
    "train_batch_size": 8,
}
SETTINGS = {"metrics": ["accuracy"], "threads": 2}

passed = failed = 0


def ok(name):
    global passed
    passed += 1
    print(f"PASS {T}: {name}", flush=True)


def fail(name, why):
    global failed
    failed += 1
    why = " ".join(str(why).split())[:400]
    print(f"FAIL {T}: {name}: {why}", flush=True)


def check(name, cond, why=""):
    ok(name) if cond else fail(name, why or "condition false")
    return cond


def write_csv(path, rows=40, seed=1):
    """rows samples, 3 features, 2 well separated classes."""
    import random
    r = random.Random(seed)
    with open(path, "w") as f:
        f.write("a,b,c,y\n")
        for i in range(rows):
            y = i % 2
            f.write(",".join("%.4f" % r.gauss(2 * y - 1, 0.5) for _ in range(3)) + ",%d\n" % y)


def run_child(code, args, cwd, timeout=300, env=None):
    """Runs code in a child /usr/bin/python3: (returncode, steps, stdout, stderr)."""
    try:
        p = subprocess.run([PY, "-c", code] + args, cwd=cwd, capture_output=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        return None, {}, (e.stdout or b"").decode(errors="replace"), (e.stderr or b"").decode(errors="replace")
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    steps = {}
    for line in out.splitlines():
        if line.startswith("R "):
            _, name, val = line.split(" ", 2)
            steps[name] = json.loads(val)
    return p.returncode, steps, out, err


def status_text(rc):
    if rc is None:
        return "timed out"
    if rc < 0:
        return f"killed by signal {-rc}"
    return f"exit status {rc}"


def check_plain_progress(name, err, pplid, epochs):
    """stderr is a pipe: progress is plain lines, one per finished epoch."""
    bad = [c for c in ("\x1b", "\r") if c in err]
    check(f"{name}: progress on a non-terminal stderr has no ESC or CR", not bad,
          f"found {bad!r} in stderr: {err[:300]!r}")
    missing = [e for e in epochs if not re.search(rf"(?m)^{re.escape(pplid)} epoch {e}: .*val_loss=", err)]
    check(f"{name}: stderr has a line per epoch ('{pplid} epoch N: ...')", not missing,
          f"no line for epochs {missing}; stderr: {err[:300]!r}")


MAIN = r'''
import json, sys, sqlite3
ext, db, settings, config = sys.argv[1:5]
def R(name, val):
    print("R", name, json.dumps(val), flush=True)

con = sqlite3.connect(db)
con.enable_load_extension(True)
con.load_extension(ext)
con.enable_load_extension(False)
R("loaded", con.execute("SELECT labflow_version()").fetchone()[0])
R("lab_init", con.execute("SELECT lab_init(?)", (settings,)).fetchone()[0])
R("ppl_new", con.execute("SELECT ppl_new('p1', ?)", (config,)).fetchone()[0])
R("train", json.loads(con.execute("SELECT ppl_train('p1', 2)").fetchone()[0]))
R("history", con.execute("SELECT epoch, val_accuracy, val_loss FROM ppl_history('p1') ORDER BY epoch").fetchall())
try:
    con.execute("SELECT ppl_new('../x', '{}')").fetchall()
    R("error", None)
except sqlite3.Error as e:
    R("error", [type(e).__name__, str(e)])
R("after_error", con.execute("SELECT count(*) FROM ppls").fetchone()[0])
con.close()

# The same process goes on: a new connection loads LabFlow again.
con = sqlite3.connect(db)
con.enable_load_extension(True)
con.load_extension(ext)
R("reload_history", con.execute("SELECT count(*) FROM ppl_history").fetchone()[0])
R("resume", json.loads(con.execute("SELECT ppl_train('p1', 1)").fetchone()[0]))
R("predict", json.loads(con.execute("SELECT ppl_predict('p1', '[[1,1,1],[-1,-1,-1]]', 'best', 'class')").fetchone()[0]))
con.close()
con = sqlite3.connect(":memory:")
con.enable_load_extension(True)
con.load_extension(ext)
R("memory", con.execute("SELECT labflow_version()").fetchone()[0])
con.close()
R("done", True)
'''

STOP = r'''
import json, sys, sqlite3, threading, time
ext, db, settings, config = sys.argv[1:5]
def R(name, val):
    print("R", name, json.dumps(val), flush=True)
con = sqlite3.connect(db, check_same_thread=False)
con.enable_load_extension(True)
con.load_extension(ext)
con.execute("SELECT lab_init(?)", (settings,)).fetchone()
con.execute("SELECT ppl_new('long', ?)", (config,)).fetchone()
# Interrupt once the first epoch is in the history (seen by another connection).
def watcher():
    w = sqlite3.connect(db)
    t0 = time.time()
    while time.time() - t0 < 120:
        try:
            if w.execute("SELECT count(*) FROM history").fetchone()[0] >= 1:
                break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    con.interrupt()
    w.close()
th = threading.Thread(target=watcher)
th.start()
t0 = time.time()
try:
    R("train", json.loads(con.execute("SELECT ppl_train('long', 1000)").fetchone()[0]))
except sqlite3.Error as e:
    R("train_error", [type(e).__name__, str(e)])
R("seconds", time.time() - t0)
th.join()
R("epochs", con.execute("SELECT count(*) FROM ppl_history('long')").fetchone()[0])
R("running", con.execute("SELECT ppl_is_running('long')").fetchone()[0])
con.close()
R("done", True)
'''


CLOSE = r'''
import json, sys, sqlite3, time
ext, db, settings, config = sys.argv[1:5]
def R(name, val):
    print("R", name, json.dumps(val), flush=True)
con = sqlite3.connect(db)
con.enable_load_extension(True)
con.load_extension(ext)
con.execute("SELECT lab_init(?)", (settings,)).fetchone()
con.execute("SELECT ppl_new('t2', ?)", (config,)).fetchone()
R("train", json.loads(con.execute("SELECT ppl_train('t2', 1)").fetchone()[0]))
con.close()
R("closed", True)
time.sleep(0.2)
R("done", True)
'''


def scenario_close(tmp):
    d = os.path.join(tmp, "close")
    os.mkdir(d)
    write_csv(os.path.join(d, "d.csv"))
    env = dict(os.environ, OMP_WAIT_POLICY="active")
    rc, s, out, err = run_child(CLOSE, [EXT, os.path.join(d, "p.db"), json.dumps(SETTINGS), json.dumps(CONFIG)],
                                cwd=d, env=env)
    check("close: closing right after a 2-thread training, then exit 0 (OMP_WAIT_POLICY=active)",
          rc == 0 and s.get("closed") and s.get("done") and (s.get("train") or {}).get("ended") == "finished",
          f"{status_text(rc)}; steps {s}; stderr: {err[-300:]}")


def scenario_main(tmp):
    d = os.path.join(tmp, "main")
    os.mkdir(d)
    write_csv(os.path.join(d, "d.csv"))
    db = os.path.join(d, "project.db")
    # cwd is elsewhere: relative data paths resolve against the database's folder.
    rc, s, out, err = run_child(MAIN, [EXT, db, json.dumps(SETTINGS), json.dumps(CONFIG)], cwd=tmp)
    n = "main"
    if not check(f"{n}: load_extension() works", "loaded" in s,
                 f"{status_text(rc)}; stderr: {err[-400:]}"):
        return
    check(f"{n}: lab_init returns the artifacts folder", s.get("lab_init") == db + ".labflow", s.get("lab_init"))
    tr = s.get("train") or {}
    check(f"{n}: ppl_train(p1, 2) finished epochs 1-2",
          tr.get("first_epoch") == 1 and tr.get("last_epoch") == 2 and tr.get("ended") == "finished", tr)
    h = s.get("history") or []
    check(f"{n}: ppl_history has both epochs and learned the separable data",
          [r[0] for r in h] == [1, 2] and h[-1][1] >= 0.9, h)
    check(f"{n}: a failing call is an sqlite3.OperationalError with LabFlow's message",
          s.get("error") == ["OperationalError", "ppl_new: invalid pplid '../x': must not start with '.'"],
          s.get("error"))
    check(f"{n}: the connection works after the error", s.get("after_error") == 1, s.get("after_error"))
    check(f"{n}: a second connection in the same process loads LabFlow again", s.get("reload_history") == 2,
          s.get("reload_history"))
    tr = s.get("resume") or {}
    check(f"{n}: training resumes after close/reopen (epoch 3)",
          tr.get("first_epoch") == 3 and tr.get("last_epoch") == 3, tr)
    check(f"{n}: ppl_predict after reload", s.get("predict") == [1, 0], s.get("predict"))
    check(f"{n}: a third (:memory:) connection loads it too", bool(s.get("memory")), s.get("memory"))
    check(f"{n}: the process exits 0 after closing every connection", rc == 0 and s.get("done"),
          f"{status_text(rc)}; stderr: {err[-400:]}")
    check_plain_progress(n, err, "p1", [1, 2, 3])


def scenario_stop(tmp):
    d = os.path.join(tmp, "stop")
    os.mkdir(d)
    write_csv(os.path.join(d, "d.csv"), rows=4000)
    cfg = dict(CONFIG, train_batch_size=4)
    db = os.path.join(d, "project.db")
    rc, s, out, err = run_child(STOP, [EXT, db, json.dumps(SETTINGS), json.dumps(cfg)], cwd=d)
    n = "interrupt"
    tr = s.get("train")
    te = s.get("train_error")
    check(f"{n}: Connection.interrupt() during ppl_train stops it early",
          (tr and tr.get("ended") == "interrupted") or (te and "interrupt" in te[1].lower()),
          f"result {tr or te}; {status_text(rc)}; stderr: {err[-300:]}")
    check(f"{n}: the finished epochs are kept", (s.get("epochs") or 0) >= 1, s.get("epochs"))
    check(f"{n}: the pipeline is no longer running and the connection still works",
          "running" in s and s["running"] is None, s.get("running"))
    check(f"{n}: the process exits 0", rc == 0 and s.get("done"), f"{status_text(rc)}; stderr: {err[-300:]}")


def scenario_shell_tty(tmp):
    import pty
    import select
    import time
    n = "shell_tty"
    d = os.path.join(tmp, n)
    os.mkdir(d)
    write_csv(os.path.join(d, "d.csv"), rows=6000)
    cfg = json.dumps(dict(CONFIG, train_batch_size=2))
    sqlite = os.environ.get("LF_SQLITE3", "sqlite3")
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(sqlite, [sqlite, os.path.join(d, "p.db")])
        finally:
            os._exit(127)
    out = bytearray()

    def read_until(pred, seconds):
        end = time.time() + seconds
        while time.time() < end and not pred():
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    out.extend(os.read(fd, 65536))
                except OSError:
                    return

    def send(line):
        os.write(fd, line.encode() + b"\n")

    status = None
    try:
        send(".load " + EXT[:-3])
        send("SELECT lab_init('%s');" % json.dumps(SETTINGS))
        send("SELECT ppl_new('tty', '%s');" % cfg)
        send("SELECT ppl_train('tty', 1000);")
        read_until(lambda: b"tty epoch 1:" in out, 120)
        read_until(lambda: False, 0.3)               # epoch 2 under way
        os.write(fd, b"\x03")                       # Ctrl-C
        read_until(lambda: b"sqlite>" in out[out.rfind(b"tty epoch"):], 60)
        send("SELECT 'alive', count(*) >= 1 FROM ppl_history('tty');")
        read_until(lambda: b"alive|" in out, 30)
        send(".quit")
        read_until(lambda: False, 1)
        for _ in range(100):
            wpid, st = os.waitpid(pid, os.WNOHANG)
            if wpid:
                status = st
                break
            time.sleep(0.1)
    finally:
        if status is None:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except OSError:
                pass
        os.close(fd)
    text = out.decode(errors="replace")
    tail = repr(text[-300:])
    check(f"{n}: the bar is redrawn with \\r and ESC[K on a terminal",
          re.search(r"\r\x1b\[Ktty epoch 1/\d+ \[[#.]+\] \d+/3000 ", text) is not None, tail)
    check(f"{n}: Ctrl-C ends ppl_train as interrupted", '"ended":"interrupted"' in text, tail)
    check(f"{n}: the prompt comes back and works; finished epochs are kept", "alive|1" in text, tail)
    check(f"{n}: the shell exits normally after .quit",
          status is not None and os.WIFEXITED(status), f"status {status}; {tail}")


def scenario_example(tmp):
    d = os.path.join(tmp, "example")
    os.mkdir(d)
    ex = os.path.join(ROOT, "examples", "python_example.py")
    n = "examples/python_example.py"
    if not check(f"{n}: exists", os.path.isfile(ex), "missing"):
        return
    env = dict(os.environ, LABFLOW_EXT=EXT)
    try:
        p = subprocess.run([PY, ex, os.path.join(d, "example.db")], cwd=ROOT,
                           capture_output=True, timeout=300, env=env)
        rc, out, err = p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        rc, out, err = None, "", ""
    check(f"{n}: runs as written from the repo root and exits 0", rc == 0,
          f"{status_text(rc)}; stderr: {err[-400:]}")
    check(f"{n}: prints the training summary and history", '"ended"' in out and "epoch" in out, out[-300:])
    check_plain_progress(n, err, "example", [1])


def main():
    if not os.path.exists(PY):
        fail("setup", f"{PY} not found")
        return 1
    if not os.path.exists(EXT):
        fail("setup", f"{EXT} not found: run make")
        return 1
    tmp = tempfile.mkdtemp(prefix="lf-hosts-py-")
    try:
        for sc in (scenario_main, scenario_close, scenario_stop, scenario_shell_tty, scenario_example):
            try:
                sc(tmp)
            except Exception as e:  # a bug in this test must not hide the others
                fail(sc.__name__, f"{type(e).__name__}: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
