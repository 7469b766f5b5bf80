#!/usr/bin/python3
"""test_rnn_torch.py — numeric parity of LSTM and GRU with PyTorch: one
training step of a Graph (sequence column -> LSTM/GRU, 2 layers,
bidirectional -> SeqPool mean over the valid steps -> Linear) in LabFlow
and the same model in torch.nn (nn.LSTM / nn.GRU, batch_first, loaded with
LabFlow's weights by state_dict name) on the same 8 padded sequences: the
batch loss and every parameter's gradient must agree. This checks the gate
order, the folded biases and GRU's "linear before reset" form against
PyTorch itself.

As in test_attention_torch.py: the initial weights are those of a pipeline
trained with a negligible lr; the gradients are (W0 - W1) / lr of the same
pipeline with SGD lr 1 (one batch, one step). Without torch the test prints
one SKIP line. Prints PASS/FAIL lines.
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

T = "rnn_torch"
TS, F, H = 5, 3, 4     # max_len, step features, hidden size


def data_csv(path):
    rows = []
    for r in range(8):
        n = 1 + r % TS
        seq = [[round(((r * 37 + t * 11 + f * 5) % 23) / 11.0 - 1.0, 3) for f in range(F)] for t in range(n)]
        rows.append((seq, "a" if r % 2 else "b"))
    with open(path, "w") as f:
        f.write("seq,label\n" + "".join('"%s",%s\n' % (json.dumps(s), l) for s, l in rows))
    return rows


def config(loc, lr, seed):
    return {"model": {"loc": "Graph", "args": {"inputs": ["seq", "seq_mask"], "nodes": [
        {"name": "rnn", "loc": loc, "args": {"hidden_size": H, "num_layers": 2, "bidirectional": True}, "in": ["seq"]},
        {"name": "pool", "loc": "SeqPool", "args": {"mode": "mean"}, "in": ["rnn", "seq_mask"]},
        {"name": "head", "loc": "Linear", "args": {"out": 2}, "in": ["pool"]}], "output": "head"}},
        "dataset": {"loc": "csv", "args": {"label": "label", "sequence": "seq", "max_len": TS, "step_features": F}},
        "train_data_src": "d.csv", "val_data_src": "d.csv", "loss": {"loc": "CrossEntropyLoss"},
        "optimizer": {"loc": "SGD", "args": {"lr": lr}}, "metrics": {"accuracy": {"loc": "Accuracy"}},
        "train_batch_size": 8, "seed": seed}


def weights(db, pplid):
    c = sqlite3.connect(db)
    c.enable_load_extension(True)
    c.load_extension(U.EXT)
    out = {}
    for name, shape, blob in c.execute("SELECT name, shape, data FROM ppl_weights WHERE pplid=?", (pplid,)):
        out[name] = (json.loads(shape), struct.unpack("<%df" % (len(blob) // 4), blob))
    c.close()
    return out


def case(torch, d, db, loc, rows):
    ok, err = True, ""
    for pid, lr in (("w0_" + loc, 1e-30), ("w1_" + loc, 1.0)):
        U.add_ppl(db, pid, config(loc, lr, 11))
        out, err, rc = U.shell(db, "SELECT json_extract(ppl_train('%s', 1), '$.ended');" % pid, cwd=d)
        ok = ok and out == "finished"
    if not U.check(ok, "%s: %s: LabFlow trains one step" % (T, loc), err):
        return
    w0, w1 = weights(db, "w0_" + loc), weights(db, "w1_" + loc)
    loss_lf = U.query(db, "SELECT value FROM history WHERE pplid=? AND epoch=1 AND name='train_loss'", ("w1_" + loc,))[0][0]
    nn = torch.nn
    rnn = getattr(nn, loc)(F, H, num_layers=2, bidirectional=True, batch_first=True)
    head = nn.Linear(2 * H, 2)
    sd = {k: torch.tensor(v, dtype=torch.float32).reshape(s) for k, (s, v) in w0.items()}
    rnn.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("rnn.")})
    head.load_state_dict({k[5:]: v for k, v in sd.items() if k.startswith("head.")})
    x = torch.zeros(8, TS, F)
    m = torch.zeros(8, TS)
    for i, (seq, _) in enumerate(rows):
        for t, step in enumerate(seq):
            x[i, t] = torch.tensor(step)
            m[i, t] = 1.0
    y = torch.tensor([0 if l == "a" else 1 for _, l in rows])    # sorted classes: a, b
    rnn.train()
    h, _ = rnn(x)            # padding steps are zeros, as LabFlow feeds them
    pooled = (h * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True)
    loss = nn.functional.cross_entropy(head(pooled), y)
    loss.backward()
    U.check(abs(loss.item() - loss_lf) < 1e-5 * max(1.0, abs(loss.item())),
            "%s: %s: the batch loss equals PyTorch's (%.7f vs %.7f)" % (T, loc, loss_lf, loss.item()), "differs")
    worst, where = 0.0, ""
    named = dict(("rnn." + k, p) for k, p in rnn.named_parameters())
    named.update(("head." + k, p) for k, p in head.named_parameters())
    for k, p in named.items():
        g_t = p.grad.reshape(-1).tolist()
        g_lf = [a - b for a, b in zip(w0[k][1], w1[k][1])]
        scale = max(1e-3, max(abs(v) for v in g_t))
        e = max(abs(a - b) for a, b in zip(g_t, g_lf)) / scale
        if e > worst:
            worst, where = e, k
    U.check(worst < 1e-3 and len(named) == len(w0),
            "%s: %s: all %d gradients equal PyTorch's, names and shapes as its state_dict (worst relative difference %.1e, %s)"
            % (T, loc, len(named), worst, where), "too different")


def main():
    try:
        import torch
    except ImportError:
        print("SKIP %s: PyTorch is not installed (tools/host-deps.sh installs python3-torch)" % T)
        return 0
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="lf-rnn-torch-")
    try:
        d = os.path.join(tmp, "p")
        db = U.new_project(d, settings={"metrics": ["accuracy"], "threads": 1, "progress": False}, csv=False)
        rows = data_csv(os.path.join(d, "d.csv"))
        case(torch, d, db, "LSTM", rows)
        case(torch, d, db, "GRU", rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if U.failed else 0


if __name__ == "__main__":
    sys.exit(main())
