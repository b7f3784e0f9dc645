#!/usr/bin/env bash
# Training benchmark: kiln vs XGBoost 1.7.4 `hist` vs scikit-learn HistGradientBoosting, same
# machine, same parameters (learning rate 0.1, 255 bins, lambda 1), first 80% rows train / last
# 20% test.   bench/peers/train.sh [KILN] [ROWS] [DATASET higgs|airline] [TREES] [DEPTH] [LEAVES]
set -euo pipefail
cd "$(dirname "$0")/../.."
KILN=$(realpath "${1:-build/release/kiln}")
ROWS=${2:-1000000}
KIND=${3:-higgs}
TREES=${4:-100}
DEPTH=${5:-10}
LEAVES=${6:-0}
THREADS=2
OUT=bench/out
mkdir -p "$OUT"
file="$OUT/$KIND-$ROWS.csv"
[ -f "$file" ] || /usr/bin/python3 bench/tools/gen_synth.py "$KIND" "$ROWS" "$file"
train="$OUT/$KIND-$ROWS-train.csv"
test="$OUT/$KIND-$ROWS-test.csv"
if [ ! -f "$test" ]; then
  cut=$(( ROWS * 8 / 10 ))
  head -n $(( cut + 1 )) "$file" > "$train"
  { head -n 1 "$file"; tail -n +$(( cut + 2 )) "$file"; } > "$test"
fi

home="$OUT/train-home"
rm -rf "$home"
"$KILN" --home "$home" data ingest "$train" --name train >/dev/null
"$KILN" --home "$home" data ingest "$test" --name test >/dev/null
params=(--param num_trees="$TREES" --param max_depth="$DEPTH" --param num_leaves="$LEAVES"
        --param learning_rate=0.1 --param max_bin=255 --param min_data_in_leaf=1
        --param threads="$THREADS")
/usr/bin/time -f "%M" -o "$OUT/rss.txt" "$KILN" --home "$home" train --data train --target label \
  "${params[@]}" --out "$OUT/bench.kiln" --json > "$OUT/kiln-train.json"
kiln_rss=$(( $(cat "$OUT/rss.txt") / 1024 ))
"$KILN" --home "$home" --threads "$THREADS" eval --model "$OUT/bench.kiln" --data test --json > "$OUT/kiln-eval.json"
kiln=$(/usr/bin/python3 -c "
import json; t=json.load(open('$OUT/kiln-train.json')); e=json.load(open('$OUT/kiln-eval.json'))
print(t['binning_seconds'], t['train_seconds'], e['metrics']['auc'], int(e['predict_rows_per_second']))")

echo "$KIND $ROWS rows, $TREES trees, max_depth $DEPTH, num_leaves $LEAVES, $THREADS threads, $(date -u +%F)"
echo
echo "| tool | binning s | train s | test AUC | peak RSS MB | batch predict rows/s | train time vs XGBoost |"
echo "|---|---|---|---|---|---|---|"
rows=()
for tool in xgboost sklearn; do
  r=$(/usr/bin/time -f "%M" -o "$OUT/rss.txt" /usr/bin/python3 bench/peers/train_peers.py "$tool" \
      "$train" "$test" "$TREES" "$DEPTH" "$LEAVES" "$THREADS")
  rows+=("$tool $(echo "$r" | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print(d['binning_seconds'], d['train_seconds'], d['auc'], int(d['predict_rows_per_s']))") $(( $(cat "$OUT/rss.txt") / 1024 ))")
done
rows+=("kiln $kiln $kiln_rss")
xgb_train=$(echo "${rows[0]}" | awk '{print $3}')
for r in "${rows[@]}"; do
  read -r tool bin tr auc pr rss <<< "$r"
  awk -v t="$tool" -v b="$bin" -v s="$tr" -v a="$auc" -v m="$rss" -v x="$xgb_train" -v p="$pr" \
    'BEGIN {printf "| %s | %.2f | %.2f | %.4f | %d | %d | %.2fx |\n", t, b, s, a, m, p, s/x}'
done
