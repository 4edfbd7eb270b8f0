#!/usr/bin/env bash
# Installs ONNX Runtime 1.30 (CPU, its Node binding with libonnxruntime.so.1) into build/ort for
# mtfcdd-bench's ONNX Runtime column, and Debian's python3-onnx for bench/ort_clip_graph.py.
# Optional: the bench runs without them and leaves the column out. Needs node and npm, and the npm
# registry. Usage: scripts/setup-bench.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-${BUILD_DIR:-build}}/ort"
version=1.30.0
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "setup-bench: '$tool' is not installed; it is needed to run ONNX Runtime's Node binding" >&2; exit 1; }
done
# python3-onnx: bench/ort_clip_graph.py, which writes a bundle's network in ONNX Runtime's best form.
if ! dpkg-query -W -f='${Status}' python3-onnx 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-onnx >/dev/null
fi
if [ -f "$dest/node_modules/onnxruntime-node/package.json" ] &&
   grep -q "\"version\": \"$version\"" "$dest/node_modules/onnxruntime-node/package.json"; then
  echo "setup-bench: onnxruntime-node $version already in $dest"
  exit 0
fi
mkdir -p "$dest"
# --ignore-scripts: the package's postinstall script fetches the CUDA provider from the NuGet feed,
# which the CPU run does not need and which fails without access to it; the CPU library ships in the
# package itself.
npm install --prefix "$dest" --no-audit --no-fund --ignore-scripts "onnxruntime-node@$version"
lib="$dest/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"
[ -f "$lib" ] || { echo "setup-bench: $lib is missing after the install" >&2; exit 1; }
echo "setup-bench: onnxruntime-node $version installed in $dest"
