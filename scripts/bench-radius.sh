#!/usr/bin/env bash
# RADIUS accounting throughput and latency: Rampart (answer after the journal fdatasync, folded
# into embedded SQLite in the background) against
# Debian's FreeRADIUS 3.2 writing the detail file, driven by the same load generator
# (`rampart bench radius`) in the same run, three runs each; prints each run's summary.
#   scripts/bench-radius.sh [COUNT=100000] [CONCURRENCY=64]
# RAMPART_BIN=path skips the build and uses that binary; CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
conc=${2:-64}
command -v freeradius >/dev/null || { echo "needs freeradius (apt-get install freeradius)"; exit 1; }
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

# FreeRADIUS: one accounting listener, one client, the detail module only.
mkdir -p "$work/fr/raddb" "$work/fr/log" "$work/fr/radacct" "$work/fr/run"
cat > "$work/fr/raddb/radiusd.conf" <<CONF
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = $work/fr/log
raddbdir = $work/fr/raddb
radacctdir = $work/fr/radacct
name = freeradius
confdir = \${raddbdir}
modconfdir = \${confdir}/mods-config
run_dir = $work/fr/run
db_dir = \${raddbdir}
libdir = /usr/lib/freeradius
pidfile = \${run_dir}/\${name}.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {
  destination = files
  file = \${logdir}/radius.log
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = yes
}
thread pool {
  start_servers = 5
  max_servers = 32
  min_spare_servers = 3
  max_spare_servers = 10
  max_requests_per_server = 0
}
client localhost {
  ipaddr = 127.0.0.1
  secret = testing123
}
modules {
  detail {
    filename = \${radacctdir}/detail
    permissions = 0600
    header = "%t"
  }
}
server default {
  listen {
    type = acct
    ipaddr = 127.0.0.1
    port = 18132
  }
  accounting {
    detail
  }
}
CONF
freeradius -f -d "$work/fr/raddb" >"$work/fr/fg.log" 2>&1 &
pids+=($!)
fr_pid=$!

# Rampart: embedded SQLite, one client with the same secret.
cat > "$work/rampart.toml" <<CONF
version = 1
[http]
listen = "127.0.0.1:0"
[store]
data_dir = "$work/data"
[radius]
listen = "127.0.0.1:18131"
[[radius.clients]]
name = "bench"
address = "127.0.0.1"
secret_env = "RAMPART_BENCH_SECRET"
CONF
export RAMPART_BENCH_SECRET=testing123
RAMPART_ADMIN_TOKEN=bench-admin-token-0123456789 "$bin" serve --config "$work/rampart.toml" \
  >"$work/rampart.log" 2>&1 &
pids+=($!)
rampart_pid=$!
sleep 3

# CPU time (user + system, all threads) a process has used, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
for run in 1 2 3; do
  for target in rampart:18131:$rampart_pid freeradius:18132:$fr_pid; do
    IFS=: read -r name port pid <<<"$target"
    echo "== run $run: $name (load $(cut -d' ' -f1-3 /proc/loadavg))"
    before=$(ticks "$pid")
    /usr/bin/time -f "load generator: %P cpu, %e s" "$bin" bench radius --target "127.0.0.1:$port" --secret testing123 --count "$count" \
      --concurrency "$conc" --prefix "${name:0:1}$run" 2>&1 | tail -n 4
    # Rampart folds into SQLite in the background: let the fold of this run finish too.
    sleep 1
    after=$(ticks "$pid")
    echo "server cpu: $(( (after - before) * 1000 / hz )) ms, $(( (after - before) * 1000000 / hz / count )) us per request"
  done
done
