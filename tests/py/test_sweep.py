#!/usr/bin/python3
"""test_sweep.py — ppl_halving survives interruptions exactly.

Three projects with the same data and the same 6-member grid, halved with
eta 2 from 2 to 8 epochs (rungs of 6, 3 and 1 members; 22 epochs):

  - reference: one uninterrupted ppl_halving;
  - killed: the sqlite3 shell running ppl_halving is SIGKILLed in the middle
    of rung 1, then the same call runs again in a new shell;
  - stopped: ppl_stop() from another shell stops the member being trained,
    ppl_halving returns "stop_requested", and the search is finished from
    Python's sqlite3 module.

Each interrupted search must end with the same winner, the same prunings
and the same histories (minus wall-clock durations) as the reference, and
its later call must train exactly the epochs that were not yet committed.
Prints PASS/FAIL lines.
"""
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reliability"))
import lfutil as U  # noqa: E402

SETTINGS = {"metrics": ["accuracy"], "strategy": {"monitor": "val_accuracy", "mode": "max"},
            "threads": 1, "progress": False}
SPACE = {"optimizer>args>lr": [0.1, 0.01, 0.001], "model>args>layers[0]>args>out": [4, 16]}
HALVING = "SELECT ppl_halving('s', 2, 8, 2);"
TOTAL_EPOCHS = 6 * 2 + 3 * 2 + 1 * 4


def make_project(folder):
    os.makedirs(folder)
    # 20,000 rows: epochs of about 20 ms. A stop lands only at the end of a
    # member's epoch that is not its last; with 400 rows (2 ms epochs) the
    # rest of the search (about 0.1 s) sometimes finished before one landed.
    U.write_csv(os.path.join(folder, "d.csv"), n=20000, seed=5)
    db = U.new_project(folder, settings=SETTINGS)
    U.add_ppl(db, "base", U.tiny_config(hidden=8, batch=16))
    out, err, rc = U.shell(db, "SELECT ppl_sweep('s', 'base', %s);" % U.sql_str(json.dumps(SPACE)))
    if out != "6":
        raise RuntimeError("ppl_sweep: %s %s" % (out, err))
    return db


def epochs_done(db):
    return U.query(db, "SELECT coalesce(sum(s.last_epoch), 0) FROM sweep_members m "
                       "JOIN ppl_state s ON s.pplid=m.pplid WHERE m.sweep='s'")[0][0]


def outcome(db):
    """Winner, prunings and every member's history without durations."""
    members = U.query(db, "SELECT pplid, pruned_rung, pruned_epochs FROM sweep_members WHERE sweep='s' ORDER BY member")
    histories = {p: U.history_values(db, p) for p, _, _ in members}
    halving = json.loads(U.query(db, "SELECT halving FROM sweeps WHERE name='s'")[0][0])
    return halving.get("winner"), members, histories


def compare(label, db, ref):
    winner, members, histories = outcome(db)
    U.check(winner == ref[0] and winner is not None, label + ": same winner as the uninterrupted run",
            "%r vs %r" % (winner, ref[0]))
    U.check(members == ref[1], label + ": same prunings (rung, epochs) as the uninterrupted run",
            "%r vs %r" % (members, ref[1]))
    same = [p for p in histories if histories[p] == ref[2].get(p)]
    U.check(len(same) == len(histories) and len(histories) == 6,
            label + ": every member's history equals the uninterrupted run's bit for bit",
            "differ: %s" % sorted(set(histories) - set(same)))


def main():
    tmp = tempfile.mkdtemp(prefix="lfsweep-")
    try:
        # The reference: one uninterrupted search.
        ref_db = make_project(os.path.join(tmp, "ref"))
        out, err, rc = U.shell(ref_db, HALVING)
        summary = json.loads(out) if out.startswith("{") else {}
        U.check(summary.get("ended") == "finished" and summary.get("epochs_trained") == TOTAL_EPOCHS
                and summary.get("epochs_spent") == TOTAL_EPOCHS and summary.get("epochs_full_grid") == 48,
                "uninterrupted halving trains %d epochs" % TOTAL_EPOCHS, out + err)
        U.check([len(r["members"]) for r in summary.get("rungs", [])] == [6, 3, 1]
                and [r["epochs"] for r in summary.get("rungs", [])] == [2, 4, 8],
                "rungs of 6, 3 and 1 members at 2, 4 and 8 epochs", out)
        ref = outcome(ref_db)

        # Killed in the middle of rung 1 (rung 0 is 12 epochs, rung 1 six more).
        db = make_project(os.path.join(tmp, "killed"))
        p = U.start_shell(db, HALVING)
        reached = U.wait_until(lambda: epochs_done(db) >= 14, limit=300, step=0.005)
        U.kill_process(p)
        before = epochs_done(db)
        U.check(reached and before < TOTAL_EPOCHS, "the kill landed before the search finished",
                "epochs committed: %d" % before)
        mid = U.query(db, "SELECT halving FROM sweeps WHERE name='s'")[0][0]
        U.check(json.loads(mid).get("done") is False, "the stored progress says unfinished after the kill", mid)
        out, err, rc = U.shell(db, HALVING)
        summary = json.loads(out) if out.startswith("{") else {}
        U.check(summary.get("ended") == "finished" and summary.get("epochs_trained") == TOTAL_EPOCHS - before,
                "the rerun trains only the %d epochs not committed before the kill" % (TOTAL_EPOCHS - before), out + err)
        compare("after a kill", db, ref)
        U.check(U.integrity(db) == [("ok",)], "integrity_check after the kill and rerun")

        # Stopped with ppl_stop, finished from Python.
        db = make_project(os.path.join(tmp, "stopped"))
        p = U.start_shell(db, HALVING)
        running = U.wait_until(lambda: epochs_done(db) >= 3 and U.query(
            db, "SELECT count(*) FROM runnings r JOIN sweep_members m ON m.pplid=r.pplid WHERE m.sweep='s'")[0][0] > 0,
            limit=300, step=0.005)
        # A stop that arrives while a member commits its last epoch of the
        # rung is moot (that member is done); ask again until one lands.
        # Asked from one connection every few ms: a new shell per attempt
        # (slow to start under ASan) kept missing every member's last batches.
        stop_log = ""
        stopper = sqlite3.connect(db, timeout=60)
        stopper.enable_load_extension(True)
        stopper.load_extension(U.EXT)
        while p.poll() is None:
            try:
                # ppl_stop in a statement of its own: inside a SELECT over
                # the project's tables it could not write once a trainer
                # committed after the statement began.
                for (pplid,) in stopper.execute("SELECT pplid FROM runnings").fetchall():
                    stop_log += "%s:%r " % (pplid, stopper.execute("SELECT ppl_stop(?)", (pplid,)).fetchone())
            except sqlite3.Error as e:
                stop_log += str(e) + " "
            time.sleep(0.005)
        stopper.close()
        out, err = p.communicate(timeout=300)
        summary = json.loads(out.strip()) if out.strip().startswith("{") else {}
        U.check(running and summary.get("ended") == "stop_requested" and summary.get("winner") is None
                and "call ppl_halving again" in summary.get("message", ""),
                "ppl_halving ends with stop_requested when its member is stopped", out + err + stop_log[-300:])
        before = epochs_done(db)
        con = sqlite3.connect(db)
        con.enable_load_extension(True)
        con.load_extension(U.EXT)
        summary = json.loads(con.execute(HALVING.rstrip(";")).fetchone()[0])
        con.close()
        U.check(summary.get("ended") == "finished" and summary.get("epochs_trained") == TOTAL_EPOCHS - before
                and summary.get("winner") == ref[0],
                "from Python the stopped search finishes, training only what was left", json.dumps(summary))
        compare("after ppl_stop", db, ref)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if U.failed else 0


if __name__ == "__main__":
    sys.exit(main())
