#!/usr/bin/env bash
# CSV ingest throughput and peak memory: kiln vs pandas.read_csv vs DuckDB, side by side.
#   bench/peers/ingest.sh [KILN_BINARY] [ROWS]
# Data: bench/tools/gen_synth.py higgs|airline ROWS (generated once into bench/out/).
# kiln is timed as a whole process (parse, type inference, profiling, compression, SHA-256,
# fsync and catalog commit); pandas and DuckDB are timed around the load call only (no
# interpreter start-up). Each figure is the median of 3 runs; peak RSS is of the whole process.
set -euo pipefail
cd "$(dirname "$0")/../.."
KILN=$(realpath "${1:-build/release/kiln}")
ROWS=${2:-1000000}
OUT=bench/out
GEN=bench/tools/gen_synth.py
mkdir -p "$OUT"
if [ ! -d bench/peers/node_modules/@duckdb/node-api ]; then
  (cd bench/peers && npm install --no-audit --no-fund --silent)
fi

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# run_timed CMD...: prints "<seconds reported by the command or wall> <peak RSS KB>"
time_kiln() {  # FILE THREADS
  local home="$OUT/kiln-home"
  rm -rf "$home"
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$KILN" --home "$home" --threads "$2" \
    data ingest "$1" --name bench >/dev/null
  cat "$OUT/time.txt"
}
time_pandas() {  # FILE
  local s
  s=$(/usr/bin/time -f "%M" -o "$OUT/time.txt" /usr/bin/python3 bench/peers/pandas_read_csv.py "$1")
  echo "$(echo "$s" | cut -d' ' -f1) $(cat "$OUT/time.txt")"
}
time_duckdb() {  # FILE THREADS
  local s
  s=$(/usr/bin/time -f "%M" -o "$OUT/time.txt" node bench/peers/duckdb_read_csv.mjs "$1" "$2")
  echo "$(echo "$s" | cut -d' ' -f1) $(cat "$OUT/time.txt")"
}

measure() {  # LABEL FN ARGS... -> "label secs rss_mb"
  local label=$1; shift
  local secs=() rss=()
  for _ in 1 2 3; do
    read -r s m < <("$@")
    secs+=("$s"); rss+=("$m")
  done
  echo "$label $(printf '%s\n' "${secs[@]}" | median) $(( $(printf '%s\n' "${rss[@]}" | median) / 1024 ))"
}

echo "kiln $("$KILN" --version 2>/dev/null | head -1); $(nproc) cores; $(date -u +%F)"
for kind in higgs airline; do
  file="$OUT/$kind-$ROWS.csv"
  [ -f "$file" ] || /usr/bin/python3 "$GEN" "$kind" "$ROWS" "$file"
  mb=$(awk "BEGIN {print $(stat -c %s "$file") / 1e6}")
  echo
  echo "### $kind, $ROWS rows, $mb MB"
  echo
  echo "| tool | threads | seconds | MB/s | rows/s | peak RSS (MB) | speed vs pandas |"
  echo "|---|---|---|---|---|---|---|"
  results=()
  results+=("$(measure "pandas-1.5 1" time_pandas "$file")")
  results+=("$(measure "DuckDB 1" time_duckdb "$file" 1)")
  results+=("$(measure "DuckDB 2" time_duckdb "$file" 2)")
  results+=("$(measure "kiln 1" time_kiln "$file" 1)")
  results+=("$(measure "kiln 2" time_kiln "$file" 2)")
  pandas_s=$(echo "${results[0]}" | awk '{print $3}')
  for r in "${results[@]}"; do
    read -r tool threads s rss <<< "$r"
    awk -v t="$tool" -v th="$threads" -v s="$s" -v r="$rss" -v mb="$mb" -v rows="$ROWS" -v p="$pandas_s" \
      'BEGIN {printf "| %s | %s | %.2f | %.0f | %.2fM | %d | %.2fx |\n", t, th, s, mb/s, rows/s/1e6, r, p/s}'
  done
done
