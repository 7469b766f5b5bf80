// onnx_run.js — runs ONNX files in ONNX Runtime (npm onnxruntime-node, a
// test-only package that tools/host-deps.sh installs into tests/node/.ort)
// for tests/py/test_export.py.
//
//   node tests/node/onnx_run.js jobs.json
//
// jobs.json: [{"model": path, "input": path of float32 samples,
//              "shape": [per-sample dims], "out": path}]; each job writes
// {"dims": [...], "type": "float32"|"int64", "data": [...], "input_names",
// "output_names"} to out. Exits 1 with a message on any failure.
"use strict";
const fs = require("fs");
const path = require("path");
const ortDir = process.env.LF_ORT_DIR || path.join(__dirname, ".ort");
const ort = require(path.join(ortDir, "node_modules", "onnxruntime-node"));

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  for (const job of jobs) {
    const raw = fs.readFileSync(job.input);
    const x = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    const per = job.shape.reduce((a, b) => a * b, 1);
    const session = await ort.InferenceSession.create(job.model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const feeds = {};
    feeds[session.inputNames[0]] = new ort.Tensor("float32", x, [x.length / per, ...job.shape]);
    const result = await session.run(feeds);
    const y = result[session.outputNames[0]];
    const data = y.type === "int64" ? Array.from(y.data, Number) : Array.from(y.data);
    fs.writeFileSync(job.out, JSON.stringify({ dims: y.dims, type: y.type, data,
      input_names: session.inputNames, output_names: session.outputNames }));
  }
}

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
