-- Fashion-MNIST with a multilayer perceptron (784-256-128-10, ReLU, Adam).
-- Run from the repository root after `make`:
--     sqlite3 fashion.db < examples/fashion_mlp.sql
-- Running it again trains 3 more epochs (ppl_train resumes).
.load ./labflow
.bail on
SELECT lab_init('{"metrics": ["accuracy"], "strategy": {"monitor": "val_accuracy", "mode": "max"}}');
SELECT ppl_new('mlp', '{
  "model": {"loc": "Sequential", "args": {"layers": [
    {"loc": "Flatten"},
    {"loc": "Linear", "args": {"out": 256}}, {"loc": "ReLU"},
    {"loc": "Linear", "args": {"out": 128}}, {"loc": "ReLU"},
    {"loc": "Linear", "args": {"out": 10}}]}},
  "dataset": {"loc": "idx", "args": {}},
  "train_data_src": "/usr/share/datasets/fashion-mnist/train",
  "val_data_src": "/usr/share/datasets/fashion-mnist/t10k",
  "loss": {"loc": "CrossEntropyLoss"},
  "optimizer": {"loc": "Adam", "args": {"lr": 0.001}},
  "metrics": {"accuracy": {"loc": "Accuracy"}},
  "train_batch_size": 128, "val_batch_size": 512, "seed": 1}')
WHERE ppl_verify('mlp') IS NULL;
SELECT ppl_train('mlp', 3);
.mode box
SELECT epoch, round(train_loss, 4) AS train_loss, round(val_loss, 4) AS val_loss,
       round(val_accuracy, 4) AS val_accuracy, round(train_duration, 2) AS train_s
FROM ppl_history('mlp');
