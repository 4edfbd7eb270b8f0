#!/usr/bin/env bash
# ThreadSanitizer on the threaded code of plugin and host (build-tsan/, no torch): four detectors
# on four threads, the host's worker threads (vision-host --threads 3, and killed mid-run), the
# jsonl sink written from many threads, and the soak program on four threads. Any race fails.
set -euo pipefail
# A relative MTFCDD_TRAINER is taken from the caller's folder (CMake caches it absolute).
[ -z "${MTFCDD_TRAINER:-}" ] || MTFCDD_TRAINER=$(realpath -ms "$MTFCDD_TRAINER")
cd "$(dirname "$0")/.."
source scripts/lib.sh
# The TSan build has no torch: build/'s trainer (or $MTFCDD_TRAINER) makes its test bundle.
trainer=${MTFCDD_TRAINER:-$PWD/build/bin/mtfcdd-train}
if [ ! -x "$trainer" ] && [ -z "${MTFCDD_TRAINER:-}" ]; then
  echo "tsan: no $trainer (it makes the test bundle); building build/ first (scripts/build.sh)" >&2
  scripts/build.sh
fi
[ -x "$trainer" ] || { echo "tsan: no trainer at $trainer; run scripts/build.sh (with the trainer) or set MTFCDD_TRAINER" >&2; exit 1; }
BUILD_DIR=build-tsan
cache=$BUILD_DIR/CMakeCache.txt
if ! grep -q '^MTFCDD_TSAN:BOOL=ON' "$cache" 2>/dev/null ||
   [ "$(sed -n 's/^MTFCDD_TRAINER:FILEPATH=//p' "$cache")" != "$trainer" ]; then
  logged "$BUILD_DIR/configure.log" cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DMTFCDD_WITH_TRAINER=OFF -DMTFCDD_TSAN=ON \
    -DMTFCDD_TRAINER="$trainer"
fi
logged "$BUILD_DIR/build.log" \
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target plugins_mtfcdd_tests host_tests c_abi_test vp_soak
logged "$BUILD_DIR/make_test_bundle.log" ctest --test-dir "$BUILD_DIR" -R make_test_bundle --output-on-failure
export MTFCDD_TEST_BUNDLE=$PWD/$BUILD_DIR/test-bundle
bin=$BUILD_DIR/bin
"$bin/plugins_mtfcdd_tests" --gtest_filter='*Thread*' --gtest_brief=1
"$bin/host_tests" --gtest_filter='*Threads*:*Kill*' --gtest_brief=1
"$bin/c_abi_test" "$BUILD_DIR/lib/libmtfcdd.so" "$MTFCDD_TEST_BUNDLE"
"$bin/vp_soak" --plugin "$BUILD_DIR/lib/libmtfcdd.so" --bundle "$MTFCDD_TEST_BUNDLE" --calls 400 --threads 4 \
  --window 100 --max-rss-growth 1 --max-p99-ratio 100 | tail -1
echo "tsan: no races"
