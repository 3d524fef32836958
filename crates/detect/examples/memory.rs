//! Memory per device: feeds one flow for each of N simulated devices (distinct addresses),
//! lets event time pass so their network windows are dropped (devices at rest), and reports
//! the resident set size per device before and after.
//!
//! `cargo run --release -p rampart-detect --example memory -- 1000000`

#![allow(clippy::unwrap_used)] // A measuring tool: failing loudly is the point.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rampart_bus::{Attributed, Observation, Subject};
use rampart_core::{ConnState, FlowRecord, SignalSource, Timestamp, proto};
use rampart_detect::{DetectConfig, NoContext, NoIntel, Shard};

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let base = rss_bytes();
    let mut shard = Shard::new(
        Arc::new(DetectConfig::default()),
        Arc::new(NoIntel),
        Arc::new(NoContext),
    );
    let mut out = Vec::new();
    let t0 = 1_700_000_000_000i64;
    let dst = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10));
    for i in 0..n {
        let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i & 0x00ff_ffff)).to_owned());
        let src = if i >= 0x0100_0000 {
            IpAddr::V6(std::net::Ipv6Addr::from(0xfd00_u128 << 112 | u128::from(i)))
        } else {
            src
        };
        // 100 new devices per second of event time: each is active for `idle_evict_s`.
        let t = t0 + i64::from(i) * 10;
        let flow = FlowRecord {
            source: SignalSource::Ipfix,
            exporter: None,
            uid: None,
            start: Timestamp(t),
            end: Timestamp(t),
            src,
            dst,
            src_port: 40000,
            dst_port: 443,
            protocol: proto::TCP,
            packets: 10,
            bytes: 1000,
            rev_packets: 10,
            rev_bytes: 4000,
            tcp_flags: 0x1b,
            rev_tcp_flags: 0x1b,
            state: ConnState::SF,
            service: None,
            facts: Default::default(),
        };
        shard.process(
            Observation::Flow(Box::new(Attributed {
                record: flow,
                subject: Subject {
                    tenant: None,
                    device_id: None,
                    host: Some(src),
                },
                subject_is_responder: false,
            })),
            &mut out,
        );
    }
    let active = rss_bytes();
    let end = t0 + i64::from(n) * 10 + 3_600_000;
    shard.advance_to(Timestamp(end), &mut out);
    let advanced = rss_bytes();
    shard.flush(&mut out);
    let rest = rss_bytes();
    eprintln!(
        "rss MiB: base {} active {} advanced {} rest {}",
        base >> 20,
        active >> 20,
        advanced >> 20,
        rest >> 20
    );
    let per = |b: u64| (b.saturating_sub(base)) as f64 / f64::from(n.max(1));
    println!(
        "devices={} findings={} rss_base={} MiB active={:.0} B/device at_rest={:.0} B/device (state record {} B)",
        shard.devices(),
        out.len(),
        base >> 20,
        per(active),
        per(rest),
        rampart_detect::device_state_size()
    );
}
