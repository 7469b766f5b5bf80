#!/usr/bin/python3
"""test_concurrency.py — many processes on one project at once.

  - 4 sqlite3 shells train 4 different pipelines of one project at the same
    time: all finish every epoch, no SQLITE_BUSY ("database is locked") or
    other error reaches any of them;
  - 2 shells race to train the same pipeline: exactly one trains, the other
    is refused at once with "already running in logid: N" (N the winner's);
  - a fifth shell reads ppl_status and ppl_history in read transactions all
    the while: every snapshot is consistent (history epochs are exactly
    1..last_epoch of ppl_status, each complete; best_epoch <= last_epoch),
    and it never sees an error either.

LF_LONG=1 (make check-all) trains longer and races 20 times instead of 3.
Prints PASS/FAIL lines.
"""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reliability"))
import lfutil as U  # noqa: E402

BUSY_WORDS = ("locked", "busy", "SQLITE_BUSY")


def reader_script(pplids, rounds):
    """A shell script that snapshots ppl_status/ppl_history every ~50 ms.
    Each round prints one line per pipeline:
    R|pplid|last_epoch|best_epoch|history rows|min epoch|max epoch|incomplete rows"""
    lines = []
    for _ in range(rounds):
        lines.append("BEGIN;")
        lines.append(
            "SELECT 'R', s.pplid, s.last_epoch, s.best_epoch,"
            " (SELECT count(*) FROM ppl_history(s.pplid)),"
            " (SELECT min(epoch) FROM ppl_history(s.pplid)),"
            " (SELECT max(epoch) FROM ppl_history(s.pplid)),"
            " (SELECT count(*) FROM ppl_history(s.pplid) h WHERE h.val_loss IS NULL OR h.train_loss IS NULL"
            "   OR h.val_accuracy IS NULL OR h.train_duration IS NULL)"
            " FROM ppl_status s WHERE s.pplid IN (%s);" % ",".join("'%s'" % p for p in pplids))
        lines.append("COMMIT;")
        lines.append(".shell sleep 0.05")
    return "\n".join(lines)


def check_reader(name, out, err, rc):
    bad = []
    seen = 0
    for line in out.splitlines():
        f = line.split("|")
        if len(f) != 8 or f[0] != "R":
            continue
        seen += 1
        pplid, last, best, rows, lo, hi, incomplete = f[1], int(f[2]), f[3], int(f[4]), f[5], f[6], int(f[7])
        if last == 0:
            ok = rows == 0 and best == ""
        else:
            ok = (rows == last and lo == "1" and hi == str(last) and incomplete == 0
                  and best != "" and 1 <= int(best) <= last)
        if not ok:
            bad.append(line)
    U.check(seen > 0 and not bad, "%s: every ppl_status/ppl_history snapshot of a fifth process is consistent (%d rows)"
            % (name, seen), "inconsistent: %r" % bad[:5])
    U.check(not err and rc == 0, "%s: the reading process never sees an error (no SQLITE_BUSY)" % name, err)


def test_four_trainers(tmp):
    epochs = 60 if U.LONG else 25
    db = U.new_project(os.path.join(tmp, "four"))
    ids = ["p%d" % i for i in range(4)]
    for i, p in enumerate(ids):
        U.add_ppl(db, p, U.tiny_config(seed=10 + i))
    reader = U.start_shell(db, reader_script(ids, 400 if U.LONG else 150))
    procs = [U.start_shell(db, "SELECT ppl_train('%s', %d);" % (p, epochs)) for p in ids]
    results = [p.communicate(timeout=600) for p in procs]
    rout, rerr = reader.communicate(timeout=600)
    for p, proc, (out, err) in zip(ids, procs, results):
        s = json.loads(out) if out.strip().startswith("{") else {}
        U.check(s.get("last_epoch") == epochs and s.get("ended") == "finished" and not err.strip()
                and proc.returncode == 0,
                "4 trainers at once: %s finishes %d epochs with no error" % (p, epochs), out + err)
        U.check(not any(w in err for w in BUSY_WORDS), "4 trainers at once: no SQLITE_BUSY reaches %s's shell" % p, err)
    rows = U.query(db, "SELECT pplid, last_epoch FROM ppl_state ORDER BY pplid")
    U.check(rows == [(p, epochs) for p in ids], "4 trainers at once: every pipeline's last_epoch is %d" % epochs, rows)
    check_reader("4 trainers at once", rout, rerr, reader.returncode)
    U.check(U.integrity(db) == [("ok",)], "4 trainers at once: integrity_check ok afterwards")
    U.check(U.query(db, "SELECT count(*) FROM runnings")[0][0] == 0, "4 trainers at once: every claim is released")


def test_race(tmp, rounds):
    db = U.new_project(os.path.join(tmp, "race"))
    U.add_ppl(db, "r", U.tiny_config(seed=21))
    reader = U.start_shell(db, reader_script(["r"], 40 * rounds))
    outcomes = []
    for k in range(rounds):
        before = U.query(db, "SELECT last_epoch FROM ppl_state WHERE pplid='r'")[0][0]
        t0 = time.time()
        a = U.start_shell(db, "SELECT ppl_train('r', 40, 1000000);")
        b = U.start_shell(db, "SELECT ppl_train('r', 40, 1000000);")
        ended = {}
        while len(ended) < 2 and time.time() - t0 < 600:
            for i, p in enumerate((a, b)):
                if i not in ended and p.poll() is not None:
                    ended[i] = time.time() - t0
            time.sleep(0.01)
        res = []
        for i, p in enumerate((a, b)):
            out, err = p.communicate(timeout=600)
            res.append((out.strip(), err.strip(), ended.get(i, 999.0), p.pid))
        wins = [r for r in res if r[0].startswith("{")]
        losses = [r for r in res if "already running in logid: " in r[1]]
        ok = len(wins) == 1 and len(losses) == 1
        why = repr(res)
        if ok:
            s = json.loads(wins[0][0])
            logid = losses[0][1].split("already running in logid: ")[1].split()[0]
            ok = s.get("first_epoch") == before + 1 and s.get("last_epoch") == before + 40 and logid.isdigit()
            ok = ok and losses[0][2] < wins[0][2]
            # The refusal names the winner: its logid and its pid.
            ok = ok and ("(pid %d on " % wins[0][3]) in losses[0][1]
            logids = U.query(db, "SELECT logid FROM lab_logs WHERE called_at LIKE ?", ("%% pid %d on %%" % wins[0][3],))
            ok = ok and logids == [(int(logid),)]
            outcomes.append(losses[0][2])
        U.check(ok, "race %d: exactly one of two shells trains, the other is refused with "
                    "'already running in logid: N' before it ends" % (k + 1), why)
    if outcomes:
        U.check(max(outcomes) < 5, "races: the loser is refused at once (slowest %.2fs)" % max(outcomes))
    rout, rerr = reader.communicate(timeout=600)
    check_reader("races", rout, rerr, reader.returncode)
    U.check(U.integrity(db) == [("ok",)], "races: integrity_check ok afterwards")


def main():
    tmp = tempfile.mkdtemp(prefix="lfconc-")
    try:
        for t in (lambda: test_four_trainers(tmp), lambda: test_race(tmp, 20 if U.LONG else 3)):
            try:
                t()
            except Exception as e:  # a crash of the test itself is a failure
                U.check(False, "test_concurrency", repr(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if U.failed else 0


if __name__ == "__main__":
    sys.exit(main())
