#!/usr/bin/python3
"""torch_lstm_step.py — PyTorch's training step of make bench's row-by-row
LSTM (LSTM(28, 128), last step, Linear 10, cross-entropy, Adam 1e-3) on one
random batch of 128, timed over 60 steps (best of 2), to compare with
`net_bench lstm 2 f32 1` (NET_BENCH_BATCHES=60): the kernels alone on both
sides. Run it as make bench runs PyTorch (1 thread here):

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \\
    OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=33554432 \\
    MALLOC_TRIM_THRESHOLD_=268435456 /usr/bin/python3 tools/bench/torch_lstm_step.py
"""
import time

import torch

torch.set_num_threads(1)
torch.manual_seed(1)
lstm = torch.nn.LSTM(28, 128, batch_first=True)
head = torch.nn.Linear(128, 10)
opt = torch.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=1e-3)
x = torch.rand(128, 28, 28)
y = torch.randint(0, 10, (128,))
lossf = torch.nn.CrossEntropyLoss()


def step():
    opt.zero_grad()
    out, _ = lstm(x)
    loss = lossf(head(out[:, -1]), y)
    loss.backward()
    opt.step()


for _ in range(5):
    step()
best = 1e9
for _ in range(2):
    t = time.perf_counter()
    for _ in range(60):
        step()
    best = min(best, time.perf_counter() - t)
print("torch LSTM 60 steps: %.3f s" % best)
