//! Shared helpers of the broker tests (included with `mod common;`).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, Snapshotter};
use rampart_core::DeviceMetrics;
use tokio::sync::mpsc;

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

/// A prefix no other run shares, so parallel runs on one broker do not see each other.
pub fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("rampart-test/{}-{nanos}", std::process::id())
}

/// Running totals: a debugging snapshot drains the counters it reads.
pub struct Tally {
    snap: Snapshotter,
    totals: std::collections::HashMap<String, u64>,
}

impl Tally {
    pub fn new(snap: Snapshotter) -> Self {
        Self {
            snap,
            totals: std::collections::HashMap::new(),
        }
    }

    /// The counter's value so far.
    pub fn get(&mut self, name: &str) -> u64 {
        for (k, _, _, v) in self.snap.snapshot().into_vec() {
            if let DebugValue::Counter(c) = v {
                *self.totals.entry(k.key().name().to_owned()).or_default() += c;
            }
        }
        self.totals.get(name).copied().unwrap_or(0)
    }
}

/// Runs `mosquitto_pub` with these arguments and checks it succeeded.
pub fn mosquitto_pub(args: &[&str]) {
    let out = Command::new("mosquitto_pub").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "mosquitto_pub {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The next report within `secs`, or `None`.
pub async fn next(
    rx: &mut mpsc::Receiver<(String, DeviceMetrics)>,
    secs: u64,
) -> Option<(String, DeviceMetrics)> {
    tokio::time::timeout(Duration::from_secs(secs), rx.recv())
        .await
        .ok()
        .flatten()
}
