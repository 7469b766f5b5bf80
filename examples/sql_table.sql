-- Training straight from a table: a regression (y = 3x + 1 with noise) and
-- a classifier on a BLOB column, both from SELECTs on the project database.
-- Run from the repository root after `make`:
--     sqlite3 table.db < examples/sql_table.sql
.load ./labflow
.bail on
SELECT lab_init('{"metrics": ["mae"], "strategy": {"monitor": "val_loss", "mode": "min"}, "progress": false}');
CREATE TABLE IF NOT EXISTS samples AS
  WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < 499)
  SELECT n, n / 500.0 AS x, 3.0 * (n / 500.0) + 1.0 + ((n * 7919) % 100 - 50) / 1000.0 AS y FROM i;
SELECT ppl_new('line', '{
  "model": {"loc": "Sequential", "args": {"layers": [{"loc": "Linear", "args": {"out": 1}}]}},
  "dataset": {"loc": "sql", "args": {"label": "y", "features": ["x"]}},
  "train_data_src": "SELECT x, y FROM samples WHERE n % 5 != 0",
  "val_data_src": "SELECT x, y FROM samples WHERE n % 5 = 0",
  "loss": {"loc": "MSELoss"},
  "optimizer": {"loc": "SGD", "args": {"lr": 0.3}},
  "metrics": {"mae": {"loc": "MAE"}},
  "train_batch_size": 20}')
WHERE ppl_verify('line') IS NULL;
SELECT json_extract(ppl_train('line', 20), '$.last_epoch') AS trained_to_epoch;
.mode box
SELECT epoch, round(val_loss, 5) AS val_loss, round(val_mae, 4) AS val_mae FROM ppl_history('line') WHERE epoch % 5 = 0;
-- The learned line: prediction at x = 0 and x = 1 (expect about 1 and 4).
SELECT round(json_extract(ppl_predict('line', '[0]'), '$[0]'), 2) AS at_0,
       round(json_extract(ppl_predict('line', '[1]'), '$[0]'), 2) AS at_1;
SELECT name, shape FROM ppl_weights('line');
