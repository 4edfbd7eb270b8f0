#!/usr/bin/env bash
# Kills one rank of a 2-rank toy run N times, at a moment when the other is stopped (SIGSTOP) so that
# it may write to the dead peer first when it resumes; counts the survivor's exit codes. 3 (the dead
# rank named) is the only right answer; 141 is SIGPIPE (a silent death). Killing rank 0 also takes
# the store it hosts.
# Usage: bash scripts/dist_kill_trials.sh [N=30] [BUILD=build] [KILLED_RANK=1]
set -euo pipefail
n=${1:-30}
train=$(realpath "${2:-build}")/bin/mtfcdd-train
killed=${3:-1}
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive count, not '$n'" >&2; exit 2; }
[[ $killed =~ ^[01]$ ]] || { echo "KILLED_RANK must be 0 or 1, not '$killed'" >&2; exit 2; }
[ -x "$train" ] || { echo "no trainer at $train (build first, or give BUILD)" >&2; exit 2; }
survivor=$((1 - killed))
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$train" toy-data --out "$work/toy" --type-count 2 --train 40 --val 12 --test 0 > /dev/null
args=(train --data "$work/toy" --preset small --input-size 64 --head-channels 16 --epochs 10000 --lr 1e-3
      --threads 1 --workers 1 --batch 8 --dist-timeout 20)
declare -A codes
for i in $(seq 1 "$n"); do
  run="$work/run$i" port=$((20000 + RANDOM % 20000))
  pids=()
  for r in 0 1; do
    env MASTER_ADDR=127.0.0.1 MASTER_PORT=$port WORLD_SIZE=2 RANK=$r "$train" "${args[@]}" --out "$run" > "$work/r$r.log" 2>&1 &
    pids+=($!)
  done
  alive=${pids[$survivor]} dead=${pids[$killed]}
  for _ in $(seq 600); do [ -e "$run/checkpoint.pt" ] && break; sleep 0.1; done
  sleep "0.$((RANDOM % 10))"
  exec 3>&2 2> /dev/null  # bash's own "Killed" line for the killed rank
  kill -STOP $alive; kill -9 $dead; sleep 0.3; kill -CONT $alive
  wait $dead || true
  exec 2>&3 3>&-
  code=0; timeout 60 tail --pid=$alive -f /dev/null || kill -9 $alive; wait $alive || code=$?
  codes[$code]=$(( ${codes[$code]:-0} + 1 ))
  grep -q "rank $killed stopped" "$work/r$survivor.log" ||
    echo "trial $i: rank $survivor ended with $code without naming rank $killed"
done
echo "rank $killed killed; rank $survivor's exit codes:"
for c in "${!codes[@]}"; do echo "exit code $c: ${codes[$c]} of $n"; done
