#!/usr/bin/python3
"""test_sent_rows.py — issue 19 items 2, 10 and 12: every value LabFlow reads
back from a database or a bundle someone sent is untrusted.

A project whose rows were written by hand (NULL and integer pplids, a NULL
config, ppl_state epochs that disagree with the history: INT64_MAX, -5,
'abc', a best epoch that was never trained) and bundles forged the same way
(an integer pplid, a file path twice, a state that lies): every call gets a
clear error naming the row and how to fix it — never a crash of the host
(the sqlite3 shell, and Python's sqlite3 module in this process) — and
nothing changes. Also: new projects refuse NULL pplids; ppl_filter's
params must be 0 or 1. Prints PASS/FAIL lines.
"""
import re
import os
import shutil
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reliability"))
import lfutil as U  # noqa: E402

T = "sent_rows"


def loosen(db, table, column_re, loose_def):
    """Rewrites a column definition behind SQLite's back, as a sender can."""
    c = sqlite3.connect(db)
    c.execute("PRAGMA writable_schema=ON")
    sql = c.execute("SELECT sql FROM sqlite_schema WHERE name=?", (table,)).fetchone()[0]
    loose = re.sub(column_re, loose_def, sql, count=1)
    assert loose != sql, (table, sql)
    c.execute("UPDATE sqlite_schema SET sql=? WHERE name=?", (loose, table))
    c.commit()
    c.close()


def run(db, sql, cwd):
    out, err, rc = U.shell(db, sql, cwd=cwd)
    return out, err, rc


def expect_error(db, cwd, sql, want, name):
    out, err, rc = run(db, sql, cwd)
    U.check(rc >= 0 and want in err, "%s: %s" % (T, name), "rc %d, stderr %r, stdout %r" % (rc, err[:600], out[:200]))


def main():
    tmp = tempfile.mkdtemp(prefix="lf-sentrows-")
    try:
        d = os.path.join(tmp, "p")
        db = U.new_project(d)
        U.add_ppl(db, "p", U.tiny_config(seed=3))
        out, err, rc = U.shell(db, "SELECT json_extract(ppl_train('p', 2), '$.last_epoch');", cwd=d)
        if out != "2":
            U.check(False, T + ": setup", err)
            return
        clean = os.path.join(tmp, "clean.db")
        shutil.copy(db, clean)

        # New projects refuse a NULL pplid.
        try:
            U.query(db, "INSERT INTO ppls(pplid, config, config_hash, created_time) VALUES(NULL, '{}', 'h', 'now')")
            refused = False
        except sqlite3.IntegrityError as e:
            refused = "NOT NULL" in str(e)
        U.check(refused, T + ": a new project's ppls refuses a NULL pplid")

        # ---- NULL and integer pplids (issue 19.2).
        loosen(db, "ppls", r"pplid +TEXT PRIMARY KEY( NOT NULL)?", "pplid PRIMARY KEY")
        loosen(db, "ppls", r"config +TEXT NOT NULL", "config TEXT")
        c = sqlite3.connect(db)
        c.execute("INSERT INTO ppls(pplid, config, config_hash, created_time) VALUES(NULL, 'x', 'h1', 'now')")
        c.commit()
        c.close()
        for sql, want, name in [
            ("SELECT * FROM ppl_status;", "ppl_status: ppls has a row whose pplid is NULL", "ppl_status with a NULL pplid"),
            ("SELECT ppl_plot(NULL, NULL, 'plots');", "ppl_plot: ppls has a row whose pplid is NULL", "ppl_plot(NULL) with a NULL pplid"),
            ("SELECT ppl_transfer(NULL, 'export', 'copy', 'all.lfbundle');", "ppls has a row whose pplid is NULL",
             "export of all with a NULL pplid"),
        ]:
            expect_error(db, d, sql, want, name)
        for sql in ["SELECT * FROM ppl_history;", "SELECT * FROM ppl_details;", "SELECT * FROM ppl_filter('seed=3');",
                    "SELECT * FROM ppl_matching('p');", "SELECT ppl_sync('p');", "SELECT ppl_path('weight', 'p');",
                    "SELECT ppl_archive(NULL);", "SELECT ppl_clean('p');"]:
            out, err, rc = run(db, sql, d)
            U.check(rc >= 0, "%s: no crash with a NULL pplid: %s" % (T, sql), "rc %d %s" % (rc, err[:300]))
        # The same in this process (Python's sqlite3 module as the host).
        c = sqlite3.connect(db)
        c.enable_load_extension(True)
        c.load_extension(U.EXT)
        try:
            c.execute("SELECT * FROM ppl_status").fetchall()
            msg = ""
        except sqlite3.OperationalError as e:
            msg = str(e)
        c.close()
        U.check("pplid is NULL" in msg, T + ": Python host gets an error, not a crash, for a NULL pplid", msg)

        c = sqlite3.connect(db)
        c.execute("DELETE FROM ppls WHERE pplid IS NULL")
        c.execute("INSERT INTO ppls(pplid, config, config_hash, created_time) VALUES(5, 'x', 'h2', 'now')")
        c.commit()
        c.close()
        expect_error(db, d, "SELECT * FROM ppl_status;", "ppls has a row whose pplid is an integer (5)",
                     "an integer pplid is named")
        c = sqlite3.connect(db)
        c.execute("DELETE FROM ppls WHERE pplid = 5")
        c.execute("INSERT INTO ppls(pplid, config, config_hash, created_time) VALUES('nc', NULL, 'h3', 'now')")
        c.commit()
        c.close()
        before = U.tree_digest(d, skip_db=db)
        # issue 19.12: was "out of memory (7)".
        expect_error(db, d, "SELECT ppl_fork('f', 'nc', '{}');", "pipeline 'nc' has no config",
                     "ppl_fork of a base with a NULL config")
        expect_error(db, d, "SELECT ppl_train('nc', 1);", "no config", "ppl_train of a pipeline with a NULL config")
        U.check(U.tree_digest(d, skip_db=db) == before, T + ": the refused calls wrote no file")

        # ---- ppl_state epochs (issue 19.10).
        for value, shown in [("9223372036854775807", "9223372036854775807"), ("-5", "-5"), ("'abc'", "abc"),
                             ("7", "7"), ("1", "1")]:
            shutil.copy(clean, db)
            U.query(db, "SELECT 1")
            c = sqlite3.connect(db)
            c.execute("UPDATE ppl_state SET last_epoch = %s WHERE pplid = 'p'" % value)
            c.commit()
            c.close()
            hist = U.history_values(db, "p")
            before = U.tree_digest(d, skip_db=db)
            expect_error(db, d, "SELECT ppl_train('p', 1);",
                         "ppl_state.last_epoch is %s but its history ends at epoch 2" % shown,
                         "ppl_train refuses last_epoch %s" % shown)
            expect_error(db, d, "SELECT ppl_path('weight', 'p', 'last');", "ppl_state.last_epoch is %s" % shown,
                         "ppl_path refuses last_epoch %s" % shown)
            U.check(U.history_values(db, "p") == hist and U.tree_digest(d, skip_db=db) == before,
                    T + ": last_epoch %s: history and files unchanged" % shown)
        weights = os.path.join(d, "p.db.labflow", "Weights", "p")
        U.check(not any(f.startswith("e-") or f.startswith("e0") for f in os.listdir(weights)),
                T + ": no e-4.lfw or e0 file was written", os.listdir(weights))
        for column, value, want in [("best_epoch", "99", "ppl_state.best_epoch is 99"),
                                    ("best_epoch", "'x'", "ppl_state.best_epoch is x"),
                                    ("best_value", "'x'", "best_value is not a finite number")]:
            shutil.copy(clean, db)
            c = sqlite3.connect(db)
            c.execute("UPDATE ppl_state SET %s = %s WHERE pplid = 'p'" % (column, value))
            c.commit()
            c.close()
            expect_error(db, d, "SELECT ppl_train('p', 1);", want, "ppl_train refuses %s = %s" % (column, value))
        shutil.copy(clean, db)
        c = sqlite3.connect(db)
        c.execute("DELETE FROM history WHERE pplid = 'p' AND epoch = 1")
        c.commit()
        c.close()
        expect_error(db, d, "SELECT ppl_train('p', 1);", "history's epochs are not 1, 2", "a history with a hole is refused")
        shutil.copy(clean, db)
        out, err, rc = run(db, "SELECT json_extract(ppl_train('p', 1), '$.last_epoch');", d)
        U.check(out == "3", T + ": an untouched project still trains", err)

        # ---- forged bundles (issue 19.10 and 19.12).
        bundle = os.path.join(tmp, "b.lfbundle")
        out, err, rc = run(db, "SELECT ppl_transfer('p', 'export', 'copy', %s);" % U.sql_str(bundle), d)
        if not os.path.exists(bundle):
            U.check(False, T + ": export for the bundle cases", err)
            return
        other = os.path.join(tmp, "o")
        odb = U.new_project(other)
        for name, forge, want in [
            ("an integer pplid", ["CREATE TABLE p2(pplid PRIMARY KEY, config TEXT NOT NULL, config_hash TEXT NOT NULL, "
                                  "status TEXT, created_time TEXT)",
                                  "INSERT INTO p2 SELECT 5, config, config_hash, status, created_time FROM ppls",
                                  "DROP TABLE ppls", "ALTER TABLE p2 RENAME TO ppls"],
             "pplid is an integer (5)"),
            ("a file path twice", ["CREATE TABLE f2(path TEXT, pplid TEXT NOT NULL, data BLOB NOT NULL)",
                                   "INSERT INTO f2 SELECT path, pplid, data FROM files", "DROP TABLE files",
                                   "ALTER TABLE f2 RENAME TO files"],
             None),
            ("a last_epoch that lies", ["UPDATE ppl_state SET last_epoch = 9223372036854775807"],
             "ppl_state.last_epoch is 9223372036854775807"),
            ("a last_epoch of -5", ["UPDATE ppl_state SET last_epoch = -5"], "ppl_state.last_epoch is -5"),
        ]:
            forged = os.path.join(tmp, "forged.lfbundle")
            shutil.copy(bundle, forged)
            c = sqlite3.connect(forged)
            for s in forge:
                c.execute(s)
            c.commit()
            c.close()
            if want is None:
                # Now the path column may repeat: add a second row with the same path.
                c = sqlite3.connect(forged)
                c.execute("INSERT INTO files(path, pplid, data) SELECT path, pplid, data FROM files "
                          "WHERE path LIKE '%.lfw' LIMIT 1")
                c.commit()
                c.close()
                want = "appears twice"
            before = U.tree_digest(other, skip_db=odb)
            rows = U.query(odb, "SELECT count(*) FROM ppls")
            expect_error(odb, other, "SELECT ppl_transfer(NULL, 'import', 'copy', %s);" % U.sql_str(forged), want,
                         "a bundle with %s is refused" % name)
            U.check(U.tree_digest(other, skip_db=odb) == before and U.query(odb, "SELECT count(*) FROM ppls") == rows,
                    T + ": the refused bundle with %s changed nothing" % name)
        out, err, rc = run(odb, "SELECT ppl_transfer(NULL, 'import', 'copy', %s);" % U.sql_str(bundle), other)
        U.check(out == "1", T + ": the untouched bundle imports", err)

        # ---- ppl_filter params (issue 19.12).
        expect_error(clean, d, "SELECT * FROM ppl_filter('seed=3', 2);", "params must be 0 or 1, got 2",
                     "ppl_filter params 2 is refused")
        out, err, rc = run(clean, "SELECT count(*) FROM ppl_filter('seed=3', 1);", d)
        U.check(out == "1" and not err, T + ": ppl_filter params 1 works", err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(1 if U.failed else 0)
