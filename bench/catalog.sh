#!/usr/bin/env bash
# Catalog benchmark on both backends: N runs (default 100000) x 10 params x 20 metrics x 20
# curves of 100 steps, then `runs list` with a filter and ordering and one run's curve load.
# PostgreSQL 15 runs on a loopback port in a temp dir (as the postgres user when root), with
# fsync off to make the load quicker (the timed reads do not write).
#   bench/catalog.sh build/release/bench/catalog_bench [N]
set -euo pipefail
BENCH=$1
N=${2:-100000}
OUT=bench/out/catalog
mkdir -p "$OUT"
rm -f "$OUT"/meta.db*
"$BENCH" sqlite "$OUT/meta.db" "$N" | tee "$OUT/sqlite.json"

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=$(mktemp -d /tmp/kiln-pgbench-XXXXXX)
AS=""
if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR"; AS="runuser -u postgres --"; fi
PORT=$((20000 + RANDOM % 20000))
$AS "$PG_BIN/initdb" -D "$DIR/data" -A trust -U kiln -E UTF8 --no-sync > /dev/null
$AS "$PG_BIN/pg_ctl" -D "$DIR/data" -w -l "$DIR/log" \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" start > /dev/null
trap '$AS "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w stop > /dev/null; rm -rf "$DIR"' EXIT
$AS "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U kiln -d postgres -c 'CREATE DATABASE bench'
"$BENCH" "postgresql://kiln@127.0.0.1:$PORT/bench" "$N" | tee "$OUT/postgresql.json"
