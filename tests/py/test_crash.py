#!/usr/bin/python3
"""test_crash.py — a trainer killed with SIGKILL at random moments.

A tiny CSV makes each epoch a few milliseconds of math and tens of
milliseconds of durable writes (weight file, state file, fsyncs, the epoch's
transaction), so random kill delays land during batches, during checkpoint
writes and during the epoch commit. After every kill:

  - PRAGMA integrity_check is ok;
  - history holds exactly the epochs 1..last_epoch, each complete;
  - every weight/state file on disk (e*.lfw, e*.state) is whole: magic,
    version, both CRCs, the zlib stream decodes to the declared size;
  - the last and best epochs' weight files are listed and readable through
    ppl_weights, and the last epoch's state file exists (resume needs it);
  - the dead trainer's claim does not block the next ppl_train.

At the end the pipeline is trained on to N epochs and its history (minus
wall-clock durations) and last weight file must equal, bit for bit, those of
an uninterrupted run of N epochs with the same seed.

20 kills by default; LF_LONG=1 (make check-all) does 200 kills on two
pipelines (one with BatchNorm and keep="all"). Prints PASS/FAIL lines.
"""
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reliability"))
import lfutil as U  # noqa: E402

HUGE = 1000000


def ckpt_whole(path):
    """None if path is a whole LabFlow weight/state file, else why not."""
    try:
        b = open(path, "rb").read()
    except OSError as e:
        return str(e)
    if len(b) < 40:
        return "truncated header (%d bytes)" % len(b)
    if b[:8] != b"LFWEIGHT":
        return "bad magic"
    version, count, usize, csize, pcrc, hcrc = struct.unpack("<IIQQII", b[8:40])
    if zlib.crc32(b[:32]) & 0xffffffff != hcrc:
        return "header CRC mismatch"
    if version != 1:
        return "version %d" % version
    if len(b) != 40 + csize:
        return "file is %d bytes, header says %d" % (len(b), 40 + csize)
    try:
        payload = zlib.decompress(b[40:])
    except zlib.error as e:
        return "zlib: %s" % e
    if len(payload) != usize or zlib.crc32(payload) & 0xffffffff != pcrc:
        return "payload size or CRC mismatch"
    return None


def files_of(db, pplid):
    d = os.path.join(db + ".labflow", "Weights", pplid)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def verify(db, pplid, label):
    """Checks the project after a kill; returns (ok, why, last_epoch)."""
    why = []
    ic = U.integrity(db)
    if ic != [("ok",)]:
        why.append("integrity_check: %r" % ic)
    st = U.query(db, "SELECT last_epoch, best_epoch FROM ppl_state WHERE pplid=?", (pplid,))
    last, best = st[0]
    epochs = U.query(db, "SELECT epoch, count(*) FROM history WHERE pplid=? GROUP BY epoch ORDER BY epoch", (pplid,))
    if [e for e, _ in epochs] != list(range(1, last + 1)):
        why.append("history epochs %s..%s (%d) but last_epoch %d" %
                   (epochs[0][0] if epochs else None, epochs[-1][0] if epochs else None, len(epochs), last))
    if len(set(c for _, c in epochs)) > 1:
        why.append("an epoch has only part of its history rows: %r" % epochs)
    listed = [e for (e,) in U.query(db, "SELECT epoch FROM ppl_weight_files WHERE pplid=? ORDER BY epoch", (pplid,))]
    wdir = os.path.join(db + ".labflow", "Weights", pplid)
    if last > 0:
        if last not in listed or (best and best not in listed):
            why.append("last %d / best %s not in ppl_weight_files %r" % (last, best, listed))
        if not os.path.exists(os.path.join(wdir, "e%d.state" % last)):
            why.append("state file of the last epoch %d is missing" % last)
    for e in listed:
        if not os.path.exists(os.path.join(wdir, "e%d.lfw" % e)):
            why.append("listed weight file e%d.lfw is missing" % e)
    for f in files_of(db, pplid):
        if re.fullmatch(r"e\d+\.(lfw|state)", f):
            bad = ckpt_whole(os.path.join(wdir, f))
            if bad:
                why.append("%s is corrupt: %s" % (f, bad))
    # Readable through SQL too (the reader checks every CRC).
    if last > 0:
        out, err, rc = U.shell(db, "SELECT count(*) > 0 FROM ppl_weights('%s', %d);"
                                   "SELECT count(*) > 0 FROM ppl_weights('%s', 'best');" % (pplid, last, pplid))
        if out.split() != ["1", "1"] or err:
            why.append("ppl_weights of last/best: %r %r" % (out, err))
    return not why, "; ".join(why), last


def classify(db, pplid, pid, last_after):
    """Where the kill landed, from what it left behind."""
    fs = files_of(db, pplid)
    nxt = last_after + 1
    if any(f.endswith(".tmp-%d" % pid) for f in fs):
        return "file write"
    if "e%d.lfw" % nxt in fs or "e%d.state" % nxt in fs:
        return "between files and commit"
    return "batches/commit"


def kill_loop(tmp, name, cfg, settings, kills, rng):
    folder = os.path.join(tmp, name)
    db = U.new_project(folder, settings=settings)
    U.add_ppl(db, "c", cfg)
    where = {}
    last = 0
    killed = 0
    tries = 0
    while killed < kills and tries < kills * 3:
        tries += 1
        p = U.start_shell(db, "SELECT ppl_train('c', %d, %d);" % (HUGE, HUGE))
        # Past process start and data loading: mostly inside training.
        time.sleep(rng.uniform(0.05, 0.5))
        if p.poll() is not None:
            out, err = p.communicate()
            U.check(False, "%s: a restarted trainer is not refused (stale claim)" % name, out + err)
            return None
        U.kill_process(p)
        killed += 1
        ok, why, new_last = verify(db, "c", name)
        if not U.check(ok, "%s: kill %d leaves a consistent project" % (name, killed), why):
            return None
        w = classify(db, "c", p.pid, new_last)
        where[w] = where.get(w, 0) + 1
        last = new_last
    U.check(killed == kills, "%s: %d SIGKILLs delivered while training" % (name, kills),
            "only %d" % killed)
    print("# %s: kills landed: %s; last_epoch %d" % (name, where, last))
    U.check(any(k != "batches/commit" for k in where) or kills < 20,
            "%s: some kills landed during checkpoint writes or before the commit" % name, repr(where))
    # A stale claim is left by the last kill: ppl_train must take over at once.
    n = last + 5
    out, err, rc = U.shell(db, "SELECT ppl_train('c', %d, %d);" % (n - last, HUGE))
    U.check('"last_epoch":%d' % n in out and '"first_epoch":%d' % (last + 1) in out,
            "%s: ppl_train after the kills resumes at epoch %d and reaches %d" % (name, last + 1, n), out + err)
    temps = [f for f in files_of(db, "c") if ".tmp-" in f]
    U.check(not temps, "%s: the next ppl_train removes the temp files killed trainers left" % name, repr(temps))
    ref = U.new_project(os.path.join(tmp, name + "-ref"), settings=settings)
    U.add_ppl(ref, "c", cfg)
    out, err, rc = U.shell(ref, "SELECT ppl_train('c', %d, %d);" % (n, HUGE))
    ha, hb = U.history_values(db, "c"), U.history_values(ref, "c")
    U.check(len(ha) > 0 and ha == hb, "%s: after %d kills the history equals an uninterrupted run's (%d epochs)"
            % (name, kills, n), "first difference: %r" % (next(((a, b) for a, b in zip(ha, hb) if a != b), (len(ha), len(hb))),))
    wa = open(os.path.join(db + ".labflow", "Weights", "c", "e%d.lfw" % n), "rb").read()
    wb = open(os.path.join(ref + ".labflow", "Weights", "c", "e%d.lfw" % n), "rb").read()
    U.check(wa == wb, "%s: the final weight file is byte-identical to the uninterrupted run's" % name)
    return db


def main():
    seed = int(os.environ.get("LF_SEED", time.time()))
    print("# test_crash: LF_SEED=%d" % seed)
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="lfcrash-")
    try:
        kills = 200 if U.LONG else 20
        kill_loop(tmp, "crash", U.tiny_config(seed=3), U.SETTINGS, kills, rng)
        if U.LONG:
            cfg = U.tiny_config(seed=4)
            cfg["model"]["args"]["layers"].insert(1, {"loc": "BatchNorm1d"})
            settings = dict(U.SETTINGS, keep="all")
            kill_loop(tmp, "crash-bn-keepall", cfg, settings, kills, rng)
    except Exception as e:  # a crash of the test itself is a failure
        U.check(False, "test_crash", repr(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if U.failed else 0


if __name__ == "__main__":
    sys.exit(main())
