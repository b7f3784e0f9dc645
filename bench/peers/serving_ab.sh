#!/usr/bin/env bash
# Two kiln builds side by side on batch-1 V2 REST requests, with nginx `return 200` as the
# reference: the three servers run at once pinned to CPU 0 and wrk (CPU 1) visits them in turn,
# ROUNDS times, so the host's swings hit all three alike. Needs the model and bodies that
# bench/peers/serving.sh leaves in bench/out/serving (run it once first).
#   bench/peers/serving_ab.sh KILN_A KILN_B [SECONDS] [ROUNDS] [-- SERVE FLAGS...]
# Environment (bench/monitoring_overhead.sh sets them): SERVING_OUT (default bench/out/serving),
# HOME_A and HOME_B (default $SERVING_OUT/home for both), MODEL (higgs), BODY ($OUT/body-1.json).
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
OUT=${SERVING_OUT:-bench/out/serving}
HOME_A=${HOME_A:-$OUT/home}
HOME_B=${HOME_B:-$OUT/home}
MODEL=${MODEL:-higgs}
BODY=${BODY:-$OUT/body-1.json}
[ -f "$BODY" ] && [ -d "$HOME_A" ] && [ -d "$HOME_B" ] || { echo "run bench/peers/serving.sh first"; exit 1; }
mkdir -p "$OUT/nginx"
cat > "$OUT/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $PWD/$OUT/nginx/nginx.pid;
error_log $PWD/$OUT/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $PWD/$OUT/nginx/body;
  server { listen 127.0.0.1:18091; location / { return 200 '{"ok":true}'; } }
}
CONF
cat > "$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("BODY")):read("*a")
LUA
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done; wait 2> /dev/null || true; }
trap cleanup EXIT
mkdir -p "$OUT/nginx/body"
taskset -c 0 nginx -c "$PWD/$OUT/nginx/nginx.conf" -p "$PWD/$OUT/nginx" &
PIDS+=($!)
taskset -c 0 "$A" --home "$HOME_A" serve --port 18192 --grpc-port -1 --io-threads 1 \
  --inference-threads 1 "$@" > "$OUT/ab-a.log" 2>&1 &
PIDS+=($!)
taskset -c 0 "$B" --home "$HOME_B" serve --port 18195 --grpc-port -1 --io-threads 1 \
  --inference-threads 1 "$@" > "$OUT/ab-b.log" 2>&1 &
PIDS+=($!)
for port in 18091 18192 18195; do
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
done
rate() {
  BODY=$BODY taskset -c 1 wrk -t1 -c8 -d"$2s" -s "$OUT/post.lua" "$1" |
    awk '/Requests\/sec/ { printf "%.0f", $2 }'
}
infer() { echo "http://127.0.0.1:$1/v2/models/$MODEL/infer"; }
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
