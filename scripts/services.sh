#!/usr/bin/env bash
# Makes sure the services the tests talk to are installed and running on loopback, and prints
# the environment variables that point the tests at them. Idempotent; safe to run repeatedly.
#   eval "$(scripts/services.sh)"
set -euo pipefail

log() { echo "services: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
need_pkg() { # need_pkg COMMAND PACKAGE...
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq >&2; apt_updated=1; fi
  log "installing ${*:2}"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${@:2}" >&2
}

pg_ok() { psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  if pg_ok; then return 0; fi
  need_pkg pg_ctlcluster postgresql postgresql-client
  local ver
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 2>&1 || true
  for _ in $(seq 1 30); do
    psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1 && break
    # A fresh Debian cluster does not trust TCP connections: allow loopback only.
    if [ -f "/etc/postgresql/$ver/main/pg_hba.conf" ] \
      && ! grep -q '^host all all 127.0.0.1/32 trust' "/etc/postgresql/$ver/main/pg_hba.conf"; then
      log "allowing trust auth on 127.0.0.1 for the test cluster"
      as_root sed -i '1i host all all 127.0.0.1/32 trust' "/etc/postgresql/$ver/main/pg_hba.conf"
      as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >&2 2>&1 || true
    fi
    sleep 1
  done
  if ! pg_ok; then
    psql -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >&2 || true
  fi
  pg_ok || { log "postgresql is not reachable on 127.0.0.1:5432"; return 1; }
}

mqtt_ok() { timeout 3 mosquitto_sub -h 127.0.0.1 -p 1883 -t '$SYS/broker/version' -C 1 -W 2 >/dev/null 2>&1; }

ensure_mosquitto() {
  need_pkg mosquitto mosquitto
  need_pkg mosquitto_sub mosquitto-clients
  if mqtt_ok; then return 0; fi
  log "starting mosquitto on 127.0.0.1:1883"
  as_root sh -c 'mosquitto -d -p 1883 >/dev/null 2>&1' || mosquitto -d -p 1883 >&2 || true
  for _ in $(seq 1 20); do mqtt_ok && return 0; sleep 0.5; done
  log "mosquitto is not reachable on 127.0.0.1:1883"; return 1
}

ensure_postgres
need_pkg radclient freeradius-utils
need_pkg freeradius freeradius
# Flow and capture peers: exporters, collectors and analysers the tests compare against.
need_pkg softflowd softflowd
need_pkg nfcapd nfdump
need_pkg tcpreplay tcpreplay
need_pkg tshark tshark
# Suricata is not in bookworm's main suite; its backport is.
if ! command -v suricata >/dev/null 2>&1 && ! apt-cache policy suricata 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  if grep -qs bookworm /etc/os-release; then
    log "enabling bookworm-backports for suricata"
    echo "deb http://deb.debian.org/debian bookworm-backports main" | as_root tee /etc/apt/sources.list.d/backports.list >/dev/null
    as_root apt-get update -qq >&2; apt_updated=1
  fi
fi
if ! command -v suricata >/dev/null 2>&1; then
  if [ -f /etc/apt/sources.list.d/backports.list ]; then
    log "installing suricata from bookworm-backports"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -t bookworm-backports suricata >&2
  else
    need_pkg suricata suricata
  fi
fi
ensure_mosquitto

echo "export RAMPART_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test"
echo "export RAMPART_TEST_MQTT_URL=mqtt://127.0.0.1:1883"
echo "export RAMPART_REQUIRE_PEERS=1"
echo "export RAMPART_REQUIRE_SHARED_DATA=\${RAMPART_REQUIRE_SHARED_DATA:-\$( [ -d ../shared/data ] && echo 1 || echo 0 )}"
