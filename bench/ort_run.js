// mtfcdd-bench's ONNX Runtime side, run by the bench as a child process: times
// InferenceSession.run on one input blob and writes the maps of the last run.
// Usage: node ort_run.js ORT_DIR MODEL INPUT_NAME OUTPUT_NAME BLOB N,C,H,W THREADS RUNS WARMUP MAPS_OUT SPIN
// SPIN: 1 lets the intra-op threads spin while waiting for work (ONNX Runtime's default), 0 not.
// BLOB and MAPS_OUT are raw float32 files; stdout gets one JSON object.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [ortDir, model, inputName, outputName, blobPath, shapeText, threads, runs, warmup, mapsOut, spin] =
    process.argv.slice(2);
  if (spin === undefined) throw new Error('usage: ort_run.js ORT_DIR MODEL INPUT OUTPUT BLOB N,C,H,W THREADS RUNS WARMUP MAPS_OUT SPIN');
  const pkg = path.join(ortDir, 'node_modules', 'onnxruntime-node');
  const ort = require(pkg);
  const version = require(path.join(pkg, 'package.json')).version;
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: spin } } },
  });
  const bytes = fs.readFileSync(blobPath);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const shape = shapeText.split(',').map(Number);
  const feeds = { [inputName]: new ort.Tensor('float32', data, shape) };
  const callMs = [];
  let maps = null;
  for (let i = 0; i < Number(warmup) + Number(runs); ++i) {
    const t0 = process.hrtime.bigint();
    const out = await session.run(feeds, [outputName]);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= Number(warmup)) callMs.push(ms);
    maps = out[outputName];
  }
  fs.writeFileSync(mapsOut, Buffer.from(maps.data.buffer, maps.data.byteOffset, maps.data.byteLength));
  process.stdout.write(JSON.stringify({ call_ms: callMs, version, maps_dims: maps.dims }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`ort_run.js: ${e.message}\n`);
  process.exit(1);
});
