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

  - while two trainers commit epochs, other processes run ppl_new, ppl_fork,
    ppl_archive/ppl_unarchive and ppl_stop: every call waits for the write
    lock (no SQLITE_BUSY), every stop reaches its trainer;
  - two lab_init race on a new file: one project; both succeed with the
    same settings, the second is told which setting differs otherwise.

LF_LONG=1 (make check-all) trains longer and races 20 times instead of 3
(and 30 lab_init races instead of 9, 4 times the writers).
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
    # Batches of 4 (not 16): the winner's 40 epochs must outlast the
    # loser's start, which under ASan takes about as long as 40 epochs of
    # 16 (a round once saw the refusal 10 ms after the winner ended).
    U.add_ppl(db, "r", U.tiny_config(seed=21, batch=4))
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


def test_writers_while_training(tmp, rounds):
    """ppl_new, ppl_fork, archive/unarchive and ppl_stop in other processes
    while two trainers commit epochs every few milliseconds: every call
    waits for the write lock instead of failing, and no stop is lost."""
    db = U.new_project(os.path.join(tmp, "writers"))
    # Distinct seeds, so distinct configurations (hash() of a str changes
    # with each process: two of the four once drew the same seed).
    for i, p in enumerate(("t0", "t1", "h0", "h1")):
        U.add_ppl(db, p, U.tiny_config(seed=30 + i))
    trainers = [U.start_shell(db, "SELECT ppl_train('%s', 1000000, 1000000);" % p) for p in ("t0", "t1")]
    U.wait_until(lambda: U.query(db, "SELECT count(*) FROM runnings")[0][0] == 2)
    n = 20 * rounds
    script = []
    for i in range(n):
        script.append("SELECT ppl_new('n%d', %s);" % (i, U.sql_str(json.dumps(U.tiny_config(seed=1000 + i)))))
        script.append("SELECT ppl_fork('f%d', 'n%d', '{\"seed\": %d}');" % (i, i, 5000 + i))
    hk = []
    for i in range(5 * rounds):
        hk.append("SELECT ppl_archive('[\"h0\",\"h1\"]'); SELECT ppl_unarchive('[\"h0\",\"h1\"]');")
    a = U.start_shell(db, "\n".join(script))
    b = U.start_shell(db, "\n".join(hk))
    singles = [U.start_shell(db, "SELECT ppl_new('s%d', %s);" % (i, U.sql_str(json.dumps(U.tiny_config(seed=9000 + i)))))
               for i in range(4 * rounds)]
    aout, aerr = a.communicate(timeout=600)
    bout, berr = b.communicate(timeout=600)
    souts = [p.communicate(timeout=600) for p in singles]
    U.check(not aerr and len(aout.split()) == 2 * n,
            "%d ppl_new and %d ppl_fork while two trainers run: every call succeeds" % (n, n), aerr[:500])
    U.check(not berr and bout.split() == ["2"] * (10 * rounds),
            "archive/unarchive while two trainers run: every call succeeds", berr[:500])
    bad = [o + e for o, e in souts if e or not o.startswith("s")]
    U.check(not bad, "%d processes each running ppl_new while two trainers run all succeed" % len(singles), bad[:3])
    U.check(not any(w in aerr + berr + "".join(e for _, e in souts) for w in BUSY_WORDS),
            "no SQLITE_BUSY reaches a writer while others train")
    # Stops: each must reach its trainer.
    lost = []
    for k in range(rounds * 3):
        p = "t%d" % (k % 2)
        trainer = trainers[k % 2]
        out, err, rc = U.shell(db, "SELECT ppl_stop('%s');" % p)
        tout, terr = trainer.communicate(timeout=600)
        ended = json.loads(tout).get("ended") if tout.startswith("{") else None
        if out != "1" or err or ended != "stop_requested":
            lost.append((p, out, err, tout, terr))
        trainers[k % 2] = U.start_shell(db, "SELECT ppl_train('%s', 1000000, 1000000);" % p)
        U.wait_until(lambda: U.query(db, "SELECT count(*) FROM runnings WHERE pplid=?", (p,))[0][0] == 1)
    U.check(not lost, "%d ppl_stop calls while another trainer commits: every stop reaches its trainer"
            % (rounds * 3), repr(lost[:2]))
    for p, t in zip(("t0", "t1"), trainers):
        U.shell(db, "SELECT ppl_stop('%s');" % p)
        t.communicate(timeout=600)
    U.check(U.integrity(db) == [("ok",)], "writers while training: integrity_check ok afterwards")


def test_lab_init_race(tmp, rounds):
    """Two lab_init at once on a new file: one project, both calls succeed
    with the same settings; with different settings the second is told
    precisely why."""
    same_ok, diff_ok = [], []
    settings = U.sql_str(json.dumps(U.SETTINGS))
    other = U.sql_str(json.dumps(dict(U.SETTINGS, metrics=["accuracy", "f1"])))
    for k in range(rounds):
        folder = os.path.join(tmp, "init%d" % k)
        os.makedirs(folder)
        db = os.path.join(folder, "p.db")
        differ = k % 3 == 2
        a = U.start_shell(db, "SELECT lab_init(%s);" % settings)
        b = U.start_shell(db, "SELECT lab_init(%s);" % (other if differ else settings))
        (ao, ae), (bo, be) = [tuple(x.strip() for x in p.communicate(timeout=120)) for p in (a, b)]
        rows = U.query(db, "SELECT count(*) FROM lab_meta WHERE key='settings'")[0][0] if os.path.exists(db) else 0
        if not differ:
            if not (ao == bo == db + ".labflow" and not ae and not be and rows == 1):
                same_ok.append((ao, ae, bo, be, rows))
        else:
            wins = [o for o, e in ((ao, ae), (bo, be)) if o == db + ".labflow" and not e]
            errs = [e for o, e in ((ao, ae), (bo, be)) if "project already initialised with other settings: metrics" in e]
            if not (len(wins) == 1 and len(errs) == 1 and rows == 1):
                diff_ok.append((ao, ae, bo, be, rows))
    U.check(not same_ok, "%d races of two lab_init with the same settings: one project, both succeed"
            % (rounds - rounds // 3), repr(same_ok[:2]))
    U.check(not diff_ok, "%d races of two lab_init with different settings: one project, the other is told "
            "which setting differs" % (rounds // 3), repr(diff_ok[:2]))


def main():
    tmp = tempfile.mkdtemp(prefix="lfconc-")
    try:
        for t in (lambda: test_four_trainers(tmp), lambda: test_race(tmp, 20 if U.LONG else 3),
                  lambda: test_writers_while_training(tmp, 4 if U.LONG else 1),
                  lambda: test_lab_init_race(tmp, 30 if U.LONG else 9)):
            try:
                t()
            except Exception as e:  # a crash of the test itself is a failure
                U.check(False, "test_concurrency", repr(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if U.failed else 0


if __name__ == "__main__":
    sys.exit(main())
