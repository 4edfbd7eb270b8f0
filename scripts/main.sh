#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: the paper's network summary, then
# a short training run on generated defects, exported to a bundle that checks itself.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/bin/mtfcdd-train info --preset irv2 --types 8
build/bin/mtfcdd-train demo --out build/demo-bundle
