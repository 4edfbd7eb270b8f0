#!/usr/bin/env bash
# A long run of the plugin through the C ABI (tests/vp_soak.cpp): synthetic frames for MINUTES,
# memory and latency sampled every 1,000 frames, the verdict last (RSS growth after warm-up at
# most 5%, second-half p99 at most 1.5x the first half's). Uses build/ (scripts/build.sh) and
# its test bundle (made by ctest), else the sample model. Lines also go to build/soak-*.jsonl.
#   scripts/soak.sh MINUTES [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
minutes=${1:?usage: scripts/soak.sh MINUTES [THREADS]}
threads=${2:-2}
BUILD_DIR=${BUILD_DIR:-build}
logged "$BUILD_DIR/soak-build.log" cmake --build "$BUILD_DIR" --target vp_soak mtfcdd
bundle=$BUILD_DIR/test-bundle
[ -f "$bundle/model.json" ] || bundle=samples/model
log=$BUILD_DIR/soak-$(date -u +%Y%m%dT%H%M%S).jsonl
echo "soak: $minutes min, $threads threads, bundle $bundle, log $log" >&2
"$BUILD_DIR/bin/vp_soak" --plugin "$BUILD_DIR/lib/libmtfcdd.so" --bundle "$bundle" \
  --seconds "$(awk "BEGIN {print $minutes * 60}")" --threads "$threads" | tee "$log"
