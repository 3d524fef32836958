#!/usr/bin/env bash
# NetFlow v9 / IPFIX collector throughput over loopback, against nfcapd, same replay, same run.
#
# For each protocol and each rate of a ramp, nf_sender sends a fixed number of pre-encoded
# datagrams (~30 records each, templates every 16 datagrams) to rampart's listener
# (nf_collector, one tokio worker) and to nfcapd (same socket receive buffer), REPS times,
# alternating which collector goes first. Each run counts records sent and received
# (nfcapd: `nfdump -I` Flows) and the collector's CPU time, user + system, from getrusage
# (/usr/bin/time). Prints one line per run, then per protocol and rate the medians: records
# received per second of sending, loss, CPU microseconds per received record, and the ratio
# rampart/nfcapd of records received.
#   scripts/bench-netflow.sh [REPS] [RATES...]     rates in datagrams/s, 0 = unpaced
# NF_COLLECTOR=path/to/other/nf_collector NF_COLLECTOR_ARGS="5" compares another build of the
# collecting side (e.g. an older one that takes only <listen> <seconds>).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-5}
shift || true
RATES=${*:-"20000 60000 120000 0"}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-netflow}
cargo build -q --release -p rampart-netflow --example nf_sender --example nf_collector
BIN=$CARGO_TARGET_DIR/release/examples
COLLECTOR=${NF_COLLECTOR:-$BIN/nf_collector}
COLLECTOR_ARGS=${NF_COLLECTOR_ARGS:-"120 1000"}
command -v nfcapd >/dev/null && command -v nfdump >/dev/null || {
  echo "nfcapd/nfdump missing (apt-get install nfdump)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing (apt-get install time)" >&2; exit 1; }
RCVBUF=33554432 # both collectors ask for this; the kernel caps it at net.core.rmem_max
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port_ours=29955
port_capd=29956
results=$work/results.txt
: > "$results"

kv() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

run_ours() { # proto datagrams rate -> "sent secs received cpu"
  /usr/bin/time -f '%U %S' -o "$work/time-ours" \
    "$COLLECTOR" 127.0.0.1:$port_ours $COLLECTOR_ARGS > "$work/ours.txt" &
  local col=$!
  sleep 0.5
  local s
  s=$("$BIN/nf_sender" "$1" 127.0.0.1:$port_ours "$2" "$3")
  wait $col
  local got
  got=$(kv records "$(cat "$work/ours.txt")")
  echo "$(kv sent_records "$s") $(kv seconds "$s") $got $(awk '{print $1 + $2}' "$work/time-ours")"
}

run_capd() { # proto datagrams rate -> "sent secs received cpu"
  rm -rf "$work/capd"; mkdir -p "$work/capd"
  /usr/bin/time -f '%U %S' -o "$work/time-capd" \
    nfcapd -b 127.0.0.1 -p $port_capd -B $RCVBUF -w "$work/capd" -t 3600 >/dev/null 2>&1 &
  local tpid=$!
  sleep 0.5
  local s
  s=$("$BIN/nf_sender" "$1" 127.0.0.1:$port_capd "$2" "$3")
  sleep 1
  kill -TERM "$(pgrep -P $tpid nfcapd)"
  wait $tpid || true
  local got
  got=$(nfdump -R "$work/capd" -I | awk -F': ' '/^Flows:/ {print $2}')
  echo "$(kv sent_records "$s") $(kv seconds "$s") ${got:-0} $(awk '{print $1 + $2}' "$work/time-capd")"
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for proto in v9 ipfix; do
  for rate in $RATES; do
    # About two seconds of sending per run (200000 datagrams unpaced).
    if [ "$rate" = 0 ]; then n=200000; else n=$((rate * 2)); fi
    for rep in $(seq 1 "$REPS"); do
      if [ $((rep % 2)) = 1 ]; then
        o=$(run_ours $proto $n $rate); c=$(run_capd $proto $n $rate)
      else
        c=$(run_capd $proto $n $rate); o=$(run_ours $proto $n $rate)
      fi
      echo "$proto $rate $rep rampart $o" | tee -a "$results"
      echo "$proto $rate $rep nfcapd $c" | tee -a "$results"
    done
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "proto rate(dgram/s) | rampart: rec/s  loss  cpu_us/rec | nfcapd: rec/s  loss  cpu_us/rec | ratio received (median of per-run ratios)"
# Columns: proto rate rep who sent secs received cpu
awk '
function median(list,   n, a, i, j, t) {
  n = split(list, a, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
  k = $1 " " $2; keys[k] = 1
  rps[k, $4] = rps[k, $4] " " ($7 / $6)
  loss[k, $4] = loss[k, $4] " " (100 * (1 - $7 / $5))
  cpu[k, $4] = cpu[k, $4] " " ($7 > 0 ? 1e6 * $8 / $7 : 0)
  got[k, $3, $4] = $7
}
END {
  for (k in keys) {
    r = ""
    for (key in got) { split(key, p, SUBSEP); if (p[1] == k && p[3] == "rampart" && got[k, p[2], "nfcapd"] > 0) r = r " " got[key] / got[k, p[2], "nfcapd"] }
    printf "%s | %.0f  %.1f%%  %.2f | %.0f  %.1f%%  %.2f | %.2f\n", k,
      median(rps[k, "rampart"]), median(loss[k, "rampart"]), median(cpu[k, "rampart"]),
      median(rps[k, "nfcapd"]), median(loss[k, "nfcapd"]), median(cpu[k, "nfcapd"]), median(r)
  }
}' "$results" | sort -k1,1 -k2,2n
