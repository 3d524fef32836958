#!/usr/bin/env bash
# Containment latency: from the accounting packet that reveals a SIM in a foreign IMEI to the
# RFC 5176 Disconnect-Request on the wire. `rampart serve` (release, embedded SQLite) with the
# playbook "sim_imei_mismatch -> radius_disconnect" is fed by `rampart simulate` (real RADIUS
# accounting for N registered devices, BAD of which move their SIM into another IMEI from
# --misbehave-after on); FreeRADIUS plays the NAS's Dynamic Authorization Server and ACKs.
# tshark captures loopback; for every Disconnect-Request the latency is its capture time minus
# that of the last Accounting-Request of the same Acct-Session-Id before it (both stamped by
# the same capture, so no clock is compared with another). Needs root for the capture.
# SERVE_LOG sets the server's log filter (default warn); KEEP=1 keeps the work directory.
#   scripts/bench-contain.sh [DEVICES] [BAD] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}; BAD=${2:-200}; SECS=${3:-20}
BIN=${RAMPART_BIN:-${CARGO_TARGET_DIR:-target}/release/rampart}
[ -x "$BIN" ] || cargo build --release -p rampart
tmp=$(mktemp -d); chmod 755 "$tmp"
trap 'kill $SERVE $DAS $CAP 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
RADIUS=$(port); DASP=$(port)
mkdir "$tmp/das"
cat > "$tmp/das/radiusd.conf" <<CONF
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = $tmp/das
raddbdir = $tmp/das
radacctdir = $tmp/das
name = freeradius
confdir = $tmp/das
run_dir = $tmp/das
db_dir = $tmp/das
libdir = /usr/lib/freeradius
pidfile = $tmp/das/radiusd.pid
max_requests = 65536
hostname_lookups = no
log {
  destination = files
  file = $tmp/das/radius.log
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}
modules {
  always ok {
    rcode = ok
  }
}
client local {
  ipaddr = 127.0.0.1
  secret = dae-bench-secret
}
server coa {
  listen {
    type = coa
    ipaddr = 127.0.0.1
    port = $DASP
  }
  recv-coa {
    ok
  }
  send-coa {
    ok
  }
}
CONF
freeradius -f -n radiusd -d "$tmp/das" >/dev/null 2>&1 &
DAS=$!
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
[respond]
[[respond.nas]]
name = "sim-pgw"
addr = "127.0.0.1:$DASP"
sessions_from = ["sim-pgw"]
secret_env = "DAE_SECRET"
TOML
mkdir -p "$tmp/data/playbooks"
cat > "$tmp/data/playbooks/sim.toml" <<'PB'
name = "sim-in-foreign-imei"
[match]
kinds = ["sim_imei_mismatch"]
min_severity = "medium"
[[steps]]
action = "radius_disconnect"
PB
export BENCH_SECRET=bench-secret DAE_SECRET=dae-bench-secret RAMPART_ADMIN_TOKEN=bench-contain-token-0123456789abcdef
"$BIN" devices generate --count "$N" --seed 5 --output "$tmp/fleet.csv" >/dev/null
"$BIN" devices import --config "$tmp/rampart.toml" "$tmp/fleet.csv" >/dev/null
RAMPART_LOG=${SERVE_LOG:-warn} "$BIN" serve --config "$tmp/rampart.toml" --netflow-listen off 2> "$tmp/serve.log" >/dev/null &
SERVE=$!
tshark -q -i lo -f "udp port $RADIUS or udp port $DASP" -w "$tmp/cap.pcapng" 2>"$tmp/tshark.err" &
CAP=$!
# tshark says "Capturing on ..." once the capture runs; right after a build it can take longer
# than a fixed pause, and packets sent before then were missing from the measurement.
for _ in $(seq 1 300); do
  grep -q "Capturing on" "$tmp/tshark.err" 2>/dev/null && break
  kill -0 "$CAP" 2>/dev/null || { echo "tshark stopped: $(cat "$tmp/tshark.err")"; exit 1; }
  sleep 0.1
done
grep -q "Capturing on" "$tmp/tshark.err" || { echo "tshark did not start capturing within 30 s"; exit 1; }
sleep 0.5
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" simulate --target 127.0.0.1 --devices "$N" --seed 5 --radius-port "$RADIUS" \
  --netflow-port 0 --duration "$SECS" --interim 5 \
  --misbehave "sim-swap=$BAD" --misbehave-after 5 --secret-env BENCH_SECRET >/dev/null \
  || { echo "simulate reported failures; server log tail:"; tail -5 "$tmp/serve.log"; }
sleep 3
kill "$CAP"; wait "$CAP" 2>/dev/null || true
kill "$SERVE"; wait "$SERVE" 2>/dev/null || true
tshark -r "$tmp/cap.pcapng" -d "udp.port==$RADIUS,radius" -d "udp.port==$DASP,radius" -T fields -E separator=, -e frame.time_epoch -e udp.dstport \
  -e radius.code -e radius.Acct_Session_Id > "$tmp/packets.csv" 2>/dev/null
echo "work dir: $tmp"
python3 - "$tmp/packets.csv" "$RADIUS" "$DASP" <<'PY'
import sys
path, radius, das = sys.argv[1], sys.argv[2], sys.argv[3]
last, lat = {}, []
for line in open(path):
    t, port, code, sid = (line.rstrip("\n").split(",") + ["", "", "", ""])[:4]
    if not sid:
        continue
    if port == radius and code == "4":
        last[sid] = float(t)
    elif port == das and code == "40" and sid in last:
        lat.append((float(t) - last.pop(sid)) * 1000)
lat.sort()
if not lat:
    sys.exit("no Disconnect-Request captured")
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"disconnects: {len(lat)}  accounting packet -> Disconnect-Request ms: "
      f"p50 {q(0.5):.1f}  p90 {q(0.9):.1f}  p99 {q(0.99):.1f}  max {lat[-1]:.1f}")
PY
