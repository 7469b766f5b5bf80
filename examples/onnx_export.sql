-- Train a small classifier, export it to ONNX, and predict in LabFlow the
-- samples examples/onnx_runtime.js (Node.js) and examples/onnx_runtime.py
-- (Python) then run in ONNX Runtime: the outputs agree (docs/export.md).
-- Run from the repository root after `make`:
--     sqlite3 onnx.db < examples/onnx_export.sql
--     node examples/onnx_runtime.js fruit.onnx
--     python3 examples/onnx_runtime.py fruit.onnx    # pip install onnxruntime
-- fruit.onnx is written beside the database (a relative path stays in the
-- project's folder); running it again trains 3 more epochs and replaces it.
.load ./labflow
.bail on
SELECT lab_init('{"metrics": ["accuracy"], "strategy": {"monitor": "val_accuracy", "mode": "max"}, "progress": false}');
-- Two features in their own units (centimetres, grams) and a text label.
-- Written beside the database (relative data paths resolve against the
-- database's folder).
SELECT writefile((SELECT rtrim(file, replace(file, '/', '')) FROM pragma_database_list WHERE name = 'main') || 'fruit.csv',
  'width,weight,label' || char(10) || (
  WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < 299)
  SELECT group_concat(printf('%.1f,%.0f,%s', 4 + (n % 30) / 5.0, 80 + (n * 37 % 200),
           CASE WHEN (n % 30) / 5.0 * 40 + (n * 37 % 200) > 220 THEN 'apple' ELSE 'plum' END), char(10))
  FROM i) || char(10)) > 0 AS wrote_csv;
SELECT ppl_new('fruit', '{
  "model": {"loc": "Sequential", "args": {"layers": [
    {"loc": "Linear", "args": {"out": 16}}, {"loc": "ReLU"},
    {"loc": "Linear", "args": {"out": 2}}]}},
  "dataset": {"loc": "csv", "args": {"label": "label", "features": ["width", "weight"], "standardize": true}},
  "train_data_src": "fruit.csv", "val_data_src": "fruit.csv",
  "loss": {"loc": "CrossEntropyLoss"},
  "optimizer": {"loc": "Adam", "args": {"lr": 0.02}},
  "metrics": {"accuracy": {"loc": "Accuracy"}},
  "train_batch_size": 16, "seed": 1}')
WHERE ppl_verify('fruit') IS NULL;
SELECT json_extract(ppl_train('fruit', 3), '$.last_epoch') AS last_epoch;
-- The network, its standardisation and a softmax, in one ONNX file.
SELECT json_extract(ppl_export('fruit', 'fruit.onnx', 'best', '{"output": "proba", "overwrite": true}'), '$.bytes') > 0 AS exported;
-- What ONNX Runtime must give for the same raw samples:
SELECT ppl_predict('fruit', '[[4.5, 100], [9.0, 200]]', 'best', 'proba') AS proba,
       ppl_predict('fruit', '[[4.5, 100], [9.0, 200]]', 'best', 'class') AS class;
