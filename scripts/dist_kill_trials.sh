#!/usr/bin/env bash
# Kills rank 1 of a 2-rank toy run N times, at a moment when rank 0 is stopped (SIGSTOP) so that it
# may write to the dead peer first when it resumes; counts rank 0's exit codes. 3 (a named peer) is
# the only right answer; 141 is SIGPIPE (a silent death).
# Usage: bash scripts/dist_kill_trials.sh [N=30] [BUILD=build]
set -euo pipefail
n=${1:-30}
train=$(realpath "${2:-build}")/bin/mtfcdd-train
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$train" toy-data --out "$work/toy" --type-count 2 --train 40 --val 12 --test 0 > /dev/null
args=(train --data "$work/toy" --preset small --input-size 64 --head-channels 16 --epochs 10000 --lr 1e-3
      --threads 1 --workers 1 --batch 8 --dist-timeout 20)
declare -A codes
for i in $(seq 1 "$n"); do
  run="$work/run$i" port=$((20000 + RANDOM % 20000))
  env MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=0 "$train" "${args[@]}" --out "$run" > "$work/r0.log" 2>&1 &
  r0=$!
  env MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=1 "$train" "${args[@]}" --out "$run" > /dev/null 2>&1 &
  r1=$!
  for _ in $(seq 600); do [ -e "$run/checkpoint.pt" ] && break; sleep 0.1; done
  sleep "0.$((RANDOM % 10))"
  exec 3>&2 2> /dev/null  # bash's own "Killed" line for rank 1
  kill -STOP $r0; kill -9 $r1; sleep 0.3; kill -CONT $r0
  wait $r1 || true
  exec 2>&3 3>&-
  code=0; timeout 60 tail --pid=$r0 -f /dev/null || kill -9 $r0; wait $r0 || code=$?
  codes[$code]=$(( ${codes[$code]:-0} + 1 ))
  grep -q "rank 1 stopped" "$work/r0.log" || echo "trial $i: rank 0 ended with $code without naming rank 1"
done
for c in "${!codes[@]}"; do echo "exit code $c: ${codes[$c]} of $n"; done
