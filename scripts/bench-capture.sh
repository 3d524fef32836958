#!/usr/bin/env bash
# Capture → flows throughput of rampart-capture against tshark (conversation statistics) and
# Suricata (flow tracking only) on the same inputs in the same run, plus memory per 1M active
# flows. Per-core rate = packets / (user + sys CPU seconds): the machine is shared, so CPU time
# is what compares; wall time is printed too. Medians of RUNS runs.
#
#   scripts/bench-capture.sh [PACKETS] [RUNS]
#
# Inputs (made once under $BENCH_DIR, default /tmp/rampart-bench):
#   synthetic-PACKETS.pcap   gen_pcap synth: web/TCP, DNS, small UDP, SYN probes, 50k concurrent
#   replay-cc-x1000.pcap     the Slips C2 capture (real traffic) repeated 1000 times
set -euo pipefail
cd "$(dirname "$0")/.."
PACKETS=${1:-2000000}
RUNS=${2:-3}
BENCH_DIR=${BENCH_DIR:-/tmp/rampart-bench}
TARGET=${CARGO_TARGET_DIR:-/work/target-capture}
mkdir -p "$BENCH_DIR"

CARGO_TARGET_DIR=$TARGET cargo build --release -q -p rampart-capture --examples
EX=$TARGET/release/examples

SYN=$BENCH_DIR/synthetic-$PACKETS.pcap
[ -s "$SYN" ] || "$EX/gen_pcap" synth "$SYN" "$PACKETS" 50000
REAL_SRC=../shared/data/pcap/slips/test-cc-capture-2.pcap
REAL=$BENCH_DIR/replay-cc-x1000.pcap
if [ -f "$REAL_SRC" ] && [ ! -s "$REAL" ]; then "$EX/gen_pcap" replay "$REAL_SRC" "$REAL" 1000; fi

# run NAME FILE CMD... → prints "NAME wall user sys maxrss_kib", median by CPU time.
measure() {
  local name=$1 file=$2; shift 2
  local rows=()
  for _ in $(seq "$RUNS"); do
    sync; cat "$file" > /dev/null  # same page-cache state for every tool
    local t
    t=$( { /usr/bin/time -f "%e %U %S %M" "$@" > /dev/null 2> "$BENCH_DIR/err.log"; } 2>&1 || true)
    t=$(tail -1 "$BENCH_DIR/err.log")
    rows+=("$t")
  done
  printf '%s\n' "${rows[@]}" | awk -v n="$name" '{print $2+$3, $0}' | sort -n \
    | awk -v n="$name" -v r="$RUNS" 'NR==int((r+1)/2){printf "%s wall=%ss cpu=%.2fs maxrss=%dMiB\n", n, $2, $1, $5/1024}'
}

packets_of() { capinfos -c -M "$1" | awk -F: '/Number of packets/{gsub(/ /,"",$2); print $2}'; }

for file in "$SYN" "$REAL"; do
  [ -s "$file" ] || continue
  n=$(packets_of "$file")
  echo "== $(basename "$file"): $n packets, $(du -h "$file" | cut -f1); load $(cut -d' ' -f1-3 /proc/loadavg)"
  {
    measure rampart-capture "$file" "$EX/capture_flows" -q "$file"
    measure "tshark conv,ip" "$file" tshark -r "$file" -q -z conv,ip
    measure "tshark conv,tcp" "$file" tshark -r "$file" -q -z conv,tcp
    if command -v suricata > /dev/null; then
      rm -rf "$BENCH_DIR/suricata"; mkdir -p "$BENCH_DIR/suricata"
      measure "suricata flow-only" "$file" suricata -c crates/capture/bench/suricata-flow.yaml \
        -S /dev/null -k none --runmode single -l "$BENCH_DIR/suricata" -r "$file"
      echo "suricata flows: $(wc -l < "$BENCH_DIR/suricata/eve.json")"
    else
      echo "suricata not installed: skipped"
    fi
  } | tee "$BENCH_DIR/last.txt"
  awk -v n="$n" '/cpu=/{split($0,a,"cpu="); c=a[2]+0; printf "  %-20s %10.0f packets/s per CPU-second\n", $1" "$2, n/c}' "$BENCH_DIR/last.txt"
  "$EX/capture_flows" -q "$file" | sed 's/; CaptureSummary.*//'
done

echo "== memory of active flows"
"$EX/flow_memory" 1000000
