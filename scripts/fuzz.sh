#!/usr/bin/env bash
# Runs each libFuzzer harness of tests/fuzz for SECONDS, starting from its seed corpus
# (tests/fuzz/corpus/NAME). New inputs go to $FUZZ_CORPUS_DIR/NAME (default
# BUILD_DIR/fuzz-corpus, kept between runs, so long runs build on each other),
# crashing inputs to BUILD_DIR/fuzz-findings/NAME-*; per harness it prints executions, exec/s
# and findings, and it fails when any harness found something. BUILD_DIR (default build-asan)
# is configured with the harnesses when it has none. The plugin harnesses load
# $MTFCDD_FUZZ_BUNDLE, else BUILD_DIR/fuzz-bundle (made here by the build's trainer), else
# BUILD_DIR/test-bundle (made by its ctest), else the sample model.
#   scripts/fuzz.sh SECONDS [HARNESS...]     e.g. scripts/fuzz.sh 600 fuzz_manifest
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
secs=${1:?usage: scripts/fuzz.sh SECONDS [HARNESS...]}
shift
BUILD_DIR=${BUILD_DIR:-build-asan}
if ! grep -q '^MTFCDD_FUZZ:BOOL=ON' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
  logged "$BUILD_DIR/build.log" env BUILD_DIR="$BUILD_DIR" scripts/build.sh -DMTFCDD_WITH_TRAINER=OFF \
    -DMTFCDD_SANITIZE=ON -DMTFCDD_FUZZ=ON
else
  logged "$BUILD_DIR/build.log" cmake --build "$BUILD_DIR" -j "$(nproc)"
fi
# The plugin harnesses run a whole network per input: the trainer's smallest bundle (32x32 input,
# 3 types) has the same layers, outputs and frame paths as the 64x64 test bundle at half the cost.
trainer=$(sed -n 's/^MTFCDD_TRAINER:FILEPATH=//p' "$BUILD_DIR/CMakeCache.txt")
[ -n "$trainer" ] || trainer=$BUILD_DIR/bin/mtfcdd-train
if [ -z "${MTFCDD_FUZZ_BUNDLE:-}" ] && [ ! -f "$BUILD_DIR/fuzz-bundle/model.json" ] && [ -x "$trainer" ]; then
  "$trainer" export --preset small --types scratch,pit,stain --input-size 32 --head-channels 1 \
    --out "$BUILD_DIR/fuzz-bundle" >/dev/null
fi
for b in fuzz-bundle test-bundle; do
  if [ -z "${MTFCDD_FUZZ_BUNDLE:-}" ] && [ -f "$BUILD_DIR/$b/model.json" ]; then
    dir=$BUILD_DIR; [[ $dir == /* ]] || dir=$PWD/$dir  # BUILD_DIR may be absolute
    export MTFCDD_FUZZ_BUNDLE=$dir/$b
  fi
done
# Idle OpenMP workers spin between the network's many tiny parallel regions; on a shared machine
# that spinning cost 8 times the work itself (fuzz_process: 5.2 s of CPU per 4,000 inputs, 0.6 s
# passive). The harnesses' scratch files go to a tmpfs: on ext4 every rewrite flushed to disk.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
if [ -z "${TMPDIR:-}" ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=($(ls tests/fuzz/corpus))
mkdir -p "$BUILD_DIR/fuzz-findings"
status=0
for name in "${harnesses[@]}"; do
  name=${name#fuzz_}
  work=${FUZZ_CORPUS_DIR:-$BUILD_DIR/fuzz-corpus}/$name
  log=$BUILD_DIR/fuzz-$name.log
  mkdir -p "$work"
  rc=0
  "$BUILD_DIR/bin/fuzz_$name" "$work" "tests/fuzz/corpus/$name" -max_total_time="$secs" -timeout=60 \
    -print_final_stats=1 -artifact_prefix="$BUILD_DIR/fuzz-findings/$name-" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  printf '%-12s %10s runs %8s exec/s  %s\n' "$name" "${runs:-?}" "${speed:-?}" \
    "$([ $rc -eq 0 ] && echo 'nothing found' || echo "FOUND (exit $rc): see $log")"
  [ $rc -eq 0 ] || status=1
done
exit $status
