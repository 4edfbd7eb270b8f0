#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: the paper network's size; a fresh set of
# synthetic parts (six object categories, eight defect types); then the inspection host with the
# bundled sample model (samples/model) and the demo pipeline: routing, a report and overlays.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/bin/mtfcdd-train info --preset irv2 --type-count 8
rm -rf build/demo
# A seed the sample model never saw in training, validation or its evaluation.
build/bin/mtfcdd-synth --out build/demo/data --splits test --test 48 --seed 7
build/bin/vision-host run --pipeline samples/demo/pipeline.json --report build/demo/report.jsonl \
  --overlays build/demo/overlays build/demo/data/img/test
echo "per-action copies and overlays: build/demo/actions/<action>/"
