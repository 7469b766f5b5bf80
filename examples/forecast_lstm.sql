-- Forecasting with an LSTM on sliding windows of a CSV time series, against
-- the last-value baseline ("tomorrow is like today"), both measured on the
-- same validation targets: the last 25% of the series, which the training
-- split never sees (docs/sequences.md).
-- Run from the repository root after `make`:
--     sqlite3 forecast.db < examples/forecast_lstm.sql
.load ./labflow
.bail on
SELECT lab_init('{"metrics": ["rmse"], "strategy": {"monitor": "val_loss", "mode": "min"}, "threads": 2, "progress": false}');
-- The series: a daily and a weekly cycle plus deterministic noise, kept
-- in a table and written as series.csv next to the database (t, load).
CREATE TABLE IF NOT EXISTS series AS
  WITH RECURSIVE i(t) AS (SELECT 0 UNION ALL SELECT t + 1 FROM i WHERE t < 799)
  SELECT t, round(sin(2 * pi() * t / 24.0) + 0.5 * sin(2 * pi() * t / 168.0) + ((t * 7919) % 101 - 50) / 500.0, 4) AS load FROM i;
SELECT writefile(rtrim(file, replace(file, '/', '')) || 'series.csv',
  't,load' || char(10) || (SELECT group_concat(t || ',' || printf('%.4f', load), char(10)) FROM series) || char(10)) > 0 AS wrote_csv
  FROM pragma_database_list WHERE name = 'main';
-- 24 past values predict the next one; the last 25% of the rows hold the
-- validation targets.
SELECT ppl_new('forecast', '{
  "model": {"loc": "Sequential", "args": {"layers": [
    {"loc": "LSTM", "args": {"hidden_size": 32, "output": "last"}},
    {"loc": "Linear", "args": {"out": 1}}]}},
  "dataset": {"loc": "csv", "args": {"label": "load", "features": ["load"], "window": 24, "val_fraction": 0.25}},
  "train_data_src": "series.csv", "val_data_src": "series.csv",
  "loss": {"loc": "MSELoss"},
  "optimizer": {"loc": "Adam", "args": {"lr": 0.01}},
  "metrics": {"rmse": {"loc": "RMSE"}},
  "train_batch_size": 32, "seed": 1}')
WHERE ppl_verify('forecast') IS NULL;
SELECT json_extract(ppl_train('forecast', 6), '$.last_epoch') AS trained_to_epoch;
-- The LSTM's last epoch and the baseline on the same targets: rows 600..799 (800 - round(0.25 * 800)),
-- each predicted by the row before it.
.mode box
WITH lagged AS (SELECT t, load, lag(load) OVER (ORDER BY t) AS prev FROM series)
SELECT round(h.val_rmse, 4) AS lstm_val_rmse,
       round(sqrt(avg((load - prev) * (load - prev))), 4) AS last_value_rmse,
       h.val_rmse < sqrt(avg((load - prev) * (load - prev))) AS lstm_wins
  FROM lagged, (SELECT val_rmse FROM ppl_history('forecast') ORDER BY epoch DESC LIMIT 1) AS h
  WHERE t >= 600;
