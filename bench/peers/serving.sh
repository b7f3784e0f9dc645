#!/usr/bin/env bash
# Serving benchmark: `kiln serve` (V2 REST and gRPC) vs nginx `return 200` (the HTTP ceiling of
# this box) vs FastAPI + uvicorn serving the same model through XGBoost 1.7, one model of TREES
# trees of depth DEPTH trained by XGBoost on gen_synth.py higgs (28 features) and imported into
# kiln, so both sides serve the same trees. Server pinned to CPU 0, load generator to CPU 1,
# keep-alive, CONNS connections, SECONDS per run; batch 1 and batch 64.
#   bench/peers/serving.sh [KILN] [SECONDS] [CONNS] [TREES] [DEPTH]
set -euo pipefail
cd "$(dirname "$0")/../.."
KILN=$(realpath "${1:-build/release/kiln}")
SECS=${2:-10}
CONNS=${3:-8}
TREES=${4:-100}
DEPTH=${5:-8}
GRPC_LOAD=$(dirname "$KILN")/bench/grpc_load
SERVER_CPU=0
LOAD_CPU=1
OUT=bench/out/serving
mkdir -p "$OUT"
for tool in wrk nginx uvicorn taskset; do
  command -v "$tool" > /dev/null || { echo "needs $tool (scripts/install-deps)"; exit 1; }
done

csv=bench/out/higgs-100000.csv
[ -f "$csv" ] || /usr/bin/python3 ../shared/tools/gen_synth.py higgs 100000 "$csv"
model="$OUT/xgb-$TREES-$DEPTH.json"
[ -f "$model" ] || /usr/bin/python3 bench/peers/serve_peers.py train "$csv" "$model" "$TREES" "$DEPTH"
/usr/bin/python3 bench/peers/serve_peers.py bodies "$csv" "$OUT"
home="$OUT/home"
rm -rf "$home"
"$KILN" --home "$home" model import "$model" --from xgboost --register higgs > /dev/null
"$KILN" --home "$home" models alias higgs 1 --set production > /dev/null

cat > "$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("BODY")):read("*a")
local pause = tonumber(os.getenv("PAUSE_MS") or "0")
if pause > 0 then function delay() return pause end end
LUA

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done; wait 2> /dev/null || true; }
trap cleanup EXIT
wait_port() {
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done
  echo "nothing answers on port $1"; exit 1
}
# wrk URL BODY [CONNS] [PAUSE_MS] -> "requests/s p50_us p99_us"
load() {
  BODY=$2 PAUSE_MS=${4:-0} taskset -c $LOAD_CPU wrk -t1 -c"${3:-$CONNS}" -d"${SECS}s" --latency \
    -s "$OUT/post.lua" "$1" > "$OUT/wrk.txt"
  if grep -q "Non-2xx" "$OUT/wrk.txt"; then cat "$OUT/wrk.txt"; exit 1; fi
  awk 'function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1e6 }
       /Requests\/sec/ {rps=$2} $1 == "50%" {p50=us($2)} $1 == "99%" {p99=us($2)}
       END {printf "%.0f %.0f %.0f\n", rps, p50, p99}' "$OUT/wrk.txt"
}

# nginx: the HTTP ceiling (one worker, `return 200`).
NGINX_PORT=18091
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
  server { listen 127.0.0.1:$NGINX_PORT; location / { return 200 '{"ok":true}'; } }
}
CONF
taskset -c $SERVER_CPU nginx -c "$PWD/$OUT/nginx/nginx.conf" -p "$PWD/$OUT/nginx" &
PIDS+=($!)
wait_port $NGINX_PORT
nginx1=$(load "http://127.0.0.1:$NGINX_PORT/" "$OUT/body-1.json")
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2> /dev/null || true

# kiln on CPU 0: one IO thread and one inference thread; run twice, with the defaults (every
# request goes to the inference thread) and with --inline-rows 64 (small requests computed on
# the IO thread when nothing waits: no thread hop, the right setting when the server has one
# core). Sets b1 b64 g1 g64 p80 (p99 at ~80% load) overhead for the run.
KILN_PORT=18092
GRPC_PORT=18093
grpc() {
  taskset -c $LOAD_CPU "$GRPC_LOAD" 127.0.0.1:$GRPC_PORT higgs "$1" "$SECS" "$CONNS" "$csv" |
    /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print('%.0f %.0f %.0f' % (d['rps'], d['p50_us'], d['p99_us']))"
}
kiln_runs() {
  taskset -c $SERVER_CPU "$KILN" --home "$home" serve --port $KILN_PORT --grpc-port $GRPC_PORT \
    --io-threads 1 --inference-threads 1 "$@" > "$OUT/kiln-serve.log" 2>&1 &
  local pid=$!
  wait_port $KILN_PORT
  local url="http://127.0.0.1:$KILN_PORT/v2/models/higgs/infer"
  load "$url" "$OUT/body-1.json" > /dev/null  # warm-up
  curl -s "http://127.0.0.1:$KILN_PORT/metrics" > "$OUT/metrics-before.txt"
  b1=$(load "$url" "$OUT/body-1.json")
  curl -s "http://127.0.0.1:$KILN_PORT/metrics" > "$OUT/metrics-b1.txt"
  b64=$(load "$url" "$OUT/body-64.json")
  g1=$(grpc 1)
  g64=$(grpc 64)
  # p99 at about 80% of the batch-1 maximum: each connection pauses 1 ms between requests; as
  # many connections as make 80% of the maximum rate at the measured latency.
  local max p50
  read -r max p50 _ <<< "$b1"
  paced=$(awk -v r="$max" -v l="$p50" 'BEGIN {c = int(0.8 * r * (0.001 + l / 1e6) + 0.5); print (c < 1 ? 1 : c)}')
  p80=$(load "$url" "$OUT/body-1.json" "$paced" 1)
  # Server-side time per batch-1 request from the metrics of that run alone.
  overhead=$(/usr/bin/python3 - "$OUT/metrics-before.txt" "$OUT/metrics-b1.txt" <<'PY'
import sys
def read(path):
    v = {}
    for line in open(path):
        for key in ('kiln_request_duration_seconds_sum{route="infer"}', 'kiln_request_duration_seconds_count{route="infer"}',
                    'kiln_inference_compute_seconds_sum{model="higgs"}', 'kiln_inference_compute_seconds_count{model="higgs"}',
                    'kiln_queue_duration_seconds_sum{model="higgs"}'):
            if line.startswith(key + " "):
                v[key.split("{")[0]] = float(line.split()[-1])
    return v
a, b = read(sys.argv[1]), read(sys.argv[2])
d = {k: b[k] - a.get(k, 0) for k in b}
n = d["kiln_request_duration_seconds_count"]
total = d["kiln_request_duration_seconds_sum"] / n * 1e6
compute = d["kiln_inference_compute_seconds_sum"] / d["kiln_inference_compute_seconds_count"] * 1e6
queue = d["kiln_queue_duration_seconds_sum"] / d["kiln_inference_compute_seconds_count"] * 1e6
print("%.1f %.1f %.1f %.1f" % (total, compute, queue, total - compute))
PY
)
  kill $pid; wait $pid 2> /dev/null || true
}
kiln_runs
d_b1=$b1 d_b64=$b64 d_g1=$g1 d_g64=$g64 d_p80=$p80 d_paced=$paced d_over=$overhead
kiln_runs --inline-rows 64
i_b1=$b1 i_b64=$b64 i_g1=$g1 i_g64=$g64 i_p80=$p80 i_paced=$paced i_over=$overhead

# FastAPI + uvicorn + XGBoost (one worker) on CPU 0.
API_PORT=18094
(cd bench/peers && MODEL="$PWD/../../$model" taskset -c $SERVER_CPU uvicorn serve_peers:app \
  --host 127.0.0.1 --port $API_PORT --workers 1 --log-level warning --no-access-log) &
PIDS+=($!)
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$API_PORT/docs" && break; sleep 0.1; done
api_url="http://127.0.0.1:$API_PORT/v2/models/higgs/infer"
load "$api_url" "$OUT/body-1.json" > /dev/null
api1=$(load "$api_url" "$OUT/body-1.json")
api64=$(load "$api_url" "$OUT/body-64.json")

read -r n1 _ _ <<< "$nginx1"
read -r a1 _ _ <<< "$api1"
read -r a64 _ _ <<< "$api64"
echo "serving: $TREES trees depth $DEPTH (XGBoost-trained, higgs 28 features), server on CPU $SERVER_CPU, load on CPU $LOAD_CPU, $CONNS connections, ${SECS}s per run, $(date -u +%F)"
echo
echo "| server | batch | requests/s | rows/s | p50 µs | p99 µs |"
echo "|---|---|---|---|---|---|"
row() { read -r r p50 p99 <<< "$3"; echo "| $1 | $2 | $r | $(( r * $2 )) | $p50 | $p99 |"; }
row "nginx return 200 (no model)" 1 "$nginx1"
row "kiln REST (V2 JSON)" 1 "$d_b1"
row "kiln REST (V2 JSON)" 64 "$d_b64"
row "kiln gRPC (raw contents)" 1 "$d_g1"
row "kiln gRPC (raw contents)" 64 "$d_g64"
row "kiln REST, --inline-rows 64" 1 "$i_b1"
row "kiln REST, --inline-rows 64" 64 "$i_b64"
row "kiln gRPC, --inline-rows 64" 1 "$i_g1"
row "kiln gRPC, --inline-rows 64" 64 "$i_g64"
row "FastAPI + uvicorn + XGBoost" 1 "$api1"
row "FastAPI + uvicorn + XGBoost" 64 "$api64"
echo
for v in d i; do
  label=$([ $v = d ] && echo "defaults" || echo "--inline-rows 64")
  eval "b1=\$${v}_b1 b64=\$${v}_b64 g1=\$${v}_g1 p80=\$${v}_p80 paced=\$${v}_paced over=\$${v}_over"
  read -r k1 _ _ <<< "$b1"
  read -r k64 _ _ <<< "$b64"
  read -r kg1 _ _ <<< "$g1"
  read -r total compute queue oh <<< "$over"
  read -r r80 _ p99_80 <<< "$p80"
  echo "kiln ($label):"
  awk -v k="$k1" -v n="$n1" -v a="$a1" -v k64="$k64" -v a64="$a64" -v g="$kg1" 'BEGIN {
    printf "- REST batch 1: %.0f%% of nginx'"'"'s ceiling, %.1fx FastAPI; batch 64: %.1fx FastAPI; gRPC batch 1: %.2fx REST\n", 100 * k / n, k / a, k64 / a64, g / k }'
  echo "- server-side time per batch-1 request (from /metrics): total $total µs = compute $compute µs + overhead $oh µs (of which queue wait $queue µs)"
  echo "- p99 at $r80 requests/s ($(( 100 * r80 / k1 ))% of the batch-1 maximum; $paced connections pausing 1 ms): $p99_80 µs"
done
