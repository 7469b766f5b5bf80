#!/usr/bin/python3
"""test_housekeeping_crash.py — archive, unarchive, delete, export 'move'
and import killed with SIGKILL.

Each operation changes rows and files. After every kill, the next LabFlow
call (here: loading the extension in a new shell) must find the operation
either complete or not done:

  - PRAGMA integrity_check is ok and the file journal is empty;
  - every pipeline is in exactly one place, and its files are where its
    rows are: active rows <-> <artifacts>/{Weights,Configs,Histories}/<p>,
    archived rows <-> <artifacts>/Archived/..., no rows <-> no files;
  - every weight file its rows list exists;
  - the operation runs again (to completion) without complaint.

Two kinds of kill:
  - at named points (LF_TEST_KILL_AT, a test-only hook read from the
    environment): just before the COMMIT, just after it, after the first
    and second file step, and before the journal is cleared;
  - at random moments: 25 per operation (LF_LONG=1, make check-all: 200).
LF_SEED=<n> replays one sequence of random delays. Prints PASS/FAIL lines.
"""
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reliability"))
import lfutil as U  # noqa: E402

POINTS = ["hk_before_commit", "hk_after_commit", "hk_after_step:1", "hk_after_step:2", "hk_before_clear"]
KINDS = ["Weights", "Gradients"]
SINGLE = [("Configs", ".json"), ("Histories", ".csv")]
ALL = ["Weights", "Gradients", "Configs", "Histories"]


def popen(db, kill_at=None):
    env = dict(os.environ)
    if kill_at:
        env["LF_TEST_KILL_AT"] = kill_at
    else:
        env.pop("LF_TEST_KILL_AT", None)
    return subprocess.Popen([U.SQLITE, "-batch", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=os.path.dirname(db))


def start(db, sql, kill_at=None):
    p = popen(db, kill_at)
    p.stdin.write(".load " + U.EXT + "\n" + sql + "\n")
    p.stdin.close()
    p.stdin = None
    return p


def q(db, sql, args=()):
    c = sqlite3.connect(db, timeout=60)
    try:
        return c.execute(sql, args).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return []
        raise
    finally:
        c.close()


def journal_rows(db):
    return q(db, "SELECT count(*) FROM file_journal")[0][0] if q(
        db, "SELECT 1 FROM sqlite_schema WHERE name='file_journal'") else 0


def where(db, pplid):
    act = q(db, "SELECT 1 FROM ppls WHERE pplid=?", (pplid,))
    arc = q(db, "SELECT 1 FROM archived_ppls WHERE pplid=?", (pplid,))
    return "both" if act and arc else "active" if act else "archived" if arc else "gone"


def files_at(art, pplid, archived):
    root = os.path.join(art, "Archived") if archived else art
    found = []
    for k in KINDS:
        if os.path.lexists(os.path.join(root, k, pplid)):
            found.append(k)
    for k, ext in SINGLE:
        if os.path.lexists(os.path.join(root, k, pplid + ext)):
            found.append(k)
    return found


def consistent(db, pplids, expect_files):
    """'' if rows and files agree for every pipeline, else why not."""
    art = db + ".labflow"
    why = []
    ic = U.integrity(db)
    if ic != [("ok",)]:
        why.append("integrity_check %r" % ic)
    if journal_rows(db):
        why.append("%d journal rows left after a LabFlow call" % journal_rows(db))
    for p in pplids:
        w = where(db, p)
        act, arc = files_at(art, p, False), files_at(art, p, True)
        if w == "both":
            why.append("%s: rows both active and archived" % p)
        elif w == "active":
            if arc or sorted(act) != sorted(expect_files):
                why.append("%s: active rows, files active %r archived %r" % (p, act, arc))
            for (e,) in q(db, "SELECT epoch FROM ppl_weight_files WHERE pplid=?", (p,)):
                if not os.path.exists(os.path.join(art, "Weights", p, "e%d.lfw" % e)):
                    why.append("%s: listed weight file e%d.lfw missing" % (p, e))
        elif w == "archived":
            if act or sorted(arc) != sorted(expect_files):
                why.append("%s: archived rows, files active %r archived %r" % (p, act, arc))
            for (e,) in q(db, "SELECT epoch FROM archived_ppl_weight_files WHERE pplid=?", (p,)):
                if not os.path.exists(os.path.join(art, "Archived", "Weights", p, "e%d.lfw" % e)):
                    why.append("%s: listed archived weight file e%d.lfw missing" % (p, e))
        else:
            if act or arc:
                why.append("%s: no rows, but files active %r archived %r" % (p, act, arc))
    return "; ".join(why)


def make_pipeline(db, p, seed):
    cfg = U.tiny_config(seed=seed)
    U.add_ppl(db, p, cfg)
    out, err, rc = U.shell(db, "SELECT ppl_train('%s', 2); SELECT ppl_sync('%s');" % (p, p))
    if err:
        raise RuntimeError("train %s: %s" % (p, err))
    # A Gradients folder too, so that every kind of artifact moves.
    os.makedirs(os.path.join(db + ".labflow", "Gradients", p), exist_ok=True)
    with open(os.path.join(db + ".labflow", "Gradients", p, "e1.bin"), "wb") as f:
        f.write(b"g" * 100)


class Scenario:
    """One operation, its inverse (to set the next round up) and what state
    'done' and 'not done' leave."""

    def __init__(self, name, db, ids, do_sql, undo_sql, before, after, bundle=None):
        self.name, self.db, self.ids, self.bundle = name, db, ids, bundle
        self.do_sql, self.undo_sql, self.before, self.after = do_sql, undo_sql, before, after

    def state(self):
        return [where(self.db, p) for p in self.ids]


def one_kill(sc, kill_at, delay, stats):
    """Runs sc's operation, killed at a point or after delay seconds;
    checks the project, runs the operation again if it was not done, and
    sets the next round up. True if every check passed."""
    db = sc.db
    assert sc.state() == [sc.before] * len(sc.ids), "setup: %r" % sc.state()
    p = start(db, sc.do_sql, kill_at)
    if kill_at is None:
        time.sleep(delay)
        U.kill_process(p)
        out, err = "", ""
    else:
        out, err = p.communicate(timeout=300)
    pending = journal_rows(db)
    stats["journal left"] = stats.get("journal left", 0) + (1 if pending else 0)
    # The next LabFlow call finishes whatever the kill left.
    o2, e2, rc = U.shell(db, "SELECT 1;")
    label = "%s killed %s" % (sc.name, ("at " + kill_at) if kill_at else "after %.3fs" % delay)
    why = consistent(db, sc.ids, ALL)
    st = sc.state()
    if st not in ([sc.before] * len(sc.ids), [sc.after] * len(sc.ids)):
        why += "; pipelines half done: %r" % st
    if kill_at:
        if p.returncode != -9:
            why += "; the hook did not kill the process (rc %r, %r)" % (p.returncode, out + err)
        want = sc.before if kill_at == "hk_before_commit" else sc.after
        if st != [want] * len(sc.ids):
            why += "; expected %s, found %r" % (want, st)
        if pending == 0 and kill_at != "hk_before_commit":
            why += "; no journal rows were left to finish"
    ok = U.check(not why, "%s: rows and files agree, the operation is whole or not done" % label, why) \
        if kill_at else (not why or U.check(False, label, why))
    done = st == [sc.after] * len(sc.ids)
    stats["done" if done else "not done"] = stats.get("done" if done else "not done", 0) + 1
    if done and sc.bundle and os.path.exists(sc.bundle):
        # import 'move' killed after its commit, before removing the
        # bundle: running it again imports nothing and removes it.
        o3, e3, rc = U.shell(db, sc.do_sql)
        if e3 or o3 != "0" or os.path.exists(sc.bundle):
            return U.check(False, "%s: import 'move' again removes the bundle it left" % label, o3 + e3)
    if not done:
        o3, e3, rc = U.shell(db, sc.do_sql)
        if e3 or where(db, sc.ids[0]) != sc.after:
            return U.check(False, "%s: the operation runs again after the kill" % label, o3 + e3)
    o4, e4, rc = U.shell(db, sc.undo_sql)
    if e4 or sc.state() != [sc.before] * len(sc.ids):
        return U.check(False, "%s: the inverse operation runs after the kill" % label, o4 + e4)
    why = consistent(db, sc.ids, ALL)
    if why:
        return U.check(False, "%s: consistent after redoing and undoing" % label, why)
    return ok


def scenarios(tmp):
    out = []
    # archive / unarchive of two pipelines at once
    db = U.new_project(os.path.join(tmp, "arch"))
    for i, p in enumerate(["a1", "a2"]):
        make_pipeline(db, p, 30 + i)
    ids = '\'["a1","a2"]\''
    out.append(Scenario("ppl_archive", db, ["a1", "a2"], "SELECT ppl_archive(%s);" % ids,
                        "SELECT ppl_unarchive(%s);" % ids, "active", "archived"))
    db2 = U.new_project(os.path.join(tmp, "unarch"))
    for i, p in enumerate(["u1", "u2"]):
        make_pipeline(db2, p, 40 + i)
    ids2 = '\'["u1","u2"]\''
    U.shell(db2, "SELECT ppl_archive(%s);" % ids2)
    out.append(Scenario("ppl_unarchive", db2, ["u1", "u2"], "SELECT ppl_unarchive(%s);" % ids2,
                        "SELECT ppl_archive(%s);" % ids2, "archived", "active"))
    # delete: the inverse brings the pipeline back from a bundle
    db3 = U.new_project(os.path.join(tmp, "del"))
    make_pipeline(db3, "d1", 50)
    bundle = os.path.join(tmp, "d1.lfbundle")
    U.shell(db3, "SELECT ppl_transfer('d1', 'export', 'copy', %s);" % U.sql_str(bundle))
    U.shell(db3, "SELECT ppl_archive('d1');")
    out.append(Scenario("ppl_delete", db3, ["d1"], "SELECT ppl_delete('d1');",
                        "SELECT ppl_transfer('d1', 'import', 'copy', %s); SELECT ppl_archive('d1');" % U.sql_str(bundle),
                        "archived", "gone"))
    # export 'move' and import 'move', each the other's inverse
    db4 = U.new_project(os.path.join(tmp, "exp"))
    make_pipeline(db4, "x1", 60)
    b4 = U.sql_str(os.path.join(tmp, "x1.lfbundle"))
    exp = "SELECT ppl_transfer('x1', 'export', 'move', %s);" % b4
    imp = "SELECT ppl_transfer('x1', 'import', 'move', %s);" % b4
    out.append(Scenario("ppl_transfer export move", db4, ["x1"], exp, imp, "active", "gone"))
    db5 = U.new_project(os.path.join(tmp, "imp"))
    make_pipeline(db5, "i1", 70)
    b5 = U.sql_str(os.path.join(tmp, "i1.lfbundle"))
    U.shell(db5, "SELECT ppl_transfer('i1', 'export', 'move', %s);" % b5)
    out.append(Scenario("ppl_transfer import", db5, ["i1"],
                        "SELECT ppl_transfer('i1', 'import', 'move', %s);" % b5,
                        "SELECT ppl_transfer('i1', 'export', 'move', %s);" % b5, "gone", "active",
                        bundle=os.path.join(tmp, "i1.lfbundle")))
    return out


def hostile_journal(tmp):
    """Journal rows in a database someone sent you cannot move or delete
    anything outside its artifacts folder, nor follow a symbolic link."""
    db = U.new_project(os.path.join(tmp, "hostile"))
    make_pipeline(db, "h1", 90)
    U.shell(db, "SELECT ppl_archive('h1'); SELECT ppl_unarchive('h1');")   # creates file_journal
    art = db + ".labflow"
    outside = os.path.join(tmp, "outside")
    os.makedirs(outside)
    for f in ("keep.txt", "f"):
        with open(os.path.join(outside, f), "w") as fh:
            fh.write("mine\n")
    os.symlink(outside, os.path.join(art, "Weights", "evil"))
    rows = [("remove", "../outside/keep.txt", None), ("remove", outside + "/keep.txt", None),
            ("move", "../outside/keep.txt", "Weights/x"), ("remove", "Weights/evil/f", None),
            ("move", "Weights/evil/f", "Weights/stolen"), ("remove", "Weights/./h1", None),
            ("remove", ".hidden", None), ("rmdir", "Weights/evil", None)]
    c = sqlite3.connect(db)
    c.executemany("INSERT INTO file_journal(action, src, dst, host, pid, proc_start, created) "
                  "VALUES(?, ?, ?, 'h', 1, 1, 0)", rows)
    c.commit()
    c.close()
    out, err, rc = U.shell(db, "SELECT count(*) FROM ppls;")
    intact = sorted(os.listdir(outside)) == ["f", "keep.txt"] and os.path.islink(os.path.join(art, "Weights", "evil"))
    U.check(intact and journal_rows(db) == 0 and not os.path.exists(os.path.join(art, "Weights", "stolen")),
            "journal rows pointing outside the artifacts folder or through a symlink are dropped, not done",
            (os.listdir(outside), journal_rows(db), out, err))
    U.check(consistent(db, ["h1"], ALL) == "", "the project is untouched by the hostile journal rows",
            consistent(db, ["h1"], ALL))


def stray_at_destination(tmp):
    """A housekeeping call killed after its commit left a move to finish,
    and something was put at the move's destination meanwhile: the next
    housekeeping call does not drop the step (the files would stay where
    the rows say they are not) but says what is in the way; following its
    advice (move it away) the call after that finishes the move and runs."""
    db = U.new_project(os.path.join(tmp, "stray"))
    make_pipeline(db, "s1", 91)
    make_pipeline(db, "s2", 92)
    art = db + ".labflow"
    p = start(db, "SELECT ppl_archive('s1');", kill_at="hk_after_commit")
    p.communicate(timeout=300)
    dest = os.path.join(art, "Archived", "Weights", "s1")
    left = journal_rows(db)
    os.makedirs(dest)
    with open(os.path.join(dest, "stray.txt"), "w") as f:
        f.write("left here\n")
    out, err, rc = U.shell(db, "SELECT ppl_archive('s2');")
    want = ("ppl_archive: cannot finish moving %s to %s (a file step of an earlier call): %s already exists "
            "(move it away first)" % (os.path.join(art, "Weights", "s1"), dest, dest))
    U.check(left > 0 and want in err and where(db, "s2") == "active" and journal_rows(db) == left,
            "a killed archive's move whose destination is taken: the next housekeeping call says "
            "'move it away first', the step is kept", (left, out, err))
    out2, err2, rc2 = U.shell(db, "SELECT group_concat(pplid) FROM ppls;")
    U.check(out2 == "s2" and not err2, "calls that only read still work meanwhile", (out2, err2))
    shutil.move(dest, os.path.join(tmp, "moved-away"))
    out, err, rc = U.shell(db, "SELECT ppl_archive('s2');")
    U.check(not err and where(db, "s2") == "archived" and consistent(db, ["s1", "s2"], ALL) == "",
            "following it (moving it away), the call finishes the killed move and runs",
            (out, err, consistent(db, ["s1", "s2"], ALL)))


def main():
    seed = int(os.environ.get("LF_SEED", time.time()))
    print("# test_housekeeping_crash: LF_SEED=%d" % seed)
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="lfhkcrash-")
    kills = 200 if U.LONG else 25
    try:
        hostile_journal(tmp)
        stray_at_destination(tmp)
        for sc in scenarios(tmp):
            stats = {}
            for point in POINTS:
                one_kill(sc, point, 0, stats)
            # How long the whole call takes, process start included: random
            # kills land anywhere in it.
            t0 = time.time()
            o, e, rc = U.shell(sc.db, sc.do_sql)
            span = time.time() - t0
            U.shell(sc.db, sc.undo_sql)
            bad = 0
            for k in range(kills):
                if not one_kill(sc, None, rng.uniform(0, span * 1.1), stats):
                    bad += 1
                    if bad > 3:
                        break
            U.check(bad == 0, "%s: %d random SIGKILLs leave rows and files agreeing, and the operation "
                    "runs again" % (sc.name, kills), "%d failed" % bad)
            print("# %s: %s (a call takes %.3fs)" % (sc.name, stats, span))
            left = [d for d in os.listdir(sc.db + ".labflow") if d.startswith(".import-")]
            U.check(not left, "%s: no staging folder of a killed import stays behind" % sc.name, left)
    except Exception as e:  # a crash of the test itself is a failure
        U.check(False, "test_housekeeping_crash", repr(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if U.failed else 0


if __name__ == "__main__":
    sys.exit(main())
