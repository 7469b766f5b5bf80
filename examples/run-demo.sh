#!/bin/sh
# run-demo.sh — what `make demo` runs: a Fashion-MNIST project in demo/
# with an MLP and a CNN, trained, then their history and status.
set -e
cd "$(dirname "$0")/.."
mkdir -p demo
DB=demo/fashion.db
echo "== LabFlow demo: project $DB (artifacts in $DB.labflow)"
sqlite3 "$DB" < examples/fashion_mlp.sql
sqlite3 "$DB" < examples/fashion_cnn.sql
echo "== Status of every pipeline"
sqlite3 -box "$DB" ".load ./labflow" "SELECT pplid, status, best_epoch, last_epoch, round(val_accuracy, 4) AS best_val_accuracy FROM ppl_status;"
