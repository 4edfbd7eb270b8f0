#!/usr/bin/env bash
# Configures (once) and builds into build/ with Ninja; clang when present (faster than g++ here).
# Extra arguments are passed to the CMake configure step, e.g. -DMTFCDD_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $# -gt 0 ]; then
  cxx=g++; cc=gcc
  if command -v clang++ >/dev/null; then cxx=clang++; cc=clang; fi
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" "$@"
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"
