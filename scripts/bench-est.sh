#!/usr/bin/env bash
# EST enrolments/s over HTTPS against a real `rampart serve` (`[identity] est_listen`, its
# self-issued server certificate), driven by `rampart bench est`: every enrolment on a new TLS
# connection (full handshake, no session resumption) with its own one-time token, as a fleet
# enrolling at once would arrive. In the same run, the bound it is compared with: as many bare
# TLS handshakes to the same listener with the same client and concurrency
# (`rampart bench est --handshake-only`), and `openssl s_time -new` (OpenSSL's client, one
# connection at a time, 10 s) as an outside reference. Three runs; prints each run's summary,
# the server's CPU time per operation (during the timed part) and the load generator's.
#   scripts/bench-est.sh [COUNT=2000] [CONCURRENCY=32]
# RAMPART_BIN=path skips the build and uses that binary; CARGO_TARGET_DIR and TMPDIR are
# honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-2000}
conc=${2:-32}
command -v openssl >/dev/null || { echo "needs openssl"; exit 1; }
if [ -n "${RAMPART_BIN:-}" ]; then
  bin=$RAMPART_BIN
else
  cargo build --release -q -p rampart
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/rampart
fi
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # A server still writing its data directory while it exits would make rm fail.
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/rampart.toml" <<CONF
version = 1
[store]
data_dir = "$work/data"
[identity]
est_listen = "127.0.0.1:$port"
CONF
cfg=(--config "$work/rampart.toml")
"$bin" ca init "${cfg[@]}" >/dev/null
RAMPART_LOG=warn RAMPART_ADMIN_TOKEN=bench-admin-token-0123456789 "$bin" serve "${cfg[@]}" \
  --listen 127.0.0.1:0 --radius-listen off --netflow-listen off >"$work/serve.log" 2>&1 &
pids+=($!)
serve_pid=$!
for _ in $(seq 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

# CPU time (user + system, all threads) a process has used, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
server_cpu() {
  local before=$1 n=$2 after
  after=$(ticks "$serve_pid")
  echo "server cpu: $(( (after - before) * 1000 / hz )) ms, $(( (after - before) * 1000000 / hz / n )) us per operation"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "count $count, concurrency $conc, EST at 127.0.0.1:$port"
for run in 1 2 3; do
  echo "== run $run: simpleenroll, new TLS connection and token each (load $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/time -f "load generator: %U s user, %S s sys, %e s (preparation included)" \
    "$bin" bench est "${cfg[@]}" --target "127.0.0.1:$port" --count "$count" \
    --concurrency "$conc" --server-pid "$serve_pid" 2>&1 | tail -n 4
  echo "== run $run: TLS handshakes only, same client (load $(cut -d' ' -f1-3 /proc/loadavg))"
  /usr/bin/time -f "load generator: %U s user, %S s sys, %e s" "$bin" bench est "${cfg[@]}" \
    --target "127.0.0.1:$port" --count "$count" --concurrency "$conc" --handshake-only \
    --server-pid "$serve_pid" 2>&1 | tail -n 3
  echo "== run $run: openssl s_time -new, 10 s (load $(cut -d' ' -f1-3 /proc/loadavg))"
  before=$(ticks "$serve_pid")
  n=$(openssl s_time -connect "127.0.0.1:$port" -new -time 10 -CAfile "$work/data/ca/root.pem" 2>&1 \
    | tee "$work/s_time.txt" | awk '/connections in [0-9.]+ real seconds/{print $1}')
  grep "connections" "$work/s_time.txt" || true
  server_cpu "$before" "${n:-1}"
done
