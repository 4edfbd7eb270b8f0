#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: the paper network's size; a generated
# dataset of three stripe defect types; a short training run that exports a calibrated bundle;
# then the inspection host over the test images with routing, a report and overlays.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/bin/mtfcdd-train info --preset irv2 --types 8
rm -rf build/demo
build/bin/mtfcdd-train toy-data --out build/demo/data
build/bin/mtfcdd-train train --data build/demo/data --out build/demo/run --preset small --input-size 64 \
  --head-channels 32 --batch 16 --lr 1e-3 --epochs 10 --aug-prob 0
build/bin/vision-host run --pipeline samples/demo/pipeline.json --report build/demo/report.jsonl \
  --overlays build/demo/overlays build/demo/data/img/test
