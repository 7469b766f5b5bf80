-- The example plugin end to end: load it, train a classifier whose
-- activation, loss, learning-rate schedule and one metric come from it,
-- resume, predict.
-- Run from the repository root after `make` and
-- `make -C examples/plugin LABFLOW_INCLUDE=../../include`:
--     sqlite3 plugin.db < examples/plugin/train.sql
.load ./labflow
.bail on
SELECT lab_load_plugin('./examples/plugin/myplugin.so');
SELECT lab_init('{"metrics": ["accuracy", "brier"], "strategy": {"monitor": "val_loss", "mode": "min"}, "progress": false}');
-- Three classes by the angle of (x1, x2) on a spiral-free disc.
CREATE TABLE IF NOT EXISTS points AS
  WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < 599)
  SELECT n, x1, x2, CASE WHEN x1 > 0.0 AND x2 > 0.0 THEN 0 WHEN x1 <= 0.0 THEN 1 ELSE 2 END AS label
  FROM (SELECT n, ((n * 7919) % 1000) / 500.0 - 1.0 AS x1, ((n * 104729) % 997) / 498.5 - 1.0 AS x2 FROM i);
SELECT ppl_new('swishnet', '{
  "model": {"loc": "Sequential", "args": {"layers": [
    {"loc": "Linear", "args": {"out": 16}},
    {"loc": "myplugin.Swish", "args": {"beta": 1.5}},
    {"loc": "Linear", "args": {"out": 3}}]}},
  "dataset": {"loc": "sql", "args": {"label": "label", "features": ["x1", "x2"]}},
  "train_data_src": "SELECT x1, x2, label FROM points WHERE n % 5 != 0",
  "val_data_src": "SELECT x1, x2, label FROM points WHERE n % 5 = 0",
  "loss": {"loc": "myplugin.FocalLoss", "args": {"gamma": 2}},
  "optimizer": {"loc": "Adam", "args": {"lr": 0.02, "scheduler": {"loc": "myplugin.ExpDecay", "args": {"gamma": 0.9}}}},
  "metrics": {"accuracy": {"loc": "Accuracy"}, "brier": {"loc": "myplugin.Brier"}},
  "train_batch_size": 32}')
WHERE ppl_verify('swishnet') IS NULL;
SELECT plugins IS NOT NULL AS records_plugin FROM ppl_details('swishnet');
-- Three epochs, then two more: the same history as five in one go.
SELECT json_extract(ppl_train('swishnet', 3), '$.last_epoch') AS trained_to;
SELECT json_extract(ppl_train('swishnet', 2), '$.last_epoch') AS resumed_to;
.mode box
SELECT epoch, round(val_loss, 4) AS val_loss, round(val_accuracy, 3) AS val_accuracy,
       round(val_brier, 3) AS val_brier, round(lr, 6) AS lr FROM ppl_history('swishnet');
-- A point in each class's region: expect classes 0, 1 and 2.
SELECT ppl_predict('swishnet', '[[0.5, 0.5], [-0.5, 0.3], [0.5, -0.5]]', 'best', 'class') AS classes;
