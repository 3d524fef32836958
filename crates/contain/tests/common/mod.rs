//! Shared helpers of the integration tests (included with `mod common;`).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use rampart_contain::RetryPolicy;

/// Whether the peers must be present (CI) rather than skipped.
pub fn peers_required() -> bool {
    std::env::var("RAMPART_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Skips (visibly) or fails, per `RAMPART_REQUIRE_PEERS`.
pub fn skip(why: &str) {
    assert!(!peers_required(), "RAMPART_REQUIRE_PEERS=1 but {why}");
    eprintln!("skipping: {why}");
}

/// Whether a program answers on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A UDP port free right now on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP port free right now on 127.0.0.1.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A quick policy for tests: `attempts` tries, 100 ms first wait, no jitter.
pub fn quick(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        jitter: 0.0,
    }
}

static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
static TOTALS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

/// Installs the debugging recorder once per test binary.
pub fn metrics() -> Tally {
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snap = recorder.snapshotter();
        recorder.install().unwrap();
        snap
    });
    Tally
}

/// Running totals by name and label set, shared by the tests of one binary (a snapshot
/// drains what it reads, so all readers must pool what they drained).
pub struct Tally;

impl Tally {
    /// The counter's total so far for `name` with labels containing all of `labels`.
    pub fn get(&mut self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let mut guard = TOTALS.lock().unwrap();
        let totals = guard.get_or_insert_with(HashMap::new);
        for (k, _, _, v) in SNAPSHOTTER.get().unwrap().snapshot().into_vec() {
            if let DebugValue::Counter(c) = v {
                let mut key = k.key().name().to_owned();
                for l in k.key().labels() {
                    key.push_str(&format!("|{}={}", l.key(), l.value()));
                }
                *totals.entry(key).or_default() += c;
            }
        }
        totals
            .iter()
            .filter(|(k, _)| {
                k.split('|').next() == Some(name)
                    && labels
                        .iter()
                        .all(|(lk, lv)| k.split('|').any(|p| p == format!("{lk}={lv}")))
            })
            .map(|(_, v)| *v)
            .sum()
    }
}
