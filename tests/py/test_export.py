"""test_export.py — issue 18: ppl_export writes ONNX files that onnx.checker
(Debian python3-onnx) accepts and that ONNX Runtime (npm onnxruntime-node in
tests/node/.ort, installed by tools/host-deps.sh) runs to the outputs of
ppl_predict: the MLP and CNN examples' models, a Graph model with every
exportable layer (standardised input), a CSV pipeline with text labels, and
a bf16-trained pipeline; 1,000 validation samples each, raw outputs within
1e-5, the same classes. Then the bad calls: each is a clear error and leaves
no file behind.

Run with /usr/bin/python3 (it loads the extension). Prints PASS/FAIL lines.
"""
import glob
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
ORT_DIR = os.environ.get("LF_ORT_DIR", os.path.join(ROOT, "tests", "node", ".ort"))
T = "export"
failed = 0


def report(name, ok, why=""):
    global failed
    if ok:
        print("PASS %s: %s" % (T, name))
    else:
        failed += 1
        print("FAIL %s: %s: %s" % (T, name, why))
    sys.stdout.flush()


def check(name, fn):
    try:
        fn()
        report(name, True)
    except Exception as e:  # one failed check must not hide the others
        report(name, False, "%s: %s" % (type(e).__name__, str(e)[:600]))


def connect(path):
    con = sqlite3.connect(path, isolation_level=None)
    con.enable_load_extension(True)
    con.load_extension(EXT)
    con.enable_load_extension(False)
    return con


def one(con, sql, *args):
    return con.execute(sql, args).fetchone()[0]


def error_of(con, sql, *args):
    try:
        con.execute(sql, args).fetchall()
    except sqlite3.Error as e:
        return str(e)
    raise AssertionError("no error from " + sql)


# ---- data: small IDX files (28x28 images, 10 classes) and a CSV ------------

def lcg(seed):
    state = [seed * 2654435761 % 2**32 or 1]

    def nxt():
        state[0] = (1103515245 * state[0] + 12345) % 2**31
        return state[0]
    return nxt


def write_idx(prefix, n, seed):
    rnd = lcg(seed)
    images = bytearray()
    labels = bytearray()
    for i in range(n):
        c = rnd() % 10
        r0, c0 = 2 + (c // 5) * 12, 2 + (c % 5) * 5
        for r in range(28):
            for k in range(28):
                v = rnd() % 60
                if r0 <= r < r0 + 12 and c0 <= k < c0 + 5:
                    v += 150
                images.append(min(v, 255))
        labels.append(c)
    with open(prefix + "-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">iiii", 2051, n, 28, 28) + bytes(images))
    with open(prefix + "-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">ii", 2049, n) + bytes(labels))
    return bytes(images)


def write_csv(path, n, seed):
    rnd = lcg(seed)
    rows = []
    for i in range(n):
        a, b, c = (rnd() % 2000) / 100.0 - 10, (rnd() % 1000) / 50.0, (rnd() % 300) / 7.0
        rows.append((a, b, c, "up" if a + b / 2 - c / 10 > 2 else "down"))
    with open(path, "w") as f:
        f.write("a,b,c,label\n" + "".join("%.2f,%.2f,%.4f,%s\n" % r for r in rows))
    return rows


def base(model, dataset, train, val, **extra):
    cfg = {"model": model, "dataset": dataset, "train_data_src": train, "val_data_src": val,
           "loss": {"loc": "CrossEntropyLoss"}, "optimizer": {"loc": "Adam", "args": {"lr": 0.002}},
           "metrics": {"accuracy": {"loc": "Accuracy"}}, "train_batch_size": 64,
           "val_batch_size": 250, "seed": 1}
    cfg.update(extra)
    return json.dumps(cfg)


def seq(*layers):
    return {"loc": "Sequential", "args": {"layers": list(layers)}}


def L(loc, **args):
    return {"loc": loc, "args": args} if args else {"loc": loc}


def node(name, loc, ins, **args):
    d = {"name": name, "loc": loc, "in": ins}
    if args:
        d["args"] = args
    return d


# The examples' models (examples/fashion_mlp.sql, examples/fashion_cnn.sql).
MLP = seq(L("Flatten"), L("Linear", out=256), L("ReLU"), L("Linear", out=128), L("ReLU"), L("Linear", out=10))
CNN = seq(L("Conv2d", out=16, kernel=5, padding=2), L("ReLU"), L("MaxPool2d", kernel=2),
          L("Conv2d", out=32, kernel=5, padding=2), L("ReLU"), L("MaxPool2d", kernel=2),
          L("Flatten"), L("Linear", out=128), L("ReLU"), L("Linear", out=10))
# A Graph with every exportable layer: branches, a Residual and a nested
# Sequential as nodes.
GRAPH = {"loc": "Graph", "args": {"nodes": [
    node("stem", "Conv2d", ["x"], out=4, kernel=3, padding=1, bias=False),
    node("bn", "BatchNorm2d", ["stem"]),
    node("act", "LeakyReLU", ["bn"], negative_slope=0.1),
    node("pool", "AvgPool2d", ["act"], kernel=3, stride=2, padding=1),
    {"name": "res", "loc": "Residual", "in": ["pool"], "args": {"layers": [
        L("Conv2d", out=4, kernel=3, padding=1), L("ELU", alpha=0.7), L("Conv2d", out=4, kernel=3, padding=1)]}},
    node("mp", "MaxPool2d", ["res"], kernel=3, stride=2, padding=1),
    node("gap", "GlobalAvgPool", ["mp"]),
    node("flat", "Flatten", ["mp"]),
    node("a", "Linear", ["flat"], out=16),
    {"name": "b", "loc": "Sequential", "in": ["flat"], "args": {"layers": [
        L("Dropout", p=0.2), L("Linear", out=16, bias=False), L("GELU")]}},
    node("ta", "Tanh", ["a"]),
    node("sb", "Sigmoid", ["b"]),
    node("m", "Mul", ["ta", "sb"]),
    node("si", "SiLU", ["m"]),
    node("sp", "Softplus", ["a"]),
    node("cat", "Concat", ["si", "sp", "gap"]),
    node("bn1", "BatchNorm1d", ["cat"]),
    node("sl", "Slice", ["bn1"], start=2, length=30),
    node("rs", "Reshape", ["sl"], shape=[5, -1]),
    node("back", "Reshape", ["rs"], shape=[30]),
    node("id", "Identity", ["back"]),
    node("sum", "Add", ["sl", "id"]),
    node("r", "ReLU", ["sum"]),
    node("head", "Linear", ["r"], out=10)], "output": "head"}}

# The sequence layers on idx rows as 28 steps of 28 features, and token ids
# from a CSV.
SEQ = seq(L("Reshape", shape=[28, 28]),
          L("MultiheadAttention", embed_dim=28, num_heads=4, causal=True),
          L("LayerNorm", normalized_shape=[28]),
          L("MultiheadAttention", embed_dim=28, num_heads=2, bias=False),
          L("LayerNorm", elementwise_affine=False),
          L("Softmax", dim=-1), L("GlobalAvgPool"), L("Linear", out=10))
# Conv1d (dilated) and the 1-D pools on idx rows as 28 channels of 28 steps.
CONV1D = seq(L("Reshape", shape=[28, 28]), L("Conv1d", out=8, kernel=3, padding=2, dilation=2),
             L("ReLU"), L("MaxPool1d", kernel=2), L("AvgPool1d", kernel=3, stride=2, padding=1),
             L("Conv1d", out=4, kernel=1, bias=False), L("Flatten"), L("Linear", out=10))
SEQ2 = seq(L("Reshape", shape=[28, 28]), L("PositionalEmbedding", max_len=30),
           L("ClassToken"), L("PositionalEmbedding", max_len=29, sinusoidal=True),
           L("MultiheadAttention", embed_dim=28, num_heads=4),
           {"loc": "Graph", "args": {"nodes": [
               node("mean", "SeqPool", ["x"], mode="mean"), node("max", "SeqPool", ["x"], mode="max"),
               node("last", "SeqPool", ["x"], mode="last"), node("all", "Concat", ["mean", "max", "last"])],
               "output": "all"}},
           L("Linear", out=10))
RNN = seq(L("Reshape", shape=[28, 28]), L("LSTM", hidden_size=12, num_layers=2, bidirectional=True, dropout=0.1),
          L("GRU", hidden_size=10, output="last"), L("Linear", out=10))
RNN2 = seq(L("Reshape", shape=[28, 28]), L("GRU", hidden_size=8, num_layers=2, bidirectional=True),
           L("LSTM", hidden_size=6, output="last"), L("Linear", out=10))
TOKENS = seq(L("Embedding", num_embeddings=30, embedding_dim=4, padding_idx=0), L("Flatten"), L("Linear", out=2))


def f32_blob(values):
    return struct.pack("<%df" % len(values), *values)


def run_ort(tmp, jobs):
    jf = os.path.join(tmp, "jobs.json")
    with open(jf, "w") as f:
        json.dump(jobs, f)
    p = subprocess.run(["node", os.path.join(ROOT, "tests", "node", "onnx_run.js"), jf],
                       capture_output=True, text=True, timeout=600)
    if p.returncode:
        raise AssertionError("onnx_run.js failed: " + (p.stderr or p.stdout)[-800:])


def main():
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401 (onnx.numpy_helper below)
    except ImportError:
        report("setup", False, "python3-onnx is not installed (sh tools/deps.sh installs it)")
        return
    if not os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node")):
        report("setup", False, "onnxruntime-node is not in %s (sh tools/host-deps.sh installs it)" % ORT_DIR)
        return
    tmp = tempfile.mkdtemp(prefix="lf-export-")
    try:
        run(tmp, onnx)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp, onnx):
    proj = os.path.join(tmp, "proj")
    out = os.path.join(tmp, "out")
    os.makedirs(proj)
    os.makedirs(out)
    write_idx(os.path.join(proj, "train"), 600, 1)
    val_images = write_idx(os.path.join(proj, "val"), 1000, 2)
    rows = write_csv(os.path.join(proj, "d.csv"), 300, 3)
    ids = [(int(a + 10) % 30, int(b) % 30, int(c) % 30, lab) for a, b, c, lab in rows]
    with open(os.path.join(proj, "t.csv"), "w") as f:
        f.write("ia,ib,ic,label\n" + "".join("%d,%d,%d,%s\n" % r for r in ids))
    db = os.path.join(proj, "p.db")
    con = connect(db)
    one(con, "SELECT lab_init(?)", json.dumps({"metrics": ["accuracy"], "threads": 1, "progress": False,
                                              "strategy": {"monitor": "val_accuracy", "mode": "max"}}))
    idx = {"loc": "idx", "args": {}}
    pipes = {
        "mlp": (base(MLP, idx, "train", "val"), 2),
        "cnn": (base(CNN, idx, "train", "val"), 1),
        "graph": (base(GRAPH, {"loc": "idx", "args": {"standardize": True}}, "train", "val"), 2),
        "text": (base(seq(L("Linear", out=8), L("BatchNorm1d"), L("Tanh"), L("Linear", out=2)),
                      {"loc": "csv", "args": {"label": "label", "features": ["a", "b", "c"], "standardize": True}},
                      "d.csv", "d.csv", train_batch_size=32), 3),
    }
    pipes["seq"] = (base(SEQ, idx, "train", "val"), 1)
    pipes["conv1d"] = (base(CONV1D, idx, "train", "val"), 1)
    pipes["seq2"] = (base(SEQ2, idx, "train", "val"), 1)
    pipes["rnn"] = (base(RNN, idx, "train", "val"), 1)
    pipes["rnn2"] = (base(RNN2, idx, "train", "val"), 1)
    pipes["tokens"] = (base(TOKENS, {"loc": "csv", "args": {"label": "label", "features": ["ia", "ib", "ic"]}},
                            "t.csv", "t.csv"), 2)
    # Named input groups: a categorical column through CategoricalEmbedding
    # (codes in, as ppl_predict's array form takes them), and a sequence with
    # its mask read by SeqPool and MultiheadAttention, also behind a class
    # token (the mask through a ClassToken of its own).
    with open(os.path.join(proj, "s.csv"), "w") as f:
        rnd = lcg(7)
        f.write("s,label\n")
        for i in range(120):
            steps = [[(rnd() % 100) / 50.0 - 1 for _ in range(4)] for _ in range(1 + rnd() % 4)]
            f.write('"%s",%d\n' % (json.dumps(steps), int(sum(v[0] for v in steps) > 0)))
    pipes["named"] = (base(seq(L("CategoricalEmbedding", dim=3), L("Linear", out=8), L("ReLU"), L("Linear", out=2)),
        {"loc": "csv", "args": {"label": "label", "inputs": {"num": {"columns": ["a", "b"], "standardize": True},
                                                             "cat": {"columns": ["c"], "categorical": True}}}},
        "d.csv", "d.csv"), 2)
    pipes["masked"] = (base({"loc": "Graph", "args": {"inputs": ["s", "s_mask"], "nodes": [
        node("att", "MultiheadAttention", ["s", "s_mask"], embed_dim=4, num_heads=2, causal=True),
        node("mean", "SeqPool", ["att", "s_mask"], mode="mean"), node("max", "SeqPool", ["att", "s_mask"], mode="max"),
        node("last", "SeqPool", ["s", "s_mask"], mode="last"),
        node("cls", "ClassToken", ["att"]), node("cls_mask", "ClassToken", ["s_mask"]),
        node("clsatt", "MultiheadAttention", ["cls", "cls_mask"], embed_dim=4, num_heads=1),
        node("clsmean", "SeqPool", ["clsatt", "cls_mask"], mode="mean"),
        node("all", "Concat", ["mean", "max", "last", "clsmean"]),
        node("head", "Linear", ["all"], out=2)], "output": "head"}},
        {"loc": "csv", "args": {"label": "label", "sequence": "s", "max_len": 4, "step_features": 4}},
        "s.csv", "s.csv", train_batch_size=16), 2)
    bf16 = "avx512_bf16" in open("/proc/cpuinfo").read()
    if bf16:
        pipes["mlp16"] = (base(MLP, idx, "train", "val", precision="bf16"), 1)
    for name, (cfg, epochs) in pipes.items():
        one(con, "SELECT ppl_new(?, ?)", name, cfg)
        one(con, "SELECT ppl_train(?, ?)", name, epochs)
    version = one(con, "SELECT labflow_version()")

    # Inputs as ppl_predict takes them: raw pixel values (0..255) and raw
    # CSV values, float32.
    img_vals = [float(v) for v in val_images]
    img_bin = os.path.join(tmp, "images.f32")
    with open(img_bin, "wb") as f:
        f.write(f32_blob(img_vals))
    tok_bin = os.path.join(tmp, "tokens.f32")
    with open(tok_bin, "wb") as f:
        f.write(f32_blob([float(v) for r in ids for v in r[:3]]))
    csv_vals = [v for r in rows for v in r[:3]]
    csv_bin = os.path.join(tmp, "csv.f32")
    with open(csv_bin, "wb") as f:
        f.write(f32_blob(csv_vals))
    inputs = {"mlp": (img_bin, [1, 28, 28], 1000), "cnn": (img_bin, [1, 28, 28], 1000),
              "graph": (img_bin, [1, 28, 28], 1000), "mlp16": (img_bin, [1, 28, 28], 1000),
              "text": (csv_bin, [3], len(rows)), "seq": (img_bin, [1, 28, 28], 1000),
              "conv1d": (img_bin, [1, 28, 28], 1000),
              "seq2": (img_bin, [1, 28, 28], 1000),
              "seq2": (img_bin, [1, 28, 28], 1000), "rnn": (img_bin, [1, 28, 28], 1000),
              "rnn2": (img_bin, [1, 28, 28], 1000),
              "tokens": (tok_bin, [3], len(rows))}

    # Random rows for the named-input pipelines, in ppl_predict's array form:
    # codes 0..5 for the CSV's columns (a code past the vocabulary reads the
    # unknown code, as in ppl_predict), values in [0, 1) for a sequence and
    # its mask (a step is valid above 0.5, so some samples have none).
    rnd = lcg(11)
    for name, width, draw in (("named", 3, lambda: float(rnd() % 6)),
                              ("masked", 20, lambda: (rnd() % 1000) / 1000.0)):
        binf = os.path.join(tmp, name + ".f32")
        with open(binf, "wb") as f:
            f.write(f32_blob([draw() for _ in range(500 * width)]))
        inputs[name] = (binf, [width], 500)

    jobs, expected = [], {}
    for name in pipes:
        binf, shape, count = inputs[name]
        blob = open(binf, "rb").read()
        for mode in ("raw", "proba", "class"):
            path = os.path.join(out, "%s-%s.onnx" % (name, mode))
            r = json.loads(one(con, "SELECT ppl_export(?, ?, 'best', ?)", name, path, json.dumps({"output": mode})))
            assert r["path"] == path and r["mode"] == mode, r
            expected[(name, mode)] = json.loads(one(con, "SELECT ppl_predict(?, ?, 'best', ?)", name, blob, mode))
            jobs.append({"model": path, "input": binf, "shape": shape, "out": path + ".json"})
    run_ort(tmp, jobs)

    def checker(name):
        def f():
            for mode in ("raw", "proba", "class"):
                m = onnx.load(os.path.join(out, "%s-%s.onnx" % (name, mode)))
                onnx.checker.check_model(m, full_check=True)
                assert m.opset_import[0].version >= 13, m.opset_import
                dim0 = m.graph.input[0].type.tensor_type.shape.dim[0]
                assert dim0.dim_param and not dim0.dim_value, "batch dimension is not symbolic: %s" % dim0
                meta = {p.key: p.value for p in m.metadata_props}
                assert meta["pplid"] == name and meta["labflow_version"] == version, meta
                assert meta["epoch"] == str(one(con, "SELECT best_epoch FROM ppl_state WHERE pplid=?", name)), meta
                assert meta["config_hash"] == one(con, "SELECT config_hash FROM ppls WHERE pplid=?", name), meta
                if name == "named":
                    assert sorted(json.loads(meta["input_columns"])) == ["a", "b", "c"], meta
                    vocab = json.loads(meta["categorical_vocabularies"])
                    assert list(vocab) == ["c"] and len(vocab["c"]) > 3, meta
                if name in ("text", "tokens", "named"):
                    assert json.loads(meta["class_labels"]) == ["down", "up"], meta
                else:
                    assert "class_labels" not in meta, meta
        return f

    def parity(name):
        def f():
            labels = ["down", "up"] if name in ("text", "tokens", "named") else None
            n = inputs[name][2]
            for mode in ("raw", "proba", "class"):
                got = json.load(open(os.path.join(out, "%s-%s.onnx.json" % (name, mode))))
                want = expected[(name, mode)]
                assert got["dims"][0] == n and len(want) == n, (got["dims"], len(want))
                if mode == "class":
                    cls = [labels[c] for c in got["data"]] if labels else got["data"]
                    bad = [i for i in range(n) if cls[i] != want[i]]
                    assert not bad, "class differs for %d samples, first %d: %r vs %r" % (
                        len(bad), bad[0], cls[bad[0]], want[bad[0]])
                else:
                    flat = [v for row in want for v in row]
                    assert len(flat) == len(got["data"]), (len(flat), len(got["data"]))
                    worst = max(abs(a - b) for a, b in zip(flat, got["data"]))
                    assert worst <= 1e-5, "%s: max |ppl_predict - onnxruntime| = %g" % (mode, worst)
        return f

    for name in pipes:
        check("%s: onnx.checker accepts raw/proba/class, opset >= 13, symbolic batch, metadata" % name, checker(name))
        check("%s: onnxruntime = ppl_predict on %d samples (raw, proba within 1e-5; class equal)"
              % (name, inputs[name][2]), parity(name))
    if bf16:
        def bf16_master():
            m = onnx.load(os.path.join(out, "mlp16-raw.onnx"))
            ts = [t for t in m.graph.initializer if t.name.endswith(".weight")]
            assert ts and all(t.data_type == onnx.TensorProto.FLOAT for t in ts), [t.data_type for t in ts]
            w = onnx.numpy_helper.to_array([t for t in ts if t.name == "1.weight"][0])
            # bf16 copies keep 8 mantissa bits: f32 master weights have more.
            low = sum(1 for v in w.flatten()[:1000] if struct.unpack("<I", struct.pack("<f", float(v)))[0] & 0xFFFF)
            assert low > 500, "the weights look rounded to bf16 (%d of 1000 with low bits)" % low
        check("bf16-trained pipeline exports its f32 master weights", bf16_master)
    else:
        print("SKIP %s: bf16 export: this CPU has no avx512_bf16" % T)

    def ls(d):
        return sorted(os.listdir(d))

    # ---- bad calls: clear errors, no file left -------------------------------
    before = ls(out)

    def refused(name, sql, args, *words):
        def f():
            e = error_of(con, sql, *args)
            if os.environ.get("LF_SHOW"):
                print("  " + e)
            assert e.startswith("ppl_export: "), e
            for w in words:
                assert w in e, "%r not in %r" % (w, e)
            assert ls(out) == before, "files changed: %r" % (sorted(set(ls(out)) ^ set(before)))
            assert not glob.glob(os.path.join(proj, "*.tmp-*")), glob.glob(os.path.join(proj, "*.tmp-*"))
        check(name, f)

    p_new = os.path.join(out, "new.onnx")
    refused("unknown pipeline", "SELECT ppl_export('nope', ?)", [p_new], "no pipeline 'nope'")
    kept = [r[0] for r in con.execute("SELECT epoch FROM ppl_weight_files WHERE pplid='text'")]
    gone = [e for e in (1, 2, 3) if e not in kept][0]
    refused("epoch not kept", "SELECT ppl_export('text', ?, ?)", [p_new, gone], "epoch %d" % gone, "not kept")
    refused("epoch beyond the last", "SELECT ppl_export('text', ?, 9)", [p_new], "no epoch 9")
    refused("missing folder", "SELECT ppl_export('text', ?)", [os.path.join(out, "no", "m.onnx")],
            "does not exist")
    refused("existing file without overwrite", "SELECT ppl_export('text', ?)",
            [os.path.join(out, "text-raw.onnx")], "already exists", "overwrite")
    refused("path is a folder", "SELECT ppl_export('text', ?, 'best', '{\"overwrite\": true}')", [out],
            "not a regular file")
    refused("relative path leaving the project", "SELECT ppl_export('text', '../out/x.onnx')", [],
            "inside the project")
    refused("bad output mode", "SELECT ppl_export('text', ?, 'best', '{\"output\": \"logits\"}')", [p_new],
            "raw", "proba", "class")
    refused("unknown option", "SELECT ppl_export('text', ?, 'best', '{\"force\": 1}')", [p_new], "force")
    refused("unwritable place", "SELECT ppl_export('text', '/proc/labflow-test.onnx')", [], "/proc")

    # A plugin's layer has no ONNX form: refused by its config path and loc.
    plugin = os.path.join(tmp, "myplugin.so")
    b = subprocess.run(["cc", "-O1", "-fPIC", "-shared", "-I" + os.path.join(ROOT, "include"), "-o", plugin,
                        os.path.join(ROOT, "examples", "plugin", "myplugin.c"), "-lm"], capture_output=True, text=True)
    if b.returncode == 0:
        con.enable_load_extension(True)
        one(con, "SELECT lab_load_plugin(?)", plugin)
        one(con, "SELECT ppl_new('plug', ?)", base(seq(L("Linear", out=4), L("myplugin.Swish"), L("Linear", out=2)),
            {"loc": "csv", "args": {"label": "label", "features": ["a", "b", "c"]}}, "d.csv", "d.csv"))
        one(con, "SELECT ppl_train('plug', 1)")
        refused("a layer without an ONNX form (a plugin's) is refused by name", "SELECT ppl_export('plug', ?)", [p_new],
                "model>args>layers[1] is myplugin.Swish", "no ONNX export")
    else:
        report("the example plugin builds", False, b.stderr[-400:])

    def overwrite():
        path = os.path.join(out, "text-raw.onnx")
        old = open(path, "rb").read()
        r = json.loads(one(con, "SELECT ppl_export('text', ?, 'last', '{\"overwrite\": true, \"output\": \"class\"}')", path))
        new = open(path, "rb").read()
        assert new != old and r["mode"] == "class", r
        onnx.checker.check_model(onnx.load(path))
        assert ls(out) == before, ls(out)
    check("overwrite replaces the file atomically (no temp file left)", overwrite)

    def relative():
        r = json.loads(one(con, "SELECT ppl_export('text', 'm.onnx', 'last')"))
        assert r["path"] == os.path.join(proj, "m.onnx") and r["epoch"] == 3, r
        assert os.path.isfile(r["path"])
    check("relative path resolves in the project's folder", relative)

    def view_writes_nothing():
        con.execute("CREATE VIEW v AS SELECT ppl_export('text', 'v.onnx') AS x")
        e = error_of(con, "SELECT * FROM v")
        assert "unsafe use of ppl_export" in e, e
        assert not os.path.exists(os.path.join(proj, "v.onnx"))
    check("a view cannot call ppl_export (DIRECTONLY)", view_writes_nothing)
    con.close()


if __name__ == "__main__":
    main()
    print("%d failed" % failed if failed else "all passed")
    sys.exit(1 if failed else 0)
