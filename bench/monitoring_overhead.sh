#!/usr/bin/env bash
# What live drift monitoring costs serving: batch-1 V2 REST requests with one tensor per column
# (as clients send tables) to the same kiln model served twice by the same binary, from a home
# with `monitoring.enabled: false` (A) and one with the default, monitoring on (B), round robin
# with nginx `return 200` as the reference (bench/peers/serving_ab.sh: servers on CPU 0, wrk on
# CPU 1). Two models trained by kiln with default parameters: credit (examples/credit, 13
# features, 4 of them categorical) and gen_synth.py higgs 100k rows (28 numeric features).
#   bench/monitoring_overhead.sh [KILN] [SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=$(realpath "${1:-build/release/kiln}")
SECS=${2:-3}
ROUNDS=${3:-4}
OUT=bench/out/monitoring
for tool in wrk nginx taskset; do
  command -v "$tool" > /dev/null || { echo "needs $tool (scripts/install-deps)"; exit 1; }
done
rm -rf "$OUT" && mkdir -p "$OUT"
higgs=bench/out/higgs-100000.csv
[ -f "$higgs" ] || /usr/bin/python3 bench/tools/gen_synth.py higgs 100000 "$higgs"

on="$OUT/home-on"
k() { "$KILN" --home "$on" --create "$@" > /dev/null; }
k data ingest examples/credit/credit_2024.csv --name credit
k data ingest "$higgs" --name higgs
for m in credit higgs; do
  target=$([ $m = credit ] && echo Status || echo label)
  run=$("$KILN" --home "$on" train --data $m --target $target --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')
  k models register "$run" --name $m
  k models alias $m 1 --set production
done
cp -r "$on" "$OUT/home-off"
printf 'monitoring: {enabled: false}\n' > "$OUT/home-off/kiln.yaml"

# One row per request, one tensor per column, from the first row of each file.
/usr/bin/python3 - "$OUT" "$higgs" <<'PY'
import csv, json, sys
out, higgs = sys.argv[1], sys.argv[2]
for name, path, target in (("credit", "examples/credit/credit_2024.csv", "Status"),
                           ("higgs", higgs, "label")):
    with open(path) as f:
        reader = csv.reader(f)
        header, row = next(reader), next(reader)
    inputs = []
    for col, v in zip(header, row):
        if col == target:
            continue
        try:
            inputs.append({"name": col, "shape": [1], "datatype": "FP64", "data": [float(v)]})
        except ValueError:
            inputs.append({"name": col, "shape": [1], "datatype": "BYTES", "data": [v]})
    with open(f"{out}/{name}-1.json", "w") as f:
        json.dump({"inputs": inputs}, f)
PY

for m in credit higgs; do
  echo "### $m: A = monitoring off, B = monitoring on"
  SERVING_OUT=$OUT HOME_A="$OUT/home-off" HOME_B="$on" MODEL=$m BODY="$OUT/$m-1.json" \
    bench/peers/serving_ab.sh "$KILN" "$KILN" "$SECS" "$ROUNDS"
done
