-- labflow_bench.sql — the LabFlow side of `make bench` (run.sh fills in
-- @LIB@, @THREADS@, @MODEL@, @PRECISION@ and @EPOCHS@). One project per run,
-- in a fresh directory; the models are the ones torch_bench.py builds.
.bail on
.load @LIB@
SELECT lab_init('{"metrics":["accuracy"],"strategy":{"monitor":"val_accuracy","mode":"max"},"progress":true,"threads":@THREADS@}');
SELECT ppl_new('mlp', '{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Flatten"},{"loc":"Linear","args":{"out":256}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":128}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":10}}]}},"dataset":{"loc":"idx"},"train_data_src":"/usr/share/datasets/fashion-mnist/train","val_data_src":"/usr/share/datasets/fashion-mnist/t10k","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"Adam","args":{"lr":0.001}},"metrics":{"accuracy":{"loc":"Accuracy"}},"train_batch_size":128,"val_batch_size":256,"seed":1,"precision":"@PRECISION@"}') WHERE '@MODEL@'='mlp';
SELECT ppl_new('cnn', '{"model":{"loc":"Sequential","args":{"layers":[{"loc":"Conv2d","args":{"out":16,"kernel":5,"padding":2}},{"loc":"ReLU"},{"loc":"MaxPool2d","args":{"kernel":2}},{"loc":"Conv2d","args":{"out":32,"kernel":5,"padding":2}},{"loc":"ReLU"},{"loc":"MaxPool2d","args":{"kernel":2}},{"loc":"Flatten"},{"loc":"Linear","args":{"out":128}},{"loc":"ReLU"},{"loc":"Linear","args":{"out":10}}]}},"dataset":{"loc":"idx"},"train_data_src":"/usr/share/datasets/fashion-mnist/train","val_data_src":"/usr/share/datasets/fashion-mnist/t10k","loss":{"loc":"CrossEntropyLoss"},"optimizer":{"loc":"Adam","args":{"lr":0.001}},"metrics":{"accuracy":{"loc":"Accuracy"}},"train_batch_size":128,"val_batch_size":256,"seed":1,"precision":"@PRECISION@"}') WHERE '@MODEL@'='cnn';
SELECT ppl_train('@MODEL@', @EPOCHS@);
SELECT 'history', epoch, name, value FROM history WHERE pplid='@MODEL@' ORDER BY epoch, name;
