#!/usr/bin/python3
"""test_status.py — ppls.status and ppl_status.status, seen from a second
process, follow docs/sql-reference.md:

  new            before any training
  running        while a trainer (in another process) holds the claim
  stopped        after ppl_stop, after Ctrl-C (SIGINT), and after the
                 trainer was killed (never 'running' then)
  trained        after a run that finished its epochs
  early_stopped  after early stopping

Each state is read both with a plain sqlite3 connection (SELECT status FROM
ppls; for a killed trainer, after another process loaded LabFlow) and
through ppl_status in a shell with LabFlow loaded. Prints PASS/FAIL lines.
"""
import json
import os
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reliability"))
import lfutil as U  # noqa: E402

HUGE = 1000000


def plain_status(db, p):
    return U.query(db, "SELECT status FROM ppls WHERE pplid=?", (p,))[0][0]


def lf_status(db, p):
    out, err, rc = U.shell(db, "SELECT status || '|' || coalesce(running_logid, 'none') FROM ppl_status('%s');" % p)
    return out + err


def start_trainer(db, p, epochs=HUGE):
    t = U.start_shell(db, "SELECT ppl_train('%s', %d, %d);" % (p, epochs, HUGE))
    ok = U.wait_until(lambda: U.query(db, "SELECT count(*) FROM runnings WHERE pplid=?", (p,))[0][0] == 1
                      or t.poll() is not None)
    return t, ok and t.poll() is None


def main():
    tmp = tempfile.mkdtemp(prefix="lfstatus-")
    try:
        db = U.new_project(os.path.join(tmp, "s"))
        for i, p in enumerate(["a", "b", "c", "d", "e"]):
            U.add_ppl(db, p, U.tiny_config(seed=80 + i))
        U.check(plain_status(db, "a") == "new" and lf_status(db, "a") == "new|none",
                "a new pipeline is 'new'", (plain_status(db, "a"), lf_status(db, "a")))

        # running, then ppl_stop -> stopped
        t, ok = start_trainer(db, "a")
        s1, s2 = plain_status(db, "a"), lf_status(db, "a")
        U.check(ok and s1 == "running" and s2.startswith("running|") and not s2.endswith("|none"),
                "while another process trains it, ppls.status and ppl_status say 'running'", (s1, s2))
        out, err, rc = U.shell(db, "SELECT ppl_stop('a');")
        tout, terr = t.communicate(timeout=300)
        ended = json.loads(tout).get("ended") if tout.startswith("{") else tout + terr
        U.check(out == "1" and ended == "stop_requested", "ppl_stop stops the trainer", (out, err, ended))
        s1, s2 = plain_status(db, "a"), lf_status(db, "a")
        U.check(s1 == "stopped" and s2 == "stopped|none", "after ppl_stop the status is 'stopped'", (s1, s2))

        # Ctrl-C -> stopped
        t, ok = start_trainer(db, "b")
        t.send_signal(signal.SIGINT)
        tout, terr = t.communicate(timeout=300)
        s1, s2 = plain_status(db, "b"), lf_status(db, "b")
        U.check(ok and '"ended":"interrupted"' in tout and s1 == "stopped" and s2 == "stopped|none",
                "after Ctrl-C (SIGINT) the status is 'stopped'", (tout, terr, s1, s2))

        # killed -> not running, from another process
        t, ok = start_trainer(db, "c")
        U.kill_process(t)
        s2 = lf_status(db, "c")
        U.check(ok and s2 == "stopped|none", "after the trainer was killed ppl_status says 'stopped', "
                "with no running_logid", s2)
        s1 = plain_status(db, "c")
        U.check(s1 == "stopped" and U.query(db, "SELECT count(*) FROM runnings")[0][0] == 0,
                "after another process loaded LabFlow, ppls.status of a killed trainer's pipeline is 'stopped' "
                "and its claim is gone", s1)
        # a killed trainer seen by a process that loaded LabFlow while the
        # trainer lived and then only reads (no LabFlow call repairs ppls)
        t, ok = start_trainer(db, "c")
        r = U.start_shell(db, "SELECT 'loaded'; .shell sleep 2\nBEGIN; SELECT status, running_logid IS NULL "
                              "FROM ppl_status('c'); COMMIT;".replace("; .shell", ";\n.shell"))
        U.wait_until(lambda: False, limit=0.7)
        U.kill_process(t)
        out, err = r.communicate(timeout=120)
        U.check(ok and out.split() == ["loaded", "stopped|1"],
                "a reader that loaded LabFlow before the trainer was killed sees 'stopped' in ppl_status", out + err)

        # trained, after a run that finished
        out, err, rc = U.shell(db, "SELECT ppl_train('d', 2);")
        s1, s2 = plain_status(db, "d"), lf_status(db, "d")
        U.check(s1 == "trained" and s2 == "trained|none", "after a finished run the status is 'trained'",
                (out, err, s1, s2))
        # a stopped pipeline trained on to its end is 'trained' again
        out, err, rc = U.shell(db, "SELECT ppl_train('a', 1);")
        U.check(plain_status(db, "a") == "trained", "a stopped pipeline trained to the end is 'trained'",
                (out, err, plain_status(db, "a")))

        # early_stopped: no learning (lr 0) means no improvement after epoch 1
        cfg = U.tiny_config(seed=90, lr=0.0)
        try:
            U.add_ppl(db, "f", cfg)
            out, err, rc = U.shell(db, "SELECT ppl_train('f', 10, 1);")
        except RuntimeError:
            cfg = U.tiny_config(seed=90, lr=1e-30)
            U.add_ppl(db, "f", cfg)
            out, err, rc = U.shell(db, "SELECT ppl_train('f', 10, 1);")
        s1, s2 = plain_status(db, "f"), lf_status(db, "f")
        U.check('"ended":"early_stop"' in out and s1 == "early_stopped" and s2 == "early_stopped|none",
                "after early stopping the status is 'early_stopped'", (out, err, s1, s2))

        # "stop it with ppl_stop(...) first" (ppl_archive, ppl_transfer of a
        # running pipeline), followed literally in one script: ppl_stop
        # returns once the trainer has stopped, so the call after it works.
        U.add_ppl(db, "g", U.tiny_config(seed=91))
        bundle = os.path.join(tmp, "g.lfbundle")
        for call, after in (("ppl_transfer('g', 'export', 'copy', '%s')" % bundle, "1"),
                            ("ppl_archive('g')", "1")):
            t, ok = start_trainer(db, "g")
            out, err, rc = U.shell(db, "SELECT %s;" % call)
            U.check(ok and "pipeline 'g' is running (logid " in err and "stop it with ppl_stop('g') first" in err
                    and not (os.path.exists(bundle) and "export" in call)
                    and U.query(db, "SELECT count(*) FROM archived_ppls")[0][0] == 0,
                    "%s of a running pipeline says to stop it with ppl_stop first, nothing changed" % call.split("(")[0],
                    (out, err))
            out, err, rc = U.shell(db, "SELECT ppl_stop('g');\nSELECT %s IS NOT NULL;" % call)
            tout, terr = t.communicate(timeout=300)
            U.check(out.split() == ["1", after] and '"ended":"stop_requested"' in tout,
                    "following it (SELECT ppl_stop('g'); then the call) works", (out, err, tout, terr))
        # lab_settings: "wait for it to end (or SELECT ppl_stop('h')) and call again"
        U.add_ppl(db, "h", U.tiny_config(seed=92))
        patch = '{"strategy":{"monitor":"train_loss","mode":"min"}}'
        t, ok = start_trainer(db, "h")
        out, err, rc = U.shell(db, "SELECT lab_settings('%s');" % patch)
        U.check(ok and "lab_settings: pipeline 'h' is training; metrics and strategy change between runs: wait for "
                "it to end (or SELECT ppl_stop('h')) and call again" in err,
                "lab_settings of the strategy while a pipeline trains says to stop it and call again", (out, err))
        out, err, rc = U.shell(db, "SELECT ppl_stop('h');\nSELECT lab_settings('%s') ->> '$.strategy.monitor';" % patch)
        t.communicate(timeout=300)
        U.check(out.split() == ["1", "train_loss"], "following it (SELECT ppl_stop('h'); then lab_settings) works",
                (out, err))
        U.check(U.query(db, "SELECT count(*) FROM archived_ppls WHERE pplid='g'")[0][0] == 1
                and os.path.exists(bundle), "g was exported and archived", os.listdir(tmp))
    except Exception as e:  # a crash of the test itself is a failure
        U.check(False, "test_status", repr(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if U.failed else 0


if __name__ == "__main__":
    sys.exit(main())
