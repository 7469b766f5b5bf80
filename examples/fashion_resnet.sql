-- Fashion-MNIST with a small ResNet: a conv stem, three residual stages
-- (16, 32, 64 channels; the last two halve the image with a strided conv
-- and a 1x1 shortcut), BatchNorm after every conv, global average pool,
-- one linear layer. Residual blocks sit inside the Sequential as layers.
-- Run from the repository root after `make`:
--     sqlite3 fashion.db < examples/fashion_resnet.sql
.load ./labflow
.bail on
SELECT lab_init('{"metrics": ["accuracy"], "strategy": {"monitor": "val_accuracy", "mode": "max"}}');
SELECT ppl_new('resnet', '{
  "model": {"loc": "Sequential", "args": {"layers": [
    {"loc": "Conv2d", "args": {"out": 16, "kernel": 3, "padding": 1, "bias": false}},
    {"loc": "BatchNorm2d"}, {"loc": "ReLU"},
    {"loc": "Residual", "args": {"layers": [
      {"loc": "Conv2d", "args": {"out": 16, "kernel": 3, "padding": 1, "bias": false}},
      {"loc": "BatchNorm2d"}, {"loc": "ReLU"},
      {"loc": "Conv2d", "args": {"out": 16, "kernel": 3, "padding": 1, "bias": false}},
      {"loc": "BatchNorm2d"}]}},
    {"loc": "ReLU"},
    {"loc": "Residual", "args": {"layers": [
      {"loc": "Conv2d", "args": {"out": 32, "kernel": 3, "stride": 2, "padding": 1, "bias": false}},
      {"loc": "BatchNorm2d"}, {"loc": "ReLU"},
      {"loc": "Conv2d", "args": {"out": 32, "kernel": 3, "padding": 1, "bias": false}},
      {"loc": "BatchNorm2d"}],
      "shortcut": [
      {"loc": "Conv2d", "args": {"out": 32, "kernel": 1, "stride": 2, "bias": false}},
      {"loc": "BatchNorm2d"}]}},
    {"loc": "ReLU"},
    {"loc": "Residual", "args": {"layers": [
      {"loc": "Conv2d", "args": {"out": 64, "kernel": 3, "stride": 2, "padding": 1, "bias": false}},
      {"loc": "BatchNorm2d"}, {"loc": "ReLU"},
      {"loc": "Conv2d", "args": {"out": 64, "kernel": 3, "padding": 1, "bias": false}},
      {"loc": "BatchNorm2d"}],
      "shortcut": [
      {"loc": "Conv2d", "args": {"out": 64, "kernel": 1, "stride": 2, "bias": false}},
      {"loc": "BatchNorm2d"}]}},
    {"loc": "ReLU"},
    {"loc": "GlobalAvgPool"},
    {"loc": "Linear", "args": {"out": 10}}]}},
  "dataset": {"loc": "idx", "args": {}},
  "train_data_src": "/usr/share/datasets/fashion-mnist/train",
  "val_data_src": "/usr/share/datasets/fashion-mnist/t10k",
  "loss": {"loc": "CrossEntropyLoss"},
  "optimizer": {"loc": "Adam", "args": {"lr": 0.001}},
  "metrics": {"accuracy": {"loc": "Accuracy"}},
  "train_batch_size": 128, "val_batch_size": 512, "seed": 1}')
WHERE ppl_verify('resnet') IS NULL;
SELECT ppl_train('resnet', 3);
.mode box
SELECT epoch, round(train_loss, 4) AS train_loss, round(val_loss, 4) AS val_loss,
       round(val_accuracy, 4) AS val_accuracy, round(train_duration, 2) AS train_s
FROM ppl_history('resnet');
-- The best epoch's weights on the test split, recomputed from the files:
SELECT ppl_evaluate('resnet', '/usr/share/datasets/fashion-mnist/t10k') AS evaluation;
