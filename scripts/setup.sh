#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs; does nothing when all are present.
# (libclang-rt-14-dev: the sanitizer and libFuzzer runtimes, only recommended by clang.)
set -euo pipefail
packages=(build-essential cmake ninja-build clang libclang-rt-14-dev pkg-config
  libopencv-dev libtorch-dev libboost-dev libboost-filesystem-dev nlohmann-json3-dev
  libgtest-dev libonnx-dev libprotobuf-dev protobuf-compiler libdnnl-dev
  libgloo-dev libcli11-dev python3 time
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
# env: sudo drops DEBIAN_FRONTEND from the environment it is given.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
