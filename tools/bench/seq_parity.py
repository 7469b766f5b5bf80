#!/usr/bin/python3
"""seq_parity.py — accuracy (and epoch time) of a sequence model of
`make bench`, LabFlow against PyTorch, over several seeds.

The model is the one of labflow_bench.sql / torch_bench.py (default the
row-by-row Transformer encoder: Fashion-MNIST images as 28 steps of 28
pixels, Linear 64 + learned positions, 2 post-norm TransformerEncoderLayers
(4 heads, feed-forward 128, dropout 0.1), mean over steps, Linear 10; batch
128, Adam 1e-3). Both sides train on the first NTRAIN training images and
validate on the first NVAL test images (LabFlow reads them from idx files
this script writes to a temporary directory, PyTorch slices the same
arrays), for EPOCHS epochs, once per seed, runs alternating (LabFlow seed
1, PyTorch seed 1, LabFlow seed 2, ...) so that a slow phase of a loaded
machine hits both sides.

  /usr/bin/python3 tools/bench/seq_parity.py [--model transformer|lstm]
      [--train 60000] [--val 10000] [--epochs 3] [--seeds 1,2] [--threads 2]
      [--lib ./labflow] [--out FILE]

Prints one line per epoch and run:
  labflow|torch MODEL f32 seed S epoch K train_s T val_acc A
then, per side, each seed's last-epoch validation accuracy, their mean, the
difference of the means (target: within 1 point) and the ratio of the
median training epochs (target: LabFlow <= 0.5x PyTorch). PyTorch runs with
the environment run.sh gives it (OpenBLAS 1 thread, torch THREADS threads,
glibc malloc thresholds).
"""
import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = "/usr/share/datasets/fashion-mnist"
PY = "/usr/bin/python3"


def subset_idx(prefix, n, dst):
    """The first n images and labels of DATA/prefix-*.gz as plain idx files dst-*."""
    for kind, hdr in (("images-idx3-ubyte", 16), ("labels-idx1-ubyte", 8)):
        with gzip.open("%s/%s-%s.gz" % (DATA, prefix, kind), "rb") as f:
            raw = f.read()
        per = 1
        for i in range(1, (hdr - 4) // 4):
            per *= int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
        total = int.from_bytes(raw[4:8], "big")
        n = min(n, total)
        with open("%s-%s" % (dst, kind), "wb") as f:
            f.write(raw[:4] + n.to_bytes(4, "big") + raw[8:hdr] + raw[hdr:hdr + n * per])
    return n


def labflow_config(model, train, val, seed):
    """The model's ppl_new config from labflow_bench.sql, on the subset, with this seed."""
    with open(os.path.join(HERE, "labflow_bench.sql")) as f:
        for line in f:
            m = re.match(r"SELECT ppl_new\('%s', '(.*)'\) WHERE" % model, line)
            if m:
                cfg = json.loads(m.group(1).replace("@PRECISION@", "f32"))
                cfg.update(train_data_src=train, val_data_src=val, seed=seed)
                return cfg
    raise SystemExit("seq_parity.py: no model %r in labflow_bench.sql" % model)


def run_labflow(lib, model, train, val, seed, epochs, threads, tmp):
    db = os.path.join(tmp, "lf-%d.db" % seed)
    cfg = json.dumps(labflow_config(model, train, val, seed)).replace("'", "''")
    sql = (".bail on\n.load %s\n"
           "SELECT lab_init('{\"metrics\":[\"accuracy\"],\"strategy\":{\"monitor\":\"val_accuracy\",\"mode\":\"max\"},"
           "\"progress\":false,\"threads\":%d}');\n"
           "SELECT ppl_new('%s', '%s');\nSELECT ppl_train('%s', %d);\n"
           "SELECT 'history', epoch, name, value FROM history WHERE pplid='%s' ORDER BY epoch, name;\n"
           % (lib, threads, model, cfg, model, epochs, model))
    p = subprocess.run(["sqlite3", "-batch", db], input=sql, capture_output=True, text=True)
    hist = {}
    for line in p.stdout.splitlines():
        f = line.split("|")
        if len(f) == 4 and f[0] == "history":
            hist.setdefault(int(f[1]), {})[f[2]] = float(f[3])
    if p.returncode != 0 or not hist:
        sys.stderr.write("labflow seed %d failed:\n%s%s" % (seed, p.stdout, p.stderr))
        return []
    for suffix in ("", "-journal", "-wal"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    shutil.rmtree(db + ".labflow", ignore_errors=True)
    return [(e, hist[e].get("train_duration", float("nan")), hist[e].get("val_accuracy", float("nan")))
            for e in sorted(hist)]


def run_torch(model, ntrain, nval, seed, epochs, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_="33554432",
               MALLOC_TRIM_THRESHOLD_="268435456")
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"):
        env.pop(k, None)
    p = subprocess.run([PY, os.path.join(HERE, "torch_bench.py"), model, str(epochs), str(threads),
                        str(seed), str(ntrain), str(nval)], capture_output=True, text=True, env=env)
    rows = []
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) >= 12 and f[2] == "epoch":
            rows.append((int(f[3]), float(f[5]), float(f[11])))
    if p.returncode != 0 or not rows:
        sys.stderr.write("torch seed %d failed:\n%s%s" % (seed, p.stdout, p.stderr))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="transformer")
    ap.add_argument("--train", type=int, default=60000)
    ap.add_argument("--val", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lib", default=os.path.join(ROOT, "labflow"))
    ap.add_argument("--torch", type=int, default=1, help="0: LabFlow only")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",") if s]
    tmp = tempfile.mkdtemp(prefix="lfparity-")
    results = {"labflow": {}, "torch": {}}
    try:
        ntr = subset_idx("train", a.train, os.path.join(tmp, "train"))
        nva = subset_idx("t10k", a.val, os.path.join(tmp, "val"))
        print("# seq_parity %s: train %d, val %d images, %d epochs, seeds %s, threads %d; load average %s"
              % (a.model, ntr, nva, a.epochs, a.seeds, a.threads,
                 " ".join(open("/proc/loadavg").read().split()[:3])), flush=True)
        for seed in seeds:
            rows = run_labflow(a.lib, a.model, os.path.join(tmp, "train"), os.path.join(tmp, "val"),
                               seed, a.epochs, a.threads, tmp)
            for e, t, acc in rows:
                print("labflow %s f32 seed %d epoch %d train_s %.4f val_acc %.4f" % (a.model, seed, e, t, acc),
                      flush=True)
            results["labflow"][seed] = rows
            if a.torch:
                rows = run_torch(a.model, ntr, nva, seed, a.epochs, a.threads)
                for e, t, acc in rows:
                    print("torch %s f32 seed %d epoch %d train_s %.4f val_acc %.4f" % (a.model, seed, e, t, acc),
                          flush=True)
                results["torch"][seed] = rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("# load average at end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    means, times = {}, {}
    for side in ("labflow", "torch"):
        last = [rows[-1][2] for rows in results[side].values() if rows]
        ep = [t for rows in results[side].values() for (e, t, _) in rows if e >= 2 or a.epochs == 1]
        if not last:
            continue
        means[side] = statistics.mean(last)
        times[side] = statistics.median(ep) if ep else float("nan")
        print("%-7s %s val_acc after epoch %d: %s; mean %.4f; median train epoch %.2f s"
              % (side, a.model, a.epochs, " ".join("%.4f" % v for v in last), means[side], times[side]))
    if len(means) == 2:
        d = 100 * (means["labflow"] - means["torch"])
        print("parity %s LabFlow - PyTorch val_acc %+.2f points (target within 1: %s)"
              % (a.model, d, "met" if abs(d) <= 1 else "NOT met"))
        r = times["labflow"] / times["torch"]
        print("ratio %s f32 LabFlow/PyTorch train epoch %.3f (target <= 0.50: %s)"
              % (a.model, r, "met" if r <= 0.5 else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
