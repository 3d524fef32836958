//! Memory of active flows: opens N distinct flows (default 1,000,000) and reports the entry
//! size, the table's own accounting and the process RSS growth per flow, plus the rate at
//! which the table took them.
//!
//! ```sh
//! cargo run --release -p rampart-capture --example flow_memory -- [N]
//! ```

use std::time::Instant;

use rampart_capture::{CaptureConfig, FlowTable, LinkType};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut table = FlowTable::new(CaptureConfig {
        max_flows: n as usize + 1,
        ..CaptureConfig::default()
    });
    // An IPv4/UDP packet with a 20-byte payload; source address and port vary per flow.
    let mut frame = vec![
        0x45, 0, 0, 48, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 0, 198, 18, 0, 1, 0, 0, 0, 53, 0, 28,
        0, 0,
    ];
    frame.extend_from_slice(&[0u8; 20]);
    let before = rss_kib();
    let started = Instant::now();
    for i in 0..n {
        let host = i / 50_000;
        let port = (i % 50_000) as u16 + 1024;
        frame[13] = (host >> 8) as u8;
        frame[14] = host as u8;
        frame[15] = 1;
        frame[20..22].copy_from_slice(&port.to_be_bytes());
        table.process(
            1_700_000_000_000_000_000 + i64::from(i),
            LinkType::RAW,
            &frame,
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let after = rss_kib();
    let grown = (after.saturating_sub(before)) * 1024;
    println!(
        "{} active flows: entry {} B, table accounting {:.1} B/flow, RSS +{:.1} MiB = {:.1} B/flow; inserted at {:.0} flows/s",
        table.active_flows(),
        FlowTable::ENTRY_BYTES,
        table.memory_bytes() as f64 / f64::from(n),
        grown as f64 / 1_048_576.0,
        grown as f64 / f64::from(n),
        f64::from(n) / secs
    );
}
