#!/usr/bin/python3
"""torch_bench.py — the PyTorch side of `make bench`.

Trains the reference MLP, CNN, ResNet, Transformer encoder or row-by-row LSTM on Fashion-MNIST exactly as the LabFlow
side does: the same IDX files, images scaled to [0,1] and kept in memory as
one float32 tensor, batch 128, Adam(lr=1e-3), a fresh shuffle each epoch,
CrossEntropyLoss, training accuracy counted per batch. Each epoch is then
evaluated on the 10,000 test images (batch 256, no_grad).

PyTorch gets its best setting on this machine; run.sh sets the environment
(OpenBLAS threads, glibc malloc thresholds) before starting Python, this
script sets torch's own thread count. Batches are gathered with index_select
on the in-memory tensor (no DataLoader, whose per-sample path is far slower).

  /usr/bin/python3 tools/bench/torch_bench.py mlp|cnn|resnet|transformer|lstm EPOCHS TORCH_THREADS [SEED [NTRAIN NVAL]]

SEED (default 1) seeds torch; NTRAIN/NVAL train and validate on the first
NTRAIN training and NVAL test images only (seq_parity.py gives LabFlow the
same images as idx files).

Prints one line per epoch:
  torch <model> epoch <k> train_s <t> val_s <t> train_acc <a> val_acc <a>
and, at the end, the process' peak RSS:
  torch <model> maxrss_mb <m>
"""
import gzip
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(prefix):
    x = read_idx(f"{DATA}/{prefix}-images-idx3-ubyte.gz")
    y = read_idx(f"{DATA}/{prefix}-labels-idx1-ubyte.gz")
    x = torch.from_numpy(x.astype(np.float32) / np.float32(255.0)).unsqueeze(1)
    return x.contiguous(), torch.from_numpy(y.astype(np.int64))


class Residual(nn.Module):
    """layers(x) + shortcut(x) (x itself without a shortcut), as LabFlow's Residual."""

    def __init__(self, layers, shortcut=None):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(*shortcut) if shortcut else None

    def forward(self, x):
        return self.layers(x) + (self.shortcut(x) if self.shortcut is not None else x)


def stage(cin, cout, stride):
    """A residual stage of examples/fashion_resnet.sql."""
    layers = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
              nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
    shortcut = None
    if stride != 1 or cin != cout:
        shortcut = [nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)]
    return Residual(layers, shortcut)


class Encoder(nn.Module):
    """Fashion-MNIST row by row: 28 steps of 28 pixels -> Linear 64 + learned
    positions -> 2 TransformerEncoderLayers (4 heads, feed-forward 128,
    dropout 0.1, post-norm) -> mean over steps -> Linear 10; LabFlow's
    transformer model in labflow_bench.sql."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(28, 64)
        self.pos = nn.Embedding(28, 64)
        self.layers = nn.ModuleList(nn.TransformerEncoderLayer(64, 4, 128, 0.1, batch_first=True)
                                    for _ in range(2))
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        h = self.proj(x.reshape(x.shape[0], 28, 28)) + self.pos.weight
        for layer in self.layers:
            h = layer(h)
        return self.head(h.mean(1))


class RowLSTM(nn.Module):
    """Row-by-row sequence model: 28 steps of 28 pixels, LSTM(128), last step, Linear(10)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 128, batch_first=True)
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        out, _ = self.lstm(x.view(x.shape[0], 28, 28))
        return self.head(out[:, -1])


def model(which):
    if which == "transformer":
        return Encoder()
    if which == "lstm":
        return RowLSTM()
    if which == "resnet":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                             stage(16, 16, 1), nn.ReLU(), stage(16, 32, 2), nn.ReLU(),
                             stage(32, 64, 2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(64, 10))
    if which == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
                             nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def main():
    which = sys.argv[1]
    epochs = int(sys.argv[2])
    threads = int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    xtr, ytr = load("train")
    xva, yva = load("t10k")
    if len(sys.argv) > 6:
        ntr, nva = int(sys.argv[5]), int(sys.argv[6])
        xtr, ytr, xva, yva = xtr[:ntr], ytr[:ntr], xva[:nva], yva[:nva]
    net = model(which)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()
    bs, n = 128, xtr.shape[0]
    for e in range(1, epochs + 1):
        net.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        correct = 0
        for s in range(0, n, bs):
            idx = perm[s:s + bs]
            xb = xtr.index_select(0, idx)
            yb = ytr.index_select(0, idx)
            out = net(xb)
            loss = lossf(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += int((out.argmax(1) == yb).sum())
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        net.eval()
        vcorrect = 0
        with torch.no_grad():
            for s in range(0, xva.shape[0], 256):
                out = net(xva[s:s + 256])
                vcorrect += int((out.argmax(1) == yva[s:s + 256]).sum())
        t_val = time.perf_counter() - t0
        print(f"torch {which} epoch {e} train_s {t_train:.4f} val_s {t_val:.4f} "
              f"train_acc {correct / n:.4f} val_acc {vcorrect / xva.shape[0]:.4f}",
              flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch {which} maxrss_mb {rss:.1f}", flush=True)


if __name__ == "__main__":
    main()
