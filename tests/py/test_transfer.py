#!/usr/bin/python3
"""test_transfer.py — ppl_transfer between two projects in two folders,
through Python's sqlite3 module (a host program other than the shell);
ppl_plot's SVG parsed with xml.etree; and the examples of docs/manage.md
run through the sqlite3 shell.

Prints "PASS <name>" / "FAIL <name>: <why>" lines; exits 1 on a failure.
Run with /usr/bin/python3 (its sqlite3 module can load extensions).
"""
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
SQLITE = os.environ.get("LF_SQLITE3", "sqlite3")

CSV = "x1,x2,x3,y\n1,2,3,0\n2,3,4,1\n0,1,1,0\n3,1,2,1\n1,1,1,0\n2,2,0,1\n"
CONFIG = {
    "model": {"loc": "Sequential", "args": {"layers": [
        {"loc": "Linear", "args": {"out": 4}}, {"loc": "ReLU"},
        {"loc": "Linear", "args": {"out": 2}}]}},
    "dataset": {"loc": "csv", "args": {"label": "y"}},
    "train_data_src": "d.csv", "val_data_src": "d.csv",
    "loss": {"loc": "CrossEntropyLoss"},
    "optimizer": {"loc": "Adam", "args": {"lr": 0.01}},
    "metrics": {"accuracy": {"loc": "Accuracy"}},
    "train_batch_size": 4,
}
SETTINGS = '{"metrics":["accuracy"],"progress":false}'
SAMPLE = "[[1,2,3],[0,1,1],[3,1,2]]"

failed = 0


def report(name, ok, why=""):
    global failed
    if ok:
        print("PASS " + name)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why))
    sys.stdout.flush()


def check(name, fn):
    try:
        fn()
        report(name, True)
    except Exception as e:  # one failed check must not hide the others
        report(name, False, "%s: %s" % (type(e).__name__, e))


class Project:
    """A project in its own folder, opened through Python's sqlite3."""

    def __init__(self, folder, name="lab.db", csv=True):
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self.path = os.path.join(folder, name)
        self.art = self.path + ".labflow"
        if csv:
            with open(os.path.join(folder, "d.csv"), "w") as f:
                f.write(CSV)
        self.con = self.connect()
        self.one("SELECT lab_init(?)", SETTINGS)

    def connect(self):
        con = sqlite3.connect(self.path, isolation_level=None)
        con.enable_load_extension(True)
        con.load_extension(EXT)
        con.enable_load_extension(False)
        return con

    def one(self, sql, *args):
        row = self.con.execute(sql, args).fetchone()
        return row[0] if row else None

    def rows(self, sql, *args):
        return self.con.execute(sql, args).fetchall()

    def error(self, sql, *args):
        try:
            self.con.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            return str(e)
        raise AssertionError("no error from " + sql)

    def digest(self, skip=()):
        """Every pipeline row and every artifact file (but those under skip)."""
        h = hashlib.sha256()
        for t in ("ppls", "ppl_state", "history", "ppl_edges", "ppl_weight_files", "runnings"):
            h.update(repr(self.rows("SELECT * FROM %s ORDER BY 1, 2" % t)).encode())
        for dirpath, dirnames, filenames in os.walk(self.art):
            dirnames.sort()
            rel = os.path.relpath(dirpath, self.art)
            if rel.split(os.sep)[0] in skip:
                continue
            h.update(("D " + rel).encode())
            for f in sorted(filenames):
                p = os.path.join(dirpath, f)
                if os.path.relpath(p, self.art).split(os.sep)[0] in skip:
                    continue
                h.update(os.path.relpath(p, self.art).encode())
                with open(p, "rb") as fh:
                    h.update(fh.read())
        return h.hexdigest()

    def files(self, under=""):
        out = []
        for dirpath, _, filenames in os.walk(os.path.join(self.art, under)):
            out += [os.path.relpath(os.path.join(dirpath, f), self.art) for f in filenames]
        return sorted(out)


def tamper(src, dst, sql):
    shutil.copy(src, dst)
    con = sqlite3.connect(dst, isolation_level=None)
    con.executescript(sql)
    con.close()


def main():
    tmp = tempfile.mkdtemp(prefix="lftransfer-")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp):
    A = Project(os.path.join(tmp, "site-a"))
    B = Project(os.path.join(tmp, "elsewhere", "site-b"))
    cfg = json.dumps(CONFIG)
    A.one("SELECT ppl_new('p', ?)", cfg)
    A.one("SELECT ppl_train('p', 2)")
    A.one("SELECT ppl_fork('q', 'p', '{\"optimizer\":{\"args\":{\"lr\":0.05}}}')")
    A.one("SELECT ppl_train('q', 2)")
    A.one("SELECT ppl_sync('p')")
    bundle = os.path.join(A.art, "Transfer", "p.lfbundle")
    state = {}

    def export_copy():
        before = A.digest()
        assert A.one("SELECT ppl_transfer('p', 'export', 'copy')") == 1
        assert A.digest(skip=("Transfer",)) == before, "the source changed"
        assert os.path.isfile(bundle), "no bundle at " + bundle
        assert [f for f in os.listdir(os.path.dirname(bundle))] == ["p.lfbundle"], "temp files left"
        b = sqlite3.connect("file:%s?mode=ro" % bundle, uri=True)
        man = dict(b.execute("SELECT key, value FROM manifest"))
        assert man["format_version"] == 1, man
        assert man["origin_project"] == A.path, man
        assert man["labflow_version"] == A.one("SELECT labflow_version()"), man
        paths = sorted(r[0] for r in b.execute("SELECT path FROM files"))
        assert paths == sorted(A.files("Weights/p") + ["Configs/p.json", "Histories/p.csv"]), paths
        assert b.execute("SELECT count(*) FROM history").fetchone()[0] == \
            A.one("SELECT count(*) FROM history WHERE pplid='p'")
        b.close()
    check("export copy writes one self-contained bundle and leaves the source", export_copy)

    def import_copy():
        assert B.one("SELECT ppl_transfer(NULL, 'import', 'copy', ?)", bundle) == 1
        for t in ("ppls", "ppl_state", "history", "ppl_weight_files"):
            a = A.rows("SELECT * FROM %s WHERE pplid='p' ORDER BY 1, 2" % t)
            b = B.rows("SELECT * FROM %s WHERE pplid='p' ORDER BY 1, 2" % t)
            assert a == b, "%s differs: %r vs %r" % (t, a, b)
        assert B.files() == A.files("Weights/p") + ["Configs/p.json", "Histories/p.csv"] or \
            sorted(B.files()) == sorted(A.files("Weights/p") + ["Configs/p.json", "Histories/p.csv"]), B.files()
        assert os.path.isfile(bundle), "copy import removed the bundle"
    check("import copy brings rows and files into another project", import_copy)

    def predict_same():
        for mode in ("raw", "proba", "class"):
            a = A.one("SELECT ppl_predict('p', ?, 'best', ?)", SAMPLE, mode)
            b = B.one("SELECT ppl_predict('p', ?, 'best', ?)", SAMPLE, mode)
            assert a == b, "%s: %s vs %s" % (mode, a, b)
        state["pred"] = A.one("SELECT ppl_predict('p', ?)", SAMPLE)
    check("ppl_predict gives identical output in both projects", predict_same)

    def train_on():
        s = json.loads(B.one("SELECT ppl_train('p', 1)"))
        assert s["first_epoch"] == 3 and s["last_epoch"] == 3, s
        assert B.one("SELECT last_epoch FROM ppl_state WHERE pplid='p'") == 3
        assert A.one("SELECT last_epoch FROM ppl_state WHERE pplid='p'") == 2
        # Resume is exact: the same epoch trained at the origin matches.
        A.one("SELECT ppl_train('p', 1)")
        ha = A.rows("SELECT name, value FROM history WHERE pplid='p' AND epoch=3 AND name NOT LIKE '%duration' ORDER BY name")
        hb = B.rows("SELECT name, value FROM history WHERE pplid='p' AND epoch=3 AND name NOT LIKE '%duration' ORDER BY name")
        assert ha == hb, "epoch 3 differs: %r vs %r" % (ha, hb)
    check("ppl_train continues in the importing project (last_epoch + 1)", train_on)

    def duplicate_skipped():
        before = B.digest()
        assert B.one("SELECT ppl_transfer(NULL, 'import', 'copy', ?)", bundle) == 0
        assert B.one("SELECT count(*) FROM ppls") == 1
        assert B.digest() == before
    check("a duplicate import is skipped", duplicate_skipped)

    def future_version():
        bad = os.path.join(tmp, "future.lfbundle")
        tamper(bundle, bad, "UPDATE manifest SET value=2 WHERE key='format_version'; PRAGMA user_version=2;")
        C = Project(os.path.join(tmp, "site-c"))
        before = C.digest()
        e = C.error("SELECT ppl_transfer(NULL, 'import', 'copy', ?)", bad)
        assert "format_version 2" in e and "upgrade LabFlow" in e, e
        assert C.digest() == before
        state["C"] = C
    check("a bundle of a future format version is refused", future_version)

    def dotdot_path():
        C = state["C"]
        for name, path in (("dotdot", "Weights/p/../../../evil.lfw"), ("absolute", "/tmp/evil.lfw"),
                           ("other-folder", "Settings/p.json")):
            bad = os.path.join(tmp, name + ".lfbundle")
            tamper(bundle, bad, "UPDATE files SET path='%s' WHERE path LIKE 'Histories/%%'" % path)
            before = C.digest()
            e = C.error("SELECT ppl_transfer(NULL, 'import', 'copy', ?)", bad)
            assert "is not a plain relative name" in e and path in e, e
            assert C.digest() == before
        assert not os.path.exists(os.path.join(tmp, "evil.lfw"))
    check("a bundle with a path outside the pipeline's folders is refused", dotdot_path)

    def damaged_weights():
        C = state["C"]
        bad = os.path.join(tmp, "damaged.lfbundle")
        # Byte 61 changed to another value (whatever it was: a stored zlib
        # block keeps many zero bytes, so writing a fixed byte may change nothing).
        tamper(bundle, bad, "UPDATE files SET data = substr(data, 1, 60) || "
                            "CASE WHEN substr(data, 61, 1) = x'00' THEN x'01' ELSE x'00' END || substr(data, 62) "
                            "WHERE path LIKE '%.lfw'")
        before = C.digest()
        e = C.error("SELECT ppl_transfer(NULL, 'import', 'copy', ?)", bad)
        assert "is damaged" in e, e
        assert C.digest() == before
    check("a bundle with a damaged weight file is refused", damaged_weights)

    def altered_config():
        C = state["C"]
        bad = os.path.join(tmp, "altered.lfbundle")
        tamper(bundle, bad, "UPDATE ppls SET config = replace(config, '0.01', '0.02')")
        e = C.error("SELECT ppl_transfer(NULL, 'import', 'copy', ?)", bad)
        assert "config_hash does not match" in e, e
    check("a bundle whose config does not match its hash is refused", altered_config)

    def remap():
        # A project without d.csv beside it: the data path is remapped.
        D = Project(os.path.join(tmp, "site-d"), csv=False)
        src = os.path.join(A.folder, "d.csv")
        n = D.one("SELECT ppl_transfer('p', 'import', 'copy', ?, ?)", bundle, json.dumps({"d.csv": src}))
        assert n == 1, n
        conf = json.loads(D.one("SELECT ppl_config('p')"))
        assert conf["train_data_src"] == src and conf["val_data_src"] == src, conf
        assert D.one("SELECT ppl_find(?)", json.dumps(conf)) == "p", "the hash was not recomputed"
        assert D.one("SELECT ppl_predict('p', ?)", SAMPLE) == state["pred"]
        s = json.loads(D.one("SELECT ppl_train('p', 1)"))
        assert s["last_epoch"] == 3, s
        # Without the remap the configuration differs, and the pplid clashes.
        before = D.digest()
        e = D.error("SELECT ppl_transfer(NULL, 'import', 'copy', ?)", bundle)
        assert "pplid already in this project with another configuration: p" in e, e
        assert D.digest() == before
    check("import remaps data paths and recomputes the config hash", remap)

    def export_move():
        before_b = B.digest()
        out = os.path.join(tmp, "q.lfbundle")
        assert A.one("SELECT ppl_transfer('[\"q\"]', 'export', 'move', ?)", out) == 1
        assert os.path.isfile(out)
        assert A.one("SELECT count(*) FROM ppls WHERE pplid='q'") == 0
        assert A.one("SELECT count(*) FROM history WHERE pplid='q'") == 0
        assert not os.path.exists(os.path.join(A.art, "Weights", "q")), A.files()
        assert not [f for f in os.listdir(A.art) if f.startswith(".")], os.listdir(A.art)
        assert B.digest() == before_b
        assert B.one("SELECT ppl_transfer('q', 'import', 'move', ?)", out) == 1
        assert not os.path.exists(out), "move import kept the bundle"
        assert B.one("SELECT count(*) FROM ppl_edges WHERE child='q' AND base='p'") == 1
        assert json.loads(B.one("SELECT ppl_predict('q', ?)", SAMPLE))
    check("export move removes the source; import move removes the bundle", export_move)

    def move_partial_refused():
        A.one("SELECT ppl_fork('r', 'p', '{\"seed\":5}')")
        A.one("SELECT ppl_fork('s', 'p', '{\"seed\":6}')")
        out = os.path.join(tmp, "rs.lfbundle")
        assert A.one("SELECT ppl_transfer('[\"r\",\"s\"]', 'export', 'copy', ?)", out) == 2
        before = B.digest()
        e = B.error("SELECT ppl_transfer('r', 'import', 'move', ?)", out)
        assert "also holds 's'" in e, e
        assert os.path.isfile(out) and B.digest() == before
        assert B.one("SELECT ppl_transfer('r', 'import', 'copy', ?)", out) == 1
        assert B.one("SELECT ppl_transfer(NULL, 'import', 'move', ?)", out) == 1
        assert not os.path.exists(out)
    check("import move of part of a bundle is refused; copy takes part", move_partial_refused)

    def every_bundle():
        E = Project(os.path.join(tmp, "site-e"))
        os.makedirs(os.path.join(E.art, "Transfer"))
        shutil.copy(bundle, os.path.join(E.art, "Transfer", "one.lfbundle"))
        out = os.path.join(E.art, "Transfer", "two.lfbundle")
        A.one("SELECT ppl_transfer('[\"r\",\"s\"]', 'export', 'copy', ?)", out)
        assert E.one("SELECT ppl_transfer(NULL, 'import', 'copy')") == 3
        assert [r[0] for r in E.rows("SELECT pplid FROM ppls ORDER BY 1")] == ["p", "r", "s"]
        assert E.one("SELECT count(*) FROM lab_logs") >= 1
    check("import without a path reads every bundle in Transfer/", every_bundle)

    def plot_svg():
        out = os.path.join(tmp, "plots")
        files = json.loads(A.one("SELECT ppl_plot(NULL, '[\"val_loss\",\"accuracy\"]', ?)", out))
        assert [os.path.basename(f) for f in files] == ["val_loss.svg", "train_accuracy.svg", "val_accuracy.svg"], files
        trained = [r[0] for r in A.rows("SELECT DISTINCT pplid FROM history ORDER BY 1")]
        ns = "{http://www.w3.org/2000/svg}"
        for f in files:
            root = ET.parse(f).getroot()
            metric = os.path.basename(f)[:-4]
            assert root.tag == ns + "svg", root.tag
            lines = root.findall(".//%spolyline" % ns)
            assert len(lines) == len(trained), "%s: %d polylines, %d pipelines" % (f, len(lines), len(trained))
            for pl in lines:
                pts = pl.get("points").split()
                assert pts and all(len(p.split(",")) == 2 for p in pts), pl.get("points")
            texts = [t.text for t in root.iter(ns + "text")]
            assert metric + " by epoch" in texts, texts
            assert "epoch" in texts and metric in texts, "axis titles missing: %r" % texts
            legend = root.find(".//%sg[@class='legend']" % ns)
            # "<pplid>" or "<pplid>: <what differs in its config>"
            assert [t.text.split(":")[0] for t in legend.iter(ns + "text")] == trained
            for axis in ("x-axis", "y-axis"):
                g = root.find(".//%sg[@class='%s']" % (ns, axis))
                ticks = [t.text for t in g.iter(ns + "text") if t.get("class") == "tick"]
                assert len(ticks) >= 2 and all(re.match(r"^-?[0-9.e+-]+$", t) for t in ticks), ticks
    check("ppl_plot writes parseable SVG: a polyline per pipeline, axes, legend, title", plot_svg)

    def sync_files():
        path = A.one("SELECT ppl_sync('p')")
        assert path == os.path.join(A.art, "Configs", "p.json"), path
        with open(path) as f:
            conf = json.load(f)
        assert conf["last"]["epoch"] == A.one("SELECT last_epoch FROM ppl_state WHERE pplid='p'")
        assert conf["best"]["val_loss"] == A.one(
            "SELECT value FROM history WHERE pplid='p' AND name='val_loss' AND epoch=(SELECT best_epoch FROM ppl_state WHERE pplid='p')")
        with open(os.path.join(A.art, "Histories", "p.csv")) as f:
            lines = f.read().splitlines()
        assert lines[0] == "epoch,train_accuracy,train_loss,train_duration,val_accuracy,val_loss,val_duration,lr"
        assert len(lines) == 1 + conf["last"]["epoch"]
        for line in lines[1:]:
            e, *vals = line.split(",")
            for name, v in zip(lines[0].split(",")[1:], vals):
                want = A.one("SELECT value FROM history WHERE pplid='p' AND epoch=? AND name=?", int(e), name)
                assert float(v) == want, (e, name, v, want)
    check("ppl_sync writes the config with best/last and an exact history CSV", sync_files)

    def import_fails_part_way():
        # A file where the Weights folder should be: the config and history
        # files are already in place when the weights cannot be written.
        F = Project(os.path.join(tmp, "site-f"))
        with open(os.path.join(F.art, "Weights"), "w") as f:
            f.write("in the way\n")
        before = F.digest()
        e = F.error("SELECT ppl_transfer(NULL, 'import', 'copy', ?)", bundle)
        assert "Weights" in e, e
        assert F.digest() == before, "rows or files changed: %r" % F.files()
        assert sorted(os.listdir(F.art)) == ["Weights"], os.listdir(F.art)
        os.unlink(os.path.join(F.art, "Weights"))
        assert F.one("SELECT ppl_transfer(NULL, 'import', 'copy', ?)", bundle) == 1
        state["F"] = F
    check("an import failing part-way leaves rows and files as they were", import_fails_part_way)

    def archive_fails_part_way():
        F = state["F"]
        os.makedirs(os.path.join(F.art, "Archived"))
        with open(os.path.join(F.art, "Archived", "Histories"), "w") as f:
            f.write("in the way\n")
        before = F.digest()
        e = F.error("SELECT ppl_archive('p')")
        assert "Archived/Histories" in e, e
        assert F.digest() == before, "rows or files changed: %r" % F.files()
        os.unlink(os.path.join(F.art, "Archived", "Histories"))
        assert F.one("SELECT ppl_archive('p')") == 1
        os.rmdir(os.path.join(F.art, "Histories"))   # emptied by the archive
        with open(os.path.join(F.art, "Histories"), "w") as f:
            f.write("in the way\n")
        before = F.digest()
        e = F.error("SELECT ppl_unarchive('p')")
        assert "Histories" in e, e
        assert F.digest() == before, "rows or files changed: %r" % F.files()
        os.unlink(os.path.join(F.art, "Histories"))
        assert F.one("SELECT ppl_unarchive('p')") == 1
        assert F.one("SELECT ppl_predict('p', ?)", SAMPLE) == state["pred"]
    check("an archive or unarchive failing part-way leaves rows and files as they were", archive_fails_part_way)

    def running_refused():
        # A real trainer in another process holds the claim.
        import time
        proc = subprocess.Popen([SQLITE, "-batch", A.path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=A.folder)
        proc.stdin.write(".load %s\nSELECT ppl_train('p', 1000000);\n" % EXT)
        proc.stdin.close()
        try:
            deadline = time.time() + 60
            while not A.one("SELECT count(*) FROM runnings WHERE pplid='p'"):
                assert time.time() < deadline and proc.poll() is None, "the trainer did not start"
                time.sleep(0.05)
            for sql, fn in (("SELECT ppl_archive('p')", "ppl_archive"), ("SELECT ppl_clean('p')", "ppl_clean"),
                            ("SELECT ppl_transfer('[\"r\",\"p\"]', 'export', 'move')", "ppl_transfer")):
                e = A.error(sql)
                assert e.startswith(fn + ": pipeline 'p' is running (logid "), e
            assert A.one("SELECT count(*) FROM ppls WHERE pplid='p'") == 1
        finally:
            A.one("SELECT ppl_stop('p')")
            proc.wait(timeout=120)
            out, err = proc.stdout.read(), proc.stderr.read()
            proc.stdout.close()
            proc.stderr.close()
        assert json.loads(out)["ended"] == "stop_requested", out + err
        assert A.one("SELECT ppl_archive('p')") == 1 and A.one("SELECT ppl_unarchive('p')") == 1
    check("a pipeline a trainer in another process holds is refused", running_refused)

    run_docs(tmp)


def run_docs(tmp):
    """Runs every ```sql block of docs/manage.md in order in one project
    (each through its own sqlite3 shell, in the project's folder) and
    compares the output with the ```text block after it, if any. The docs
    show the project folder as /home/me/exp."""
    doc = os.path.join(ROOT, "docs", "manage.md")
    text = open(doc, encoding="utf-8").read()
    folder = os.path.join(tmp, "docs")
    os.makedirs(folder)
    blocks = re.findall(r"^#+ (.*?)$|^```(sql|text)\n(.*?)^```$", text, re.S | re.M)
    section, pending = "", None
    items = []
    for head, kind, body in blocks:
        if head:
            section = head.strip()
        elif kind == "sql":
            pending = [section, body, None]
            items.append(pending)
        elif kind == "text" and pending is not None:
            pending[2] = body
            pending = None
    if not items:
        report("docs/manage.md has examples", False, "no ```sql blocks")
        return
    for section, sql, want in items:
        script = ".load %s\n%s" % (EXT, sql)
        p = subprocess.run([SQLITE, "-batch", os.path.join(folder, "lab.db")], input=script,
                           capture_output=True, text=True, cwd=folder, timeout=600)
        out = p.stdout.replace(folder, "/home/me/exp")
        err = p.stderr.replace(folder, "/home/me/exp").strip()
        err = re.sub(r"(?m)^(Runtime error|Parse error|Error)( near line \d+)?: (stepping, )?", "", err)
        if want is None:
            report("docs/manage.md: " + section, not err, err)
            continue
        got = (out + ("\n".join(l for l in err.splitlines() if l and not l[0].isspace()) + "\n" if err else "")).rstrip("\n")
        report("docs/manage.md: " + section, got == want.rstrip("\n"), "got %r, expected %r" % (got, want))


if __name__ == "__main__":
    main()
    sys.exit(1 if failed else 0)
