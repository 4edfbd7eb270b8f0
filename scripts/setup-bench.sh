#!/usr/bin/env bash
# Installs ONNX Runtime 1.30 (CPU, its Node binding with libonnxruntime.so.1) into build/ort for
# mtfcdd-bench's ONNX Runtime column, and Debian's python3-onnx for bench/ort_clip_graph.py.
# Optional: the bench runs without them and leaves the column out. Needs node and npm (installs
# Debian's nodejs and npm when missing) and the npm registry; python3-onnx is optional (a warning
# when it cannot be installed). Does nothing when all are present.
# Usage: scripts/setup-bench.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-${BUILD_DIR:-build}}/ort"
version=1.30.0
ort_present() {
  [ -f "$dest/node_modules/onnxruntime-node/package.json" ] &&
    grep -q "\"version\": \"$version\"" "$dest/node_modules/onnxruntime-node/package.json"
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ort_present && installed python3-onnx; then
  echo "setup-bench: onnxruntime-node $version already in $dest"
  exit 0
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
updated=""
apt_install() {  # apt_install PACKAGE...: apt-get update (once per run), then install them
  command -v apt-get >/dev/null || { echo "setup-bench: no apt-get to install $*" >&2; return 1; }
  if [ -z "$updated" ]; then $SUDO apt-get update -qq || return 1; updated=1; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
# python3-onnx: bench/ort_clip_graph.py, which writes a bundle's network in ONNX Runtime's best form;
# ONNX Runtime itself does not need it.
if ! installed python3-onnx && ! apt_install python3-onnx; then
  echo "setup-bench: warning: python3-onnx could not be installed (bench/ort_clip_graph.py needs it); going on" >&2
fi
if ort_present; then
  echo "setup-bench: onnxruntime-node $version already in $dest"
  exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup-bench: installing nodejs and npm (ONNX Runtime's Node binding needs them)" >&2
  apt_install nodejs npm
fi
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "setup-bench: '$tool' is not installed; it is needed to run ONNX Runtime's Node binding" >&2; exit 1; }
done
mkdir -p "$dest"
# --ignore-scripts: the package's postinstall script fetches the CUDA provider from the NuGet feed,
# which the CPU run does not need and which fails without access to it; the CPU library ships in the
# package itself.
npm install --prefix "$dest" --no-audit --no-fund --ignore-scripts "onnxruntime-node@$version"
lib="$dest/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"
[ -f "$lib" ] || { echo "setup-bench: $lib is missing after the install" >&2; exit 1; }
echo "setup-bench: onnxruntime-node $version installed in $dest"
