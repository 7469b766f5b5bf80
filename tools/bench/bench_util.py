#!/usr/bin/python3
"""bench_util.py — helpers of tools/bench/run.sh (standard library only).

  bench_util.py labflow LIB MODEL PRECISION EPOCHS THREADS RUN
      Trains MODEL through ppl_train in the sqlite3 shell (a fresh project in
      a temporary directory, tools/bench/labflow_bench.sql), under
      /usr/bin/time for the peak RSS. Prints per epoch:
        labflow MODEL PRECISION run RUN epoch K train_s T full_s F val_acc A
      train_s is the history's train_duration (the bare training epoch);
      full_s is the wall time between the progress lines ppl_train prints
      after committing epochs K-1 and K (training, validation, weight and
      state files, history commit). Epoch 1's full_s counts from the start
      of the shell (data loading, primitive creation) and is not used in the
      medians. Then: labflow MODEL PRECISION run RUN maxrss_mb M
      With BENCH_SUBSET=NTRAIN,NVAL in the environment the model trains on
      the first NTRAIN training and validates on the first NVAL test images
      (idx files written to the run's temporary directory; run.sh sets it
      for the Transformer unless BENCH_TRANSFORMER_FULL=1).

  bench_util.py summary LOG
      Medians over epochs >= 2 of every run, ratios to PyTorch, peak RSS.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def labflow(lib, model, precision, epochs, threads, run):
    tmp = tempfile.mkdtemp(prefix="lfbench-")
    try:
        with open(os.path.join(HERE, "labflow_bench.sql")) as f:
            sql = f.read()
        for k, v in (("@LIB@", lib), ("@THREADS@", threads), ("@MODEL@", model),
                     ("@PRECISION@", precision), ("@EPOCHS@", epochs)):
            sql = sql.replace(k, str(v))
        subset = os.environ.get("BENCH_SUBSET", "")
        if subset:
            from seq_parity import DATA, subset_idx
            ntrain, nval = (int(v) for v in subset.split(","))
            subset_idx("train", ntrain, os.path.join(tmp, "train"))
            subset_idx("t10k", nval, os.path.join(tmp, "val"))
            sql = sql.replace('"%s/train"' % DATA, '"%s"' % os.path.join(tmp, "train"))
            sql = sql.replace('"%s/t10k"' % DATA, '"%s"' % os.path.join(tmp, "val"))
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-f", "maxrss_kb %M", "sqlite3",
                              "-batch", os.path.join(tmp, "bench.db")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        p.stdin.write(sql)
        p.stdin.close()
        stamps, rss, errors = {}, None, []
        for line in p.stderr:              # progress lines, as they come
            now = time.monotonic() - t0
            m = re.match(r"\S+ epoch (\d+):", line)
            if m:
                stamps[int(m.group(1))] = now
            elif line.startswith("maxrss_kb "):
                rss = int(line.split()[1]) / 1024.0
            else:
                errors.append(line.rstrip())
        out = p.stdout.read()
        p.wait()
        hist = {}
        for line in out.splitlines():
            f = line.split("|")
            if len(f) == 4 and f[0] == "history":
                hist.setdefault(int(f[1]), {})[f[2]] = float(f[3]) if f[3] else float("nan")
        if p.returncode != 0 or not hist:
            sys.stderr.write("labflow %s %s failed:\n%s\n%s\n" % (model, precision, out, "\n".join(errors)))
            return 1
        prev = 0.0
        for e in sorted(hist):
            full = stamps.get(e, float("nan")) - prev
            prev = stamps.get(e, float("nan"))
            print("labflow %s %s run %s epoch %d train_s %.4f full_s %.4f val_acc %.4f"
                  % (model, precision, run, e, hist[e].get("train_duration", float("nan")),
                     full, hist[e].get("val_accuracy", float("nan"))), flush=True)
        print("labflow %s %s run %s maxrss_mb %.1f" % (model, precision, run, rss or float("nan")),
              flush=True)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def summary(log):
    data = {}   # (impl, model, prec) -> {"train": [], "full": [], "acc": [], "rss": []}
    for line in open(log):
        f = line.split()
        if len(f) < 4 or f[0] not in ("labflow", "torch"):
            continue
        key = (f[0], f[1], f[2])
        d = data.setdefault(key, {"train": [], "full": [], "val": [], "acc": [], "rss": [],
                                  "first": {"train": [], "full": [], "val": [], "acc": []}})
        kv = dict(zip(f[3::2], f[4::2]))
        if "maxrss_mb" in kv:
            d["rss"].append(float(kv["maxrss_mb"]))
        elif "epoch" in kv:
            into = d if int(kv["epoch"]) >= 2 else d["first"]
            into["train"].append(float(kv["train_s"]))
            into.setdefault("by_run", {}).setdefault(kv.get("run", "?"), []).append(float(kv["train_s"]))
            if "full_s" in kv:
                into["full"].append(float(kv["full_s"]))
            if "val_s" in kv:
                into["val"].append(float(kv["val_s"]))
            into["acc"].append(float(kv["val_acc"]))
    # BENCH_EPOCHS=1: no epoch >= 2 anywhere; epoch 1 it is (it pays data
    # loading and primitive creation on both sides: slower, same ratio).
    ep1 = all(not d["train"] for d in data.values())
    if ep1:
        for d in data.values():
            d.update(d["first"])
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    print("medians over epoch 1 of every run (BENCH_EPOCHS=1; n = epochs counted)" if ep1
          else "medians over epochs >= 2 of every run (n = epochs counted)")
    for key in sorted(data):
        d = data[key]
        extra = ""
        if d["full"]:
            extra = "  full %.3f s (full/train %.3f)" % (med(d["full"]), med(d["full"]) / med(d["train"]))
        if d["val"]:
            extra = "  val %.3f s" % med(d["val"])
        print("%-7s %s %-4s train %.3f s (n=%d, min %.3f, max %.3f)%s  val_acc(last) %.4f  peak RSS %.0f MB"
              % (key + (med(d["train"]), len(d["train"]), min(d["train"] or [0]),
                        max(d["train"] or [0]), extra, d["acc"][-1] if d["acc"] else float("nan"),
                        max(d["rss"] or [float("nan")]))))
    for model in ("mlp", "cnn", "resnet", "transformer", "lstm"):
        t = data.get(("torch", model, "f32"))
        if not t or not t["train"]:
            continue
        for prec, target in (("f32", 0.5), ("bf16", 0.3)):
            if model in ("transformer", "lstm") and prec == "bf16":
                continue        # the sequence models' target is f32 only
            l = data.get(("labflow", model, prec))
            if not l or not l["train"]:
                continue
            r = med(l["train"]) / med(t["train"])
            print("ratio %s %s LabFlow/PyTorch train epoch %.3f (target <= %.2f: %s)"
                  % (model, prec, r, target, "met" if r <= target else "NOT met"))
            # The same ratio round by round (each LabFlow run against the
            # PyTorch run next to it): on a machine whose speed drifts,
            # the pooled medians above mix slow and fast minutes.
            lr, tr = l.get("by_run", {}), t.get("by_run", {})
            rounds = [med(lr[k]) / med(tr[k]) for k in sorted(lr, key=lambda k: (len(k), k)) if k in tr]
            if len(rounds) > 1:
                print("  per round: %s (median %.3f, %d of %d rounds <= %.2f)"
                      % (" ".join("%.3f" % x for x in rounds), med(rounds),
                         sum(x <= target for x in rounds), len(rounds), target))
    for key in sorted(data):
        if key[0] == "labflow" and data[key]["full"]:
            r = med(data[key]["full"]) / med(data[key]["train"])
            print("ratio %s %s full/bare epoch %.3f (target <= 1.15: %s)"
                  % (key[1], key[2], r, "met" if r <= 1.15 else "NOT met"))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 8 and sys.argv[1] == "labflow":
        sys.exit(labflow(*sys.argv[2:8]))
    if len(sys.argv) == 3 and sys.argv[1] == "summary":
        sys.exit(summary(sys.argv[2]))
    sys.stderr.write(__doc__)
    sys.exit(2)
