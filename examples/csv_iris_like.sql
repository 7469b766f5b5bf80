-- A CSV dataset with text labels, written by the script itself, two
-- pipelines that differ in their optimizer, compared with plain SQL.
-- Run from the repository root after `make`:
--     sqlite3 csv.db < examples/csv_iris_like.sql
.load ./labflow
.bail on
SELECT lab_init('{"metrics": ["accuracy", "f1"], "strategy": {"monitor": "val_f1", "mode": "max"}, "progress": false}');
-- Three classes of points around three centres, made deterministically,
-- written beside the database (relative data paths resolve against the
-- database's folder).
SELECT writefile((SELECT rtrim(file, replace(file, '/', '')) FROM pragma_database_list WHERE name = 'main') || 'flowers.csv', 'petal,sepal,kind' || char(10) || (
  WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < 299)
  SELECT group_concat(printf('%.3f,%.3f,%s',
           (n % 3) * 2.0 + ((n * 7919) % 100) / 60.0,
           (n % 3) * 1.5 + ((n * 104729) % 100) / 60.0,
           CASE n % 3 WHEN 0 THEN 'setosa' WHEN 1 THEN 'versicolor' ELSE 'virginica' END), char(10))
  FROM i) || char(10)) > 0 AS wrote_csv;
SELECT ppl_new('flowers-adam', '{
  "model": {"loc": "Sequential", "args": {"layers": [
    {"loc": "Linear", "args": {"out": 16}}, {"loc": "ReLU"},
    {"loc": "Linear", "args": {"out": 3}}]}},
  "dataset": {"loc": "csv", "args": {"label": "kind", "standardize": true}},
  "train_data_src": "flowers.csv", "val_data_src": "flowers.csv",
  "loss": {"loc": "CrossEntropyLoss"},
  "optimizer": {"loc": "Adam", "args": {"lr": 0.01}},
  "metrics": {"accuracy": {"loc": "Accuracy"}, "f1": {"loc": "F1"}},
  "train_batch_size": 16, "seed": 1}')
WHERE ppl_verify('flowers-adam') IS NULL;
SELECT ppl_fork('flowers-sgd', 'flowers-adam', '{"optimizer": {"loc": "SGD", "args": {"lr": 0.05, "momentum": 0.9}}}')
WHERE ppl_verify('flowers-sgd') IS NULL;
SELECT pplid, json_extract(ppl_train(pplid, 15), '$.ended') AS ended FROM ppls WHERE pplid LIKE 'flowers-%';
.mode box
SELECT pplid, best_epoch, round(val_accuracy, 3) AS val_accuracy, round(val_f1, 3) AS val_f1 FROM ppl_status ORDER BY val_f1 DESC;
SELECT ppl_predict('flowers-adam', '[[0.5, 0.5], [4.5, 3.5]]', 'best', 'class') AS predicted;
