#!/usr/bin/python3
"""test_hostile.py — hundreds of bad calls, each must get a clear SQL error
and change nothing.

The corpus is tests/hostile/calls.txt (hand-written: malformed JSON, huge
numbers, NaN/Inf, absurd sizes, shapes that do not fit, pplids with path
tricks, missing/truncated/non-IDX files, ragged CSVs, SQL datasets returning
text, damaged weight and state files) plus cases generated here: every SQL
function with a wrong argument count, a NULL and wrong-typed values in each
argument, JSON nested 65/1001/100000 deep, a 10 MB config, and damaged
bundles for ppl_transfer import (future format version, not SQLite,
truncated, wrong application_id, "../" and absolute file paths, a pplid
with a path in it, a bit-flipped weight BLOB, a config hash that lies).

All cases run in one sqlite3 shell on a prepared project (errors are matched
to cases by line number); each must print one error containing its expected
text, and afterwards PRAGMA integrity_check must be ok and the project's
rows and every file under its folder must be exactly as before. If that
last check fails, each case is re-run alone on a fresh copy to name the
culprits. Prints PASS/FAIL lines.
"""
import json
import os
import re
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reliability"))
import lfutil as U  # noqa: E402

CORPUS = os.path.join(U.ROOT, "tests", "hostile", "calls.txt")
ERR = re.compile(r"^(Runtime error|Parse error|Error)( near line (\d+))?: (stepping, )?(.*)$")
L0 = '{"loc":"Linear","args":{"out":8}}'
C0 = '{"loc":"Conv2d","args":{"out":2,"kernel":1}}'


def cfg_text(src="d.csv"):
    c = U.tiny_config(seed=3, src=src)
    return json.dumps(c, separators=(",", ":"))


def idx_cfg_text():
    c = U.tiny_config(seed=3, src="mini")
    c["dataset"] = {"loc": "idx", "args": {}}
    c["model"]["args"]["layers"] = [json.loads(C0), {"loc": "Flatten"}, {"loc": "Linear", "args": {"out": 2}}]
    return json.dumps(c, separators=(",", ":"))


# ---------------------------------------------------------------- fixture

def idx_files(prefix, n=20, rows=4, cols=4, declared=None, nlabels=None, img_magic=0x803, lab_magic=0x801,
              cut_images=None, cut_labels=None):
    imgs = struct.pack(">IIII", img_magic, declared if declared is not None else n, rows, cols)
    imgs += bytes((i * 7 + j) % 256 for i in range(n) for j in range(rows * cols))
    labs = struct.pack(">II", lab_magic, nlabels if nlabels is not None else (declared if declared is not None else n))
    labs += bytes(i % 2 for i in range(n))
    if cut_images is not None:
        imgs = imgs[:cut_images]
    if cut_labels is not None:
        labs = labs[:cut_labels]
    open(prefix + "-images-idx3-ubyte", "wb").write(imgs)
    open(prefix + "-labels-idx1-ubyte", "wb").write(labs)


def flip_bit(path, offset=None):
    b = bytearray(open(path, "rb").read())
    i = len(b) // 2 if offset is None else offset
    b[i] ^= 0x10
    open(path, "wb").write(bytes(b))


def make_fixture(d):
    """The project every case runs against."""
    db = U.new_project(d)
    w = lambda name, text: open(os.path.join(d, name), "w").write(text)
    good_csv = open(os.path.join(d, "d.csv")).read()
    head = "f0,f1,f2,f3,label\n"
    w("ragged.csv", good_csv + "1,2\n")
    w("empty.csv", "")
    w("nolabel.csv", "a,b,c\n1,2,3\n")
    w("onlylabel.csv", "label\n1\n0\n")
    w("unclosed.csv", 'f0,"f1,label\n1,2,3\n')
    w("noline.csv", "x" * 100000)
    w("wide.csv", "f0,f1,f2,f3,f4,f5,label\n" + "1,2,3,4,5,6,0\n" * 4)
    w("existing.lfbundle", "not a bundle\n")
    os.mkfifo(os.path.join(d, "fifo.csv"))
    idx_files(os.path.join(d, "mini"))
    idx_files(os.path.join(d, "badmagic"), img_magic=0x802)
    open(os.path.join(d, "shorthdr-images-idx3-ubyte"), "wb").write(b"\0\0\x08\x03\0")
    open(os.path.join(d, "shorthdr-labels-idx1-ubyte"), "wb").write(b"\0\0\x08\x01\0\0\0\x14")
    idx_files(os.path.join(d, "count"), nlabels=19)
    idx_files(os.path.join(d, "hugeside"), rows=70000, n=0, declared=1)
    idx_files(os.path.join(d, "zeroimg"), n=0)
    idx_files(os.path.join(d, "nolabels"))
    os.unlink(os.path.join(d, "nolabels-labels-idx1-ubyte"))
    shutil.copy(os.path.join(d, "d.csv"), os.path.join(d, "csvasidx-images-idx3-ubyte"))
    shutil.copy(os.path.join(d, "d.csv"), os.path.join(d, "csvasidx-labels-idx1-ubyte"))
    sql = ("CREATE TABLE ttext(a TEXT, label INT); INSERT INTO ttext VALUES('abc', 0), ('1', 1);"
           "CREATE TABLE tnull(a REAL, label INT); INSERT INTO tnull VALUES(NULL, 0), (1, 1);"
           "CREATE TABLE tnum(a REAL, label INT); INSERT INTO tnum VALUES(0.5, 0), (1, 1);"
           "CREATE TABLE tblob(b BLOB, label INT); INSERT INTO tblob VALUES(x'00010203', 0), (x'0001', 1);"
           "CREATE TABLE tinf(a REAL, label INT); INSERT INTO tinf VALUES(1e308 * 10, 0), (1, 1);")
    c = sqlite3.connect(db)
    c.executescript(sql)
    c.close()
    # Trained pipelines whose files get damaged.
    for p, seed in (("good", 3), ("tr", 4), ("bf", 5), ("st", 6), ("gone", 7), ("zero", 8), ("fut", 9),
                    ("hdrflip", 10), ("stgone", 11)):
        U.add_ppl(db, p, U.tiny_config(seed=seed))
        out, err, rc = U.shell(db, "SELECT ppl_train('%s', %d);" % (p, 2 if p == "good" else 1))
        assert '"last_epoch"' in out, err
    U.add_ppl(db, "victim", U.tiny_config(seed=12))
    wd = lambda p, f: os.path.join(db + ".labflow", "Weights", p, f)
    b = open(wd("tr", "e1.lfw"), "rb").read()
    open(wd("tr", "e1.lfw"), "wb").write(b[:len(b) // 2])
    flip_bit(wd("bf", "e1.lfw"))
    b = open(wd("st", "e1.state"), "rb").read()
    open(wd("st", "e1.state"), "wb").write(b[:50])
    os.unlink(wd("gone", "e1.lfw"))
    os.unlink(wd("stgone", "e1.state"))
    open(wd("zero", "e1.lfw"), "wb").write(b"")
    # Format version 2 with a correct header CRC: a file from a future LabFlow.
    b = bytearray(open(wd("fut", "e1.lfw"), "rb").read())
    b[8:12] = struct.pack("<I", 2)
    b[36:40] = struct.pack("<I", zlib.crc32(bytes(b[:32])) & 0xffffffff)
    open(wd("fut", "e1.lfw"), "wb").write(bytes(b))
    flip_bit(wd("hdrflip", "e1.lfw"), 20)
    # Pipelines whose data goes bad after ppl_new accepted it.
    late = {
        "late_ragged": ("csv", good_csv, good_csv + "1,2,3\n"),
        "late_textfeat": ("csv", good_csv, good_csv + "1,abc,3,4,0\n"),
        "late_nanfeat": ("csv", good_csv, good_csv + "1,nan,3,4,0\n"),
        "late_bigfeat": ("csv", good_csv, good_csv + "1,1e39,3,4,0\n"),
        "late_emptylabel": ("csv", good_csv, good_csv + "1,2,3,4,\n"),
        "late_headeronly": ("csv", good_csv, head),
        "late_binary": ("csv", good_csv, head + "\x00\x01\x02,\xff\xfe,1,2,0\n"),
        "late_gone": ("csv", good_csv, None),
        "late_classes": ("csv", good_csv, good_csv + "1,2,3,4,7\n"),
    }
    for p, (kind, before, after) in late.items():
        name = p + ".csv"
        w(name, before)
        U.add_ppl(db, p, U.tiny_config(seed=20 + len(p), src=name))
        if after is None:
            os.unlink(os.path.join(d, name))
        else:
            w(name, after)
    for p, prefix, kw in (("late_idxtrunc", "lt1", {"cut_images": 100}),
                          ("late_idxlabels", "lt2", {"cut_labels": 12}),
                          ("late_idxbigcount", "lt3", {"declared": 2000000000})):
        idx_files(os.path.join(d, prefix))
        c = json.loads(idx_cfg_text().replace('"mini"', '"%s"' % prefix))
        c["seed"] = 30 + len(p)
        U.add_ppl(db, p, c)
        idx_files(os.path.join(d, prefix), **kw)
    # gzip'ed idx cut short.
    idx_files(os.path.join(d, "lt4"))
    c = json.loads(idx_cfg_text().replace('"mini"', '"lt4"'))
    c["seed"] = 44
    U.add_ppl(db, "late_idxgz", c)
    for suffix in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        raw = open(os.path.join(d, "lt4-" + suffix), "rb").read()
        os.unlink(os.path.join(d, "lt4-" + suffix))
        gz = zlib.compressobj(9, zlib.DEFLATED, 31)
        data = gz.compress(raw) + gz.flush()
        open(os.path.join(d, "lt4-" + suffix + ".gz"), "wb").write(data[:len(data) // 2])
    for p, query, extra in (("late_sqltext", "SELECT a, label FROM ttext", {}),
                            ("late_sqlnull", "SELECT a, label FROM tnull", {}),
                            ("late_sqlinf", "SELECT a, label FROM tinf", {}),
                            ("late_sqlblobfeat", "SELECT b AS a, label FROM tblob", {}),
                            ("late_sqlbloblen", "SELECT b, label FROM tblob", {"blob": "b", "shape": [4]})):
        c = U.tiny_config(seed=50 + len(p), src=query)
        c["dataset"] = {"loc": "sql", "args": dict({"label": "label"}, **extra)}
        U.add_ppl(db, p, c)
    # Regression with a learning rate at its bound: the loss overflows in
    # the first epoch ("training diverged"), nothing may be recorded.
    c = U.tiny_config(seed=60, batch=1)
    c["optimizer"] = {"loc": "SGD", "args": {"lr": 1e9}}
    c["loss"] = {"loc": "MSELoss"}
    c["metrics"] = {"accuracy": {"loc": "MAE"}}
    c["model"]["args"]["layers"][-1]["args"]["out"] = 1
    U.add_ppl(db, "diverge", c)
    return db


# ---------------------------------------------------------------- bundles

def make_bundles(tmp, d):
    """Damaged bundles, made from a real export of another project."""
    src = os.path.join(tmp, "bundle-src")
    sdb = U.new_project(src)
    U.add_ppl(sdb, "imp", U.tiny_config(seed=71))
    out, err, rc = U.shell(sdb, "SELECT ppl_train('imp', 1);")
    out, err, rc = U.shell(sdb, "SELECT ppl_transfer('imp', 'export', 'copy', 'ok.lfbundle');")
    good = os.path.join(src, "ok.lfbundle")
    if not os.path.exists(good):
        return None, "export failed: %s %s" % (out, err)
    cases = []

    def variant(name, sql=None, raw=None, expect="ppl_transfer:"):
        path = os.path.join(d, name + ".lfbundle")
        if raw is not None:
            open(path, "wb").write(raw(open(good, "rb").read()))
        else:
            shutil.copy(good, path)
            c = sqlite3.connect(path)
            c.executescript(sql)
            c.close()
        for mode in ("copy", "move"):
            cases.append(("bundle %s (%s)" % (name, mode), expect,
                          "SELECT ppl_transfer(NULL, 'import', '%s', '%s.lfbundle');" % (mode, name)))

    variant("future", "UPDATE manifest SET value='2' WHERE key='format_version'; PRAGMA user_version=2;")
    variant("future99", "UPDATE manifest SET value='99' WHERE key='format_version';")
    variant("noversion", "DELETE FROM manifest WHERE key='format_version';")
    variant("nomanifest", "DROP TABLE manifest;")
    variant("appid", "PRAGMA application_id=1;")
    variant("notsqlite", raw=lambda b: b"this is not an SQLite database at all" * 100)
    variant("truncated", raw=lambda b: b[:len(b) // 3])
    variant("empty", raw=lambda b: b"")
    variant("dotdot", "UPDATE files SET path='Weights/imp/../../../evil.lfw' WHERE path LIKE '%e1.lfw';")
    variant("abs", "UPDATE files SET path='/tmp/lf-evil-' || abs(random()) || '.lfw' WHERE path LIKE '%e1.lfw';")
    variant("otherdir", "UPDATE files SET path='Weights/victim/e1.lfw' WHERE path LIKE '%e1.lfw';")
    variant("badpplid", "UPDATE ppls SET pplid='../x'; UPDATE ppl_state SET pplid='../x'; UPDATE history SET pplid='../x';"
                        "UPDATE ppl_weight_files SET pplid='../x'; UPDATE files SET pplid='../x';")
    variant("flipblob", "UPDATE files SET data=substr(data, 1, 60) || x'ff' || substr(data, 62) WHERE path LIKE '%e1.lfw';")
    variant("cutblob", "UPDATE files SET data=substr(data, 1, 30) WHERE path LIKE '%e1.lfw';")
    variant("badcfg", "UPDATE ppls SET config=replace(config, '\"Linear\"', '\"Lineaer\"');")
    variant("lyinghash", "UPDATE ppls SET config_hash='00' || substr(config_hash, 3);")
    variant("collide", "UPDATE ppls SET pplid='good'; UPDATE ppl_state SET pplid='good'; UPDATE history SET pplid='good';"
                       "UPDATE ppl_weight_files SET pplid='good'; UPDATE files SET pplid='good', path=replace(path, 'imp', 'good');")
    return cases, None


# ---------------------------------------------------------------- generated

FUNCS = {
    # name: [(valid SQL, kind, null_ok)], kind: text (a string arg) or int
    "labflow_help": [("'ppl_new'", "text", False)],
    "lab_init": [("@SETTINGS@", "text", False)],
    "ppl_new": [("'h1'", "text", False), ("@CFG@", "text", False)],
    "ppl_fork": [("'h1'", "text", False), ("'good'", "text", False), ("'{\"seed\":77}'", "text", False)],
    "ppl_verify": [("'good'", "text", False)],
    "ppl_find": [("@CFG@", "text", False)],
    "ppl_config": [("'good'", "text", False)],
    "ppl_path": [("'weight'", "text", False), ("'good'", "text", False), ("1", "epoch", False)],
    "ppl_is_running": [("'good'", "text", False)],
    "ppl_stop": [("'good'", "text", False)],
    "ppl_train": [("'good'", "text", False), ("1", "int", True), ("1", "int", True), ("'accuracy'", "text", True)],
    "ppl_predict": [("'good'", "text", False), ("'[0,0,0,0]'", "input", False), ("'best'", "epoch", False),
                    ("'raw'", "text", False)],
    "ppl_predict_cache": [("64", "mb", False)],
    "ppl_evaluate": [("'good'", "text", False), ("'d.csv'", "text", False), ("'best'", "epoch", False)],
    "ppl_archive": [("'victim'", "text", False), ("0", "int", None)],
    "ppl_unarchive": [("'victim'", "text", False)],
    "ppl_delete": [("'victim'", "text", False)],
    "ppl_clean": [("'victim'", "text", False), ("'best,last'", "text", None)],
    "ppl_transfer": [("'good'", "text", True), ("'export'", "text", False), ("'copy'", "text", False),
                     ("'out.lfbundle'", "text", True), ("'{}'", "text", True)],
    "ppl_sync": [("'victim'", "text", False)],
    "ppl_plot": [("'good'", "text", True), ("NULL", "text", True), ("'plots'", "text", False), ("'epoch'", "text", None)],
    "ppl_export": [("'good'", "text", False), ("'m.onnx'", "text", False), ("'best'", "epoch", None),
                   ("'{}'", "text", None)],
}
ARITY = {"labflow_version": (0, 0), "labflow_help": (0, 1), "lab_init": (1, 1), "lab_settings": (0, 1),
         "ppl_new": (2, 2), "ppl_fork": (3, 3), "ppl_verify": (1, 1), "ppl_find": (1, 1), "ppl_config": (1, 1),
         "ppl_path": (2, 3), "ppl_is_running": (1, 1), "ppl_stop": (1, 1), "ppl_train": (1, 4), "ppl_train_to": (2, 4),
         "ppl_predict": (2, 4), "ppl_predict_cache": (0, 1), "ppl_evaluate": (2, 3), "ppl_archive": (1, 2), "ppl_unarchive": (1, 1),
         "ppl_delete": (1, 1), "ppl_clean": (1, 2), "ppl_transfer": (3, 5), "ppl_sync": (1, 1), "ppl_plot": (3, 5),
         "ppl_export": (2, 4)}
BAD = {"text": ["42", "4.5", "x'00ff'"], "int": ["'abc'", "2.5", "x'01'", "1e999"],
       "epoch": ["2.5", "x'01'"], "input": ["42", "4.5"], "mb": ["'abc'", "x'01'", "-1", "1e999"]}


def generated():
    cases = []
    for f, (lo, hi) in ARITY.items():
        for n in ([hi + 1] + ([lo - 1] if lo > 0 else [])):
            args = ", ".join(["'x'"] * n)
            cases.append(("%s with %d args" % (f, n), "wrong number of arguments", "SELECT %s(%s);" % (f, args)))
    for f, spec in FUNCS.items():
        valid = [v for v, _, _ in spec]
        for i, (v, kind, null_ok) in enumerate(spec):
            bads = ([] if null_ok is not False else ["NULL"]) + BAD[kind]
            for b in bads:
                args = valid[:i] + [b] + valid[i + 1:]
                cases.append(("%s arg %d = %s" % (f, i + 1, b), f + ":", "SELECT %s(%s);" % (f, ", ".join(args))))
    for depth in (65, 1001, 100000):
        nest_obj = '{"a":' * depth + "1" + "}" * depth
        nest_arr = "[" * depth + "]" * depth
        for f, sql in (("ppl_new", "SELECT ppl_new('h1', '%s');" % nest_obj),
                       ("ppl_new", "SELECT ppl_new('h1', '{\"model\":%s}');" % nest_arr),
                       ("ppl_fork", "SELECT ppl_fork('h1', 'good', '%s');" % nest_obj),
                       ("ppl_find", "SELECT ppl_find('%s');" % nest_obj),
                       ("lab_init", "SELECT lab_init('%s');" % nest_obj),
                       ("ppl_predict", "SELECT ppl_predict('good', '%s');" % nest_arr),
                       ("ppl_train", "SELECT ppl_train('good', 1, 1, '%s');" % nest_arr),
                       ("ppl_transfer", "SELECT ppl_transfer(NULL, 'import', 'copy', 'x.lfbundle', '%s');" % nest_obj),
                       ("ppl_archive", "SELECT ppl_archive('%s');" % nest_arr)):
            cases.append(("%s nested %d deep" % (f, depth), f + ":", sql))
    big = '{"a":"' + "x" * (10 << 20) + '"}'
    cases.append(("ppl_new 10 MB config", "ppl_new:", "SELECT ppl_new('h1', '%s');" % big))
    cases.append(("ppl_new 100000 layers", "ppl_new:",
                  "SELECT ppl_new('h1', replace(@CFG@, '@L0@', '%s'));" % ",".join(['{"loc":"ReLU"}'] * 100000)))
    return cases


def corpus():
    cases = []
    for n, line in enumerate(open(CORPUS, encoding="utf-8").read().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        expect, sql = line.split(" :: ", 1)
        cases.append(("calls.txt:%d" % n, expect.strip(), sql.strip()))
    return cases


def expand(sql):
    sql = sql.replace("@IDXCFG@", U.sql_str(idx_cfg_text())).replace("@CFG@", U.sql_str(cfg_text()))
    sql = sql.replace("@SETTINGS@", U.sql_str(json.dumps({"metrics": ["nope"]})))
    return sql.replace("@SRC@", "d.csv").replace("@L0@", L0).replace("@C0@", C0)


# ---------------------------------------------------------------- running

def clone(src, dst):
    """copytree, but FIFOs are made anew (copytree cannot copy them)."""
    fifos = []

    def ignore(folder, names):
        skip = [n for n in names if stat.S_ISFIFO(os.lstat(os.path.join(folder, n)).st_mode)]
        fifos.extend(os.path.join(os.path.relpath(folder, src), n) for n in skip)
        return skip
    shutil.copytree(src, dst, symlinks=True, ignore=ignore)
    for f in fifos:
        os.mkfifo(os.path.join(dst, f))


def run_batch(d, db, cases):
    """Runs every case in one shell; returns {index: [error lines]}, stderr, rc."""
    lines = [".load " + U.EXT]
    where = {}
    for i, (_, _, sql) in enumerate(cases):
        lines.append(expand(sql))
        where[len(lines)] = i
    script = "\n".join(lines) + "\n"
    p = subprocess.run([U.SQLITE, "-batch", db], input=script, capture_output=True, text=True, cwd=d, timeout=1800)
    errors = {}
    other = []
    for line in p.stderr.splitlines():
        m = ERR.match(line)
        if m and m.group(3) and int(m.group(3)) in where:
            errors.setdefault(where[int(m.group(3))], []).append(m.group(5))
        elif line.strip() and not line[0].isspace():
            other.append(line)
    return errors, other, p.returncode, p.stdout


def matches(err, expect):
    """expect "fn: text": the error starts with "fn:" and contains text;
    any other expect: the error contains it."""
    m = re.match(r"^([a-z_]+): (.*)$", expect)
    if m and m.group(2):
        return err.startswith(m.group(1) + ":") and m.group(2) in err
    return expect in err


def main():
    tmp = tempfile.mkdtemp(prefix="lfhostile-")
    try:
        pristine = os.path.join(tmp, "pristine")
        db = make_fixture(pristine)
        bundle_cases, why = make_bundles(tmp, pristine)
        if why:
            U.check(False, "hostile: bundle fixtures", why)
            bundle_cases = []
        cases = corpus() + generated() + bundle_cases
        work = os.path.join(tmp, "work")
        clone(pristine, work)
        wdb = os.path.join(work, "p.db")
        before = U.tree_digest(work, skip_db=wdb)
        errors, other, rc, out = run_batch(work, wdb, cases)
        bad = []
        for i, (name, expect, sql) in enumerate(cases):
            errs = errors.get(i, [])
            if len(errs) != 1 or not matches(errs[0], expect):
                bad.append("%s: expected one error containing %r, got %r (SQL: %.200s)" % (name, expect, errs, sql))
        U.check(not bad, "hostile: each of %d bad calls gets a clear SQL error (%d from calls.txt, %d generated, "
                "%d bundles)" % (len(cases), len(corpus()), len(generated()), len(bundle_cases)),
                "%d wrong:\n  " % len(bad) + "\n  ".join(bad))
        U.check(rc >= 0, "hostile: the shell survives every bad call (no crash)", "signal %d" % -rc)
        san = [l for l in other if "Sanitizer" in l or "runtime error" in l]
        U.check(not san, "hostile: no sanitizer report", "\n".join(san[:20]))
        U.check(U.integrity(wdb) == [("ok",)], "hostile: PRAGMA integrity_check is ok afterwards")
        U.check(U.query(wdb, "SELECT count(*) FROM runnings")[0][0] == 0, "hostile: no claim is left behind")
        after = U.tree_digest(work, skip_db=wdb)
        same = U.check(after == before, "hostile: the project's rows and files are unchanged after all bad calls")
        if not same:
            # Name the culprits: each case alone on a fresh copy.
            culprits = []
            for i, case in enumerate(cases):
                one = os.path.join(tmp, "one")
                shutil.rmtree(one, ignore_errors=True)
                clone(pristine, one)
                odb = os.path.join(one, "p.db")
                b0 = U.tree_digest(one, skip_db=odb)
                run_batch(one, odb, [case])
                if U.tree_digest(one, skip_db=odb) != b0:
                    culprits.append("%s (%.150s)" % (case[0], case[2]))
            U.check(False, "hostile: calls that changed the project", "; ".join(culprits) or "none alone")
    except Exception as e:  # a crash of the test itself is a failure
        import traceback
        traceback.print_exc()
        U.check(False, "test_hostile", repr(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if U.failed else 0


if __name__ == "__main__":
    sys.exit(main())
