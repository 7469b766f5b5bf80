'use strict';
// onnx_runtime.js — run a model LabFlow exported (ppl_export) in ONNX
// Runtime from Node.js: the same raw samples as ppl_predict, the same
// probabilities (examples/onnx_export.sql makes the file).
//
//     npm install onnxruntime-node        # or: sh tools/host-deps.sh
//     node examples/onnx_runtime.js fruit.onnx
const path = require('path');

let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  try {  // the copy tools/host-deps.sh installs for the tests
    ort = require(path.resolve(__dirname, '..', 'tests', 'node', '.ort', 'node_modules', 'onnxruntime-node'));
  } catch (e2) {
    console.error('onnxruntime-node is not installed: npm install onnxruntime-node');
    process.exit(1);
  }
}

async function main() {
  const file = process.argv[2] || 'fruit.onnx';
  const session = await ort.InferenceSession.create(file);
  // Two samples of two features, in the data's own units: the file
  // standardises them as ppl_predict does. The batch size is free.
  const x = new ort.Tensor('float32', Float32Array.from([4.5, 100, 9.0, 200]), [2, 2]);
  const result = await session.run({ [session.inputNames[0]]: x });
  const y = result[session.outputNames[0]];
  const rows = [];
  for (let i = 0; i < y.dims[0]; i++) rows.push(Array.from(y.data.slice(i * y.dims[1], (i + 1) * y.dims[1])));
  console.log(JSON.stringify(rows));
}

main().catch((e) => { console.error(String(e)); process.exit(1); });
