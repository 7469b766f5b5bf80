#!/bin/sh
# sweep_bench.sh — part of `make bench` (also runs alone): successive halving
# against the full grid on Fashion-MNIST.
#
# A 9-member grid (Adam lr 3e-3, 1e-3, 3e-4 x first hidden layer 64, 128,
# 256) over the MLP 784-W-128-10 of run.sh, halved with eta 3 from 1 to 9
# epochs (rungs: 9 members x 1 epoch, 3 x 3, 1 x 9: 21 epochs). Then every
# member is trained on to 9 epochs (exact resume: the epochs halving already
# trained count, none is repeated) to know the best member with the full
# budget. Reported: the halving winner's best validation accuracy, the best
# full-budget member's, the gap in points, and the epochs halving spent
# against the full grid's 81. Targets (issue 16): gap <= 0.5 points, epochs
# <= 40% of the grid's. Not a timed test; wall times are printed for
# information only (the machine may be shared).
#
#   BENCH_THREADS=2   oneDNN threads
#   BENCH_KEEP=1      keep the project folder (printed) instead of deleting it
set -u
cd "$(dirname "$0")/../.."
THREADS=${BENCH_THREADS:-2}
LIB="$(pwd)/labflow"
SQLITE=${LF_SQLITE3:-sqlite3}
out="tools/bench/sweep-results-$(date +%Y%m%d-%H%M%S).txt"
[ -f labflow.so ] || { echo "sweep_bench.sh: build labflow.so first (make)"; exit 1; }
[ -d /usr/share/datasets/fashion-mnist ] || { echo "sweep_bench.sh: Fashion-MNIST missing (apt-get install dataset-fashion-mnist)"; exit 1; }
dir=$(mktemp -d /tmp/lfsweepbench.XXXXXX)
db=$dir/sweep.db

now() { date +%s.%N; }

{
  echo "# successive halving vs full grid, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, threads $THREADS, git $(git rev-parse --short HEAD 2>/dev/null)"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$SQLITE" -batch "$db" <<EOF
.bail on
.load $LIB
SELECT lab_init('{"metrics":["accuracy"],"strategy":{"monitor":"val_accuracy","mode":"max"},"progress":false,"threads":$THREADS}') IS NOT NULL;
SELECT ppl_new('mlp', '{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Flatten"},{"loc":"Linear","args":{"out":256}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":128}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":10}}]}},"dataset":{"loc":"idx"},"train_data_src":"/usr/share/datasets/fashion-mnist/train","val_data_src":"/usr/share/datasets/fashion-mnist/t10k","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"Adam","args":{"lr":0.001}},"metrics":{"accuracy":{"loc":"Accuracy"}},"train_batch_size":128,"val_batch_size":256,"seed":1}') IS NOT NULL;
SELECT 'members', ppl_sweep('grid', 'mlp', '{"optimizer>args>lr":[0.003,0.001,0.0003],"model>args>layers[1]>args>out":[64,128,256]}');
EOF
  t0=$(now)
  summary=$("$SQLITE" -batch "$db" ".load $LIB" "SELECT ppl_halving('grid', 1, 9, 3);")
  t1=$(now)
  echo "halving summary: $summary"
  echo "halving wall time: $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s"
  t0=$(now)
  "$SQLITE" -batch "$db" ".load $LIB" \
    "SELECT count(ppl_train(m.pplid, 9 - s.last_epoch)) FROM sweep_members m JOIN ppl_state s ON s.pplid=m.pplid WHERE m.sweep='grid' AND s.last_epoch < 9;" > /dev/null
  t1=$(now)
  echo "training the other members on to 9 epochs: $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s"
  "$SQLITE" -batch "$db" <<'EOF'
.mode list
CREATE TEMP VIEW best AS
  SELECT m.pplid, m.params, m.pruned_rung, max(h.value) AS acc
  FROM sweep_members m JOIN history h ON h.pplid=m.pplid AND h.name='val_accuracy' AND h.epoch<=9
  WHERE m.sweep='grid' GROUP BY m.pplid;
CREATE TEMP VIEW winner AS SELECT json_extract(halving, '$.winner') AS pplid FROM sweeps WHERE name='grid';
CREATE TEMP VIEW top AS SELECT * FROM best ORDER BY acc DESC, pplid LIMIT 1;
-- The epochs the schedule spent: a pruned member's rung, the others 9.
CREATE TEMP VIEW spent AS SELECT sum(coalesce(pruned_epochs, 9)) AS e FROM sweep_members WHERE sweep='grid';
SELECT 'member ' || pplid || ' ' || params || ': best val_accuracy (9 epochs) ' || printf('%.4f', acc)
       || CASE WHEN pruned_rung IS NULL THEN ' (halving winner)' ELSE ' (pruned at rung ' || pruned_rung || ')' END
FROM best ORDER BY acc DESC;
SELECT 'halving winner ' || w.pplid || ': ' || printf('%.2f', 100*b.acc) || '%; best full-budget member ' || t.pplid || ': '
       || printf('%.2f', 100*t.acc) || '%; gap ' || printf('%.2f', 100*(t.acc - b.acc)) || ' points (target <= 0.5): '
       || CASE WHEN 100*(t.acc - b.acc) <= 0.5 THEN 'met' ELSE 'NOT met' END
FROM winner w JOIN best b ON b.pplid=w.pplid, top t;
SELECT 'epochs: halving ' || e || ' of the full grid''s 81 (' || printf('%.1f', 100.0*e/81) || '%, target <= 40%): '
       || CASE WHEN e <= 0.4*81 THEN 'met' ELSE 'NOT met' END FROM spent;
EOF
  echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$out"
echo "results: $out"
if [ -n "${BENCH_KEEP:-}" ]; then echo "project kept in $dir"; else rm -rf "$dir"; fi
