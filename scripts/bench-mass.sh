#!/usr/bin/env bash
# Mass-action throughput through the real server: `rampart serve` (release, embedded SQLite or
# RAMPART_DATABASE_URL) with N registered devices; one API call quarantines every device of a
# profile in waves of 1 %, 10 %, 100 % (no pause, rate cap 1,000,000/s), then one call undoes it.
# Reports devices/s for each, from the operation's own created/completed events.
#   scripts/bench-mass.sh [DEVICES]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
BIN=${RAMPART_BIN:-${CARGO_TARGET_DIR:-target}/release/rampart}
[ -x "$BIN" ] || cargo build --release -p rampart
tmp=$(mktemp -d); trap 'kill $SERVE 2>/dev/null || true; rm -rf "$tmp"' EXIT
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
TOKEN=bench-mass-token-0123456789abcdef
cat > "$tmp/rampart.toml" <<TOML
version = 1
[http]
listen = "127.0.0.1:$PORT"
[store]
data_dir = "$tmp/data"
[radius]
listen = "off"
TOML
"$BIN" devices generate --count "$N" --seed 9 --output "$tmp/fleet.csv" >/dev/null
"$BIN" devices import --config "$tmp/rampart.toml" "$tmp/fleet.csv" >/dev/null
PROFILE=$(python3 - "$tmp/fleet.csv" <<'PY'
import csv, sys, collections
c = collections.Counter(r["profile"] for r in csv.DictReader(open(sys.argv[1])))
print(c.most_common(1)[0][0])
PY
)
RAMPART_ADMIN_TOKEN=$TOKEN RAMPART_LOG=warn "$BIN" serve --config "$tmp/rampart.toml" \
  --netflow-listen off 2> "$tmp/serve.log" >/dev/null &
SERVE=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
wait_done() {
  while :; do
    s=$(api "http://127.0.0.1:$PORT/api/v1/mass-actions/$1?tenant=default" -H 'X-Rampart-Tenant: default')
    st=$(echo "$s" | python3 -c 'import json,sys;print(json.load(sys.stdin)["status"])')
    case $st in completed|aborted|failed|interrupted) echo "$s"; return;; esac
    sleep 0.5
  done
}
rate() {
  python3 -c '
import json, sys
op = json.load(sys.stdin)
ev = {e["kind"]["event"]: e["at"] for e in op["events"]}
start = min(e["at"] for e in op["events"])
end = ev.get("completed", max(e["at"] for e in op["events"]))
n = op["progress"]["succeeded"]
st = op["status"]
print(f"{sys.argv[1]}: status {st}, {n} devices in {(end-start)/1000:.2f} s = {n/max(end-start,1)*1000:.0f} devices/s")
' "$1"
}
PLAN="{\"selector\":{\"profiles\":[\"$PROFILE\"]},\"actions\":[{\"action\":\"registry_quarantine\"}],\"waves\":[{\"percent\":1},{\"percent\":10},{\"percent\":100}],\"rate_per_sec\":1000000}"
ID=$(api -X POST "http://127.0.0.1:$PORT/api/v1/mass-actions?tenant=default" -d "$PLAN" \
  | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
wait_done "$ID" | rate "quarantine ($PROFILE)"
UNDO=$(api -X POST "http://127.0.0.1:$PORT/api/v1/mass-actions/$ID/undo" -H 'X-Rampart-Tenant: default' \
  | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
wait_done "$UNDO" | rate "undo"
