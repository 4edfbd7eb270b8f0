#!/usr/bin/env bash
# How long a dataset of Real-IAD's size takes to read and check, and the peak memory of a one-step
# training run on it: manifests of 10,000, 50,000 and 150,000 records over DISTINCT synthetic
# images (mtfcdd-synth, 256 px; each further record reuses an image through another folder link,
# so the paths are distinct but the files repeat: the page cache serves them after the first).
# Usage: scripts/scale-data.sh [DISTINCT_IMAGES]   (default 10000; about 2 min and 1.1 GB to make)
set -euo pipefail
cd "$(dirname "$0")/.."
distinct=${1:-10000}
# Only train records repeat (copy 0 alone keeps the val ones): under 2 images there are none.
if ! [[ $distinct =~ ^[0-9]+$ ]] || [ $((10#$distinct)) -lt 2 ]; then
  echo "scale-data: DISTINCT_IMAGES must be a whole number of at least 2 (got '$distinct')" >&2
  exit 1
fi
train=$((10#$distinct * 9 / 10)) val=$((10#$distinct / 10))
work=build/scale-data
mkdir -p "$work"
# The images of an earlier run are reused only when their manifest holds as many as asked for.
have=$(awk -F, 'NR > 1 { n[$2]++ } END { print n["train"] + 0, n["val"] + 0 }' \
  "$work/images/manifest.csv" 2>/dev/null || true)
if [ "$have" != "$train $val" ]; then
  rm -rf "$work/images"
  build/bin/mtfcdd-synth --out "$work/images" --size 256 --train "$train" --val "$val" --test 0 >/dev/null
fi
echo "| records | read and checked | resident memory then | peak of a one-step run (with validation and calibration) |"
echo "|---:|---:|---:|---:|"
for n in 10000 50000 150000; do
  d="$work/records-$n"
  rm -rf "$d" && mkdir -p "$d"
  cp "$work/images/dataset.json" "$d/"
  # Copy k of the manifest gets the folder link img<k>; only copy 0 keeps its val records, so that
  # every size validates and calibrates on the same images.
  python3 - "$work/images" "$d" "$n" <<'PY'
import os, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = open(os.path.join(src, "manifest.csv")).read().splitlines()
if not any(r.split(",")[1] != "val" for r in rows[1:]):
    sys.exit("scale-data: %s has no train records to repeat" % src)
out, k = [rows[0]], 0
while len(out) - 1 < n:
    os.symlink(os.path.abspath(os.path.join(src, "img")), os.path.join(dst, "img%d" % k))
    for r in rows[1:]:
        f = r.split(",")
        if k > 0 and f[1] == "val":
            continue
        f = [x.replace("img/", "img%d/" % k) for x in f]
        f[4] = "c%d-%s" % (k, f[4])
        out.append(",".join(f))
        if len(out) - 1 == n:
            break
    k += 1
open(os.path.join(dst, "manifest.csv"), "w").write("\n".join(out) + "\n")
PY
  log="$d.log"
  /usr/bin/time -f "rss %M" build/bin/mtfcdd-train train --data "$d" --out "$d-run" --max-steps 1 --epochs 1 >"$log" 2>&1
  secs=$(sed -n 's/.*read and checked in \([0-9.]*\) s.*/\1/p' "$log")
  mem=$(sed -n 's/.*(resident memory \([0-9]*\) MiB).*/\1/p' "$log")
  rss=$(awk '/^rss/ {printf "%.0f MiB", $2 / 1024}' "$log")
  echo "| $n | $secs s | $mem MiB | $rss |"
done
