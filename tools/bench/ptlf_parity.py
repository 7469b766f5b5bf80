#!/usr/bin/python3
"""ptlf_parity.py — the PyTorchLabFlow tutorial model (examples/ptlf_income.sql)
trained by LabFlow and by PyTorch on the same CSV split, compared.

The model is the example's, read from examples/ptlf_income.sql: one
embedding per categorical column, concatenated with the standardised
continuous columns, Linear-ReLU-Dropout-Linear-ReLU-Linear to one logit,
BCEWithLogitsLoss, Adam, batch 64. PyTorch gets the same data as LabFlow
sees it: rows with a missing value ('?' or empty) dropped, each categorical
column coded from the training split's sorted vocabulary (0: a value not
seen in training), continuous columns standardised with the training
split's mean and population standard deviation, the label's sorted values
0 and 1. Each side trains --seeds runs; the mean validation accuracy and
AUROC after the last epoch are compared: PASS when both differ by at most
--tolerance (default 0.01, one point).

Without --train/--val it writes the example's generated income-like CSV
(the formulas of examples/ptlf_income.sql) into a temporary folder. Any
other CSV with a header row works, e.g. the UCI Adult data (docs/models.md
says how to fetch and convert it):

    /usr/bin/python3 tools/bench/ptlf_parity.py --train adult_train.csv \\
        --val adult_val.csv --label income \\
        --cat workclass,education,marital-status,occupation,relationship,race,sex,native-country \\
        --cont age,education-num,capital-gain,capital-loss,hours-per-week

PyTorch (Debian python3-torch) is only used here, never by LabFlow.
Prints "PASS name" / "FAIL name: why" lines and the figures.
"""
import argparse
import csv
import json
import math
import os
import re
import sqlite3
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LF_EXT", os.path.join(ROOT, "labflow"))
EXAMPLE = os.path.join(ROOT, "examples", "ptlf_income.sql")
NA = {"", "?"}


def example_config():
    """The ppl_new config of examples/ptlf_income.sql, as a dict."""
    text = open(EXAMPLE, encoding="utf-8").read()
    m = re.search(r"SELECT ppl_new\('income', '(.*?)'\)", text, re.S)
    if not m:
        raise SystemExit("ptlf_parity: no ppl_new('income', ...) in %s" % EXAMPLE)
    return json.loads(m.group(1))


def write_example_csvs(folder):
    """The example's 3000 people (its SQL formulas). Validation is 2 in 11
    (n % 11 in 0, 5), a split independent of the formulas' moduli: the
    example's every 5th row shares their factor 5 and so sees other
    ages, hours and label rates than training, which makes its accuracy
    hinge on the last digits of calibration."""
    rows = {"train": [], "val": []}
    for n in range(3000):
        age = 18 + (n * 7919) % 50
        work = {0: "Self-emp", 1: "Gov", 2: "?"}.get((n * 104729) % 7, "Private")
        edu = {0: "Bachelors", 1: "Masters", 2: "Doctorate"}.get((n * 1299709) % 5, "HS-grad")
        marital = {0: "Married", 1: "Never-married"}.get((n * 15485863) % 3, "Divorced")
        hours = 20 + (n * 32452843) % 45
        score = ((edu in ("Masters", "Doctorate")) * 1.2 + (marital == "Married") * 1.0
                 + (age - 40) / 15.0 + (hours - 40) / 20.0 + (work == "Self-emp") * 0.5
                 + ((n * 49979687) % 100) / 60.0)
        income = ">50K" if score > 2.0 else "<=50K"
        rows["val" if n % 11 in (0, 5) else "train"].append([age, work, edu, marital, hours, income])
    paths = {}
    for split, data in rows.items():
        paths[split] = os.path.join(folder, "income_%s.csv" % split)
        with open(paths[split], "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["age", "workclass", "education", "marital", "hours", "income"])
            w.writerows(data)
    return paths["train"], paths["val"]


def auroc(scores, labels):
    """Area under the ROC curve, ties counted half (Mann-Whitney)."""
    pairs = sorted(zip(scores, labels))
    pos = sum(labels)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + 1 + j) / 2.0
        rank_sum += avg_rank * sum(l for _, l in pairs[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)


def labflow_runs(cfg, train, val, epochs, seeds, folder):
    """(accuracy, auroc) of the last epoch, one pair per seed."""
    db = os.path.join(folder, "parity.db")
    con = sqlite3.connect(db, isolation_level=None)
    con.enable_load_extension(True)
    con.load_extension(EXT)
    con.execute("SELECT lab_init(?)", (json.dumps({
        "metrics": ["accuracy", "auroc"], "strategy": {"monitor": "val_auroc", "mode": "max"},
        "progress": False}),))
    out = []
    for seed in seeds:
        c = json.loads(json.dumps(cfg))
        c["train_data_src"], c["val_data_src"], c["seed"] = train, val, seed
        c["metrics"] = {"accuracy": {"loc": "Accuracy"}, "auroc": {"loc": "AUROC"}}
        name = "lf_%d" % seed
        con.execute("SELECT ppl_new(?, ?)", (name, json.dumps(c)))
        con.execute("SELECT ppl_train(?, ?)", (name, epochs))
        got = dict(con.execute("SELECT name, value FROM history WHERE pplid=? AND epoch=? "
                               "AND name IN ('val_accuracy', 'val_auroc')", (name, epochs)).fetchall())
        out.append((got["val_accuracy"], got["val_auroc"]))
    con.close()
    return out


def read_split(path, cat, cont, label):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, skipinitialspace=True))
    keep = []
    for r in rows:
        vals = [r[c].strip() for c in cat + cont + [label]]
        if any(v in NA for v in vals):
            continue
        keep.append(r)
    return keep


def torch_runs(train, val, cat, cont, label, dims, hidden, dropout, lr, batch, epochs, seeds, threads):
    import torch
    import torch.nn as nn
    torch.set_num_threads(threads)
    tr = read_split(train, cat, cont, label)
    va = read_split(val, cat, cont, label)
    vocab = {c: {v: i + 1 for i, v in enumerate(sorted({r[c].strip() for r in tr}))} for c in cat}
    classes = sorted({r[label].strip() for r in tr})
    if len(classes) != 2:
        raise SystemExit("ptlf_parity: the label has %d values in training; BCEWithLogitsLoss needs 2" % len(classes))

    def tensors(rows, mean=None, std=None):
        xc = torch.tensor([[vocab[c].get(r[c].strip(), 0) for c in cat] for r in rows], dtype=torch.long)
        xf = torch.tensor([[float(r[c]) for c in cont] for r in rows], dtype=torch.float64)
        if mean is None:
            mean = xf.mean(0)
            std = xf.std(0, unbiased=False)
            std[std == 0] = 1.0
        xf = ((xf - mean) / std).float()
        y = torch.tensor([float(classes.index(r[label].strip())) for r in rows])
        return xc, xf, y, mean, std

    xc, xf, y, mean, std = tensors(tr)
    vxc, vxf, vy, _, _ = tensors(va, mean, std)

    class Tutorial(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.ModuleList([nn.Embedding(len(vocab[c]) + 1, d) for c, d in zip(cat, dims)])
            layers, width = [], sum(dims) + len(cont)
            for i, h in enumerate(hidden):
                layers += [nn.Linear(width, h), nn.ReLU()]
                if i == 0 and dropout > 0:
                    layers.append(nn.Dropout(dropout))
                width = h
            layers.append(nn.Linear(width, 1))
            self.mlp = nn.Sequential(*layers)

        def forward(self, c, f):
            return self.mlp(torch.cat([e(c[:, i]) for i, e in enumerate(self.emb)] + [f], 1)).squeeze(1)

    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = Tutorial()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        lossf = nn.BCEWithLogitsLoss()
        for _ in range(epochs):
            model.train()
            perm = torch.randperm(len(y))
            for s in range(0, len(y), batch):
                i = perm[s:s + batch]
                opt.zero_grad()
                lossf(model(xc[i], xf[i]), y[i]).backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            logit = model(vxc, vxf)
        acc = float(((logit > 0).float() == vy).float().mean())
        out.append((acc, auroc(logit.tolist(), [int(v) for v in vy.tolist()])))
    return out


def model_shape(cfg):
    """(dims, hidden widths, dropout p) of the example's Sequential."""
    layers = cfg["model"]["args"]["layers"]
    emb = layers[0]["args"]
    hidden = [l["args"]["out"] for l in layers[1:-1] if l["loc"] == "Linear"]
    drops = [l["args"]["p"] for l in layers if l["loc"] == "Dropout"]
    return emb, hidden, drops[0] if drops else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train")
    ap.add_argument("--val")
    ap.add_argument("--label")
    ap.add_argument("--cat", help="categorical columns, comma-separated")
    ap.add_argument("--cont", help="continuous columns, comma-separated")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=0.01)
    a = ap.parse_args()
    cfg = example_config()
    groups = cfg["dataset"]["args"]["inputs"]
    if a.cat or a.cont or a.label:
        if not (a.cat and a.cont and a.label and a.train and a.val):
            raise SystemExit("ptlf_parity: give --train, --val, --label, --cat and --cont together")
        groups["cat"]["columns"] = a.cat.split(",")
        groups["cont"]["columns"] = a.cont.split(",")
        cfg["dataset"]["args"]["label"] = a.label
    cat, cont = groups["cat"]["columns"], groups["cont"]["columns"]
    label = cfg["dataset"]["args"]["label"]
    emb, hidden, dropout = model_shape(cfg)
    dims = emb["dims"] if "dims" in emb else [emb["dim"]] * len(cat)
    lr = cfg["optimizer"]["args"]["lr"]
    batch = cfg["train_batch_size"]
    seeds = list(range(1, a.seeds + 1))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        train, val = (os.path.abspath(a.train), os.path.abspath(a.val)) if a.train else write_example_csvs(tmp)
        lf = labflow_runs(cfg, train, val, a.epochs, seeds, tmp)
        pt = torch_runs(train, val, cat, cont, label, dims, hidden, dropout, lr, batch, a.epochs, seeds, a.threads)
    mean = lambda xs: sum(xs) / len(xs)
    what = "generated income CSV" if not a.train else os.path.basename(train)
    print("data: %s; %d epochs; seeds %s" % (what, a.epochs, seeds))
    for k, name in ((0, "accuracy"), (1, "AUROC")):
        l, p = mean([r[k] for r in lf]), mean([r[k] for r in pt])
        print("%-8s LabFlow %.4f (%s)  PyTorch %.4f (%s)" % (
            name, l, " ".join("%.4f" % r[k] for r in lf), p, " ".join("%.4f" % r[k] for r in pt)))
        ok = abs(l - p) <= a.tolerance and not math.isnan(l) and not math.isnan(p)
        print(("PASS " if ok else "FAIL ") + "ptlf parity: %s within %.0f point%s of PyTorch's (%s)"
              % (name, a.tolerance * 100, "" if a.tolerance == 0.01 else "s", what)
              + ("" if ok else ": LabFlow %.4f, PyTorch %.4f" % (l, p)))
        failed += not ok
    print("%d passed, %d failed" % (2 - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
