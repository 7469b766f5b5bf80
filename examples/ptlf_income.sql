-- The PyTorchLabFlow tutorial's model on income-like tabular data: each
-- categorical text column through its own embedding, concatenated with the
-- standardised continuous columns, an MLP with dropout, one logit,
-- BCEWithLogitsLoss, and accuracy, AUROC and AUPRC.
-- The script writes its own CSVs (train and validation, with text
-- categories and a few '?' values) beside the database.
-- Run from the repository root after `make`:
--     sqlite3 income.db < examples/ptlf_income.sql
-- tools/bench/ptlf_parity.py trains this model in LabFlow and in PyTorch on
-- the same split and compares accuracy and AUROC; docs/models.md ("The
-- tutorial model against PyTorch") shows the figures and how to run it on
-- the real UCI Adult census CSV.
.load ./labflow
.bail on
SELECT lab_init('{"metrics": ["accuracy", "auroc", "auprc"], "strategy": {"monitor": "val_auroc", "mode": "max"}, "progress": false}');
-- 3000 people; the label depends on categories and numbers (with noise).
CREATE TEMP TABLE people AS
  WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < 2999)
  SELECT n,
    18 + (n * 7919) % 50 AS age,
    CASE (n * 104729) % 7 WHEN 0 THEN 'Self-emp' WHEN 1 THEN 'Gov' WHEN 2 THEN '?' ELSE 'Private' END AS workclass,
    CASE (n * 1299709) % 5 WHEN 0 THEN 'Bachelors' WHEN 1 THEN 'Masters' WHEN 2 THEN 'Doctorate' ELSE 'HS-grad' END AS education,
    CASE (n * 15485863) % 3 WHEN 0 THEN 'Married' WHEN 1 THEN 'Never-married' ELSE 'Divorced' END AS marital,
    20 + (n * 32452843) % 45 AS hours
  FROM i;
CREATE TEMP TABLE labelled AS
  SELECT *, CASE WHEN (education IN ('Masters', 'Doctorate')) * 1.2 + (marital = 'Married') * 1.0
                    + (age - 40) / 15.0 + (hours - 40) / 20.0 + (workclass = 'Self-emp') * 0.5
                    + ((n * 49979687) % 100) / 60.0 > 2.0
                 THEN '>50K' ELSE '<=50K' END AS income
  FROM people;
SELECT writefile((SELECT rtrim(file, replace(file, '/', '')) FROM pragma_database_list WHERE name = 'main') || name || '.csv',
  'age,workclass,education,marital,hours,income' || char(10) ||
  (SELECT group_concat(age || ',' || workclass || ',' || education || ',' || marital || ',' || hours || ',' || income, char(10))
   FROM labelled WHERE (n % 5 = 0) = (name = 'income_val')) || char(10)) > 0 AS wrote_csv
FROM (SELECT 'income_train' AS name UNION ALL SELECT 'income_val');
SELECT ppl_new('income', '{
  "model": {"loc": "Sequential", "args": {"layers": [
    {"loc": "CategoricalEmbedding", "args": {"dim": 4}},
    {"loc": "Linear", "args": {"out": 32}}, {"loc": "ReLU"}, {"loc": "Dropout", "args": {"p": 0.2}},
    {"loc": "Linear", "args": {"out": 16}}, {"loc": "ReLU"},
    {"loc": "Linear", "args": {"out": 1}}]}},
  "dataset": {"loc": "csv", "args": {"label": "income", "inputs": {
    "cat": {"columns": ["workclass", "education", "marital"], "categorical": true},
    "cont": {"columns": ["age", "hours"], "standardize": true}}}},
  "train_data_src": "income_train.csv", "val_data_src": "income_val.csv",
  "loss": {"loc": "BCEWithLogitsLoss"},
  "optimizer": {"loc": "Adam", "args": {"lr": 0.005}},
  "metrics": {"accuracy": {"loc": "Accuracy"}, "auroc": {"loc": "AUROC"}, "auprc": {"loc": "AUPRC"}},
  "train_batch_size": 64, "seed": 1}')
WHERE ppl_verify('income') IS NULL;
-- Rows with '?' are dropped (the default "na": "drop"); the summary counts them.
SELECT json_extract(s, '$.last_epoch') AS last_epoch, json_extract(s, '$.dropped_rows') AS dropped_rows
FROM (SELECT ppl_train('income', 8) AS s);
.mode box
SELECT epoch, round(max(CASE WHEN name = 'val_accuracy' THEN value END), 3) AS val_accuracy,
       round(max(CASE WHEN name = 'val_auroc' THEN value END), 3) AS val_auroc,
       round(max(CASE WHEN name = 'val_auprc' THEN value END), 3) AS val_auprc
FROM history WHERE pplid = 'income' GROUP BY epoch ORDER BY epoch;
.mode list
-- One person, by column name; an unseen category gets the unknown code.
SELECT ppl_predict('income', '{"age": 52, "workclass": "Private", "education": "Masters", "marital": "Married", "hours": 50}', 'best', 'class') AS prediction;
SELECT ppl_predict('income', '{"age": 23, "workclass": "Astronaut", "education": "HS-grad", "marital": "Never-married", "hours": 20}', 'best', 'class') AS prediction;
