#!/usr/bin/env python3
"""onnx_runtime.py — run a model LabFlow exported (ppl_export) in ONNX
Runtime from Python: the same raw samples as ppl_predict, the same
probabilities, and the class labels from the file's metadata
(examples/onnx_export.sql makes the file).

ONNX Runtime's Python package is not in Debian; install it from PyPI:

    python3 -m venv ort && . ort/bin/activate && pip install onnxruntime numpy
    python3 examples/onnx_runtime.py fruit.onnx
"""
import json
import sys

try:
    import numpy as np
    import onnxruntime as ort
except ImportError:
    sys.exit("onnxruntime is not installed: pip install onnxruntime numpy (in a venv)")

path = sys.argv[1] if len(sys.argv) > 1 else "fruit.onnx"
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
x = np.array([[4.5, 100], [9.0, 200]], dtype=np.float32)
proba = session.run(None, {session.get_inputs()[0].name: x})[0]
labels = json.loads(meta.get("class_labels", "null")) or list(range(proba.shape[1]))
print(json.dumps(proba.tolist()))
print(json.dumps([labels[int(i)] for i in proba.argmax(axis=1)]))
print("pipeline %s, epoch %s, LabFlow %s" % (meta["pplid"], meta["epoch"], meta["labflow_version"]))
