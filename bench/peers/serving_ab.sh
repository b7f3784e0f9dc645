#!/usr/bin/env bash
# Two kiln builds side by side on batch-1 V2 REST requests, with nginx `return 200` as the
# reference: the three servers run at once pinned to CPU 0 and wrk (CPU 1) visits them in turn,
# ROUNDS times, so the host's swings hit all three alike. Needs the model and bodies that
# bench/peers/serving.sh leaves in bench/out/serving (run it once first).
#   bench/peers/serving_ab.sh KILN_A KILN_B [SECONDS] [ROUNDS] [-- SERVE FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
positional=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do positional+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift  # the rest: flags for both `kiln serve`s
[ ${#positional[@]} -ge 2 ] || { sed -n 2,6p "$0"; exit 2; }
A=$(realpath "${positional[0]}")
B=$(realpath "${positional[1]}")
SECS=${positional[2]:-3}
ROUNDS=${positional[3]:-4}
OUT=bench/out/serving
[ -f "$OUT/body-1.json" ] && [ -d "$OUT/home" ] && [ -f "$OUT/nginx/nginx.conf" ] || { echo "run bench/peers/serving.sh first"; exit 1; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done; wait 2> /dev/null || true; }
trap cleanup EXIT
mkdir -p "$OUT/nginx/body"
taskset -c 0 nginx -c "$PWD/$OUT/nginx/nginx.conf" -p "$PWD/$OUT/nginx" &
PIDS+=($!)
taskset -c 0 "$A" --home "$OUT/home" serve --port 18192 --grpc-port -1 --io-threads 1 \
  --inference-threads 1 "$@" > "$OUT/ab-a.log" 2>&1 &
PIDS+=($!)
taskset -c 0 "$B" --home "$OUT/home" serve --port 18195 --grpc-port -1 --io-threads 1 \
  --inference-threads 1 "$@" > "$OUT/ab-b.log" 2>&1 &
PIDS+=($!)
for port in 18091 18192 18195; do
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
done
rate() {
  BODY=$OUT/body-1.json taskset -c 1 wrk -t1 -c8 -d"$2s" -s "$OUT/post.lua" "$1" |
    awk '/Requests\/sec/ { printf "%.0f", $2 }'
}
infer() { echo "http://127.0.0.1:$1/v2/models/higgs/infer"; }
rate "$(infer 18192)" 1 > /dev/null
rate "$(infer 18195)" 1 > /dev/null
echo "| round | nginx | A | B | A / nginx | B / nginx | B / A |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
  n=$(rate "http://127.0.0.1:18091/" "$SECS")
  a=$(rate "$(infer 18192)" "$SECS")
  b=$(rate "$(infer 18195)" "$SECS")
  awk -v r="$r" -v n="$n" -v a="$a" -v b="$b" \
    'BEGIN { printf "| %d | %d | %d | %d | %.2f | %.2f | %.2f |\n", r, n, a, b, a / n, b / n, b / a }'
done
