#!/usr/bin/python3
"""test_plot.py — ppl_plot's charts read well, checked in the SVG and as a picture.

Three pipelines that differ in their configs (lr, a layer's width) get a
made-up history of 20 epochs in which 'hot' diverges after epoch 14 (loss in
the hundreds, accuracy down to 0.12). Before the fix that run squashed the
other lines against the bottom of the loss chart, accuracy axes ran past 1,
x='train_duration' drew per-epoch seconds (a zigzag) and legends only said
the pplid. Checked now, in the SVG text:

  - the loss chart's y range follows the healthy lines (outliers clipped,
    each marked by a triangle on the frame, and a note says how many);
    {"clip": false} shows them all;
  - an accuracy chart's axis stays within [0, 1];
  - x='time' is cumulative training + validation seconds, with the unit in
    the axis title; x='train_duration' is cumulative too;
  - legends name what differs: 'hot: out=256, lr=0.5';
  - options: width/height, log_y (decade ticks), ymin/ymax, and errors for
    bad options;

and as a picture: headless Chromium screenshots each SVG; the PNG (decoded
here with zlib) must not be blank and must show the lines' colours.

Prints "PASS name" / "FAIL name: why" lines.
"""
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import zlib
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
T = "plot"
NS = "{http://www.w3.org/2000/svg}"
failed = passed = 0

CONFIG = ('{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Linear","args":{"out":256}},{"loc":"ReLU"},'
          '{"loc":"Linear","args":{"out":2}}]}},"dataset":{"loc":"csv","args":{"label":"y"}},'
          '"train_data_src":"d.csv","val_data_src":"d.csv","loss":{"loc":"CrossEntropyLoss"},'
          '"optimizer":{"loc":"SGD","args":{"lr":0.01}},"metrics":{"accuracy":{"loc":"Accuracy"}}}')


def report(name, ok, why=""):
    global failed, passed
    if ok:
        passed += 1
        print("PASS %s: %s" % (T, name), flush=True)
    else:
        failed += 1
        print("FAIL %s: %s: %s" % (T, name, " ".join(str(why).split())[:400]), flush=True)


def history(pplid, k, e):
    """The made-up history of one epoch: (name, value) pairs."""
    hot = pplid == "hot" and e > 14
    return [("train_loss", 50.0 * (e - 14) ** 2 if hot else k / (e + 1) + 0.2),
            ("val_loss", 80.0 * (e - 14) if hot else k * 1.1 / (e + 1) + 0.25),
            ("train_accuracy", 0.1 if hot else 0.99 - 0.4 / e * k),
            ("val_accuracy", 0.12 if hot else 0.97 - 0.4 / e * k),
            ("train_duration", 3.0 + (e % 2) * 1.5 + k),
            ("val_duration", 0.5)]


def make_project(folder):
    db = os.path.join(folder, "p.db")
    with open(os.path.join(folder, "d.csv"), "w") as f:
        f.write("x1,x2,y\n1,2,0\n2,3,1\n")
    c = sqlite3.connect(db, isolation_level=None)
    c.enable_load_extension(True)
    c.load_extension(EXT)
    c.execute("SELECT lab_init('{\"metrics\":[\"accuracy\"],\"progress\":false}')").fetchone()
    c.execute("SELECT ppl_new('base', ?)", (CONFIG,)).fetchone()
    c.execute("SELECT ppl_fork('wide', 'base', '{\"model\":{\"args\":{\"layers\":[{\"loc\":\"Linear\",\"args\":"
              "{\"out\":512}},{\"loc\":\"ReLU\"},{\"loc\":\"Linear\",\"args\":{\"out\":2}}]}}}')").fetchone()
    c.execute("SELECT ppl_fork('hot', 'base', '{\"optimizer\":{\"args\":{\"lr\":0.5}}}')").fetchone()
    c.execute("BEGIN")
    for pplid, k in (("base", 1.0), ("wide", 1.3), ("hot", 0.8)):
        for e in range(1, 21):
            for name, v in history(pplid, k, e):
                c.execute("INSERT INTO history(pplid, epoch, name, value) VALUES(?,?,?,?)", (pplid, e, name, v))
    c.execute("UPDATE ppl_state SET last_epoch = 20")
    c.execute("COMMIT")
    return c


def svg(path):
    return ET.parse(path).getroot()


def ticks(root, axis):
    g = root.find(".//%sg[@class='%s']" % (NS, axis))
    return [t.text for t in g.iter(NS + "text") if t.get("class") == "tick"]


def polylines(root):
    out = []
    for pl in root.iter(NS + "polyline"):
        out.append([tuple(map(float, p.split(","))) for p in pl.get("points").split()])
    return out


def plot_frame(root):
    """(top, bottom) of the plot area: the frame rect with fill none."""
    for r in root.iter(NS + "rect"):
        if r.get("fill") == "none":
            y, h = float(r.get("y")), float(r.get("height"))
            return y, y + h
    return None


def legend(root):
    return [t.text for t in root.find(".//%sg[@class='legend']" % NS).iter(NS + "text")]


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), "PNG depth %d colour type %d" % (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return w, h, rows


def screenshot(svg_path, png_path):
    root = svg(svg_path)
    size = "--window-size=%d,%d" % (float(root.get("width")), float(root.get("height")))
    profile = tempfile.mkdtemp(prefix="lfchromium-")
    try:
        p = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--user-data-dir=" + profile, "--hide-scrollbars",
                            size, "--screenshot=" + png_path, "file://" + svg_path],
                           capture_output=True, text=True, timeout=120)
        return p.returncode, p.stderr
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def main():
    tmp = tempfile.mkdtemp(prefix="lfplot-")
    try:
        c = make_project(tmp)
        one = lambda sql, *a: c.execute(sql, a).fetchone()[0]
        files = one("SELECT ppl_plot(NULL, '[\"val_loss\",\"val_accuracy\"]', ?)", os.path.join(tmp, "plots"))
        loss = svg(os.path.join(tmp, "plots", "val_loss.svg"))
        yt = [float(t) for t in ticks(loss, "y-axis")]
        report("a diverged run does not squash the others: the y axis follows the healthy lines",
               yt and max(yt) <= 2 and min(yt) >= 0, yt)
        marks = loss.findall(".//%spath[@class='outlier']" % NS)
        report("each clipped point is marked on the frame (6 of 'hot')",
               len(marks) == 6 and all("hot" in m.find(NS + "title").text for m in marks), len(marks))
        note = [t.text for t in loss.iter(NS + "text") if t.get("class") == "clip-note"]
        report("a note says how many points lie outside", note and note[0].startswith("6 points above"), note)
        top, bottom = plot_frame(loss)
        inside = [y for pl in polylines(loss)[:2] for (_, y) in pl]
        report("the healthy lines use the chart's height (more than half of it)",
               inside and (max(inside) - min(inside)) > 0.5 * (bottom - top), (min(inside), max(inside), top, bottom))
        report("the legend says what differs between the configs",
               legend(loss) == ["base: out=256, lr=0.01", "hot: out=256, lr=0.5", "wide: out=512, lr=0.01"],
               legend(loss))
        acc = svg(os.path.join(tmp, "plots", "val_accuracy.svg"))
        at = [float(t) for t in ticks(acc, "y-axis")]
        report("an accuracy axis stays within [0, 1]", at and min(at) >= 0 and max(at) == 1.0, at)

        one("SELECT ppl_plot(NULL, 'val_loss', ?, NULL, '{\"clip\": false}')", os.path.join(tmp, "noclip"))
        nc = svg(os.path.join(tmp, "noclip", "val_loss.svg"))
        report("{\"clip\": false} shows every point", not nc.findall(".//%spath[@class='outlier']" % NS)
               and max(float(t) for t in ticks(nc, "y-axis")) >= 480, ticks(nc, "y-axis"))

        one("SELECT ppl_plot('base', 'val_loss', ?, 'time')", os.path.join(tmp, "time"))
        tm = svg(os.path.join(tmp, "time", "val_loss.svg"))
        texts = [t.text for t in tm.iter(NS + "text")]
        xs = [x for (x, _) in polylines(tm)[0]]
        report("x='time': cumulative seconds with the unit in the axis title",
               "training time, cumulative (s)" in texts and xs == sorted(xs) and len(set(xs)) == 20, texts[:6])
        xt = [float(t) for t in ticks(tm, "x-axis")]
        report("x='time': the axis ends at the total time (20 epochs: 105 s)", 100 <= max(xt) <= 120, xt)
        one("SELECT ppl_plot('base', 'val_loss', ?, 'train_duration')", os.path.join(tmp, "dur"))
        du = svg(os.path.join(tmp, "dur", "val_loss.svg"))
        xs = [x for (x, _) in polylines(du)[0]]
        report("x='train_duration' is cumulative too (no zigzag)", xs == sorted(xs) and len(set(xs)) == 20
               and "train_duration, cumulative (s)" in [t.text for t in du.iter(NS + "text")], xs[:5])

        one("SELECT ppl_plot(NULL, 'train_loss', ?, 'epoch', '{\"log_y\": true, \"width\": 1000, \"height\": 600}')",
            os.path.join(tmp, "log"))
        lg = svg(os.path.join(tmp, "log", "train_loss.svg"))
        report("options: width and height", (lg.get("width"), lg.get("height")) == ("1000", "600"),
               (lg.get("width"), lg.get("height")))
        lt = ticks(lg, "y-axis")
        report("options: log_y has decade ticks", lt and all(re.match(r"^1(0*)$|^0\.0*1$", t) for t in lt), lt)
        one("SELECT ppl_plot(NULL, 'val_loss', ?, 'epoch', '{\"ymin\": 0.25, \"ymax\": 0.5}')", os.path.join(tmp, "lim"))
        li = [float(t) for t in ticks(svg(os.path.join(tmp, "lim", "val_loss.svg")), "y-axis")]
        report("options: ymin and ymax bound the axis", li and min(li) >= 0.25 and max(li) <= 0.5, li)
        for opts, want in (('{"ymin": 1, "ymax": 0}', "ymax (0) must be greater than ymin (1)"),
                           ('{"size": 3}', "unknown key 'size'"),
                           ('[1]', "options must be a JSON object"),
                           ('{"width": 5}', "width must be a number of pixels")):
            try:
                c.execute("SELECT ppl_plot(NULL, 'val_loss', ?, 'epoch', ?)", (os.path.join(tmp, "bad"), opts)).fetchone()
                report("bad options %s are refused" % opts, False, "no error")
            except sqlite3.OperationalError as e:
                report("bad options %s are refused" % opts, want in str(e), str(e))
        c.execute("UPDATE history SET value = 0 WHERE pplid='base' AND epoch=3 AND name='val_loss'")
        try:
            c.execute("SELECT ppl_plot(NULL, 'val_loss', ?, 'epoch', '{\"log_y\": true}')",
                      (os.path.join(tmp, "bad"),)).fetchone()
            report("log_y with a value of 0 is refused", False, "no error")
        except sqlite3.OperationalError as e:
            report("log_y with a value of 0 is refused, naming it", "of 'base' at epoch 3 is 0" in str(e), str(e))
        report("a refused call wrote nothing", not os.path.exists(os.path.join(tmp, "bad")))

        # ---- as a picture
        if not shutil.which("chromium"):
            report("chromium is installed (tools/host-deps.sh installs it)", False, "chromium not found")
        else:
            for name, nlines in (("plots/val_loss", 3), ("plots/val_accuracy", 3), ("time/val_loss", 1),
                                 ("log/train_loss", 3)):
                png = os.path.join(tmp, name.replace("/", "-") + ".png")
                rc, err = screenshot(os.path.join(tmp, name + ".svg"), png)
                if rc != 0 or not os.path.exists(png):
                    report("%s.svg renders in Chromium" % name, False, "rc %s: %s" % (rc, err[-300:]))
                    continue
                w, h, rows = png_pixels(png)
                px = [p for row in rows for p in row]
                dark = sum(1 for p in px if sum(p) < 300)
                colours = set([(31, 119, 180), (255, 127, 14), (44, 160, 44)][:nlines])
                near = lambda p, q: all(abs(a - b) <= 24 for a, b in zip(p, q))
                seen = {q for q in colours if any(near(p, q) for p in px[::3])}
                report("%s.svg renders in Chromium: not blank, text and the colour of each of its %d lines" % (name, nlines),
                       0.002 < dark / len(px) < 0.3 and len(seen) == nlines,
                       "%dx%d, dark %.4f, colours %s" % (w, h, dark / len(px), sorted(seen)))
        c.close()
    finally:
        if os.environ.get("LF_KEEP_PLOTS"):
            print("plots kept in", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
