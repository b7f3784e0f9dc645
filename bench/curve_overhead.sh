#!/usr/bin/env bash
# What recording metric curves costs a training: `kiln train` with 500 boosting rounds on
# gen_synth.py higgs ROWS, with its curves (validation metric and sampled training loss per
# iteration, stored in the run) and with --no-curves; hyperfine, 10 runs each.
#   bench/curve_overhead.sh build/release/kiln [ROWS]
set -euo pipefail
KILN=$(realpath "$1")
ROWS=${2:-200000}
OUT=bench/out/curves
DATA=bench/out/higgs-$ROWS.csv
[ -f "$DATA" ] || /usr/bin/python3 bench/tools/gen_synth.py higgs "$ROWS" "$DATA"
rm -rf "$OUT" && mkdir -p "$OUT"
"$KILN" --home "$OUT/home" data ingest "$DATA" --name higgs > /dev/null
TRAIN="$KILN --home $OUT/home train --data higgs --target label --valid-frac 0.2 \
  --param num_trees=500 --param early_stopping_rounds=0 --out $OUT/model.kiln --json"
hyperfine --warmup 1 --runs 10 --export-json "$OUT/hyperfine.json" \
  -n curves "$TRAIN > /dev/null" -n no-curves "$TRAIN --no-curves > /dev/null"
"$KILN" --home "$OUT/home" runs list --limit 2 --json |
  /usr/bin/python3 -c 'import json,sys; [print(r["run_id"][:8], r["metrics"].get("train_seconds")) for r in json.load(sys.stdin)]'
