#!/usr/bin/env bash
# Live latency from packet to finding. `rampart serve` (embedded SQLite) is fed by
# `rampart simulate` over loopback with real RADIUS accounting and NetFlow v9 for N registered
# devices, BAD of which scan from --misbehave-after on. For every finding the server logs, the
# latency is the log line's wall time minus the finding's event time (the end of the flow that
# raised it, which the simulator stamps from the same clock just before encoding and sending):
# sending, decode, attribution, routing and detection. A real exporter's active/inactive
# timeouts come before that and are the exporter's, not Rampart's.
#   scripts/bench-live.sh [DEVICES] [BAD] [SECONDS] [FLOWS_PER_S]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}; BAD=${2:-200}; SECS=${3:-30}; RATE=${4:-20000}
BIN=${RAMPART_BIN:-${CARGO_TARGET_DIR:-target}/release/rampart}
[ -x "$BIN" ] || cargo build --release -p rampart
tmp=$(mktemp -d); trap 'kill $SERVE 2>/dev/null || true; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
RADIUS=$(port); NETFLOW=$(port)
cat > "$tmp/rampart.toml" <<TOML
version = 1
[http]
listen = "127.0.0.1:0"
[store]
data_dir = "$tmp/data"
[radius]
listen = "127.0.0.1:$RADIUS"
[[radius.clients]]
name = "sim"
address = "127.0.0.1"
secret_env = "BENCH_SECRET"
[netflow]
listen = ["127.0.0.1:$NETFLOW"]
[detect.engine]
allowed_lateness_s = 0
TOML
export BENCH_SECRET=bench-secret RAMPART_ADMIN_TOKEN=bench-live-token-0123456789abcdef
"$BIN" devices generate --count "$N" --seed 5 --output "$tmp/fleet.csv" >/dev/null
"$BIN" devices import --config "$tmp/rampart.toml" "$tmp/fleet.csv" >/dev/null
RAMPART_LOG=info RAMPART_LOG_JSON=true "$BIN" serve --config "$tmp/rampart.toml" 2> "$tmp/serve.log" >/dev/null &
SERVE=$!
sleep 3
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" simulate --target 127.0.0.1 --devices "$N" --seed 5 --radius-port "$RADIUS" \
  --netflow-port "$NETFLOW" --duration "$SECS" --rate "$RATE" --interim 10 \
  --misbehave "scan=$BAD" --misbehave-after 5 --secret-env BENCH_SECRET \
  || { echo "simulate reported failures; server log tail:"; tail -5 "$tmp/serve.log"; }
sleep 2
kill "$SERVE"; wait "$SERVE" 2>/dev/null || true
python3 - "$tmp/serve.log" <<'PY'
import json, sys, datetime
lat = []
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    f = e.get("fields", {})
    if f.get("message") != "finding" or "raised_at_ms" not in f:
        continue
    t = datetime.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp() * 1000
    lat.append(t - int(f["raised_at_ms"]))
lat.sort()
if not lat:
    sys.exit("no finding logged")
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"findings: {len(lat)}  latency ms: p50 {q(0.5):.1f}  p90 {q(0.9):.1f}  p99 {q(0.99):.1f}  max {lat[-1]:.1f}")
PY
