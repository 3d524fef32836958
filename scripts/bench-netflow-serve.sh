#!/usr/bin/env bash
# NetFlow v9 / IPFIX through the whole `rampart serve` path — receive, decode, attribute to a
# registered device, count per device, route to detection — against nfcapd receiving the same
# replay, in the same run. The 3,000 flows of the replay come from 10.0.0.0–10.0.11.183, the
# static addresses of 3,000 registered devices, so every flow should be attributed.
# "Attributed" is `rampart_observations_total{kind="flow",result="device"}` from /metrics;
# nfcapd's count is `nfdump -I` Flows. CPU: user + system of the collector over the run.
#   scripts/bench-netflow-serve.sh [REPS=3] [DATAGRAMS=200000] [RATE=0 (unpaced)]
# RAMPART_BIN=path uses that binary; the sender is the nf_sender example of rampart-netflow.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}; N=${2:-200000}; RATE=${3:-0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
BIN=${RAMPART_BIN:-$CARGO_TARGET_DIR/release/rampart}
[ -x "$BIN" ] || cargo build --release -q -p rampart
cargo build -q --release -p rampart-netflow --example nf_sender
SENDER=$CARGO_TARGET_DIR/release/examples/nf_sender
command -v nfcapd >/dev/null && command -v nfdump >/dev/null || {
  echo "nfcapd/nfdump missing (apt-get install nfdump)" >&2; exit 1; }
tmp=$(mktemp -d)
SERVE=
cleanup() { [ -n "$SERVE" ] && { kill "$SERVE" 2>/dev/null || true; wait "$SERVE" 2>/dev/null || true; }; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
tcp_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
NETFLOW=$(port); CAPD=$(port); HTTP=$(tcp_port)
RCVBUF=33554432 # both ask for this; the kernel caps it at net.core.rmem_max
cat > "$tmp/rampart.toml" <<TOML
version = 1
[http]
listen = "127.0.0.1:$HTTP"
[store]
data_dir = "$tmp/data"
[netflow]
listen = ["127.0.0.1:$NETFLOW"]
recv_buffer_bytes = $RCVBUF
TOML
python3 - "$tmp/fleet.csv" <<'PY'
import sys, ipaddress
with open(sys.argv[1], "w") as f:
    f.write("device_id,ips\n")
    for i in range(3000):
        f.write(f"nf-{i},{ipaddress.IPv4Address(0x0a000000 + i)}\n")
PY
"$BIN" devices import --config "$tmp/rampart.toml" "$tmp/fleet.csv" >/dev/null
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
TOKEN=bench-nf-token-0123456789abcdef
metric() { curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP/metrics" | awk -v m="$1" 'index($0, m) == 1 {v = $NF} END {print v + 0}'; }
attributed() { metric 'rampart_observations_total{kind="flow",result="device"}'; }

start_serve() {
  RAMPART_ADMIN_TOKEN=$TOKEN RAMPART_LOG=error \
    "$BIN" serve --config "$tmp/rampart.toml" --radius-listen off 2>"$tmp/serve.log" >/dev/null &
  SERVE=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null && return; sleep 0.1; done
  echo "rampart serve did not start:"; tail -5 "$tmp/serve.log"; exit 1
}

run_rampart() { # proto -> "sent received cpu_s"
  local before after c0 s got
  before=$(attributed); c0=$(ticks "$SERVE")
  s=$("$SENDER" "$1" "127.0.0.1:$NETFLOW" "$N" "$RATE")
  # Until the count stops moving for a second: everything received has gone through.
  got=$(attributed)
  while sleep 1; do after=$(attributed); [ "$after" = "$got" ] && break; got=$after; done
  echo "$(sed -n 's/.*sent_records=\([0-9]*\).*/\1/p' <<<"$s") $((got - before)) $(awk -v t=$(( $(ticks "$SERVE") - c0 )) -v hz="$hz" 'BEGIN{printf "%.2f", t / hz}')"
}

run_nfcapd() { # proto -> "sent received cpu_s"
  rm -rf "$tmp/capd"; mkdir -p "$tmp/capd"
  /usr/bin/time -f '%U %S' -o "$tmp/time-capd" \
    nfcapd -b 127.0.0.1 -p "$CAPD" -B $RCVBUF -w "$tmp/capd" -t 3600 >/dev/null 2>&1 &
  local tpid=$! s got
  sleep 0.5
  s=$("$SENDER" "$1" "127.0.0.1:$CAPD" "$N" "$RATE")
  sleep 1
  kill -TERM "$(pgrep -P $tpid nfcapd)"
  wait $tpid || true
  got=$(nfdump -R "$tmp/capd" -I | awk -F': ' '/^Flows:/ {print $2}')
  echo "$(sed -n 's/.*sent_records=\([0-9]*\).*/\1/p' <<<"$s") ${got:-0} $(awk '{printf "%.2f", $1 + $2}' "$tmp/time-capd")"
}

start_serve
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $N datagrams per run, rate ${RATE:-0} (0 = unpaced)"
for proto in v9 ipfix; do
  for rep in $(seq 1 "$REPS"); do
    if [ $((rep % 2)) = 1 ]; then r=$(run_rampart $proto); c=$(run_nfcapd $proto)
    else c=$(run_nfcapd $proto); r=$(run_rampart $proto); fi
    read -r rs rg rc <<<"$r"; read -r cs cg cc <<<"$c"
    awk -v p=$proto -v k=$rep -v rs="$rs" -v rg="$rg" -v rc="$rc" -v cs="$cs" -v cg="$cg" -v cc="$cc" 'BEGIN {
      printf "%s run %d: rampart attributed %d of %d (%.1f%% lost), %.3f us CPU each | nfcapd %d of %d (%.1f%% lost), %.3f us CPU each | ratio %.2f\n",
        p, k, rg, rs, 100 * (1 - rg / rs), rg ? 1e6 * rc / rg : 0, cg, cs, 100 * (1 - cg / cs), cg ? 1e6 * cc / cg : 0, cg ? rg / cg : 0 }'
  done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server errors: $(grep -c -i error "$tmp/serve.log" || true)"
