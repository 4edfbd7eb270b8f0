#!/usr/bin/env bash
# Builds training/model/ against the CUDA LibTorch of the machine's PyTorch and times the training
# step on its GPU, beside two peers measured in the same run: PyTorch eager on the same irv2
# network (bench/step_peer.py) and the same binary on the machine's CPUs; whole-network steps also
# with --global-bn (BatchNorm as a multi-process run normalises).
#   scripts/gpu-step-bench.sh [LOG]      (needs python3 with a CUDA torch, timm, cmake, Ninja,
#                                        a C++17 compiler)
# TORCH_CUDA_ARCH_LIST (e.g. "8.0;9.0") sets the GPU architectures compiled for; by default the
# GPU's own (torch.cuda.get_device_capability()), else 9.0.
set -uo pipefail
log=${1:-/tmp/gpu-step-bench.log}
[[ $log == /* ]] || log=$PWD/$log
cd "$(dirname "$0")/.." || exit 1
exec > >(tee "$log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
torch_root=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))') || exit 1
python3 -c 'import torch; print("python torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())'
arch=${TORCH_CUDA_ARCH_LIST:-$(python3 -c 'import torch; print(".".join(map(str, torch.cuda.get_device_capability())))' 2>/dev/null)}
arch=${arch:-9.0}
echo "TORCH_CUDA_ARCH_LIST=$arch"

build=/tmp/build-cuda
bench=$build/mtfcdd-step-bench
start=$(date +%s)
if ! cmake -S training/model -B $build -G Ninja -DTorch_DIR="$torch_root/share/cmake/Torch" \
      -DTORCH_CUDA_ARCH_LIST="$arch" >$build.cmake.log 2>&1 || ! cmake --build $build >>$build.cmake.log 2>&1; then
  grep -m 20 -B 2 -A 8 "error" $build.cmake.log || tail -40 $build.cmake.log
  exit 1
fi
echo "built in $(( $(date +%s) - start )) s"

run() { echo "\$ $*"; timeout 120 "$@" || echo "exit $?"; }
for precision in "" --bf16; do
  run $bench --device cuda --preset irv2 --batch 32 --steps 20 --warmup 3 $precision
  run python3 bench/step_peer.py --device cuda --batch 32 --steps 20 --warmup 3 $precision
  run $bench --device cuda --preset irv2 --batch 32 --steps 20 --warmup 3 --train-backbone $precision
  run $bench --device cuda --preset irv2 --batch 32 --steps 20 --warmup 3 --train-backbone --global-bn $precision
  run python3 bench/step_peer.py --device cuda --batch 32 --steps 20 --warmup 3 --train-backbone $precision
done
run $bench --device cuda --preset irv2 --batch 128 --steps 10 --warmup 3 --bf16
run $bench --device cuda --preset irv2 --batch 32 --steps 20 --warmup 3 --nchw
run $bench --device cuda --preset small --batch 32 --steps 20 --warmup 3 --train-backbone
run $bench --device cuda --preset small --batch 32 --steps 20 --warmup 3 --train-backbone --bf16
run $bench --device cuda --preset small --batch 32 --steps 20 --warmup 3 --train-backbone --bf16 --global-bn
run $bench --device cuda --preset mobilenet_v1 --batch 32 --steps 20 --warmup 3 --input-size 224
run $bench --device cpu --preset irv2 --batch 32 --steps 3 --warmup 1 --threads "$(nproc)"
run $bench --device cpu --preset irv2 --batch 32 --steps 3 --warmup 1 --threads "$(nproc)" --bf16
