#!/bin/sh
# scale.sh — the analysis tables at scale: a project with 10,000 pipelines
# and 50 epochs of history each (history rows written directly, as the
# trainer would), then the time of the queries researchers run most.
# Prints one line per figure with its target. Part of `make bench`.
set -e
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap '[ -n "$LF_SCALE_KEEP" ] || rm -rf "$tmp"' EXIT
DB=$tmp/scale.db
N=${LF_SCALE_PIPELINES:-10000}
EPOCHS=${LF_SCALE_EPOCHS:-50}
printf 'x1,x2,y\n0,1,0\n1,0,1\n' > "$tmp/d.csv"

now(){ date +%s.%N; }
ms(){ awk -v a="$1" -v b="$2" -v n="${3:-1}" 'BEGIN{printf "%.2f", (b-a)*1000/n}'; }

sqlite3 "$DB" ".load ./labflow" "SELECT lab_init('{\"metrics\":[\"accuracy\"],\"progress\":false}');" > /dev/null
# ppl_new: N pipelines that differ in seed and learning rate.
t0=$(now)
sqlite3 "$DB" ".load ./labflow" "
WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM i WHERE n < $N)
SELECT count(ppl_new('p' || n, json_object(
  'model', json('{\"loc\":\"Sequential\",\"args\":{\"layers\":[{\"loc\":\"Linear\",\"args\":{\"out\":2}}]}}'),
  'dataset', json('{\"loc\":\"csv\",\"args\":{\"label\":\"y\"}}'),
  'train_data_src', 'd.csv', 'val_data_src', 'd.csv',
  'loss', json('{\"loc\":\"CrossEntropyLoss\"}'),
  'optimizer', json_object('loc', 'Adam', 'args', json_object('lr', 0.001 * (1 + n % 7))),
  'metrics', json('{\"accuracy\":{\"loc\":\"Accuracy\"}}'),
  'seed', n))) FROM i;" > /dev/null
t1=$(now)
echo "ppl_new: $(ms $t0 $t1 $N) ms each over $N pipelines (target <= 5 ms)"

sqlite3 "$DB" "
BEGIN;
WITH RECURSIVE e(k) AS (SELECT 1 UNION ALL SELECT k+1 FROM e WHERE k < $EPOCHS),
     q(name) AS (VALUES('train_accuracy'),('train_loss'),('train_duration'),('val_accuracy'),('val_loss'),('val_duration'))
INSERT INTO history(pplid, epoch, name, value)
  SELECT pplid, k, name, abs(random() % 1000) / 1000.0 FROM ppls, e, q;
UPDATE ppl_state SET last_epoch = $EPOCHS, best_epoch = 1 + abs(random() % $EPOCHS);
COMMIT;"
rows=$(sqlite3 "$DB" "SELECT count(*) FROM history")
echo "history: $rows rows"

# The best of 5 runs of a query in one shell (.timer), in ms: what the query
# itself costs, without process start-up.
best(){
  printf '.load ./labflow\n.output /dev/null\n.timer on\n%s\n%s\n%s\n%s\n%s\n' "$1" "$1" "$1" "$1" "$1" |
    sqlite3 "$DB" 2>&1 | awk '/^Run Time/{v=$4*1000; if(b==""||v<b)b=v} END{printf "%.2f", b}'
}
fig(){ echo "$1: $(best "$2") ms (target <= $3 ms)"; }
fig "SELECT * FROM ppl_status" "SELECT * FROM ppl_status;" 100
fig "SELECT * FROM ppl_history('p5000')" "SELECT * FROM ppl_history('p5000');" 5
fig "SELECT * FROM ppl_filter('optimizer>args>lr=0.003')" "SELECT * FROM ppl_filter('optimizer>args>lr=0.003');" 200
