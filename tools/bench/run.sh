#!/bin/sh
# run.sh — `make bench`: LabFlow against PyTorch on Fashion-MNIST, side by
# side, on the same machine, threads, data and models (MLP 784-256-128-10,
# CNN conv16-pool-conv32-pool-fc128-fc10, the small ResNet of
# examples/fashion_resnet.sql, a 2-layer Transformer encoder reading the
# images row by row: 28 steps of 28 pixels, d_model 64, and the row-by-row
# LSTM: LSTM 128, last step, Linear 10), batch 128, Adam 1e-3.
#
# LabFlow trains through ppl_train in the sqlite3 shell (labflow_bench.sql,
# driven by bench_util.py); PyTorch through torch_bench.py when
# /usr/bin/python3 has torch. Runs alternate (LabFlow, PyTorch, LabFlow, ...)
# so that a slow phase of the machine hits both. Every figure is a median
# over epochs >= 2 of every run (epoch 1 pays data loading and primitive
# creation). Raw lines and the summary go to tools/bench/results-<date>.txt.
#
# Environment knobs:
#   BENCH_RUNS=3        alternating rounds
#   BENCH_EPOCHS=3      epochs per run (>= 2; with 1 the figures are epoch 1,
#                       data loading and primitive creation included)
#   BENCH_THREADS=2
#   BENCH_MODELS="mlp cnn resnet transformer lstm"
#   BENCH_TRANSFORMER_SUBSET=12000,2000   the Transformer (both sides) trains
#                       on the first 12,000 training images and validates on
#                       the first 2,000 test images: its PyTorch epoch on the
#                       full set is 7-15 minutes here, which made bench hours
#                       long. Epoch times scale with the images, the ratio is
#                       the one the full set gives.
#   BENCH_TRANSFORMER_FULL=1   the full comparison instead: the Transformer on
#                       all 60,000/10,000 images, then seq_parity.py (accuracy
#                       after BENCH_EPOCHS epochs, seeds 1 and 2 each side,
#                       alternating; target within 1 point of PyTorch;
#                       BENCH_PARITY_SEEDS=1,2,3,4 for more seeds)
#   BENCH_SUBSET=NTRAIN,NVAL   every other model (both sides) on the first
#                       NTRAIN training / NVAL test images (default: all):
#                       a ratio on a loaded machine in minutes instead of
#                       hours (the ResNet's epoch is 25-45 s idle, 10+
#                       minutes under a load of 20)
#   BENCH_PRECISIONS="f32 bf16"   (bf16 only where the CPU has avx512_bf16)
#   BENCH_TORCH=1       0 skips PyTorch
#   BENCH_TRAIN=1       0 skips the training comparison with PyTorch
#   BENCH_PREDICT=1     0 skips scoring a table (predict_bench.py): row-by-row
#                       ppl_predict, ppl_predict_rows and batched calls
#   BENCH_PREDICT_ROWS=100000   rows of each scored table
#   BENCH_SWEEP=1       0 skips successive halving vs the full grid (sweep_bench.sh)
#   BENCH_SCALE=1       0 skips the analysis-tables-at-scale part
#   BENCH_MPI=1         0 skips labflow-mpi 1 rank vs 2 ranks (mpi_bench.py;
#                       ~4 minutes idle): BENCH_MPI_ROUNDS=2,
#                       BENCH_MPI_EACH_EPOCHS=5, BENCH_MPI_DP_EPOCHS=2
set -u
cd "$(dirname "$0")/../.."
RUNS=${BENCH_RUNS:-3}
EPOCHS=${BENCH_EPOCHS:-3}
THREADS=${BENCH_THREADS:-2}
MODELS=${BENCH_MODELS:-"mlp cnn resnet transformer lstm"}
PRECS=${BENCH_PRECISIONS:-"f32 bf16"}
TFULL=${BENCH_TRANSFORMER_FULL:-0}
TSUB=${BENCH_TRANSFORMER_SUBSET:-12000,2000}
PY=/usr/bin/python3
LIB="$(pwd)/labflow"
out="tools/bench/results-$(date +%Y%m%d-%H%M%S).txt"

[ -f labflow.so ] || { echo "run.sh: build labflow.so first (make)"; exit 1; }
[ -d /usr/share/datasets/fashion-mnist ] || { echo "run.sh: Fashion-MNIST missing (apt-get install dataset-fashion-mnist)"; exit 1; }
if ! grep -qw avx512_bf16 /proc/cpuinfo; then
  PRECS=$(echo "$PRECS" | sed 's/bf16//')
  echo "note: this CPU has no avx512_bf16; bf16 is skipped"
fi
TORCH=${BENCH_TORCH:-1}
if [ "$TORCH" = 1 ] && ! $PY -c 'import torch' 2>/dev/null; then
  echo "note: $PY has no torch; PyTorch is skipped (apt-get install python3-torch)"
  TORCH=0
fi

# PyTorch's best setting here: OpenBLAS (libopenblas0-pthread) with its own
# core detection, glibc malloc that keeps big blocks instead of mmap/munmap
# per batch, and the faster thread split of each model (as measured for the
# targets): the MLP's time is in GEMMs (2 OpenBLAS threads, 1 torch thread),
# the CNN's in convolutions and element-wise ops (2 torch threads, 1
# OpenBLAS thread); the ResNet, convolutions too, as the CNN.
torch_run() {  # model run [ntrain nval]
  if [ "$1" = mlp ]; then tt=1; bt=$THREADS; else tt=$THREADS; bt=1; fi
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u OMP_NUM_THREADS \
      MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456 \
      OPENBLAS_NUM_THREADS=$bt \
      $PY tools/bench/torch_bench.py "$1" "$EPOCHS" "$tt" 1 ${3:-} ${4:-} \
    | sed "s/^torch $1 /torch $1 f32 run $2 /"
}

if [ "${BENCH_TRAIN:-1}" != 0 ]; then
{
  echo "# LabFlow vs PyTorch, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  echo "# git $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+dirty'), threads $THREADS, runs $RUNS, epochs/run $EPOCHS"
  echo "# dataset in memory (f32): train 60000x784 + val 10000x784 floats = 219.5 MB; RSS target 1.5x + 100 MB = 429 MB"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  r=1
  while [ $r -le "$RUNS" ]; do
    for m in $MODELS; do
      sub=${BENCH_SUBSET:-}
      [ "$m" = transformer ] && sub=""
      [ "$m" = transformer ] && [ "$TFULL" != 1 ] && sub=$TSUB
      for p in $PRECS; do
        [ "$m" = transformer ] && [ "$p" != f32 ] && continue   # target is f32
        BENCH_SUBSET=$sub $PY tools/bench/bench_util.py labflow "$LIB" "$m" "$p" "$EPOCHS" "$THREADS" "$r"
      done
      [ "$TORCH" = 1 ] && torch_run "$m" "$r" $(echo "$sub" | tr , ' ')
    done
    r=$((r+1))
  done
  case " $MODELS " in *" transformer "*)
    if [ "$TFULL" = 1 ]; then echo "# transformer: all 60000/10000 images"
    else echo "# transformer: the first ${TSUB%,*} training / ${TSUB#*,} test images (BENCH_TRANSFORMER_FULL=1: all)"; fi;;
  esac
  case "${BENCH_SUBSET:-}" in ?*)
    echo "# other models: the first ${BENCH_SUBSET%,*} training / ${BENCH_SUBSET#*,} test images (BENCH_SUBSET)";;
  esac
  echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine makes every figure slower; rerun when it is idle)"
} | tee "$out.raw"
$PY tools/bench/bench_util.py summary "$out.raw" | tee "$out.sum"
cat "$out.raw" "$out.sum" > "$out"
rm -f "$out.raw" "$out.sum"
echo "results: $out"
case " $MODELS " in *" transformer "*)
  if [ "$TFULL" = 1 ]; then
    echo "== the Transformer's accuracy against PyTorch, seeds 1 and 2 (tools/bench/seq_parity.py)"
    qout="tools/bench/parity-results-$(date +%Y%m%d-%H%M%S).txt"
    $PY tools/bench/seq_parity.py --epochs "$EPOCHS" --threads "$THREADS" --seeds "${BENCH_PARITY_SEEDS:-1,2}" --torch "$TORCH" | tee "$qout"
    echo "results: $qout"
  fi;;
esac
fi
if [ "${BENCH_PREDICT:-1}" != 0 ]; then
  echo "== scoring a table: row-by-row ppl_predict, ppl_predict_rows, batched calls (tools/bench/predict_bench.py)"
  pout="tools/bench/predict-results-$(date +%Y%m%d-%H%M%S).txt"
  { echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), git $(git rev-parse --short HEAD 2>/dev/null)"
    $PY tools/bench/predict_bench.py "$LIB" "${BENCH_PREDICT_ROWS:-100000}" "$THREADS" 3
    echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  } | tee "$pout"
  echo "results: $pout"
fi
if [ "${BENCH_SWEEP:-1}" != 0 ]; then
  echo "== successive halving against the full grid (tools/bench/sweep_bench.sh)"
  BENCH_THREADS=$THREADS sh tools/bench/sweep_bench.sh
fi
if [ "${BENCH_MPI:-1}" != 0 ] && [ -x ./labflow-mpi ] && command -v mpirun >/dev/null 2>&1; then
  echo "== labflow-mpi: 1 rank vs 2 ranks (tools/bench/mpi_bench.py)"
  mout="tools/bench/mpi-results-$(date +%Y%m%d-%H%M%S).txt"
  $PY tools/bench/mpi_bench.py --rounds "${BENCH_MPI_ROUNDS:-2}" --each-epochs "${BENCH_MPI_EACH_EPOCHS:-5}" \
    --dp-epochs "${BENCH_MPI_DP_EPOCHS:-2}" | tee "$mout"
  echo "results: $mout"
fi
[ "${BENCH_SCALE:-1}" = 0 ] && exit 0
echo "== the analysis tables at scale (10,000 pipelines x 50 epochs)"
sh tools/bench/scale.sh
