#!/usr/bin/python3
"""test_attention_torch.py — numeric parity of attention with PyTorch: one
training step of a Graph (Reshape -> TransformerEncoderLayer reading a key
padding mask -> masked mean -> Linear) in LabFlow and the same model in
torch.nn (TransformerEncoderLayer(batch_first=True), key_padding_mask) on
the same weights and 8 rows: the loss of the batch and every parameter's
gradient must agree. A post-norm ReLU and a pre-norm GELU causal layer.

LabFlow's initial weights come from a pipeline trained with a negligible
lr (the stored epoch-1 weights are the initial ones); the gradients are
(W0 - W1) / lr of the same pipeline with SGD lr 1 (one batch, one step).
torch (Debian's python3-torch, installed by tools/host-deps.sh) is needed;
without it the test prints one SKIP line. Prints PASS/FAIL lines.
"""
import json
import os
import shutil
import sqlite3
import struct
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reliability"))
import lfutil as U  # noqa: E402

T = "attention_torch"
TS, E = 4, 6          # steps, width


def data_csv(path):
    rows = ["x%d" % i for i in range(TS * E)] + ["m%d" % i for i in range(TS)] + ["label"]
    lines = [",".join(rows)]
    for r in range(8):
        xs = [round(((r * 37 + i * 11) % 23) / 11.0 - 1.0, 3) for i in range(TS * E)]
        n = 1 + r % TS                                   # valid steps
        ms = [1 if t < n else 0 for t in range(TS)]
        lines.append(",".join(str(v) for v in xs + ms) + ("," + ("a" if r % 2 else "b")))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return lines


def config(enc_args, lr, seed):
    return {"model": {"loc": "Graph", "args": {"inputs": ["x", "x_mask"], "nodes": [
        {"name": "r", "loc": "Reshape", "args": {"shape": [TS, E]}, "in": ["x"]},
        {"name": "enc", "loc": "TransformerEncoderLayer", "args": enc_args, "in": ["r", "x_mask"]},
        {"name": "pool", "loc": "SeqPool", "args": {"mode": "mean"}, "in": ["enc", "x_mask"]},
        {"name": "head", "loc": "Linear", "args": {"out": 2}, "in": ["pool"]}], "output": "head"}},
        "dataset": {"loc": "csv", "args": {"label": "label", "inputs": {
            "x": {"columns": ["x%d" % i for i in range(TS * E)]},
            "x_mask": {"columns": ["m%d" % i for i in range(TS)]}}}},
        "train_data_src": "d.csv", "val_data_src": "d.csv", "loss": {"loc": "CrossEntropyLoss"},
        "optimizer": {"loc": "SGD", "args": {"lr": lr}}, "metrics": {"accuracy": {"loc": "Accuracy"}},
        "train_batch_size": 8, "seed": seed}


def weights(db, pplid):
    c = sqlite3.connect(db)
    c.enable_load_extension(True)
    c.load_extension(U.EXT)
    out = {}
    for name, shape, dtype, blob in c.execute("SELECT name, shape, dtype, data FROM ppl_weights WHERE pplid=?", (pplid,)):
        vals = struct.unpack("<%df" % (len(blob) // 4), blob)
        out[name] = (json.loads(shape), vals)
    c.close()
    return out


def case(torch, d, db, label, enc_args):
    ok = True
    key = label.replace(" ", "_")
    for pid, lr in (("w0_" + key, 1e-30), ("w1_" + key, 1.0)):
        U.add_ppl(db, pid, config(enc_args, lr, 11))
        out, err, rc = U.shell(db, "SELECT json_extract(ppl_train('%s', 1), '$.ended');" % pid, cwd=d)
        ok = ok and out == "finished"
    if not U.check(ok, "%s: %s: LabFlow trains one step" % (T, label), err):
        return
    w0, w1 = weights(db, "w0_" + key), weights(db, "w1_" + key)
    loss_lf = U.query(db, "SELECT value FROM history WHERE pplid=? AND epoch=1 AND name='train_loss'", ("w1_" + key,))[0][0]

    torch.manual_seed(0)
    nn = torch.nn
    layer = nn.TransformerEncoderLayer(E, enc_args["nhead"], enc_args["dim_feedforward"], 0.0,
                                       activation=enc_args.get("activation", "relu"), batch_first=True,
                                       norm_first=enc_args.get("norm_first", False))
    head = nn.Linear(E, 2)
    sd = {}
    for k, (shape, vals) in w0.items():
        sd[k] = torch.tensor(vals, dtype=torch.float32).reshape(shape)
    layer.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("enc.")})
    head.load_state_dict({k[5:]: v for k, v in sd.items() if k.startswith("head.")})
    rows = [l.split(",") for l in data_csv(os.path.join(d, "d.csv"))[1:]]
    x = torch.tensor([[float(v) for v in r[:TS * E]] for r in rows]).reshape(8, TS, E)
    m = torch.tensor([[float(v) for v in r[TS * E:TS * E + TS]] for r in rows])
    # LabFlow's classes are the sorted label values: a -> 0, b -> 1.
    y = torch.tensor([0 if r[-1] == "a" else 1 for r in rows])
    layer.train()   # the training-mode path (dropout is 0)
    causal = enc_args.get("causal", False)
    src_mask = nn.Transformer.generate_square_subsequent_mask(TS) if causal else None
    h = layer(x, src_mask=src_mask, src_key_padding_mask=(m < 0.5))
    pooled = (h * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True)
    loss = nn.functional.cross_entropy(head(pooled), y)
    loss.backward()
    U.check(abs(loss.item() - loss_lf) < 1e-5 * max(1.0, abs(loss.item())),
            "%s: %s: the batch loss equals PyTorch's (%.7f vs %.7f)" % (T, label, loss_lf, loss.item()),
            "differs")
    worst, where = 0.0, ""
    named = dict(("enc." + k, p) for k, p in layer.named_parameters())
    named.update(("head." + k, p) for k, p in head.named_parameters())
    for k, p in named.items():
        g_t = p.grad.reshape(-1).tolist()
        g_lf = [a - b for a, b in zip(w0[k][1], w1[k][1])]
        scale = max(1e-3, max(abs(v) for v in g_t))
        err_k = max(abs(a - b) for a, b in zip(g_t, g_lf)) / scale
        if err_k > worst:
            worst, where = err_k, k
    U.check(worst < 1e-3 and len(named) == len(w0),
            "%s: %s: all %d gradients equal PyTorch's (worst relative difference %.1e, %s)" % (T, label, len(named), worst, where),
            "too different")


def main():
    try:
        import torch
    except ImportError:
        print("SKIP %s: PyTorch is not installed (tools/host-deps.sh installs python3-torch)" % T)
        return 0
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="lf-attn-torch-")
    try:
        d = os.path.join(tmp, "p")
        db = U.new_project(d, settings={"metrics": ["accuracy"], "threads": 1, "progress": False}, csv=False)
        data_csv(os.path.join(d, "d.csv"))
        case(torch, d, db, "post-norm relu", {"d_model": E, "nhead": 2, "dim_feedforward": 10, "dropout": 0})
        case(torch, d, db, "pre-norm gelu causal", {"d_model": E, "nhead": 3, "dim_feedforward": 8, "dropout": 0,
                                                    "norm_first": True, "activation": "gelu", "causal": True})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if U.failed else 0


if __name__ == "__main__":
    sys.exit(main())
