#!/usr/bin/env bash
# Data-parallel training throughput on this machine: the same training steps as one rank with all
# the cores' threads, and as N ranks (--nproc, Gloo on 127.0.0.1) sharing them, for `small` and for
# irv2 with its backbone frozen (the paper's head-only step). Prints a Markdown table: images/s,
# scaling efficiency (N ranks' images/s over one rank's) and the share of step time each rank 0
# waited for data. Usage: scripts/scaling.sh [STEPS_SMALL] [STEPS_IRV2] [RANKS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps_small=${1:-40}
steps_irv2=${2:-8}
ranks=${3:-2}
cores=$(nproc)
train=build/bin/mtfcdd-train
work=build/scaling
rm -rf "$work" && mkdir -p "$work"
build/bin/mtfcdd-synth --out "$work/data" --size 256 --train 1000 --val 32 --test 0 --seed 3 >/dev/null

# images/s and data-wait share of one run, from its history.jsonl (the steps of the epoch line)
figures() {
  python3 -c 'import json,sys; h=json.loads(open(sys.argv[1]).read().splitlines()[-1]); b=int(sys.argv[2]);
print("%.1f %.0f" % (h["iterations"] * b / h["seconds"], 100 * h["data_wait_share"]))' "$1/history.jsonl" "$2"
}

echo "| preset | ranks x threads | batch | steps | images/s | efficiency | waiting for data (rank 0) |"
echo "|---|---|---:|---:|---:|---:|---:|"
for preset in small irv2; do
  steps=$steps_small; extra=(); batch=32
  if [ "$preset" = irv2 ]; then steps=$steps_irv2; extra=(--head-only); fi
  base=(train --data "$work/data" --preset "$preset" --batch "$batch" --epochs 1 --max-steps "$steps"
        --aug-prob 0.5 --workers 1 "${extra[@]}")
  $train "${base[@]}" --out "$work/$preset-1" --threads "$cores" >"$work/$preset-1.log" 2>&1
  read -r one wait1 < <(figures "$work/$preset-1" "$batch")
  echo "| $preset | 1 x $cores | $batch | $steps | $one | 1.00 | $wait1% |"
  $train "${base[@]}" --out "$work/$preset-$ranks" --nproc "$ranks" --threads $((cores / ranks > 0 ? cores / ranks : 1)) \
    >"$work/$preset-$ranks.log" 2>&1
  read -r many waitn < <(figures "$work/$preset-$ranks" "$batch")
  eff=$(python3 -c "print('%.2f' % ($many / $one))")
  echo "| $preset | $ranks x $((cores / ranks > 0 ? cores / ranks : 1)) | $batch | $steps | $many | $eff | $waitn% |"
done
