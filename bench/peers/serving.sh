#!/usr/bin/env bash
# Serving benchmark: `kiln serve` (V2 REST and gRPC) vs nginx `return 200` (the HTTP ceiling of
# this box) vs FastAPI + uvicorn serving the same model through XGBoost 1.7, one model of TREES
# trees of depth DEPTH trained by XGBoost on gen_synth.py higgs (28 features) and imported into
# kiln, so both sides serve the same trees. Server pinned to CPU 0, load generator to CPU 1,
# keep-alive, CONNS connections, SECONDS per run; batch 1 (ROUNDS interleaved rounds, default 3)
# and batch 64.
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
[ -f "$csv" ] || /usr/bin/python3 bench/tools/gen_synth.py higgs 100000 "$csv"
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

# Every server is started first, pinned to CPU 0 (an idle one costs nothing), and the batch-1
# runs go round robin, ROUNDS times: what the shared host gives this box moves by 2x within
# minutes, so a ratio is taken between runs of the same round and the median reported.
NGINX_PORT=18091
API_PORT=18094
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
# nginx: the HTTP ceiling (one worker, `return 200`).
taskset -c $SERVER_CPU nginx -c "$PWD/$OUT/nginx/nginx.conf" -p "$PWD/$OUT/nginx" &
PIDS+=($!)
# kiln: one IO thread and one inference thread, with the defaults (d: every request goes to the
# inference thread) and with --inline-rows 64 (i: small requests computed on the IO thread when
# nothing waits: no thread hop, the right setting when the server has one core).
declare -A REST GRPC
REST[d]=18092 GRPC[d]=18093 REST[i]=18096 GRPC[i]=18097
for v in d i; do
  extra=$([ $v = i ] && echo "--inline-rows 64" || true)
  # shellcheck disable=SC2086
  taskset -c $SERVER_CPU "$KILN" --home "$home" serve --port "${REST[$v]}" \
    --grpc-port "${GRPC[$v]}" --io-threads 1 --inference-threads 1 $extra \
    > "$OUT/kiln-serve-$v.log" 2>&1 &
  PIDS+=($!)
done
# FastAPI + uvicorn + XGBoost (one worker).
(cd bench/peers && MODEL="$PWD/../../$model" taskset -c $SERVER_CPU uvicorn serve_peers:app \
  --host 127.0.0.1 --port $API_PORT --workers 1 --log-level warning --no-access-log) &
PIDS+=($!)
wait_port $NGINX_PORT
wait_port "${REST[d]}"
wait_port "${REST[i]}"
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$API_PORT/docs" && break; sleep 0.1; done

url() { echo "http://127.0.0.1:${REST[$1]}/v2/models/higgs/infer"; }
grpc() {  # VARIANT ROWS -> "requests/s p50_us p99_us"
  taskset -c $LOAD_CPU "$GRPC_LOAD" "127.0.0.1:${GRPC[$1]}" higgs "$2" "$SECS" "$CONNS" "$csv" |
    /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print('%.0f %.0f %.0f' % (d['rps'], d['p50_us'], d['p99_us']))"
}
api_url="http://127.0.0.1:$API_PORT/v2/models/higgs/infer"
for u in "$(url d)" "$(url i)" "$api_url"; do load "$u" "$OUT/body-1.json" > /dev/null; done  # warm-up

ROUNDS=${ROUNDS:-3}
rounds="$OUT/rounds.txt"
: > "$rounds"
for r in $(seq "$ROUNDS"); do
  line="$(load "http://127.0.0.1:$NGINX_PORT/" "$OUT/body-1.json")"
  for v in d i; do
    curl -s "http://127.0.0.1:${REST[$v]}/metrics" > "$OUT/metrics-$v-$r-before.txt"
    line="$line $(load "$(url $v)" "$OUT/body-1.json")"
    curl -s "http://127.0.0.1:${REST[$v]}/metrics" > "$OUT/metrics-$v-$r-after.txt"
    line="$line $(grpc $v 1)"
  done
  line="$line $(load "$api_url" "$OUT/body-1.json")"
  echo "$line" >> "$rounds"
done
# Fields of a round: nginx, kiln d REST, d gRPC, kiln i REST, i gRPC, FastAPI; 3 numbers each.
median_of() {  # AWK_EXPR over the fields of each round -> median
  awk "{ print $1 }" "$rounds" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
triple() {  # FIRST_FIELD -> medians of "requests/s p50 p99"
  printf "%.0f %.0f %.0f\n" "$(median_of "\$$1")" "$(median_of "\$$(($1 + 1))")" "$(median_of "\$$(($1 + 2))")"
}
nginx1=$(triple 1) d_b1=$(triple 4) d_g1=$(triple 7) i_b1=$(triple 10) i_g1=$(triple 13) api1=$(triple 16)

for v in d i; do
  b64=$(load "$(url $v)" "$OUT/body-64.json")
  g64=$(grpc $v 64)
  # p99 at about 80% of the batch-1 maximum: each connection pauses 1 ms between requests; as
  # many connections as make 80% of the maximum rate at the measured latency.
  eval "read -r max p50 _ <<< \"\$${v}_b1\""
  paced=$(awk -v r="$max" -v l="$p50" 'BEGIN {c = int(0.8 * r * (0.001 + l / 1e6) + 0.5); print (c < 1 ? 1 : c)}')
  p80=$(load "$(url $v)" "$OUT/body-1.json" "$paced" 1)
  # Server-side time per batch-1 REST request from the metrics of those runs alone.
  overhead=$(/usr/bin/python3 - "$OUT" "$v" "$ROUNDS" <<'PY'
import sys
out, v, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
# Each family's series with these first labels, summed (whatever labels follow them).
keys = ('kiln_request_duration_seconds_sum{route="infer"', 'kiln_request_duration_seconds_count{route="infer"',
        'kiln_inference_compute_seconds_sum{model="higgs"', 'kiln_inference_compute_seconds_count{model="higgs"',
        'kiln_queue_duration_seconds_sum{model="higgs"')
def read(path):
    values = {}
    for line in open(path):
        for key in keys:
            if line.startswith(key) and line[len(key)] in ",}":
                name = key.split("{")[0]
                values[name] = values.get(name, 0) + float(line.split()[-1])
    return values
d = {}
for r in range(1, rounds + 1):
    a, b = read(f"{out}/metrics-{v}-{r}-before.txt"), read(f"{out}/metrics-{v}-{r}-after.txt")
    for k in b:
        d[k] = d.get(k, 0) + b[k] - a.get(k, 0)
n = d["kiln_request_duration_seconds_count"]
total = d["kiln_request_duration_seconds_sum"] / n * 1e6
compute = d["kiln_inference_compute_seconds_sum"] / d["kiln_inference_compute_seconds_count"] * 1e6
queue = d["kiln_queue_duration_seconds_sum"] / d["kiln_inference_compute_seconds_count"] * 1e6
print("%.1f %.1f %.1f %.1f" % (total, compute, queue, total - compute))
PY
)
  eval "${v}_b64=\$b64 ${v}_g64=\$g64 ${v}_p80=\$p80 ${v}_paced=\$paced ${v}_over=\$overhead"
done
api64=$(load "$api_url" "$OUT/body-64.json")

echo "serving: $TREES trees depth $DEPTH (XGBoost-trained, higgs 28 features), server on CPU $SERVER_CPU, load on CPU $LOAD_CPU, $CONNS connections, ${SECS}s per run, batch 1 as the median of $ROUNDS interleaved rounds, $(date -u +%F)"
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
echo "batch-1 requests/s by round (nginx, kiln REST, kiln gRPC, kiln REST --inline-rows 64, its gRPC, FastAPI):"
awk '{ print "- " $1 ", " $4 ", " $7 ", " $10 ", " $13 ", " $16 }' "$rounds"
echo
read -r a64 _ _ <<< "$api64"
for v in d i; do
  label=$([ $v = d ] && echo "defaults" || echo "--inline-rows 64")
  rest=$([ $v = d ] && echo 4 || echo 10)
  eval "b64=\$${v}_b64 p80=\$${v}_p80 paced=\$${v}_paced over=\$${v}_over b1=\$${v}_b1"
  read -r k1 _ _ <<< "$b1"
  read -r k64 _ _ <<< "$b64"
  read -r total compute queue oh <<< "$over"
  read -r r80 _ p99_80 <<< "$p80"
  echo "kiln ($label), ratios as the median over rounds of the ratio within a round:"
  printf -- "- REST batch 1: %.0f%% of nginx's ceiling, %.1fx FastAPI; gRPC batch 1: %.2fx REST; REST batch 64: %.1fx FastAPI\n" \
    "$(median_of "100 * \$$rest / \$1")" "$(median_of "\$$rest / \$16")" \
    "$(median_of "\$$((rest + 3)) / \$$rest")" "$(awk -v k="$k64" -v a="$a64" 'BEGIN { print k / a }')"
  echo "- server-side time per batch-1 REST request (from /metrics): total $total µs = compute $compute µs + overhead $oh µs (of which queue wait $queue µs)"
  echo "- p99 at $r80 requests/s ($(( 100 * r80 / k1 ))% of the batch-1 maximum; $paced connections pausing 1 ms): $p99_80 µs"
done
