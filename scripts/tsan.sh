#!/usr/bin/env bash
# ThreadSanitizer on the threaded code of plugin and host (build-tsan/, no torch): four detectors
# on four threads, the host's worker threads (vision-host --threads 3, and killed mid-run), the
# jsonl sink written from many threads, and the soak program on four threads. Any race fails.
set -euo pipefail
cd "$(dirname "$0")/.."
trainer=${MTFCDD_TRAINER:-$PWD/build/bin/mtfcdd-train}
[ -x "$trainer" ] || trainer=/work/tools/mtfcdd-train
BUILD_DIR=build-tsan
if ! grep -q '^MTFCDD_TSAN:BOOL=ON' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_C_COMPILER=clang -DMTFCDD_WITH_TRAINER=OFF -DMTFCDD_TSAN=ON -DMTFCDD_TRAINER="$trainer" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$(nproc)" --target plugins_mtfcdd_tests host_tests c_abi_test vp_soak >/dev/null
ctest --test-dir "$BUILD_DIR" -R make_test_bundle >/dev/null
export MTFCDD_TEST_BUNDLE=$PWD/$BUILD_DIR/test-bundle
bin=$BUILD_DIR/bin
"$bin/plugins_mtfcdd_tests" --gtest_filter='*Thread*' --gtest_brief=1
"$bin/host_tests" --gtest_filter='*Threads*:*Kill*' --gtest_brief=1
"$bin/c_abi_test" "$BUILD_DIR/lib/libmtfcdd.so" "$MTFCDD_TEST_BUNDLE"
"$bin/vp_soak" --plugin "$BUILD_DIR/lib/libmtfcdd.so" --bundle "$MTFCDD_TEST_BUNDLE" --calls 400 --threads 4 \
  --window 100 --max-rss-growth 1 --max-p99-ratio 100 | tail -1
echo "tsan: no races"
