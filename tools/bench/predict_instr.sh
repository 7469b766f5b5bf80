#!/bin/sh
# predict_instr.sh [LIB] — instructions per row of row-by-row ppl_predict
# and per sample of batched ppl_predict (10,000 samples a call) for the
# bench's MLP, counted by valgrind's callgrind, and their ratio: the issue's
# "row by row within 2x of batched" measured in a way the other work on a
# shared machine does not disturb. Each cost is the difference between two
# runs of different sizes (rows: 1,000 and 3,000; batched: 1 and 3 calls),
# so loading Python, the extension and the model cancels out. Counts are of
# user-space instructions on every thread: system calls (stat, sigprocmask)
# and waiting for OpenMP threads are not in them, which is why the wall
# figures of predict_bench.py are given too. Needs valgrind.
set -eu
cd "$(dirname "$0")/../.."
LIB=${1:-./labflow}
command -v valgrind >/dev/null || { echo "predict_instr: valgrind not found (apt-get install valgrind)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lf-instr-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
PY=/usr/bin/python3
$PY tools/bench/predict_instr.py "$LIB" "$tmp" setup
count(){
  valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$tmp/cg.out" \
    $PY tools/bench/predict_instr.py "$LIB" "$tmp" "$@" 2>&1 | sed -n 's/.*Collected : *//p'
}
r1=$(count rows 1000); r3=$(count rows 3000)
b1=$(count batch 1); b3=$(count batch 3)
awk -v r1="$r1" -v r3="$r3" -v b1="$b1" -v b3="$b3" 'BEGIN{
  row = (r3 - r1) / 2000; smp = (b3 - b1) / 20000;
  printf "instructions per row, row-by-row ppl_predict:        %8.0f\n", row;
  printf "instructions per sample, batched (10,000 a call):    %8.0f\n", smp;
  printf "ratio row-by-row / batched:                          %8.2f\n", row / smp }'
