-- Fashion-MNIST with a small CNN:
-- conv(16, 5, pad 2)-ReLU-maxpool2-conv(32, 5, pad 2)-ReLU-maxpool2-fc128-ReLU-fc10.
-- Run from the repository root after `make`:
--     sqlite3 fashion.db < examples/fashion_cnn.sql
.load ./labflow
.bail on
SELECT lab_init('{"metrics": ["accuracy"], "strategy": {"monitor": "val_accuracy", "mode": "max"}}');
SELECT ppl_new('cnn', '{
  "model": {"loc": "Sequential", "args": {"layers": [
    {"loc": "Conv2d", "args": {"out": 16, "kernel": 5, "padding": 2}}, {"loc": "ReLU"},
    {"loc": "MaxPool2d", "args": {"kernel": 2}},
    {"loc": "Conv2d", "args": {"out": 32, "kernel": 5, "padding": 2}}, {"loc": "ReLU"},
    {"loc": "MaxPool2d", "args": {"kernel": 2}},
    {"loc": "Flatten"},
    {"loc": "Linear", "args": {"out": 128}}, {"loc": "ReLU"},
    {"loc": "Linear", "args": {"out": 10}}]}},
  "dataset": {"loc": "idx", "args": {}},
  "train_data_src": "/usr/share/datasets/fashion-mnist/train",
  "val_data_src": "/usr/share/datasets/fashion-mnist/t10k",
  "loss": {"loc": "CrossEntropyLoss"},
  "optimizer": {"loc": "Adam", "args": {"lr": 0.001}},
  "metrics": {"accuracy": {"loc": "Accuracy"}},
  "train_batch_size": 128, "val_batch_size": 512, "seed": 1}')
WHERE ppl_verify('cnn') IS NULL;
SELECT ppl_train('cnn', 3);
.mode box
SELECT epoch, round(train_loss, 4) AS train_loss, round(val_loss, 4) AS val_loss,
       round(val_accuracy, 4) AS val_accuracy, round(train_duration, 2) AS train_s
FROM ppl_history('cnn');
-- The best epoch's weights on the test split, recomputed from the files:
SELECT ppl_evaluate('cnn', '/usr/share/datasets/fashion-mnist/t10k') AS evaluation;
