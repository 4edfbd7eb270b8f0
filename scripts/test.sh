#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test; then builds the plugin and its tests
# with AddressSanitizer + UBSan (build-asan/, no torch) and runs those too, and its fuzz harnesses
# briefly; then the threaded tests under ThreadSanitizer (build-tsan/).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
logged build-asan/build.log env BUILD_DIR=build-asan scripts/build.sh -DMTFCDD_WITH_TRAINER=OFF \
  -DMTFCDD_SANITIZE=ON -DMTFCDD_FUZZ=ON -DMTFCDD_TRAINER="$PWD/build/bin/mtfcdd-train"
ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
# Every libFuzzer harness over its seed corpus plus 5 seconds (docs/reliability.md), from the seeds
# alone: what long runs found in build-asan/fuzz-corpus would make this run longer each time.
fuzz_new=$(mktemp -d)
FUZZ_CORPUS_DIR=$fuzz_new BUILD_DIR=build-asan scripts/fuzz.sh 5
rm -rf "$fuzz_new"
# ThreadSanitizer on the threaded tests of plugin and host (build-tsan/, about 4 minutes).
scripts/tsan.sh
