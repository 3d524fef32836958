#!/usr/bin/env bash
# kill -9 of `rampart serve` under RADIUS accounting load loses no acknowledged record.
# Runs crates/rampart/tests/kill9.rs: real binary, fresh data dir, load generator recording
# every acknowledged request, SIGKILL mid-load, restart, every acknowledged record checked in
# the store. Prints how many requests were acknowledged before the kill.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test -p rampart --test kill9 -- --nocapture "$@"
