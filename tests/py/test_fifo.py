#!/usr/bin/python3
"""test_fifo.py — issue 19 item 7: a FIFO (or a device, a socket) where
LabFlow expects a file is refused before it is read, and never blocks the
caller: a weight file, a state file, a data file (CSV and IDX), a bundle to
import, and an artifact of a pipeline being exported (no longer left out of
the bundle silently). Each call runs under a time limit: a hang fails.
Prints PASS/FAIL lines.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reliability"))
import lfutil as U  # noqa: E402

T = "fifo"


def call(db, sql, cwd, name, want):
    try:
        out, err, rc = U.shell(db, sql, timeout=30, cwd=cwd)
    except subprocess.TimeoutExpired:
        U.check(False, "%s: %s" % (T, name), "the call blocked (no answer in 30 s)")
        return
    U.check(want in err, "%s: %s" % (T, name), "stderr %r stdout %r" % (err[:500], out[:200]))


def main():
    tmp = tempfile.mkdtemp(prefix="lf-fifo-")
    try:
        d = os.path.join(tmp, "p")
        db = U.new_project(d)
        U.add_ppl(db, "p", U.tiny_config(seed=3))
        out, err, rc = U.shell(db, "SELECT json_extract(ppl_train('p', 2), '$.last_epoch');", cwd=d)
        if out != "2":
            U.check(False, T + ": setup", err)
            return
        weights = os.path.join(d, "p.db.labflow", "Weights", "p")
        keep = os.path.join(tmp, "keep")
        shutil.copytree(weights, keep)

        # A FIFO in place of the last weight file, then of the state file.
        for name in sorted(os.listdir(keep)):
            if not name.startswith("e2."):
                continue
            path = os.path.join(weights, name)
            os.unlink(path)
            os.mkfifo(path)
            if name.endswith(".lfw"):
                call(db, "SELECT ppl_predict('p', '[0.1,0.2,0.3,0.4]', 'last');", d,
                     "ppl_predict with a FIFO as %s is refused" % name, "is not a regular file (a FIFO)")
            call(db, "SELECT ppl_train('p', 1);", d, "ppl_train resuming from a FIFO as %s is refused" % name,
                 "is not a regular file (a FIFO)")
            call(db, "SELECT ppl_transfer('p', 'export', 'copy', 'out.lfbundle');", d,
                 "export with a FIFO as %s is refused, not left out" % name, "is a FIFO, not a regular file")
            U.check(not os.path.exists(os.path.join(d, "out.lfbundle")), T + ": no bundle without %s" % name)
            os.unlink(path)
            shutil.copy(os.path.join(keep, name), path)

        # Data files.
        os.mkfifo(os.path.join(d, "fifo.csv"))
        call(db, "SELECT ppl_evaluate('p', 'fifo.csv');", d, "a FIFO as a CSV data file is refused",
             "is not a regular file (a FIFO)")
        os.mkfifo(os.path.join(d, "fifo-images-idx3-ubyte"))
        os.mkfifo(os.path.join(d, "fifo-labels-idx1-ubyte"))
        cfg = U.tiny_config(seed=4, src="fifo")
        cfg["dataset"] = {"loc": "idx", "args": {}}
        cfg["model"]["args"]["layers"].insert(0, {"loc": "Flatten"})
        call(db, "SELECT ppl_new('i', %s);" % U.sql_str(__import__("json").dumps(cfg)), d,
             "a FIFO as an IDX data file is refused", "is not a regular file (a FIFO)")
        call(db, "SELECT ppl_evaluate('p', '/dev/zero');", d, "/dev/zero as a data file is refused",
             "is not a regular file (a character device)")

        # A bundle that is a FIFO.
        os.mkfifo(os.path.join(d, "b.lfbundle"))
        call(db, "SELECT ppl_transfer(NULL, 'import', 'copy', 'b.lfbundle');", d, "a FIFO as a bundle is refused",
             "is not a regular file (a FIFO)")

        # After all that, the project still works.
        out, err, rc = U.shell(db, "SELECT json_extract(ppl_train('p', 1), '$.last_epoch');", cwd=d)
        U.check(out == "3", T + ": the project trains on afterwards", err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(1 if U.failed else 0)
