# shellcheck shell=bash
# Helpers sourced by the scripts here (not run on its own).

# logged LOG CMD...: runs CMD with its stdout (where Ninja prints compiler errors) in LOG, stderr
# left on the terminal. On failure it prints the log from the first failed Ninja step (else its
# last 40 lines) and returns CMD's exit status, so that a failing build shows why.
logged() {
  local log=$1 rc=0
  shift
  mkdir -p "$(dirname "$log")"
  "$@" >"$log" || rc=$?
  if [ $rc -ne 0 ]; then
    echo "$(basename "$0"): '$*' failed (exit $rc); from $log:" >&2
    if grep -q '^FAILED: ' "$log"; then sed -n '/^FAILED: /,$p' "$log" | head -n 60 >&2
    else tail -n 40 "$log" >&2; fi
  fi
  return $rc
}
