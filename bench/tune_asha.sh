#!/usr/bin/env bash
# ASHA vs. full-budget search on gen_synth.py higgs ROWS: the same random configurations (same
# sampler seed), once with every trial trained in full and once with ASHA stopping weak trials.
# Prints both searches' best AUC and total boosting rounds, and writes the best-so-far curves
# (AUC against cumulative rounds, in finishing order) to bench/out/tune/{random,asha}.csv.
#   bench/tune_asha.sh build/release/kiln [ROWS] [TRIALS] [ROUNDS]
set -euo pipefail
KILN=$1
ROWS=${2:-200000}
TRIALS=${3:-24}
ROUNDS=${4:-200}
OUT=bench/out/tune
DATA=bench/out/higgs-$ROWS.csv
[ -f "$DATA" ] || /usr/bin/python3 bench/tools/gen_synth.py higgs "$ROWS" "$DATA"
rm -rf "$OUT" && mkdir -p "$OUT"
K() { "$KILN" --home "$OUT/home" "$@"; }
K data ingest "$DATA" --name higgs > /dev/null
cat > "$OUT/space.yaml" <<'YAML'
max_depth: {type: int, low: 3, high: 10}
learning_rate: {type: float, low: 0.02, high: 0.3, log: true}
colsample: {type: float, low: 0.5, high: 1.0}
lambda: {type: float, low: 0.1, high: 10, log: true}
min_data_in_leaf: {type: categorical, values: [5, 20, 100]}
YAML
for sched in random asha; do
  start=$(date +%s.%N)
  K tune --data higgs --target label --space "$OUT/space.yaml" --trials "$TRIALS" \
    --sampler random --scheduler "$sched" --param num_trees="$ROUNDS" --experiment "$sched" \
    --json > "$OUT/$sched.json"
  end=$(date +%s.%N)
  parent=$(grep -m1 '"run_id"' "$OUT/$sched.json" | cut -d'"' -f4)
  K runs list --filter "attributes.parent_id = '$parent'" --order-by "attributes.end_time" \
    --limit 1000 --json > "$OUT/$sched-runs.json"
  /usr/bin/python3 - "$OUT/$sched-runs.json" "$OUT/$sched.csv" "$sched" "$start" "$end" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))
runs.sort(key=lambda r: r["end_ms"])
rounds, best, lines = 0, 0.0, ["cumulative_rounds,best_auc"]
for r in runs:
    rounds += int(r["metrics"]["rounds"])
    best = max(best, r["metrics"]["valid.auc"])
    lines.append(f"{rounds},{best:.6f}")
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print(f"{sys.argv[3]}: best auc {best:.6f}, rounds {rounds}, "
      f"wall {float(sys.argv[5]) - float(sys.argv[4]):.1f} s, {len(runs)} trials")
PY
done
