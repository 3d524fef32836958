#!/usr/bin/env bash
# Registry benchmarks: 1M-device import on SQLite and PostgreSQL (time, peak RSS), then lookup
# latency by IMSI and by IP under concurrent in-process API load, on both backends.
#   scripts/bench-registry.sh [COUNT=1000000] [PG_URL=postgres://postgres@127.0.0.1:5432/]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
pg=${2:-postgres://postgres@127.0.0.1:5432/}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p rampart
cargo build --release -q -p rampart-api --example lookup_bench
bin=target/release/rampart
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"

$bin devices generate --count "$count" --seed 1 -o "$work/fleet.csv"
echo "fleet file: $(du -h "$work/fleet.csv" | cut -f1), $count devices"

run_import() { # name, store flags...
  local name=$1; shift
  /usr/bin/time -o "$work/time" -f "$name: wall %e s, peak RSS %M KiB" \
    "$bin" devices import "$work/fleet.csv" "$@" 2> "$work/import.log" &
  local pid=$! samples=()
  sleep 0.5
  # RSS over the run (MiB, every 2 s): flat means bounded memory whatever the file size.
  while kill -0 "$pid" 2>/dev/null; do
    local child
    child=$(pgrep -P "$pid" rampart || true)
    [ -n "$child" ] && samples+=("$(( $(ps -o rss= -p "$child" 2>/dev/null || echo 0) / 1024 ))")
    sleep 2
  done
  wait "$pid" || true
  grep -E "imported" "$work/import.log"
  cat "$work/time"
  echo "$name: RSS samples (MiB, every 2 s): ${samples[*]}"
}

run_import sqlite --data-dir "$work/data"
psql "${pg}postgres" -qc "drop database if exists rampart_bench" -c "create database rampart_bench" 2>&1 | grep -v NOTICE || true
run_import postgres --database-url "${pg}rampart_bench"

for conc in 4 16; do
  target/release/examples/lookup_bench "$work/data" "$conc" 40000 | grep lookup | sed 's/^/sqlite: /'
  target/release/examples/lookup_bench "${pg}rampart_bench" "$conc" 40000 | grep lookup | sed 's/^/postgres: /'
done
psql "${pg}postgres" -qc "drop database if exists rampart_bench" 2>&1 | grep -v NOTICE || true
