#!/usr/bin/python3
"""test_progress_tty.py — the progress bar on a real 80-column terminal.

The sqlite3 shell runs ppl_train inside tmux (a terminal emulator) sized
80x40; tmux's capture-pane is what a user would see. Before the fix the live
line (pplid, epoch, a 24-character bar, batches, samples/s, ETA, every
metric) was wider than 80 columns: it wrapped, and as \\r only returns to the
start of the last row, every redraw left a row behind. Now:

  - while training, the live line is one row: `epoch i/N`, the ETA of the
    whole call, at most 79 columns;
  - afterwards the screen holds the finished epochs' lines (wrapped at
    field boundaries) and nothing else: no leftover bar rows, no row wider
    than 80 columns, even joining rows tmux wrapped itself (capture -J);
  - verbose = '["accuracy"]' keeps the plain per-epoch lines to the loss and
    accuracy (train and val), and verbose = 0 prints nothing.

Prints "PASS name" / "FAIL name: why" lines.
"""
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
SQLITE = os.environ.get("LF_SQLITE3", "sqlite3")
T = "progress_tty"
PPL = "mlp-lr0.01-out64-with-a-long-name"
failed = passed = 0


def report(name, ok, why=""):
    global failed, passed
    if ok:
        passed += 1
        print("PASS %s: %s" % (T, name), flush=True)
    else:
        failed += 1
        print("FAIL %s: %s: %s" % (T, name, " ".join(str(why).split())[:500]), flush=True)


def make_project(folder):
    r = random.Random(1)
    with open(os.path.join(folder, "d.csv"), "w") as f:
        f.write("a,b,c,d,e,f,y\n")
        for i in range(4000):
            y = i % 3
            f.write(",".join("%.3f" % r.gauss(y, 1.5) for _ in range(6)) + ",%d\n" % y)
    c = sqlite3.connect(os.path.join(folder, "p.db"))
    c.enable_load_extension(True)
    c.load_extension(EXT)
    c.execute("SELECT lab_init(?)", (json.dumps({"metrics": ["accuracy", "f1", "precision", "recall"],
                                                 "progress": True, "threads": 1}),)).fetchone()
    cfg = {"model": {"loc": "Sequential", "args": {"layers": [
               {"loc": "Linear", "args": {"out": 64}}, {"loc": "ReLU"}, {"loc": "Linear", "args": {"out": 3}}]}},
           "dataset": {"loc": "csv", "args": {"label": "y"}},
           "train_data_src": "d.csv", "val_data_src": "d.csv",
           "loss": {"loc": "CrossEntropyLoss"}, "optimizer": {"loc": "SGD", "args": {"lr": 0.01}},
           "metrics": {"accuracy": {"loc": "Accuracy"}, "f1": {"loc": "F1"},
                       "precision": {"loc": "Precision"}, "recall": {"loc": "Recall"}},
           "train_batch_size": 1}
    c.execute("SELECT ppl_new(?, ?)", (PPL, json.dumps(cfg))).fetchone()
    c.close()


class Tmux:
    def __init__(self, folder):
        self.sock = os.path.join(folder, "tmux.sock")
        self.env = dict(os.environ, TERM="xterm-256color")
        self.env.pop("TMUX", None)
        self.env.pop("COLUMNS", None)

    def run(self, *args, check=True):
        return subprocess.run(["tmux", "-S", self.sock] + list(args), capture_output=True, text=True,
                              env=self.env, check=check, timeout=30)

    def start(self, cwd, command):
        self.run("-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "40", "-c", cwd, command)
        self.run("set-option", "-g", "history-limit", "5000")

    def capture(self, joined=False):
        args = ["capture-pane", "-p", "-S", "-"] + (["-J"] if joined else [])
        return self.run(*args).stdout

    def width(self):
        return int(self.run("display-message", "-p", "#{pane_width}").stdout.strip())

    def kill(self):
        self.run("kill-server", check=False)


def train_in_tmux(folder, verbose_sql, epochs):
    """Runs ppl_train in the shell inside an 80-column tmux. Returns the
    joined capture at the end and the live lines drawn meanwhile (from the
    raw bytes the terminal received, split at each redraw)."""
    script = os.path.join(folder, "train.sql")
    with open(script, "w") as f:
        f.write(".load %s\nSELECT json_extract(ppl_train('%s', %d%s), '$.ended');\n"
                % (EXT, PPL, epochs, verbose_sql))
    raw = os.path.join(folder, "raw.log")
    tm = Tmux(folder)
    try:
        # The shell waits for Enter so that the raw log misses nothing.
        tm.start(folder, "read go; clear; %s -batch p.db < train.sql; echo TRAINING-DONE; sleep 600" % SQLITE)
        tm.run("pipe-pane", "-o", "cat > '%s'" % raw)
        tm.run("send-keys", "Enter")
        report("the terminal is 80 columns wide", tm.width() == 80, tm.width())
        deadline = time.time() + 300
        while time.time() < deadline and "TRAINING-DONE" not in tm.capture():
            time.sleep(0.1)
        joined = tm.capture(joined=True)
    finally:
        tm.kill()
    data = open(raw, "rb").read().decode(errors="replace") if os.path.exists(raw) else ""
    # Each redraw is "\r\x1b[K<line>"; keep what was drawn up to the next control.
    live = [re.split(r"[\r\n\x1b]", part, 1)[0] for part in data.split("\r\x1b[K")[1:]]
    live = [l for l in live if re.search(r"epoch \d+/\d+", l)]
    return joined, live


def main():
    if not shutil.which("tmux"):
        report("tmux is installed (tools/host-deps.sh installs it)", False, "tmux not found")
        return 1
    tmp = tempfile.mkdtemp(prefix="lfprogress-")
    try:
        a = os.path.join(tmp, "a")
        os.makedirs(a)
        make_project(a)
        joined, live = train_in_tmux(a, "", 3)
        rows = joined.rstrip("\n").splitlines()
        report("ppl_train finished in the terminal", "finished" in rows and "TRAINING-DONE" in rows, joined[-600:])
        report("the live line was drawn (at least once per epoch)", len(live) >= 3, "%d live lines drawn" % len(live))
        report("the live line shows 'epoch i/3' and the ETA of the call",
               live and all(re.search(r"epoch [1-3]/3 ", l) and "ETA " in l for l in live), live[:3])
        report("the live line fits in 79 columns", live and max(len(l) for l in live) <= 79,
               max((len(l), l) for l in live) if live else "")
        wide = [l for l in rows if len(l) > 80]
        report("no row wider than 80 columns after joining tmux's wraps", not wide, wide[:2])
        leftovers = [l for l in rows if re.search(r"\[[#.]+\]|/s\b|ETA ", l)]
        report("no leftover rows of the redrawn bar", not leftovers, leftovers[:3])
        starts = [l for l in rows if re.match(r"^%s epoch \d+:" % re.escape(PPL), l)]
        report("one finished line per epoch", [s.split(":")[0] for s in starts] ==
               ["%s epoch %d" % (PPL, e) for e in (1, 2, 3)], starts)
        body = [l for l in rows if l and l not in ("finished", "TRAINING-DONE")]
        stray = [l for l in body if not (re.match(r"^%s epoch \d+:" % re.escape(PPL), l) or l.startswith(" "))]
        report("every other row continues an epoch's line (wrapped at a field)", not stray, stray[:3])
        text = " ".join(body)
        report("the finished lines carry every quantity",
               all(q in text for q in ("train_accuracy=", "val_recall=", "train_duration=", "val_loss=")), text[:300])

        b = os.path.join(tmp, "b")
        os.makedirs(b)
        make_project(b)
        joined, live = train_in_tmux(b, ", NULL, '[\"accuracy\"]'", 1)
        text = " ".join(l for l in joined.splitlines() if l not in ("finished", "TRAINING-DONE"))
        names = sorted(set(re.findall(r"(\w+)=", text)))
        report("verbose ['accuracy']: the epoch line has the loss and accuracy only",
               names == ["train_accuracy", "train_loss", "val_accuracy", "val_loss"], names)

        c = os.path.join(tmp, "c")
        os.makedirs(c)
        make_project(c)
        joined, live = train_in_tmux(c, ", NULL, 0", 1)
        rows = [l for l in joined.splitlines() if l.strip()]
        report("verbose 0: nothing but the result", rows == ["finished", "TRAINING-DONE"], rows[:4])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
